"""The recordings of what was played (firmware.pedal.recorder), as the page lists, serves and
deletes them: only folders named as the recorder names them, only their three files, each
recording.json read within a size limit; nothing else of the disk is reachable."""
import json
import os
import re
import shutil

from firmware.core.errors import FileError

NAME = re.compile(r"rec-\d{8}-\d{6}(-\d{1,2})?")
FILES = ("di.wav", "out.wav", "recording.json")
MAX_LISTED = 500                 # the newest; older ones are still on the card (ssh, fetch-captures)
MAX_JSON = 64 * 1024


class RecordingsFolder:
    def __init__(self, directory):
        self.directory = directory

    def _path(self, name):
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise FileError("no such recording")
        path = os.path.join(self.directory, name)
        if not os.path.isdir(path):
            raise FileError(f"{name}: no such recording")
        return path

    def about(self, name):
        """What recording.json says of it (an unreadable one: what the files say)."""
        path = self._path(name)
        try:
            with open(os.path.join(path, "recording.json"), "rb") as f:
                data = f.read(MAX_JSON + 1)
            meta = json.loads(data) if len(data) <= MAX_JSON else None
            if not isinstance(meta, dict):
                raise ValueError
        except (OSError, ValueError):
            meta = {"finished": True, "stopped": "its recording.json is missing or damaged"}
        sizes = {}
        for f in FILES[:2]:
            try:
                sizes[f] = os.path.getsize(os.path.join(path, f))
            except OSError:
                sizes[f] = None
        out = {k: meta.get(k) for k in ("seconds", "finished", "stopped", "started", "model", "preset", "channels_out")}
        return {"name": name, **out, "files": sizes}

    def list(self):
        """The newest MAX_LISTED recordings, newest first: [about(name)], and how many there are."""
        try:
            names = sorted((n for n in os.listdir(self.directory) if NAME.fullmatch(n)), reverse=True)
        except OSError:
            names = []
        out = []
        for n in names[:MAX_LISTED]:
            try:
                out.append(self.about(n))
            except FileError:
                continue                       # removed meanwhile
        return out, len(names)

    def file(self, name, file):
        """The path of one of its files, or FileError."""
        if file not in FILES:
            raise FileError("no such file in a recording")
        path = os.path.join(self._path(name), file)
        if not os.path.isfile(path):
            raise FileError(f"{name}/{file}: not there")
        return path

    def delete(self, name, recording_now=None):
        """Remove a recording's folder, unless it is the one the pedal is recording
        (`recording_now`; one left unfinished by a power cut can go)."""
        path = self._path(name)
        if name == recording_now:
            raise FileError(f"{name}: still recording (stop it first)")
        shutil.rmtree(path)

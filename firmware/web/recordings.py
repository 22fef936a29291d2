"""The recordings of what was played (firmware.pedal.recorder) and the captures of an amp
(firmware.pedal.capturing, tubeless capture), as the page lists, serves and deletes them: only
folders named as the recorder or the capture names them, only their own files, each JSON read
within a size limit; nothing else of the disk is reachable."""
import json
import os
import re
import shutil
import threading
import zipfile

from firmware.core.errors import FileError

MAX_LISTED = 500                 # the newest; older ones are still on the card (ssh, fetch-captures)
MAX_JSON = 64 * 1024


class _Folders:
    """A folder of take folders: NAME (their names), WHAT (a word for errors), FILES (the
    files a take may hold: a name or a pattern), META (its JSON)."""
    NAME = WHAT = META = None
    FILES = ()

    def __init__(self, directory):
        self.directory = directory

    def _path(self, name):
        if not isinstance(name, str) or not self.NAME.fullmatch(name):
            raise FileError(f"no such {self.WHAT}")
        path = os.path.join(self.directory, name)
        if not os.path.isdir(path):
            raise FileError(f"{name}: no such {self.WHAT}")
        return path

    def _meta(self, path):
        """Its JSON as a dict, None when missing, damaged or over the size limit."""
        try:
            with open(os.path.join(path, self.META), "rb") as f:
                data = f.read(MAX_JSON + 1)
            meta = json.loads(data) if len(data) <= MAX_JSON else None
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def _names(self):
        try:
            return sorted((n for n in os.listdir(self.directory) if self.NAME.fullmatch(n)), reverse=True)
        except OSError:
            return []

    def list(self):
        """The newest MAX_LISTED, newest first: [about(name)], and how many there are."""
        names = self._names()
        out = []
        for n in names[:MAX_LISTED]:
            try:
                out.append(self.about(n))
            except FileError:
                continue                       # removed meanwhile
        return out, len(names)

    def _is_file_name(self, file):
        return isinstance(file, str) and any(f.fullmatch(file) if hasattr(f, "fullmatch") else f == file
                                             for f in self.FILES)

    def file(self, name, file):
        """The path of one of its files, or FileError."""
        if not self._is_file_name(file):
            raise FileError(f"no such file in a {self.WHAT}")
        path = os.path.join(self._path(name), file)
        if not os.path.isfile(path):
            raise FileError(f"{name}/{file}: not there")
        return path


class RecordingsFolder(_Folders):
    NAME = re.compile(r"rec-\d{8}-\d{6}(-\d{1,2})?")
    WHAT = "recording"
    META = "recording.json"
    FILES = ("di.wav", "out.wav", "recording.json")

    def about(self, name):
        """What recording.json says of it (an unreadable one: what the files say)."""
        path = self._path(name)
        meta = self._meta(path) or {"finished": True, "stopped": "its recording.json is missing or damaged"}
        sizes = {}
        for f in self.FILES[:2]:
            try:
                sizes[f] = os.path.getsize(os.path.join(path, f))
            except OSError:
                sizes[f] = None
        out = {k: meta.get(k) for k in ("seconds", "finished", "stopped", "started", "model", "preset", "channels_out")}
        return {"name": name, **out, "files": sizes}

    def delete(self, name, recording_now=None):
        """Remove a recording's folder, unless it is the one the pedal is recording
        (`recording_now`; one left unfinished by a power cut can go)."""
        path = self._path(name)
        if name == recording_now:
            raise FileError(f"{name}: still recording (stop it first)")
        shutil.rmtree(path)


class CapturesFolder(_Folders):
    """capture-YYYYMMDD-HHMM[-N]/: di.wav, di.json, amp.wav or amp-N.wav, capture.json."""
    NAME = re.compile(r"capture-\d{8}-\d{4}(-\d{1,2})?")
    WHAT = "capture"
    META = "capture.json"
    FILES = ("di.wav", "di.json", "amp.wav", re.compile(r"amp-\d{1,2}\.wav"), "capture.json")

    def about(self, name):
        """What capture.json says of it: its takes (file, knobs, latency, levels), its length."""
        path = self._path(name)
        meta = self._meta(path)
        if meta is None:
            return {"name": name, "error": "its capture.json is missing or damaged", "takes": []}
        takes = []
        for t in meta.get("takes") or []:
            if isinstance(t, dict) and self._is_file_name(t.get("file")):
                levels = t.get("levels") if isinstance(t.get("levels"), dict) else {}
                takes.append({"file": t["file"], "knobs": t.get("knobs") if isinstance(t.get("knobs"), dict) else {},
                              "latency_samples": t.get("latency_samples"), "peak_dbfs": levels.get("peak_dbfs"),
                              "rms_dbfs": levels.get("rms_dbfs")})
        sig = meta.get("signal") if isinstance(meta.get("signal"), dict) else {}
        return {"name": name, "date": meta.get("date"), "seconds": sig.get("seconds"),
                "sample_rate": meta.get("sample_rate"), "takes": takes,
                "fit": " ".join(map(str, meta.get("fit") or [])) if isinstance(meta.get("fit"), list) else None}

    def members(self, name):
        """The files a zip of it holds: (path, name in the zip), its own files only."""
        path = self._path(name)
        return [(os.path.join(path, f), f"{name}/{f}") for f in sorted(os.listdir(path))
                if self._is_file_name(f) and os.path.isfile(os.path.join(path, f))]

    def delete(self, name):
        shutil.rmtree(self._path(name))


class ZipStream:
    """A zip of files written by a thread into a bounded queue of chunks, for a response to
    stream: the whole zip is never in memory or on the disk (members stored: WAVs do not
    compress). `chunks()` yields bytes; at most `depth` chunks wait at a time."""

    def __init__(self, members, depth=8):
        import queue
        self.members = members
        self._q = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._write, name="zip", daemon=True)
        self._stop = threading.Event()

    def write(self, data):                     # the zip's file object (no seek: data descriptors)
        if self._stop.is_set():
            raise OSError("the download was cancelled")
        if data:
            self._q.put(bytes(data))
        return len(data)

    def flush(self):
        pass

    def _write(self):
        try:
            with zipfile.ZipFile(self, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
                for path, arcname in self.members:
                    z.write(path, arcname)
        except OSError:
            pass
        finally:
            self._q.put(None)

    def start(self):
        self._thread.start()
        return self

    def next_chunk(self, timeout=30.0):
        """The next chunk (bytes), or None at the end."""
        return self._q.get(timeout=timeout)

    def cancel(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get_nowait()
            except Exception:  # noqa: BLE001 - empty: let the writer run on
                self._thread.join(0.05)

"""The capture folder, `capture-YYYYMMDD-HHMM/`: written aside, renamed into place when complete.

    di.wav        the signal that was sent (32-bit float, the pedal's rate)
    di.json       its layout sidecar: `tubeless-train fit` finds the blips and the validation there
    amp.wav       the return, aligned to di.wav (one take), or amp-1.wav, amp-2.wav, ... (knob takes)
    capture.json  rates, latency, levels, the HAT's gain, the knob positions, the fit command

Everything goes into a hidden `.capture-...partial-*` folder beside it first (each file
fsynced); only a complete capture is renamed to its name, so an abort, a failed check or a
power cut never leaves a half folder under a real name.
"""
import json
import os
import shutil
import tempfile
import time

import soundfile as sf

from firmware.core.errors import CaptureError

from .signal import sidecar_path

CAPTURE_FORMAT = "tubeless-capture-session"
CAPTURE_VERSION = 1
RESERVE_BYTES = 64 << 20               # never fill the card: the pedal needs room for its state and logs
PARTIAL_PREFIX = ".capture-"


def needed_bytes(signal_frames, takes):
    """The folder's size: the DI and each take as 32-bit float, plus the JSON."""
    return 4 * signal_frames * (1 + takes) + (1 << 20)


def folder_name(now=None):
    return time.strftime("capture-%Y%m%d-%H%M", time.localtime(now))


class CaptureFolder:
    def __init__(self, parent, needed):
        parent = os.path.abspath(os.path.expanduser(os.fspath(parent)))
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            raise CaptureError(f"{parent}: cannot make the captures folder: {e.strerror}") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CaptureError(f"{parent}: cannot write there (permission denied); give --out DIR")
        free = shutil.disk_usage(parent).free
        if free < needed + RESERVE_BYTES:
            raise CaptureError(f"{parent}: not enough free space: the capture needs {needed / 1e6:.0f} MB plus "
                               f"{RESERVE_BYTES >> 20} MB kept free, {free / 1e6:.0f} MB are free")
        self.parent = parent
        self.partial = tempfile.mkdtemp(prefix=PARTIAL_PREFIX, suffix=".partial", dir=parent)
        os.chmod(self.partial, 0o755)
        self.path = None

    def _file(self, name):
        return os.path.join(self.partial, name)

    def write_wav(self, name, samples, rate):
        path = self._file(name)
        sf.write(path, samples, rate, subtype="FLOAT", format="WAV")
        _fsync(path)
        return name

    def write_json(self, name, data):
        path = self._file(name)
        with open(path, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        return name

    def write_layout(self, wav_name, layout):
        return self.write_json(os.path.basename(sidecar_path(wav_name)), layout.to_json())

    def commit(self, now=None):
        """Rename into place under capture-YYYYMMDD-HHMM (-2, -3 ... within the same minute)."""
        _fsync_dir(self.partial)
        base = folder_name(now)
        for k in range(1, 1000):
            target = os.path.join(self.parent, base if k == 1 else f"{base}-{k}")
            if os.path.lexists(target):
                continue
            try:
                os.rename(self.partial, target)       # atomic; refuses a non-empty target
            except OSError as e:
                if os.path.lexists(target):
                    continue
                raise CaptureError(f"{target}: cannot write: {e.strerror}") from None
            _fsync_dir(self.parent)
            self.path = target
            return target
        raise CaptureError(f"{self.parent}: a thousand captures this minute")

    def discard(self):
        if self.path is None:
            shutil.rmtree(self.partial, ignore_errors=True)


def _fsync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

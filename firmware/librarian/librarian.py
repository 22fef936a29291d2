"""The librarian: turns whatever arrives in the models folder into files the engine loads
with a few short calls, in a process of its own.

Parsing a 650 KB JSON file, converting weights, measuring loudness and checking the
reference pair take tens of milliseconds here and ten times that on a Pi, and a hostile
file can take any amount of memory or time. None of it may happen where the audio thread
could wait for it, so it happens here: the pedal starts this process with an address-space
limit, gives each file a time limit, and restarts it (skipping the file) when it crashes
or hangs.

For each playable file the cache folder holds `KEY.npz` (our model format, verified,
uncompressed) and `KEY.json` (what the pedal lists), KEY being a hash of the file's bytes
and of the converter's own code (an upgrade converts again); a cabinet IR becomes a
float64 `KEY.npy` at the pedal's rate. The folder's contract is ModelLibrary's
(firmware.importers.library): stable files only, temporary names ignored, bad files logged
once and retried only when they change, order by name or setlist.txt.
"""
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass

from firmware.core import limits
from firmware.core.outputs import atomic_path
from firmware.importers.library import ModelLibrary
from firmware.importers.loader import load
from firmware.ipc import messages
from firmware.models import modelfile

log = logging.getLogger(__name__)


@dataclass
class CachedModel:
    """A verified model in the cache: what the pedal lists and the engine loads."""
    model: str                  # the cached .npz
    name: str
    architecture: str
    sample_rate: int
    num_knobs: int
    format: str                 # the source file's extension
    bytes: int                  # the source file's size
    sizes: list = None          # a slimmable file's sizes (labels), narrowest first
    size: int = None            # the one played


# Every package whose code decides what a conversion writes: the file formats and their
# limits (core), the kernels that verify and measure (models), the importers and loudness,
# the IR's resampling (dsp). A change to any of them converts every file again.
CONVERSION_PACKAGES = ("core", "models", "importers", "dsp")


def converter_id():
    """A hash of the code and the limits that turn files into cached models: a new version
    of either converts every file again instead of trusting what an older one wrote."""
    import firmware
    root = os.path.dirname(os.path.abspath(firmware.__file__))
    h = hashlib.sha256(firmware.__version__.encode())
    for sub in CONVERSION_PACKAGES:
        for folder, dirs, files in sorted(os.walk(os.path.join(root, sub))):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".py", ".toml")):
                    path = os.path.join(folder, name)
                    with open(path, "rb") as f:
                        h.update(os.path.relpath(path, root).encode() + b"\0" + f.read())
    h.update(repr(limits.active()).encode())
    return h.hexdigest()[:16]


def _atomic_write(path, data):
    """bytes -> path, whole or not at all (cache files replace older versions of themselves)."""
    with atomic_path(path, force=True) as tmp, open(tmp, "wb") as f:
        f.write(data)


def _freeze(x):
    return tuple(_freeze(v) for v in x) if isinstance(x, (list, tuple)) else x


PROGRESS_S = 2.0        # a long scan (a pack of hundreds arriving) sends what it has this often


class Librarian:
    def __init__(self, directory, cache_dir, rate=48000, ir_max_ms=500.0, poll_s=0.5, global_ir="",
                 emit=None, loader=None, submodel=None):
        self.directory = os.fspath(directory)
        self.cache_dir = os.fspath(cache_dir)
        os.makedirs(self.cache_dir, exist_ok=True)
        self.rate = int(rate)
        self.ir_max_ms = float(ir_max_ms)
        self.global_ir_path = global_ir or ""
        self.emit = emit or (lambda msg: None)
        self.submodel = None if submodel is None or submodel < 0 else int(submodel)
        self.loader = loader or (lambda path: load(path, submodel=self.submodel, imported_only=True))
        self.salt = converter_id() + f"/{self.submodel}"
        self.library = ModelLibrary(self.directory, poll_s=poll_s, loader=self._convert)
        self.library._reject = self._reject
        self.library.on_progress = self._progress
        self.progress_s = PROGRESS_S
        self._last_publish = time.monotonic()
        self._irs = {}                   # (path, size, mtime) -> cached .npy or None
        self._global_ir = None
        self.generation = 0              # of the library sent last: the pedal takes whole generations
        self._sent = None                # (library version, global IR) of the last look that sent or matched
        self._sent_ir = None
        self._entries = []               # what was sent last
        self._scan_error = None          # the last scan's failure, sent once

    # --- one file -----------------------------------------------------------------------
    def _key(self, data):
        return hashlib.sha256(self.salt.encode() + data).hexdigest()[:32]

    def _convert(self, path):
        stamp = self.library.current[1] if self.library.current and self.library.current[0] == path else None
        self.emit({"ev": "working", "path": path, "stamp": stamp})
        data = modelfile.read_capped(path)
        key = self._key(data)
        npz = os.path.join(self.cache_dir, key + ".npz")
        info = os.path.join(self.cache_dir, key + ".json")
        if os.path.exists(npz) and os.path.exists(info):
            try:
                with open(info, encoding="utf-8") as f:
                    return CachedModel(**json.load(f))
            except (OSError, ValueError, TypeError):
                pass                     # a damaged cache entry: convert again
        mf = self.loader(path)
        if path.lower().endswith(".npz"):
            from firmware.importers.loudness import settle
            settle(mf, log=log)          # a file may not set its own gain (the importers do this too)
        mf.save(npz)
        from firmware.importers import submodel_sizes
        sizes, size = submodel_sizes(mf.metadata)
        cached = CachedModel(model=npz, name=str(mf.name), architecture=str(mf.architecture),
                             sample_rate=int(mf.sample_rate), num_knobs=int(getattr(mf, "num_knobs", 0) or 0),
                             format=os.path.splitext(path)[1].lower().lstrip("."), bytes=len(data),
                             sizes=sizes or None, size=size)
        _atomic_write(info, json.dumps(asdict(cached)).encode())
        return cached

    def _reject(self, path, stamp, why):
        self.library._rejected[path] = stamp
        log.warning("model skipped: %s: %s", os.path.basename(path), why)
        self.emit({"ev": "rejected", "path": path, "stamp": stamp, "error": why})

    def _ir(self, ir_path):
        """A cabinet IR as a cached .npy at the pedal's rate, or None (one log line)."""
        try:
            st = os.stat(ir_path)
        except OSError:
            return None
        k = (ir_path, st.st_size, st.st_mtime_ns)
        if k in self._irs:
            return self._irs[k]
        out = None
        try:
            with open(ir_path, "rb") as f:
                data = f.read(64 << 20)
            key = self._key(data + f"{self.rate}/{self.ir_max_ms}".encode())
            out = os.path.join(self.cache_dir, key + ".npy")
            if not os.path.exists(out):
                import io

                import numpy as np

                from firmware.dsp.chain import load_ir
                ir = load_ir(ir_path, self.rate, self.ir_max_ms)
                buf = io.BytesIO()
                np.save(buf, ir, allow_pickle=False)
                _atomic_write(out, buf.getvalue())
        except Exception as e:      # a bad IR: the model still plays, through the global IR
            why = str(e).replace(ir_path + ": ", "").splitlines()[0] if str(e) else type(e).__name__
            log.warning("IR %s not used: %s", os.path.basename(ir_path), why)
            self.emit({"ev": "rejected", "path": ir_path, "stamp": None, "error": f"cabinet IR not used: {why}"})
            out = None
        self._irs[k] = out
        return out

    # --- the folder ---------------------------------------------------------------------
    def skip(self, path, stamp):
        """A file that crashed or hung a librarian: never tried again until it changes."""
        self.library._rejected[path] = _freeze(stamp)

    def scan(self, settle=True):
        """Look at the folder; send the library when it (or the global IR) changed, as a new
        generation in pages (firmware.ipc.messages.library_pages). Returns the entries."""
        if self.global_ir_path:
            self._global_ir = self._ir(self.global_ir_path)
        sent = self.generation
        self.library.scan(settle=settle)
        entries = self.publish()
        if self.generation != sent:
            self._prune(entries)        # after a whole scan only: mid-way, the rest is still to come
        return entries

    def _progress(self, library):
        """After each file of a scan: every progress_s, the models converted so far go out,
        so a pack of hundreds plays (and the page shows them) before the last is done."""
        if time.monotonic() - self._last_publish >= self.progress_s:
            library.settle_order()
            self.publish()

    def publish(self):
        """Send the library if it changed since the last one sent (whole: a send that failed
        half-way is sent again at the next look). Returns the entries."""
        self._last_publish = time.monotonic()
        key = (self.library.version, self._global_ir)
        if key == self._sent:
            return self._entries
        entries = self.entries()
        if entries != self._entries or self._global_ir != self._sent_ir or self._sent is None:
            self.generation += 1
            for msg in messages.library_pages(self.generation, entries, self._global_ir):
                self.emit(msg)
        self._sent, self._sent_ir, self._entries = key, self._global_ir, entries
        return entries

    def entries(self):
        """The library's entries as the pedal lists them; a file whose entry would not fit a
        message (a hostile name, thousands of sizes) is refused in one line instead."""
        out = []
        for e in self.library.entries():
            c = e.model_file
            entry = {"path": e.path, "file": os.path.relpath(e.path, self.directory),
                     "stamp": list(_freeze(e.stamp)), "ir": self._ir(e.ir_path) if e.ir_path else None,
                     "ir_file": os.path.basename(e.ir_path) if e.ir_path else None, **asdict(c)}
            size = messages.encoded_size(entry) + 1
            if size > messages.ENTRY_BYTES:
                self.library.drop(e.path)
                self._reject(e.path, e.stamp, f"its description takes {size} bytes, over the "
                                              f"{messages.ENTRY_BYTES}-byte limit (a name that long?)")
                continue
            out.append(entry)
        return out

    def _prune(self, entries, min_age_s=300):
        """Cached files no entry uses, once old enough that no engine is loading them."""
        keep = {os.path.basename(e["model"]) for e in entries} | {os.path.basename(e["ir"]) for e in entries if e["ir"]}
        keep |= {os.path.splitext(k)[0] + ".json" for k in keep}
        if self._global_ir:
            keep.add(os.path.basename(self._global_ir))
        now = time.time()
        for name in os.listdir(self.cache_dir):
            p = os.path.join(self.cache_dir, name)
            try:
                if name not in keep and now - os.path.getmtime(p) > min_age_s:
                    os.unlink(p)
            except OSError:
                pass

    def serve(self, rfd):
        """The process's loop: commands (skip, scan) from rfd, then a look at the folder,
        every poll_s. Commands come first: a restarted librarian must not retry the file
        its predecessor died on."""
        import select

        from firmware.ipc.lines import LineReader
        reader = LineReader()
        timeout = 0.0
        settle = False
        while True:
            r, _, _ = select.select([rfd], [], [], timeout)
            if r:
                chunk = os.read(rfd, 65536)
                if not chunk:
                    return                        # the pedal went away
                for msg in reader.feed(chunk):
                    if isinstance(msg, dict) and msg.get("op") == "skip":
                        self.skip(msg.get("path"), msg.get("stamp"))
                if timeout == 0.0:
                    continue                      # drain what is waiting before the first look
            self.look(settle)
            settle, timeout = True, self.library.poll_s

    def look(self, settle=True):
        """One scan as the process loop runs it: a failure is logged and sent to the pedal
        once (it keeps its list and shows why), until a scan succeeds again."""
        try:
            self.scan(settle=settle)
        except Exception as e:          # noqa: BLE001 - any failure: the next look tries again
            why = (str(e).splitlines() or [""])[0][:300] or type(e).__name__
            if why != self._scan_error:
                log.exception("library scan failed")
                self._scan_error = why
                self.emit({"ev": "scan_failed", "error": f"the library could not be scanned: {why}"})
            return False
        self._scan_error = None
        return True

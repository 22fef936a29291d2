"""The model library: a directory the librarian watches while the pedal plays.

Files arrive by scp/rsync over SSH. A file is considered only when its size and mtime have
stayed the same over two scans (a copy in progress keeps changing), never when its name
looks temporary (`.file.XXXX` from rsync, `*.tmp`, `*.part`, `~`), and never when larger
than the limit. It is then loaded and checked against its reference pair (all off the
audio thread); a bad file is skipped with one log line and remembered so it is not retried
until it changes. Order: by name, or the order of `setlist.txt` when present.

A model's own cabinet IR is `NAME.wav` beside `NAME.npz` (or .nam/.json): a WAV in the
directory is never a model itself. It is part of the model's version (adding, changing or
removing it reloads the entry), and the librarian converts it for the engine.
"""
import logging
import os
import threading

from firmware.core import limits
from firmware.importers.loader import load

log = logging.getLogger(__name__)

EXTENSIONS = (".npz", ".nam", ".json", ".aidax")
IR_EXTENSIONS = (".wav",)
SETLIST = "setlist.txt"
MAX_BYTES = max(limits.Limits.json_bytes, limits.Limits.npz_bytes)   # refused unread


def _stat_file(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if os.path.isfile(path) else None


def is_temporary(name):
    return (name.startswith(".") or name.endswith(("~", ".tmp", ".part", ".partial", ".swp"))
            or ".tmp-" in name)


class Entry:
    def __init__(self, path, stamp, model_file, ir_path=None):
        self.path = path
        self.stamp = stamp
        self.model_file = model_file
        self.ir_path = ir_path          # the model's own cabinet IR (NAME.wav), or None

    @property
    def name(self):
        return self.model_file.name


class ModelLibrary:
    """Scan with `scan()` (or `start()` a polling thread). `entries()` is the ordered list;
    `version` increases whenever it changes. Thread-safe."""

    def __init__(self, directory, poll_s=0.5, max_bytes=MAX_BYTES, loader=load, on_change=None):
        self.directory = os.fspath(directory)
        self.poll_s = poll_s
        self.max_bytes = max_bytes
        self.loader = loader
        self.on_change = on_change
        self._lock = threading.Lock()
        self._entries = {}       # path -> Entry
        self._seen = {}          # path -> stamp seen on the previous scan (stability check)
        self._rejected = {}      # path -> stamp that failed (one log line per version)
        self._order = []
        self.version = 0
        self._change_count = 0   # entries added, replaced or removed; settle_order() publishes them
        self._order_version = 0
        self.on_progress = None  # called after each file loaded in a scan (the librarian's progress)
        self._stop = threading.Event()
        self._thread = None
        self.current = None      # (path, stamp) being loaded

    # --- scanning -----------------------------------------------------------------------
    def _listing(self):
        """{model path: stamp}: (size, mtime, inode, the paired IR's (path, size, mtime) or None)."""
        out = {}
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return out
        irs = {}
        for name in names:
            if not is_temporary(name) and name.lower().endswith(IR_EXTENSIONS):
                stem = os.path.splitext(name)[0]
                if stem not in irs or name.endswith(".wav"):       # NAME.wav before NAME.WAV
                    irs[stem] = name
        for name in names:
            if is_temporary(name) or not name.lower().endswith(EXTENSIONS):
                continue
            path = os.path.join(self.directory, name)
            st = _stat_file(path)
            if st is None:
                continue
            ir = None
            ir_name = irs.get(os.path.splitext(name)[0])
            if ir_name is not None:
                ir_path = os.path.join(self.directory, ir_name)
                ist = _stat_file(ir_path)
                if ist is not None:
                    ir = (ir_path, ist.st_size, ist.st_mtime_ns)
            out[path] = (st.st_size, st.st_mtime_ns, st.st_ino, ir)
        return out

    def scan(self, settle=True):
        """One pass. With settle, a new or changed file is taken only once it has the same
        size and mtime as on the previous pass. Returns True when the list changed."""
        listing = self._listing()
        changed = False
        with self._lock:
            known = dict(self._entries)
        for path in [p for p in known if p not in listing]:
            with self._lock:
                self._entries.pop(path, None)
                self._change_count += 1
            log.info("model removed: %s", os.path.basename(path))
            changed = True
        for path, stamp in sorted(listing.items()):
            entry = known.get(path)
            if entry is not None and entry.stamp == stamp:
                continue
            if self._rejected.get(path) == stamp:
                continue
            if settle and self._seen.get(path) != stamp:
                continue        # still being copied (or just appeared): look again next pass
            if stamp[0] > self.max_bytes:
                self._reject(path, stamp, f"{stamp[0] / 1e6:.0f} MB is larger than the {self.max_bytes / 1e6:.0f} MB limit")
                continue
            if stamp[0] == 0:
                self._reject(path, stamp, "empty file")
                continue
            self.current = (path, stamp)      # what the loader is working on
            try:
                mf = self.loader(path)
            except Exception as e:      # any bad file: one line, never a crash
                self._reject(path, stamp, str(e).replace(path + ": ", ""))
                if entry is not None:
                    with self._lock:
                        self._entries.pop(path, None)
                        self._change_count += 1
                    changed = True
                continue
            self._rejected.pop(path, None)
            ir_path = stamp[3][0] if stamp[3] else None
            with self._lock:
                self._entries[path] = Entry(path, stamp, mf, ir_path)
                self._change_count += 1
            log.info("model %s: %s (%s, %d Hz%s)", "updated" if entry else "added", os.path.basename(path),
                     mf.architecture, mf.sample_rate, f", IR {os.path.basename(ir_path)}" if ir_path else "")
            changed = True
            if self.on_progress:
                self.on_progress(self)       # a long first scan may show what it has so far
        self._seen = listing
        changed = self.settle_order() or changed
        if changed and self.on_change:
            self.on_change(self)
        return changed

    def settle_order(self):
        """Put the entries loaded so far in playing order (version + 1 when that changed
        anything); scan() ends with it, a scan's on_progress may call it mid-way."""
        order = self._ordered()
        with self._lock:
            if order == self._order and self._order_version == self._change_count:
                return False
            self._order = order
            self._order_version = self._change_count
            self.version += 1
        return True

    def drop(self, path):
        """Forget an entry (its file stays refused until it changes: the caller rejects it)."""
        with self._lock:
            if self._entries.pop(path, None) is not None:
                self._change_count += 1
        self.settle_order()

    def _reject(self, path, stamp, why):
        self._rejected[path] = stamp
        log.warning("model skipped: %s: %s", os.path.basename(path), why)

    def _ordered(self):
        with self._lock:
            paths = sorted(self._entries, key=lambda p: os.path.basename(p).lower())
        setlist = os.path.join(self.directory, SETLIST)
        try:
            with open(setlist, encoding="utf-8") as f:
                wanted = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError:
            return paths
        by_name = {}
        for p in paths:
            base = os.path.basename(p)
            by_name.setdefault(base, p)
            by_name.setdefault(os.path.splitext(base)[0], p)
        first = {}                       # a dict: ordered, and found in O(1) among thousands
        for w in wanted:
            p = by_name.get(w)
            if p:
                first.setdefault(p, None)
        return list(first) + [p for p in paths if p not in first]

    # --- access -------------------------------------------------------------------------
    def entries(self):
        with self._lock:
            return [self._entries[p] for p in self._order if p in self._entries]

    def get(self, path):
        with self._lock:
            return self._entries.get(path)

    def __len__(self):
        return len(self.entries())

    def start(self):
        self.scan(settle=False) if not self._entries else None
        self._thread = threading.Thread(target=self._run, name="tubeless-library", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.poll_s):
            try:
                self.scan()
            except Exception:
                log.exception("library scan failed")

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

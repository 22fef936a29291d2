"""The models folder, as the web page changes it: uploads, IRs, the setlist, renames, deletes.

The librarian watches this folder (firmware.importers.library): a file is looked at only
once it stops changing and never under a temporary name, so everything here is written
under a name starting with "." and then renamed into place (atomic on one filesystem).
Names come from a browser: each is reduced to a plain file name (no folders, no "..",
no control characters, no leading dot) and checked against what the folder holds before
anything is renamed or removed. Cabinet IRs that belong to no model live in `irs/`, a
folder the librarian does not look into; attaching one to a model copies it beside the
model as NAME.wav (the librarian's pairing rule). A zip holding a preset at
`presets/NAME.toml` is a shared rig (firmware.presets.bundle), imported whole into the
models and presets folders with the bundle's own checks, or not at all.
"""
import os
import re
import shutil
import struct
import sys
import tempfile
import unicodedata
import zipfile

from firmware.core.errors import FileError, PresetError
from firmware.importers.library import EXTENSIONS, MAX_BYTES, SETLIST
from firmware.presets import bundle

MODEL_EXTENSIONS = EXTENSIONS                      # .npz .nam .json .aidax
IR_EXTENSION = ".wav"
ZIP_EXTENSION = ".zip"
UPLOAD_EXTENSIONS = (*MODEL_EXTENSIONS, IR_EXTENSION, ZIP_EXTENSION)
IR_MAX_BYTES = 64 << 20                             # what the librarian reads of an IR
ZIP_MAX_MEMBERS = 200
ZIP_MAX_ENTRIES = 4 * ZIP_MAX_MEMBERS               # folders are entries too
ZIP_MAX_DIRECTORY = 512 * ZIP_MAX_ENTRIES           # bytes of central directory zipfile would read and parse
IRS = "irs"
MAX_NAME = 120
NAME_BYTES = 255                                     # a file name on Linux, in the filesystem's encoding
_BAD = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
RIG_PRESET = re.compile(r"presets/[^/]+\.toml")          # what makes a zip a rig (firmware.presets.bundle)


def clean_name(raw, folders=False):
    """A browser's file name -> a plain file name, or FileError. With folders (an upload's
    or a zip member's name), the folders are dropped ("amps/plexi.nam" is "plexi.nam");
    without, a name with a folder in it is refused. "../x" is refused either way."""
    if not isinstance(raw, str) or not raw.strip():
        raise FileError("no file name")
    if not folders and ("/" in raw or "\\" in raw):
        raise FileError(f"{raw[:80]!r}: a name with a folder in it")
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").split("/")[-1]).strip()
    if any(part == ".." for part in raw.replace("\\", "/").split("/")):
        raise FileError(f"{raw[:80]!r}: a name that leaves its folder")
    if not name or name.startswith(".") or _BAD.search(name):
        raise FileError(f"{raw[:80]!r}: not a plain file name")
    if len(name) > MAX_NAME:
        raise FileError(f"{name[:40]}...: a name longer than {MAX_NAME} characters")
    check_length(name)
    return name


def check_length(name):
    """Refuse a name the filesystem would not take: 255 bytes (four-byte characters count
    four), no lone surrogates (a JSON string may carry them; they have no encoding)."""
    try:
        n = len(name.encode(sys.getfilesystemencoding()))
    except UnicodeEncodeError:
        raise FileError(f"{name[:40]!r}: not a plain file name") from None
    if n > NAME_BYTES:
        raise FileError(f"{name[:40]}...: a name longer than {NAME_BYTES} bytes")


def kind_of(name):
    ext = os.path.splitext(name)[1].lower()
    if ext in MODEL_EXTENSIONS:
        return "model"
    if ext == IR_EXTENSION:
        return "ir"
    if ext == ZIP_EXTENSION:
        return "zip"
    raise FileError(f"{name}: not a model (.nam .json .aidax .npz), a cabinet IR (.wav) or a .zip of those")


def limit_of(kind):
    return {"model": MAX_BYTES, "ir": IR_MAX_BYTES, "zip": MAX_BYTES}[kind]


IR_RATES = (8000, 384000)
IR_BLOCK = 4096                                      # frames read at once: memory stays bounded


def check_ir(path, label, max_ms=500.0):
    """A cabinet IR the pedal can use, else FileError in the player's words: a sound file
    the librarian's reader (libsndfile) opens, at 8 to 384 kHz, whose first max_ms (what
    the pedal keeps of it) are finite and not all silence. Reads that part only, a block
    at a time, whatever the file claims about its length or channels."""
    import numpy as np
    import soundfile as sf
    try:
        with sf.SoundFile(path) as f:
            rate, frames = f.samplerate, f.frames
            if not IR_RATES[0] <= rate <= IR_RATES[1]:
                raise FileError(f"{label}: a sample rate of {rate} Hz; a cabinet IR needs "
                                f"{IR_RATES[0] // 1000} to {IR_RATES[1] // 1000} kHz")
            left, sound = min(frames, int(max_ms * 1e-3 * rate) + 1), False
            if left <= 0:
                raise FileError(f"{label}: no sound in it (an empty WAV)")
            while left > 0:
                block = f.read(min(IR_BLOCK, left), dtype="float32", always_2d=True)
                if not len(block):
                    break
                first = block[:, 0]
                if not np.all(np.isfinite(first)):
                    raise FileError(f"{label}: damaged (it holds values that are not numbers)")
                sound = sound or bool(np.any(first))
                left -= len(block)
    except FileError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, MemoryError):
        raise FileError(f"{label}: not a WAV file the pedal can read") from None
    if not sound:
        raise FileError(f"{label}: silent (a cabinet IR must have sound at its start)")


def is_rig(path, zip_name):
    """Whether an uploaded zip is a rig (a preset at presets/NAME.toml, as `tubeless preset
    export` writes one) rather than a zip of models; its directory is checked before zipfile
    reads it, as for any zip."""
    check_zip_directory(path, zip_name)
    try:
        with zipfile.ZipFile(path) as zf:
            return any(RIG_PRESET.fullmatch(i.filename) for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise FileError(f"{zip_name}: not a readable zip ({e})") from None


def _rig_refusal(text, path, zip_name):
    """bundle's one line for the page: the upload's name, not its temporary file; the
    page's way out, not the command line's."""
    return text.replace(path, zip_name).replace(os.path.basename(path), zip_name) \
        .replace("rename it, or import with --force", "rename or delete it on the pedal first")


class ModelsFolder:
    def __init__(self, directory, ir_max_ms=500.0, presets=None):
        self.directory = os.fspath(directory)
        self.irs = os.path.join(self.directory, IRS)
        self.ir_max_ms = float(ir_max_ms)
        self.presets = os.fspath(presets) if presets is not None else None     # the presets folder (rigs)

    # --- reading ------------------------------------------------------------------------
    def _names(self, d):
        try:
            return sorted(n for n in os.listdir(d) if not n.startswith(".") and os.path.isfile(os.path.join(d, n)))
        except OSError:                 # gone, not a folder, unreadable: nothing to offer (the
            return []                   # page shows the librarian's scan error), the live stream lives on

    def models(self):
        return [n for n in self._names(self.directory) if n.lower().endswith(MODEL_EXTENSIONS)]

    def ir_library(self):
        return [n for n in self._names(self.irs) if n.lower().endswith(IR_EXTENSION)]

    def setlist(self):
        try:
            with open(os.path.join(self.directory, SETLIST), encoding="utf-8") as f:
                return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError:
            return []

    def usable_ir(self, name):
        """An IR of irs/ by its exact name, checked as the pedal will read it, or FileError."""
        name = clean_name(name)
        if name not in self.ir_library():
            raise FileError(f"{name}: no such IR (upload it first)")
        check_ir(os.path.join(self.irs, name), name, self.ir_max_ms)
        return name

    def model(self, name):
        """A model file of the folder by its exact name, or FileError."""
        name = clean_name(name)
        if name not in self.models():
            raise FileError(f"{name}: no such model in the folder")
        return name

    # --- writing ------------------------------------------------------------------------
    def temp(self, d=None):
        """A new temporary file in the folder (ignored by the librarian): (file object, path)."""
        d = d or self.directory
        os.makedirs(d, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=".tmp-web-", dir=d)
        return os.fdopen(fd, "wb"), path

    def place(self, tmp, name, d=None):
        """Rename a finished temporary file to its name (replacing a file of that name)."""
        d = d or self.directory
        os.chmod(tmp, 0o664)                              # the pedal reads it through the group
        os.makedirs(d, exist_ok=True)
        final = os.path.join(d, name)
        if os.path.isdir(final):
            os.unlink(tmp)
            raise FileError(f"{name}: a folder of that name is in the way")
        os.replace(tmp, final)
        return final

    def write_bytes(self, name, data, d=None):
        f, tmp = self.temp(d)
        try:
            with f:
                f.write(data)
            return self.place(tmp, name, d)
        except BaseException:
            _unlink(tmp)
            raise

    def copy(self, src, name, d=None):
        f, tmp = self.temp(d)
        try:
            with f, open(src, "rb") as s:
                shutil.copyfileobj(s, f)
            return self.place(tmp, name, d)
        except BaseException:
            _unlink(tmp)
            raise

    def write_setlist(self, order):
        """The playing order: names of models in the folder (others refused)."""
        have = set(self.models())
        clean = []
        for n in order:
            n = clean_name(n)
            if n not in have:
                raise FileError(f"{n}: no such model in the folder")
            if n not in clean:
                clean.append(n)
        text = "# The playing order, written by the pedal's web page. One file name a line.\n" + \
            "".join(n + "\n" for n in clean)
        self.write_bytes(SETLIST, text.encode())
        return clean

    def _replace_in_setlist(self, old, new):
        order = self.setlist()
        if not order:
            return
        stems = {old, os.path.splitext(old)[0]}
        out = [(new if new else None) if n in stems else n for n in order]
        text = "# The playing order, written by the pedal's web page. One file name a line.\n" + \
            "".join(n + "\n" for n in out if n)
        self.write_bytes(SETLIST, text.encode())

    def rename(self, name, to):
        """Rename a model (its IR follows). The new name keeps the file's own extension: a
        player types a name, not a format, so a model extension typed with it ("TS9.json"
        for a .nam) is replaced, never added to."""
        name = self.model(name)
        to = clean_name(to)
        ext = os.path.splitext(name)[1]
        typed_stem, typed_ext = os.path.splitext(to)
        if typed_ext.lower() in MODEL_EXTENSIONS:
            to = typed_stem                                # the format stays the file's
        if not to or to.startswith("."):
            raise FileError(f"{to or typed_ext!r}: not a name for a model")
        to += ext
        check_length(to)
        if to == name:
            return name
        if os.path.exists(os.path.join(self.directory, to)):
            raise FileError(f"{to}: a file of that name is already there")
        old_ir, new_ir = self._ir_of(name), os.path.join(self.directory, os.path.splitext(to)[0] + IR_EXTENSION)
        os.rename(os.path.join(self.directory, name), os.path.join(self.directory, to))
        if old_ir and not os.path.exists(new_ir):
            os.rename(old_ir, new_ir)
        self._replace_in_setlist(name, to)
        return to

    def delete(self, name):
        name = self.model(name)
        ir = self._ir_of(name)
        os.unlink(os.path.join(self.directory, name))
        if ir and not any(os.path.splitext(m)[0] == os.path.splitext(name)[0] for m in self.models()):
            os.unlink(ir)                                 # no other model of that name uses it
        self._replace_in_setlist(name, None)

    def _ir_of(self, model):
        p = os.path.join(self.directory, os.path.splitext(model)[0] + IR_EXTENSION)
        return p if os.path.isfile(p) else None

    def attach_ir(self, model, ir):
        """Copy irs/IR beside MODEL as its own IR; ir "" removes the model's IR."""
        model = self.model(model)
        target = os.path.splitext(model)[0] + IR_EXTENSION
        if not ir:
            old = self._ir_of(model)
            if old:
                os.unlink(old)
            return None
        ir = self.usable_ir(ir)
        self.copy(os.path.join(self.irs, ir), target)
        return target

    # --- uploads ------------------------------------------------------------------------
    def expand_zip(self, path, zip_name, budget):
        """The members of an uploaded zip as (name, temp path, label), and refusals as
        (label, error). The directory's size and entry count are checked before zipfile
        reads it; every byte unpacked counts against `budget` (an UnpackBudget shared by
        the whole upload), kept or not, and a member is refused before it is written when
        its stated size is beyond its limit or what is left; sizes are counted again while
        reading (a stated size may lie)."""
        done, refused = [], []
        check_zip_directory(path, zip_name)
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise FileError(f"{zip_name}: not a readable zip ({e})") from None
        with zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if len(members) > ZIP_MAX_MEMBERS:
                raise FileError(f"{zip_name}: {len(members)} files, more than the {ZIP_MAX_MEMBERS} a zip may hold")
            for info in members:
                label = f"{zip_name}/{info.filename[:80]}"
                try:
                    name = clean_name(info.filename, folders=True)
                    kind = kind_of(name)
                    if kind == "zip":
                        raise FileError(f"{name}: a zip inside a zip")
                    limit = limit_of(kind)
                    if info.file_size > limit:
                        raise FileError(f"{name}: unpacks to more than {limit >> 20} MB")
                    if info.file_size > budget.left:
                        raise FileError(budget.refusal(name))
                    f, tmp = self.temp()
                    n = 0
                    try:
                        with f, zf.open(info) as src:
                            while chunk := src.read(1 << 16):
                                if n + len(chunk) > limit:
                                    raise FileError(f"{name}: unpacks to more than {limit >> 20} MB")
                                if len(chunk) > budget.left:
                                    raise FileError(budget.refusal(name))
                                budget.left -= len(chunk)          # counted before it is written
                                f.write(chunk)
                                n += len(chunk)
                    except BaseException:
                        _unlink(tmp)
                        raise
                    done.append((name, tmp, label))
                except FileError as e:
                    refused.append((label, str(e)))
                except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
                    refused.append((label, f"cannot be unpacked: {e}"))
        return done, refused

    def import_rig(self, path, zip_name, budget):
        """An uploaded rig zip -> its results, imported by firmware.presets.bundle (its layout,
        sizes and preset checked, everything staged, then renamed into place; nothing lands
        after a refusal, FileError in one line). What its members state they unpack to counts
        against the upload's budget before anything is unpacked; the bundle refuses a member
        whose data runs past its stated size, so that is all it can write. Reads and writes
        files: not on the event loop."""
        if self.presets is None:
            raise FileError(f"{zip_name}: a rig zip, and the page knows no presets folder")
        try:
            with zipfile.ZipFile(path) as zf:
                stated = sum(i.file_size for i in zf.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise FileError(f"{zip_name}: not a readable zip ({e})") from None
        if stated > budget.left:
            raise FileError(budget.refusal(zip_name))
        budget.left -= stated
        try:
            done = bundle.import_rig(path, self.presets, self.directory)
        except PresetError as e:
            raise FileError(_rig_refusal(str(e), path, zip_name)) from None
        results = []
        for kind, name, what in done:
            r = {"file": f"{zip_name}/{name}", "name": name, "kind": kind, "status": "stored", "rig": what}
            if kind == "preset":
                r["name"] = name[:-len(".toml")]
                r["note"] = f"preset {r['name']} {'updated' if what == 'replaced' else 'added'}: see Presets"
            elif what == "same":
                r["note"] = "already on the pedal"
            elif kind == "model":
                r.update(status="checking", bytes=os.path.getsize(os.path.join(self.directory, name)))
            else:
                r["note"] = "the rig's cabinet IR"
            results.append(r)
        return results

    def settle_upload(self, files):
        """Finished uploads [(name, temp path, label)] -> results. Models first; then each IR,
        once check_ir finds it one the pedal can use: named like a model (in the folder or
        this upload) it goes beside it, any other to irs/. Reads files: not on the event loop."""
        results = []
        models = [f for f in files if kind_of(f[0]) == "model"]
        irs = [f for f in files if kind_of(f[0]) == "ir"]
        for name, tmp, label in models:
            try:
                size = os.path.getsize(tmp)
                self.place(tmp, name)
                results.append({"file": label, "name": name, "kind": "model", "bytes": size, "status": "checking"})
            except (OSError, FileError) as e:
                results.append(_refused(label, tmp, e))
        stems = {os.path.splitext(m)[0] for m in self.models()}
        for name, tmp, label in irs:
            stem = os.path.splitext(name)[0]
            try:
                check_ir(tmp, name, self.ir_max_ms)
                if stem in stems:
                    self.place(tmp, stem + IR_EXTENSION)
                    results.append({"file": label, "name": name, "kind": "ir", "model": stem, "status": "checking"})
                else:
                    self.place(tmp, name, self.irs)
                    results.append({"file": label, "name": name, "kind": "ir", "status": "stored",
                                    "note": "kept with the IRs: attach it to a model, or make it the global IR"})
            except (OSError, FileError) as e:
                results.append(_refused(label, tmp, e))
        return results


class UnpackBudget:
    """What one upload's zips may unpack to, all together; every byte written counts."""

    def __init__(self, total):
        self.total = self.left = total

    def refusal(self, name):
        return f"{name}: the upload's zips unpack to more than {self.total >> 20} MB together"


def check_zip_directory(path, zip_name):
    """Refuse a zip whose central directory is too large to read or holds too many entries,
    from its end-of-central-directory record found as zipfile finds it (at the very end,
    else the last signature in the last 64 KiB), and its zip64 records where a locator
    points to them (beside it, or where the locator says: either may be the one read)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            base = max(0, size - (22 + (1 << 16) + 20 + 56))
            f.seek(base)
            tail = f.read()
            at = len(tail) - 22
            if not (at >= 0 and tail[at:at + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
                at = tail.rfind(b"PK\x05\x06", max(0, size - (1 << 16) - 22) - base)
            if at < 0 or len(tail) - at < 22:
                raise FileError(f"{zip_name}: not a readable zip (no end of central directory)")
            entries, directory = struct.unpack_from("<10xHL", tail, at)
            loc = at - 20
            if loc >= 0 and tail[loc:loc + 4] == b"PK\x06\x07":
                records = [tail[loc - 56:loc] if loc >= 56 else b""]
                f.seek(struct.unpack_from("<8xQ", tail, loc)[0])
                records.append(f.read(56))
                found = [struct.unpack_from("<32xQQ", rec) for rec in records
                         if len(rec) == 56 and rec[:4] == b"PK\x06\x06"]
                if found:           # its values stand for the 16- and 32-bit fields' 0xFFFF... placeholders
                    entries = max([e for e, _ in found] + ([] if entries == 0xFFFF else [entries]))
                    directory = max([d for _, d in found] + ([] if directory == 0xFFFFFFFF else [directory]))
    except FileError:
        raise
    except (OSError, ValueError, OverflowError) as e:
        raise FileError(f"{zip_name}: not a readable zip ({e})") from None
    if entries > ZIP_MAX_ENTRIES:
        raise FileError(f"{zip_name}: {entries} entries, more than the {ZIP_MAX_ENTRIES} a zip may hold")
    if directory > ZIP_MAX_DIRECTORY:
        raise FileError(f"{zip_name}: a directory of {directory} bytes, more than the "
                        f"{ZIP_MAX_DIRECTORY} a zip may have")


def _refused(label, tmp, e):
    _unlink(tmp)
    why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return {"file": label, "status": "refused", "error": why}


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass

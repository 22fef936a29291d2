"""A rig to share: one preset with the models and cabinet IRs it plays, as a zip.

    presets/NAME.toml            the preset, as its file is
    models/AMP.nam               its amp model (and drive model), with a model's own IR
    models/AMP.wav               (the same name, .wav) when it has one
    models/irs/CAB.wav           its cabinet IR

`export_rig` writes one (atomically). `import_rig` reads one as the untrusted file it is:
the zip's directory is checked from its end record before `zipfile` parses it (how many
entries, how big), then every member's name against the layout above (plain file names,
nothing outside the pedal's folders), its declared and its actual size, and the total.
Everything is unpacked to hidden temporary names in the target folders first; only when
all of it arrived, and nothing would replace a different file of the same name (unless
`force`), is it renamed into place: the models first, the preset last.
"""
import hashlib
import os
import struct
import tempfile
import zipfile

from firmware.core.errors import OutputError, PresetError
from firmware.core.outputs import atomic_path
from firmware.importers.library import EXTENSIONS, MAX_BYTES as MODEL_MAX_BYTES
from firmware.presets import format as fmt

IRS = "irs"
IR_MAX_BYTES = 64 << 20
MAX_ENTRIES = 16                          # a preset, two models with their IRs, a cabinet IR, and folders
MAX_DIRECTORY = 64 << 10                  # bytes of central directory
MAX_UNPACKED = 2 * MODEL_MAX_BYTES + 3 * IR_MAX_BYTES + fmt.MAX_BYTES
MAX_ZIP_BYTES = MAX_UNPACKED + (1 << 20)


def _member_kind(name):
    """(kind, folder part, file name) of an allowed member, or PresetError."""
    parts = name.split("/")
    if name.endswith("/") and parts[:-1] in (["presets"], ["models"], ["models", IRS]):
        return "folder", None, None
    try:
        if len(parts) == 2 and parts[0] == "presets":
            return "preset", "presets", fmt.check_file_name(name, parts[1], (fmt.EXTENSION,), "presets folder")
        if len(parts) == 2 and parts[0] == "models":
            return ("ir" if parts[1].lower().endswith(".wav") else "model", "models",
                    fmt.check_file_name(name, parts[1], EXTENSIONS + (".wav",), "models folder"))
        if len(parts) == 3 and parts[:2] == ["models", IRS]:
            return "ir", IRS, fmt.check_file_name(name, parts[2], (".wav",), "models folder's irs/")
    except PresetError as e:
        raise PresetError(f"rig member {e}") from None
    raise PresetError(f"rig member {name[:100]!r}: not presets/NAME.toml, models/FILE or models/irs/FILE.wav")


def _limit(kind):
    return {"preset": fmt.MAX_BYTES, "model": MODEL_MAX_BYTES, "ir": IR_MAX_BYTES}[kind]


def _check_directory(path, f, size):
    """The end-of-central-directory record, before zipfile builds an object per entry."""
    tail = min(size, 65535 + 22)
    f.seek(size - tail)
    buf = f.read(tail)
    at = buf.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(buf):
        raise PresetError(f"{path}: not a zip (no zip directory at its end)")
    entries, dir_size = struct.unpack("<HI", buf[at + 10:at + 16])
    if entries > MAX_ENTRIES:
        raise PresetError(f"{path}: {entries} entries, a rig holds at most {MAX_ENTRIES}")
    if dir_size > MAX_DIRECTORY:
        raise PresetError(f"{path}: a zip directory of {dir_size} bytes, more than a rig's {MAX_DIRECTORY}")


def _members(path, zf):
    """[(ZipInfo, kind, folder, file name)], checked from the directory alone."""
    out, seen, total = [], set(), 0
    for info in zf.infolist():
        kind, folder, name = _member_kind(info.filename)
        if kind == "folder":
            continue
        if (folder, name.lower()) in seen:
            raise PresetError(f"{path}: {info.filename} appears twice")
        seen.add((folder, name.lower()))
        if info.flag_bits & 0x1:
            raise PresetError(f"{path}: {info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise PresetError(f"{path}: {info.filename} uses a compression the pedal does not read")
        if info.file_size > _limit(kind):
            raise PresetError(f"{path}: {info.filename} unpacks to {info.file_size} bytes, more than {_limit(kind)}")
        total += info.file_size
        out.append((info, kind, folder, name))
    if total > MAX_UNPACKED:
        raise PresetError(f"{path}: unpacks to {total} bytes, more than a rig's {MAX_UNPACKED}")
    presets = [m for m in out if m[1] == "preset"]
    if len(presets) != 1:
        raise PresetError(f"{path}: a rig holds one preset (presets/NAME.toml), this one {len(presets)}")
    return out


def _unpack(zf, info, limit, folder):
    """One member to a hidden temporary file in `folder`, never more than its declared size."""
    fd, tmp = tempfile.mkstemp(prefix=".import-", suffix=".partial", dir=folder)
    n = 0
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(1 << 16):
                n += len(chunk)
                if n > min(limit, info.file_size):
                    raise PresetError(f"{info.filename}: more data than its zip entry declares")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if n != info.file_size:
            raise PresetError(f"{info.filename}: {n} bytes, its zip entry declares {info.file_size}")
        os.chmod(tmp, 0o644)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()


def import_rig(path, presets_dir, models_dir, force=False):
    """Unpack a rig zip into the pedal's folders; returns [(what, file name, "added" |
    "same" | "replaced")]. PresetError in one line, with nothing changed."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_ZIP_BYTES:
            raise PresetError(f"{path}: {size} bytes, more than a rig's {MAX_ZIP_BYTES}")
        f = open(path, "rb")
    except OSError as e:
        raise PresetError(f"{path}: cannot read: {e.strerror or e}") from None
    folders = {"presets": presets_dir, "models": models_dir, IRS: os.path.join(models_dir, IRS)}
    staged = []                                   # (temp, final path, kind, file name)
    try:
        with f:
            _check_directory(path, f, size)
            f.seek(0)
            try:
                zf = zipfile.ZipFile(f)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as e:
                raise PresetError(f"{path}: not a readable zip ({e})") from None
            with zf:
                members = _members(path, zf)
                for info, kind, folder, name in members:
                    os.makedirs(folders[folder], exist_ok=True)
                    try:
                        tmp = _unpack(zf, info, _limit(kind), folders[folder])
                    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
                        raise PresetError(f"{path}: {info.filename} cannot be unpacked: {e}") from None
                    staged.append((tmp, os.path.join(folders[folder], name), kind, name))
        preset_tmp, preset_path, _, preset_file = next(s for s in staged if s[2] == "preset")
        with open(preset_tmp, "rb") as pf:             # a preset that plays, or nothing lands
            fmt.parse(pf.read(fmt.MAX_BYTES + 1), preset_file[:-len(fmt.EXTENSION)], preset_file)
        results, moves = [], []
        for tmp, final, kind, name in staged:
            if os.path.lexists(final):
                if os.path.isfile(final) and _digest(final) == _digest(tmp):
                    results.append((kind, name, "same"))
                    continue
                if not force:
                    raise PresetError(f"{name} exists on the pedal and differs: rename it, or import with --force")
                results.append((kind, name, "replaced"))
            else:
                results.append((kind, name, "added"))
            moves.append((tmp, final))
        for tmp, final in sorted(moves, key=lambda m: m[1] == preset_path):     # the preset last
            os.replace(tmp, final)
        return results
    except OSError as e:
        raise PresetError(f"{path}: cannot import: {e.strerror or e}") from None
    finally:
        for tmp, *_ in staged:
            if os.path.lexists(tmp):
                os.unlink(tmp)


def rig_files(preset, models_dir):
    """[(member name, file)] of what a preset plays; PresetError naming what is missing."""
    out = [(f"presets/{preset.name}{fmt.EXTENSION}", None)]
    for model in preset.models():
        src = os.path.join(models_dir, model)
        if not os.path.isfile(src):
            raise PresetError(f"preset {preset.name!r}: {model} is not in {models_dir}")
        out.append((f"models/{model}", src))
        own_ir = os.path.splitext(model)[0] + ".wav"
        if os.path.isfile(os.path.join(models_dir, own_ir)):
            out.append((f"models/{own_ir}", os.path.join(models_dir, own_ir)))
    if preset.ir:
        src = os.path.join(models_dir, IRS, preset.ir)
        if not os.path.isfile(src):
            raise PresetError(f"preset {preset.name!r}: its IR {preset.ir} is not in {os.path.dirname(src)}")
        out.append((f"models/{IRS}/{preset.ir}", src))
    return out


def export_rig(preset_path, models_dir, out, force=False):
    """Write the rig zip of the preset file `preset_path`; returns its member names."""
    preset = fmt.read(preset_path)
    files = rig_files(preset, models_dir)
    try:
        with atomic_path(out, force) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, src in files:
                if src is None:
                    zf.write(preset_path, member)
                else:
                    zf.write(src, member)
    except OutputError as e:
        raise PresetError(str(e)) from None
    except OSError as e:
        raise PresetError(f"{out}: cannot write: {e.strerror or e}") from None
    return [m for m, _ in files]

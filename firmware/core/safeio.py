"""Readers of untrusted bytes that stay within `core.limits`: JSON with bounded nesting, a
.npz read from its zip directory and .npy headers before any data."""
import json
import re
import struct
import zipfile

import numpy as np

from firmware.core.errors import LimitError, ModelFileError
from firmware.core.limits import active, size_text


def parse_json(path, data, what=None):
    """json.loads of untrusted bytes: any failure, deep nesting included, is a ModelFileError
    ("<what> is not valid JSON", or "not valid JSON" without `what`)."""
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)
    except RecursionError:
        raise ModelFileError(path, f"{what + ' JSON' if what else 'JSON'} is nested too deeply "
                                   "(refused before Python's recursion limit)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(path, f"{what + ' is not' if what else 'not'} valid JSON: {e}") from None


# --- .npz (a zip of .npy members) ----------------------------------------------------------
def _zip_entry_count(path, f, size):
    """Entries the zip's end-of-central-directory record declares, read before zipfile
    builds an object per entry (a 64 MB zip can hold half a million tiny members)."""
    tail = min(size, 65536 + 22)
    f.seek(size - tail)
    buf = f.read(tail)
    at = buf.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(buf):
        raise ModelFileError(path, "not a valid model file (truncated or not .npz): no zip directory")
    entries = struct.unpack("<H", buf[at + 10:at + 12])[0]
    return entries


def open_npz(path, f, size, allowed, limits=None):
    """(ZipFile, {member name without .npy: ZipInfo}) of an .npz file, checked from its
    directory alone: entry count, names (`allowed(name)` must accept each), no duplicates,
    declared sizes within the limits. Nothing is inflated here."""
    lim = limits or active()
    entries = _zip_entry_count(path, f, size)
    if entries >= min(lim.npz_members, 0xFFFF):
        raise LimitError(path, f"the .npz has {entries} members, more than the limit of {lim.npz_members}")
    f.seek(0)
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error) as e:
        raise ModelFileError(path, f"not a valid model file (truncated or not .npz): {e}") from None
    members, total = {}, 0
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or not allowed(name[:-4]):
            raise ModelFileError(path, f"unknown member '{name}' in the .npz (a model file holds header.npy, "
                                       "weights/*.npy and reference/*.npy only)")
        if name[:-4] in members:
            raise ModelFileError(path, f"member '{name}' appears twice in the .npz")
        if info.flag_bits & 0x1:
            raise ModelFileError(path, f"member '{name}' is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(path, f"member '{name}' uses an unsupported compression")
        total += info.file_size
        members[name[:-4]] = info
    if total > lim.npz_unpacked_bytes:
        raise LimitError(path, f"the .npz members declare {size_text(total)} unpacked, more than the limit of "
                               f"{size_text(lim.npz_unpacked_bytes)}")
    return zf, members


# --- .npy -----------------------------------------------------------------------------
# The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
# 'shape': (3, 4), }. numpy parses it with ast.literal_eval, whose nested closures leave a
# reference cycle per call: the engine loads models with its collector off (a collection
# holds the GIL while the audio thread waits), so it is read here with a strict grammar of
# the three keys and the plain values a number array has.
_NPY_ITEM = re.compile(r"\s*'(descr|fortran_order|shape)'\s*:\s*"
                       r"('[<>|=]?[a-z]\d{1,2}'|True|False|\(\s*(?:\d{1,19}\s*,\s*)*(?:\d{1,19}\s*)?\))\s*(,|(?=\}))")
_NPY_MAGIC = b"\x93NUMPY"


def parse_npy_header(text):
    """(shape, fortran_order, dtype) of a .npy header's dict text; ValueError for anything
    but exactly the three keys with a plain-number dtype."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError("the .npy header is not a dict")
    items, at = {}, 1
    while True:
        m = _NPY_ITEM.match(body, at)
        if m is None:
            break
        if m.group(1) in items:
            raise ValueError(f"the .npy header names '{m.group(1)}' twice")
        items[m.group(1)] = m.group(2)
        at = m.end()
    if body[at:].strip() != "}" or len(items) != 3:
        raise ValueError("the .npy header is not a plain array's (descr, fortran_order, shape)")
    shape_text, descr = items["shape"], items["descr"]
    if shape_text.startswith("'") or not descr.startswith("'") or items["fortran_order"] not in ("True", "False"):
        raise ValueError("the .npy header's values have the wrong types")
    dims = [d for d in shape_text[1:-1].replace(" ", "").split(",") if d]
    if len(dims) == 1 and "," not in shape_text:
        raise ValueError("the .npy header's shape is not a tuple")
    return tuple(int(d) for d in dims), items["fortran_order"] == "True", np.dtype(descr[1:-1])


def _read_npy_header(f):
    """(shape, fortran_order, dtype) of the .npy stream `f` at its start, header at most 4 kB."""
    magic = f.read(8)
    if len(magic) != 8 or magic[:6] != _NPY_MAGIC:
        raise ValueError("not a .npy array (no magic string)")
    major = magic[6]
    if major == 1:
        size_bytes, encoding = f.read(2), "latin1"
    elif major in (2, 3) and magic[7] == 0:
        size_bytes, encoding = f.read(4), "latin1" if major == 2 else "utf-8"
    else:
        raise ValueError(f"unknown .npy version {magic[6]}.{magic[7]}")
    if len(size_bytes) not in (2, 4):
        raise EOFError("the .npy header is truncated")
    size = int.from_bytes(size_bytes, "little")
    if size > 4096:
        raise ValueError(f"the .npy header is {size} bytes, more than 4096")
    raw = f.read(size)
    if len(raw) != size:
        raise EOFError("the .npy header is truncated")
    return parse_npy_header(raw.decode(encoding))


def read_npy(path, zf, info, max_bytes, expect_dtype=None, expect_shape=None):
    """One .npy member as an array: its header is read first, and the data only when the
    header's shape and dtype match what is expected, fit `max_bytes` and agree with the
    size the zip directory declares. Object arrays are never read (no pickle)."""
    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    if info.file_size > max_bytes + 4096:
        raise LimitError(path, f"member '{name}' declares {size_text(info.file_size)}, more than the limit of "
                               f"{size_text(max_bytes)} for it")
    try:
        with zf.open(info) as f:
            return _read_npy_data(path, f, name, info.file_size, max_bytes, expect_dtype, expect_shape)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, TypeError, struct.error,
            NotImplementedError, RuntimeError) as e:   # bad CRC, bad deflate data, bad .npy header
        raise ModelFileError(path, f"member '{name}' is truncated or corrupt: {e}") from None


def read_npy_file(path, max_bytes, expect_dtype=None):
    """A plain .npy file (a cached IR) as an array, read as `read_npy` reads a member."""
    import os
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes + 4096:
                raise LimitError(path, f"the file is {size_text(size)}, more than the limit of {size_text(max_bytes)}")
            return _read_npy_data(path, f, os.path.basename(path), size, max_bytes, expect_dtype, None)
    except ModelFileError:
        raise
    except (EOFError, ValueError, TypeError) as e:
        raise ModelFileError(path, f"truncated or corrupt: {e}") from None


def _read_npy_data(path, f, name, file_size, max_bytes, expect_dtype, expect_shape):
    shape, fortran, dtype = _read_npy_header(f)
    header_len = f.tell()
    if dtype.hasobject or dtype.itemsize == 0 or dtype.kind not in "biuf":
        raise ModelFileError(path, f"member '{name}' has dtype {dtype}: only plain numbers are read")
    if expect_dtype is not None and dtype != np.dtype(expect_dtype):
        raise ModelFileError(path, f"'{name}' is {dtype}, expected {np.dtype(expect_dtype)}")
    if expect_shape is not None and tuple(shape) != tuple(expect_shape):
        raise ModelFileError(path, f"'{name}' has shape {tuple(shape)}, expected {tuple(expect_shape)}")
    count = 1
    for s in shape:
        count *= int(s)
    nbytes = count * dtype.itemsize
    if nbytes > max_bytes:
        raise LimitError(path, f"member '{name}' claims {size_text(nbytes)}, more than the limit of "
                               f"{size_text(max_bytes)} for it")
    if header_len + nbytes != file_size:
        raise ModelFileError(path, f"member '{name}' is {file_size} bytes, its header says "
                                   f"{header_len + nbytes}: truncated or corrupt")
    buf = bytearray(nbytes)
    got = f.readinto(buf) if nbytes else 0
    if got != nbytes or f.read(1):
        raise ModelFileError(path, f"member '{name}' is truncated or corrupt")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")

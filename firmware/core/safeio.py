"""Readers of untrusted bytes that stay within `core.limits`: JSON with bounded nesting, a
.npz read from its zip directory and .npy headers before any data."""
import json
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
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=4096)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=4096)
            else:
                raise ValueError(f"unknown .npy version {version}")
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
            if header_len + nbytes != info.file_size:
                raise ModelFileError(path, f"member '{name}' is {info.file_size} bytes, its header says "
                                           f"{header_len + nbytes}: truncated or corrupt")
            buf = bytearray(nbytes)
            got = f.readinto(buf) if nbytes else 0
            if got != nbytes or f.read(1):
                raise ModelFileError(path, f"member '{name}' is truncated or corrupt")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, SyntaxError, TypeError, struct.error,
            NotImplementedError, RuntimeError) as e:   # bad CRC, bad deflate data, bad .npy header
        raise ModelFileError(path, f"member '{name}' is truncated or corrupt: {e}") from None
    array = np.frombuffer(buf, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")

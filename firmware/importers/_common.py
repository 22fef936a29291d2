"""What every importer shares: reading a foreign JSON file safely and checking its fields.

Foreign files arrive from the internet like our own: the JSON is size-capped, and every
value is checked for type, shape and finiteness before it reaches a kernel. Every error
is a ModelFileError that names the file and the field (`config.layers[1].dilations`).
"""
import math
import os

import numpy as np

from firmware.core import limits, safeio
from firmware.models.modelfile import ModelFileError, read_capped


def read_json(path):
    """The file's top-level JSON object (size-capped; deep nesting is a ModelFileError)."""
    path = os.fspath(path)
    data = read_capped(path, limits.active().json_bytes)
    if data[:2] == b"PK":
        raise ModelFileError(path, "is a zip (.npz) file, not JSON: the pedal's own model files need no import")
    doc = safeio.parse_json(path, data)
    if not isinstance(doc, dict):
        raise ModelFileError(path, "top level of the JSON is not an object")
    return doc


def field(obj, key, path, where, kind=None):
    """obj[key], or a ModelFileError naming `where.key` when it is missing or of the wrong type."""
    name = f"{where}.{key}" if where else key
    if not isinstance(obj, dict) or key not in obj:
        raise ModelFileError(path, f"missing field '{name}'")
    value = obj[key]
    if kind is not None and not isinstance(value, kind):
        raise ModelFileError(path, f"field '{name}' must be {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
             bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def integer(value, path, name, minimum=1):
    """A JSON integer >= minimum (2.0 is accepted as 2; true is not)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelFileError(path, f"field '{name}' must be an integer >= {minimum}, got {value!r}")
    return value


def array(value, path, name, shape=None):
    """A float32 array of a JSON (nested) list of numbers, optionally of an exact shape."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise ModelFileError(path, f"field '{name}' is not a rectangular array of numbers") from None
    if a.dtype != np.float64 or (a.ndim == 0 and not isinstance(value, (int, float))):
        raise ModelFileError(path, f"field '{name}' is not an array of numbers")
    if shape is not None and a.shape != tuple(shape):
        raise ModelFileError(path, f"field '{name}' has shape {a.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(a)):
        raise ModelFileError(path, f"field '{name}' contains NaN or Inf")
    return a.astype(np.float32)


def sample_rate(value, path, name):
    """A sample rate in Hz: a number, or a numeric string as some exporters write it."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ModelFileError(path, f"field '{name}' is not a number: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ModelFileError(path, f"field '{name}' must be a whole number of Hz, got {value!r}")
    rate = int(value)
    if not 8000 <= rate <= 384000:
        raise ModelFileError(path, f"field '{name}' ({rate} Hz) is out of range")
    return rate


def metadata(found, path, fmt, **source):
    """The model's metadata: the file's own fields, a name (the file's stem when it states
    none) and `source`: which format and file it was imported from."""
    meta = dict(found) if isinstance(found, dict) else {}
    meta.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    meta["source"] = {"format": fmt, "file": os.path.basename(path), **source}
    return meta

"""The community formats the pedal imports, each registered by its own module: a name, how
to recognise a parsed document (by content, never by file name), how to convert it, and
which import options it takes (the others are refused with the format's own reason)."""
from typing import Callable, NamedTuple


class Format(NamedTuple):
    name: str                  # "nam", "guitarml", "aidax": ModelFile.metadata["source"]["format"]
    looks_like: Callable       # looks_like(doc) -> bool
    convert: Callable          # convert(doc, path, **options) -> ModelFile
    options: dict              # import option -> convert()'s keyword for it
    refusals: dict             # option -> why this format does not take it (one line)


_FORMATS = []


def register(name, looks_like, convert, options=None, refusals=None):
    """Called once by each format's module; detection tries formats in registration order."""
    if any(f.name == name for f in _FORMATS):
        raise ValueError(f"format {name!r} registered twice")
    fmt = Format(name, looks_like, convert, dict(options or {}), dict(refusals or {}))
    _FORMATS.append(fmt)
    return fmt


def formats():
    return tuple(_FORMATS)

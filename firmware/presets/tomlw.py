"""A TOML writer for the documents `tomllib` reads (Python has no writer of its own).

It writes any value `tomllib.loads` returns (strings, numbers, booleans, dates and times,
arrays, tables, arrays of tables), so a preset's keys that this firmware does not know are
written back as they were read. Plain values first, then the tables, as TOML requires."""
import datetime
import math
import re

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(s):
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def key(k):
    return k if _BARE.match(k) else _string(k)


def value(v):
    """One value, inline (a table inside an array is an inline table)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)                  # repr keeps the ".0" and every digit: read back equal
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def _is_table_array(v):
    return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)


def _table(doc, path, lines, comments):
    plain = [(k, v) for k, v in doc.items() if not isinstance(v, dict) and not _is_table_array(v)]
    for k, v in plain:
        note = comments.get(".".join(path + (k,)))
        lines.append(f"{key(k)} = {value(v)}" + (f"   # {note}" if note else ""))
    for k, v in doc.items():
        sub = path + (k,)
        name = ".".join(key(p) for p in sub)
        if isinstance(v, dict):
            if any(not isinstance(x, dict) and not _is_table_array(x) for x in v.values()) or not v:
                lines += ["", f"[{name}]"]
            _table(v, sub, lines, comments)
        elif _is_table_array(v):
            for item in v:
                lines += ["", f"[[{name}]]"]
                _table(item, sub, lines, comments)


def dumps(doc, header="", comments=None):
    """The TOML text of `doc` (a dict); `header` lines become comments at the top, and
    `comments` ({"dotted.key": text}) a comment after a plain value's line."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    _table(doc, (), lines, comments or {})
    return "\n".join(lines).lstrip("\n") + "\n"

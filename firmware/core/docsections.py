"""Parts of the docs written from the code's own tables (the control commands, the rig's
parameters), between two marker lines, so a test can tell when the two disagree."""


def section(text, begin, end):
    """The part of a document between the lines `begin` and `end`, or None."""
    b, e = text.find(begin), text.find(end)
    if b < 0 or e < b:
        return None
    return text[b + len(begin):e].strip("\n") + "\n"


def write_section(path, begin, end, body):
    """Write `body` into the document at `path` between its markers."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    b, e = text.find(begin), text.find(end)
    if b < 0 or e < b:
        raise SystemExit(f"{path}: no {begin!r} ... {end!r} markers")
    text = text[:b + len(begin)] + "\n\n" + body + "\n" + text[e:]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)

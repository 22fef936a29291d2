"""The `models` reply: the library a page at a time, searched on the pedal's side.

A library of thousands of models does not fit one message (64 KiB, firmware.ipc.messages),
and a phone should not have to take all of it to show a search. So a request names a
window (`offset`, `limit`) and a search, and the reply holds the matching models of that
window that fit PAGE_BYTES, with `next` where the rest starts. `revision` changes whenever
any reply would (the library, what plays, the refused files, the scan's error), so a client
that keeps the whole list asks for `limit: 0` and fetches the pages only when it moved.

Runs on the control thread (the `models` handler); the search text of each entry is
worked out once per library version.
"""
import hashlib
import json
import os
import secrets

from firmware.ipc import messages

PAGE_BYTES = 40 * 1024         # the models of one reply, encoded
REJECTED_BYTES = 12 * 1024     # the refused files of one reply: the latest first when they do not all fit
ERROR_CHARS = 300              # of one refusal's line
DEFAULT_LIMIT = 1000           # without `limit`: as many as fit
BOOT = secrets.token_hex(4)    # a restarted pedal's revisions never repeat an earlier one's
FIELDS = ("file", "name", "architecture", "sample_rate", "num_knobs", "format", "bytes", "ir_file", "sizes", "size")


def describe(entry, playing_path):
    """What a client sees of one library entry (no server paths)."""
    return {k: entry.get(k) for k in FIELDS} | {"playing": entry["path"] == playing_path,
                                                 "ir_used": entry.get("ir") is not None}


class SearchIndex:
    """The lower-cased `name file architecture` of each entry of one version of the list
    (what the page's own filter matches), so a search of thousands is one pass of `in`."""

    def __init__(self, entries):
        self.entries = entries
        self.texts = [f"{e.get('name')} {e.get('file')} {e.get('architecture')}".lower() for e in entries]

    def matching(self, search):
        """(1-based index in the library, entry) of the entries that contain `search`."""
        low = (search or "").strip().lower()
        return [(i, e) for i, (e, t) in enumerate(zip(self.entries, self.texts), 1) if low in t]


class Listing:
    """The pedal's `models` replies: builds the index once per library version."""

    def __init__(self):
        self._index = None
        self._version = None

    def reply(self, pedal, offset=0, limit=DEFAULT_LIMIT, search=""):
        if self._version != pedal.library_version or self._index is None or self._index.entries is not pedal.entries:
            self._index, self._version = SearchIndex(pedal.entries), pedal.library_version
        rejected = refused_files(pedal)
        found = self._index.matching(search)
        page, size, nxt = [], 0, None
        for k in range(offset, min(len(found), offset + limit)):
            i, e = found[k]
            d = describe(e, pedal.current_path) | {"index": i}
            n = messages.encoded_size(d) + 1
            if page and size + n > PAGE_BYTES:
                nxt = k
                break
            page.append(d)
            size += n
        else:
            nxt = offset + limit if offset + limit < len(found) else None
        shown = fit_latest(rejected, REJECTED_BYTES)
        return {"ok": True, "models": page, "offset": offset, "next": nxt, "total": len(found),
                "count": len(pedal.entries), "revision": revision(pedal, rejected),
                "rejected": shown, "rejected_total": len(rejected), "library_error": pedal.library_error}


def refused_files(pedal):
    """Every refused file, in the order they were refused, each {file, error}: the
    librarian's refusals, those the engine could not build, and, while the scan fails, the
    model files in the folder it has not checked (so an upload does not stay "checking")."""
    out = [{"file": f, "error": str(why)[:ERROR_CHARS]} for f, why in pedal.rejected.items()]
    out += [{"file": os.path.basename(p), "error": "cannot be built"} for p in pedal.bad]
    if pedal.library_error:
        from firmware.importers.library import EXTENSIONS, is_temporary
        known = {e["file"] for e in pedal.entries} | {r["file"] for r in out}
        try:
            names = sorted(os.listdir(pedal.cfg["models"]["directory"]))
        except OSError:
            names = []
        why = f"not checked: {pedal.library_error}"[:ERROR_CHARS]
        out += [{"file": n, "error": why} for n in names
                if n not in known and not is_temporary(n) and n.lower().endswith(EXTENSIONS)]
    return out


def fit_latest(rejected, budget):
    """The latest refusals that fit `budget` bytes, sorted by file name."""
    shown, size = [], 0
    for r in reversed(rejected):
        n = messages.encoded_size(r) + 1
        if size + n > budget:
            break
        shown.append(r)
        size += n
    return sorted(shown, key=lambda r: r["file"])


def revision(pedal, rejected):
    """A short digest of everything a `models` reply shows besides the page itself."""
    h = hashlib.sha1(BOOT.encode())
    h.update(json.dumps([pedal.library_version, pedal.current_path, pedal.library_error, rejected]).encode())
    return h.hexdigest()[:16]

"""Every message between the pedal's processes, in one place (documented in docs/processes.md).

The pedal is three processes, so that nothing the control side does can make the audio wait:

    engine      the audio: ALSA loop, tone chain, model slots (firmware.engine)
    pedal       the control side: footswitches, pots, control socket, state (firmware.pedal)
    librarian   parses, converts and checks model files into a cache (firmware.librarian)

Messages are JSON objects, one per line (UTF-8, at most MAX_LINE bytes), over pipes (the
engine's and the librarian's stdin/stdout) and the control socket. The engine's parameters
(drive, level, bypass...) and its counters (blocks, xruns, CPU per block) do not travel as
messages: they live in a shared memory block (firmware.ipc.shared), so a change reaches
the audio thread as one store and the engine's status costs the audio nothing.

Control channel (`tubeless ctl`, the web page, MIDI): a request `{"cmd": NAME, ...}` gets
one reply `{"ok": true, ...}` or `{"ok": false, "error": "one line"}`; the commands are the
table of firmware.ipc.commands.
"""
import json

from firmware.core.errors import MessageError
from firmware.ipc.commands import MAX_MIDI_EVENTS, check_control  # noqa: F401 - re-exported

MAX_LINE = 64 * 1024          # longer lines are refused unread: no message needs more


def encode(obj):
    """One message as a line of bytes."""
    line = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise MessageError(f"message of {len(line)} bytes is over the {MAX_LINE}-byte limit")
    return line


def decode(line):
    """A line (bytes or str) -> dict. Raises MessageError."""
    if len(line) > MAX_LINE:
        raise MessageError(f"message over the {MAX_LINE}-byte limit")
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise MessageError("not a JSON object") from None
    if not isinstance(obj, dict):
        raise MessageError("not a JSON object")
    return obj


# --- control channel: pedal <- ctl / web / MIDI ----------------------------------------
# The commands, their arguments and their checks are one table: firmware.ipc.commands
# (check_control and MAX_MIDI_EVENTS are imported above for the callers that read them here).


# --- engine: pedal -> engine (its stdin) ------------------------------------------------
# {"op": "load", "slot": ID, "model": CACHED.npz, "ir": IR.npy or null, "name": str,
#  "role": "amp" (default) or "stomp"}
#     build and prewarm a slot (off the audio thread); reply "loaded" or "load_failed";
#     a "stomp" slot is built for the drive slot (not loudness-levelled)
# {"op": "stomp", "slot": ID or null}              the drive slot plays this loaded slot
#     (crossfaded; null: no capture)
# {"op": "play", "slot": ID, "immediate": bool}   fade to a loaded slot (immediate: no fade)
# {"op": "drop", "slot": ID}                       forget a slot that is not playing
# {"op": "ir", "ir": IR.npy or null}               the global cabinet IR
# {"op": "start"}                                  start the audio (after the first load)
# {"op": "quit"}
ENGINE_OPS = ("load", "play", "stomp", "drop", "ir", "start", "quit")

# --- engine -> pedal (its stdout) -------------------------------------------------------
# {"ev": "loaded", "slot": ID, "seconds": t}
# {"ev": "load_failed", "slot": ID, "error": "one line"}
# {"ev": "started", "realtime": bool}              the audio loop runs
# {"ev": "stopped", "error": str or null}          the audio loop ended

# --- librarian -> pedal (its stdout) ----------------------------------------------------
# The library (the playable models in playing order) travels as one generation in pages, so
# no message grows with the number of models (LibraryPages, LibraryAssembler below):
# {"ev": "library_begin", "generation": G, "count": N, "global_ir": NPY or null}
# {"ev": "library_page", "generation": G, "entries": [ENTRY, ...]}   at most PAGE_BYTES of entries
# {"ev": "library_end", "generation": G, "count": N}
#     ENTRY = {"path", "file" (relative to the models folder), "stamp", "model" (cached .npz),
#              "ir" (cached .npy or null), "ir_file", "name", "architecture", "sample_rate",
#              "num_knobs", "format", "bytes", "sizes", "size"}; each at most ENTRY_BYTES
# The links put the pages together into one {"ev": "library", "entries": [...], "global_ir",
# "generation"} for the pedal, only once the whole generation has arrived.
# {"ev": "scan_failed", "error": "one line"}       the folder could not be scanned (the pedal
#                                                  keeps its list and shows why)
# {"ev": "working", "path": P, "stamp": S}         converting P now (for the time limit)
# {"ev": "rejected", "path": P, "stamp": S, "error": "one line"}
# --- pedal -> librarian (its stdin) ------------------------------------------------------
# {"op": "skip", "path": P, "stamp": S}            a file that crashed or hung a librarian
# {"op": "scan"}                                   look at the folder now


# --- the library in pages ----------------------------------------------------------------
PAGE_BYTES = 16 * 1024        # the entries of one library_page, encoded: a quarter of MAX_LINE
ENTRY_BYTES = 8 * 1024        # one entry, encoded: the librarian refuses a file whose entry is longer
MAX_LIBRARY = 20000           # entries in one generation: the assembler refuses a longer one


def encoded_size(obj):
    """The bytes `obj` takes inside a message (as encode() writes it)."""
    return len(json.dumps(obj, separators=(",", ":"), allow_nan=False))


def library_pages(generation, entries, global_ir=None):
    """One generation of the library as messages: library_begin, library_page (each with at
    most PAGE_BYTES of entries, at least one entry), library_end. An entry longer than
    ENTRY_BYTES is a MessageError: the librarian checks its entries before it sends them."""
    yield {"ev": "library_begin", "generation": generation, "count": len(entries), "global_ir": global_ir}
    page, size = [], 0
    for e in entries:
        n = encoded_size(e) + 1
        if n > ENTRY_BYTES:
            raise MessageError(f"a library entry of {n} bytes is over the {ENTRY_BYTES}-byte limit")
        if page and size + n > PAGE_BYTES:
            yield {"ev": "library_page", "generation": generation, "entries": page}
            page, size = [], 0
        page.append(e)
        size += n
    if page:
        yield {"ev": "library_page", "generation": generation, "entries": page}
    yield {"ev": "library_end", "generation": generation, "count": len(entries)}


class LibraryAssembler:
    """The pages of a generation -> the whole library, once: feed() returns {"ev": "library",
    "entries", "global_ir", "generation"} at the end of a complete generation, one
    {"ev": "scan_failed"} for a generation that arrives broken (a count over MAX_LIBRARY or
    that does not match its pages, a page of no begun generation), else None. A new
    library_begin drops a generation still incomplete, so a librarian that died mid-list
    leaves nothing half-built; at most max_entries entries are ever held."""

    def __init__(self, max_entries=MAX_LIBRARY):
        self.max_entries = max_entries
        self._generation = None      # the one being put together (or refused: _broken)
        self._broken = False
        self._entries = []
        self._count = 0
        self._global_ir = None

    def feed(self, msg):
        ev = msg.get("ev")
        if ev == "library_begin":
            count = msg.get("count")
            self._generation, self._entries, self._broken = msg.get("generation"), [], False
            self._global_ir = msg.get("global_ir")
            if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= self.max_entries:
                return self._refuse(f"a library of {count!r} entries (at most {self.max_entries})")
            self._count = count
            return None
        if ev not in ("library_page", "library_end"):
            return None
        if msg.get("generation") != self._generation:
            return self._refuse("a library page of a list it had not begun") if ev == "library_page" else None
        if self._broken:
            return None                  # the rest of a refused generation
        if ev == "library_page":
            page = msg.get("entries")
            if (not isinstance(page, list) or len(self._entries) + len(page) > self._count
                    or not all(isinstance(e, dict) for e in page)):
                return self._refuse("a library page that does not fit its list")
            self._entries += page
            return None
        generation, self._generation = self._generation, None
        if msg.get("count") != self._count or len(self._entries) != self._count:
            return self._refuse(f"a library list of {len(self._entries)} entries out of {self._count}")
        entries, self._entries = self._entries, []
        return {"ev": "library", "entries": entries, "global_ir": self._global_ir, "generation": generation}

    def _refuse(self, what):
        self._entries, self._broken = [], True
        return {"ev": "scan_failed", "error": f"the librarian sent {what}; the pedal keeps its list"}

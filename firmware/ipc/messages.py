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
# {"op": "load", "slot": ID, "model": CACHED.npz, "ir": IR.npy or null, "name": str}
#     build and prewarm a slot (off the audio thread); reply "loaded" or "load_failed"
# {"op": "play", "slot": ID, "immediate": bool}   fade to a loaded slot (immediate: no fade)
# {"op": "drop", "slot": ID}                       forget a slot that is not playing
# {"op": "ir", "ir": IR.npy or null}               the global cabinet IR
# {"op": "start"}                                  start the audio (after the first load)
# {"op": "quit"}
ENGINE_OPS = ("load", "play", "drop", "ir", "start", "quit")

# --- engine -> pedal (its stdout) -------------------------------------------------------
# {"ev": "loaded", "slot": ID, "seconds": t}
# {"ev": "load_failed", "slot": ID, "error": "one line"}
# {"ev": "started", "realtime": bool}              the audio loop runs
# {"ev": "stopped", "error": str or null}          the audio loop ended

# --- librarian -> pedal (its stdout) ----------------------------------------------------
# {"ev": "library", "entries": [ENTRY, ...]}       the playable models in playing order,
#     ENTRY = {"path", "file", "stamp", "model" (cached .npz), "ir" (cached .npy or null),
#              "name", "architecture", "sample_rate", "num_knobs", "bytes", "format"}
# {"ev": "working", "path": P, "stamp": S}         converting P now (for the time limit)
# {"ev": "rejected", "path": P, "stamp": S, "error": "one line"}
# --- pedal -> librarian (its stdin) ------------------------------------------------------
# {"op": "skip", "path": P, "stamp": S}            a file that crashed or hung a librarian
# {"op": "scan"}                                   look at the folder now

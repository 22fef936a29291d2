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
one reply `{"ok": true, ...}` or `{"ok": false, "error": "one line"}`.
"""
import json

from firmware.core.errors import MessageError

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
# name -> (argument names, help). Values are checked by check_control().
CONTROL_COMMANDS = {
    "next": ((), "play the next model of the setlist"),
    "prev": ((), "play the previous model"),
    "select": (("name",), "play the model NAME (file name, with or without extension, or its 1-based number)"),
    "bypass": (("on",), "bypass on/off; without 'on': toggle"),
    "mute": (("on",), "mute on/off; without 'on': toggle"),
    "set": (("param", "value"), "set a control: drive, level, knob2 (0..1) or gate (threshold dB, -100 = off)"),
    "status": ((), "model, state, levels, CPU per period, xruns"),
    "models": ((), "the library in playing order"),
    "global_ir": (("file",), "the global cabinet IR: a WAV in the models folder's irs/, or \"\" for none"),
    "tuner": (("on",), "the tuner on/off (mutes the output while it is on); without 'on': toggle"),
    "pitch": ((), "the tuner's reading of the input now: note, octave, cents, Hz (or no signal)"),
    "midi": (("events",), "MIDI messages as if from a controller, through the [midi] mapping: "
                          "[{type: cc, control, value} or {type: program, program}, channel 1-16 optional]"),
}
MIDI_EVENT_TYPES = {"cc": ("control", "value"), "program": ("program",)}
MAX_MIDI_EVENTS = 1024        # per message: a burst, not a file
SET_PARAMS = {"drive": (0.0, 1.0), "level": (0.0, 1.0), "knob2": (0.0, 1.0), "gate": (-100.0, 0.0)}
ON_VALUES = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False, True: True,
             False: False, 1: True, 0: False}


def check_control(msg):
    """A control request -> normalised dict {"cmd": ..., args}. Raises MessageError."""
    cmd = msg.get("cmd")
    if cmd not in CONTROL_COMMANDS:
        raise MessageError(f"unknown command {cmd!r} (known: {', '.join(CONTROL_COMMANDS)})")
    out = {"cmd": cmd}
    if cmd in ("bypass", "mute", "tuner"):
        on = msg.get("on")
        if on is not None:
            key = on.lower() if isinstance(on, str) else on
            if key not in ON_VALUES:
                raise MessageError(f"{cmd}: 'on' must be on/off, got {on!r}")
            out["on"] = ON_VALUES[key]
    elif cmd == "select":
        name = msg.get("name")
        if not isinstance(name, (str, int)) or isinstance(name, bool) or str(name) == "":
            raise MessageError("select: needs a model 'name'")
        out["name"] = str(name)
    elif cmd == "set":
        param, value = msg.get("param"), msg.get("value")
        if param not in SET_PARAMS:
            raise MessageError(f"set: unknown control {param!r} (known: {', '.join(SET_PARAMS)})")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise MessageError(f"set {param}: {value!r} is not a number") from None
        lo, hi = SET_PARAMS[param]
        if not lo <= value <= hi:
            raise MessageError(f"set {param}: {value:g} is outside {lo:g}..{hi:g}")
        out["param"], out["value"] = param, value
    elif cmd == "global_ir":
        name = msg.get("file")
        if not isinstance(name, str) or (name and (name.startswith(".") or any(c in name for c in "/\\\0"))):
            raise MessageError("global_ir: 'file' must be a file name in the models folder's irs/, or \"\"")
        out["file"] = name
    elif cmd == "midi":
        out["events"] = [_check_midi_event(e) for e in _midi_list(msg.get("events"))]
    return out


def _midi_list(events):
    if not isinstance(events, list) or not events:
        raise MessageError("midi: 'events' must be a non-empty list")
    if len(events) > MAX_MIDI_EVENTS:
        raise MessageError(f"midi: {len(events)} events, at most {MAX_MIDI_EVENTS} per message")
    return events


def _midi_int(e, key, lo, hi, default=None):
    v = e.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise MessageError(f"midi: {key} must be a whole number {lo}..{hi}, got {v!r}")
    return v


def _check_midi_event(e):
    """{"type": "cc", "control": 0-127, "value": 0-127, "channel": 1-16} or
    {"type": "program", "program": 0-127, "channel": 1-16} (channel 1 when left out)."""
    if not isinstance(e, dict) or e.get("type") not in MIDI_EVENT_TYPES:
        raise MessageError(f"midi: an event must be an object with type {' or '.join(MIDI_EVENT_TYPES)}")
    out = {"type": e["type"], "channel": _midi_int(e, "channel", 1, 16, 1)}
    for key in MIDI_EVENT_TYPES[e["type"]]:
        out[key] = _midi_int(e, key, 0, 127)
    return out


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

"""The control channel's commands, as one table (as mod-host's list of `protocol_add_command`).

Each command is one `Command`: its name, its arguments (each with the check that
normalises or refuses its value, in one line), its help line, the reply it gets, how
`tubeless ctl` spells its words, and whether the web page's buttons send it. Everything
that knows the command set reads it from `COMMANDS`:

    check_control()        every request the pedal takes (control socket, web page, MIDI,
                           footswitches); firmware.ipc.messages passes it on
    firmware.pedal.handlers   the pedal's handler per command, looked up by name
    tubeless ctl           its usage line and its words (`ctl_usage`, `from_words`)
    the web page           POST /api/control (`PAGE_COMMANDS`), its other requests (`request`)
    docs/processes.md      the command list, written by `markdown()`; tests/test_commands.py
                           fails when the two disagree (`python -m firmware.ipc.commands
                           docs/processes.md` writes it again)

A request is `{"cmd": NAME, ARG: VALUE, ...}`; `check_control` returns it normalised (only
the table's arguments, an optional one left out stays out) or raises MessageError.
"""
import sys
from dataclasses import dataclass
from typing import Callable

from firmware.core import docsections
from firmware.core.errors import MessageError, UserError
from firmware.dsp import rig
from firmware.presets import format as preset_format
from firmware.presets import store as preset_store

MIDI_EVENT_TYPES = {"cc": ("control", "value"), "program": ("program",)}
MAX_MIDI_EVENTS = 1024        # per message: a burst, not a file
MODELS_PAGE = 1000            # models per `models` reply at most (fewer when they would pass the message limit)
MODELS_MAX = 1_000_000        # an offset past any library
MAX_SEARCH = 200              # characters of a `models` search
SET_PARAMS = {"drive": (0.0, 1.0), "level": (0.0, 1.0), "knob2": (0.0, 1.0), "gate": (-100.0, 0.0)}
ON_VALUES = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False,
             True: True, False: False}      # (as keys, 1 and 0 are True and False)


@dataclass(frozen=True)
class Arg:
    name: str
    check: Callable          # (value, the request checked so far) -> normalised value; raises MessageError
    doc: str                 # its value in the docs' request column: NAME, "on"/"off", [...]
    optional: bool = False   # may be left out: then it is not in the checked request


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple
    help: str
    reply: str                       # what the reply carries besides "ok": true (docs)
    ctl: tuple = ("",)               # `tubeless ctl NAME ...` forms: the words after the name
    words: Callable = None           # ctl words -> its arguments, when not one word per argument
    page: bool = False               # a button of the web page (POST /api/control)


# --- the checks of the arguments ------------------------------------------------------
def _on(value, req):
    key = value.lower() if isinstance(value, str) else value
    if not isinstance(key, (str, int, float)) or key not in ON_VALUES:
        raise MessageError(f"{req['cmd']}: 'on' must be on/off, got {value!r}")
    return ON_VALUES[key]


def _model_name(value, req):
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
        raise MessageError("select: needs a model 'name'")
    return str(value)


def _stomp_name(value, req):
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
        raise MessageError("stomp: needs a model 'name', or \"none\"")
    return str(value)


def _whole(name, hi):
    """The check of a whole-number argument 0..hi."""
    def check(value, req):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
            raise MessageError(f"{req['cmd']}: '{name}' must be a whole number 0..{hi}, got {value!r}")
        return value
    return check


def _search(value, req):
    if not isinstance(value, str) or len(value) > MAX_SEARCH:
        raise MessageError(f"{req['cmd']}: 'search' must be text of at most {MAX_SEARCH} characters")
    return value


def models_words(words):
    """`tubeless ctl models [TEXT...]`: the words are what to look for."""
    return {"cmd": "models", "search": " ".join(words)} if words else {"cmd": "models"}


def _set_param(value, req):
    """A control of SET_PARAMS, or a rig block's parameter (normalised to `block.param`)."""
    if isinstance(value, str) and value in SET_PARAMS:
        return value
    if isinstance(value, str) and ("." in value or value in rig.ALIASES):
        cls, p = rig.resolve(value)
        return f"{cls.NAME}.{p.name}"
    raise MessageError(f"set: unknown control {value!r} (known: {', '.join(SET_PARAMS)}, "
                       f"{', '.join(rig.ALIASES)} or BLOCK.PARAM: {', '.join(rig.names())})")


def _set_value(value, req):
    param = req["param"]
    if param not in SET_PARAMS:
        return rig.check(param, value)[1]
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise MessageError(f"set {param}: {value!r} is not a number") from None
    lo, hi = SET_PARAMS[param]
    if not lo <= value <= hi:
        raise MessageError(f"set {param}: {value:g} is outside {lo:g}..{hi:g}")
    return value


def _seconds(value, req):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value == value or abs(value) > 1e9:
        raise MessageError(f"{req['cmd']}: 'at' must be a time in seconds, got {value!r}")
    return float(value)


def _block(value, req):
    if not isinstance(value, str) or value not in rig.BY_NAME:
        raise MessageError(f"{req['cmd']}: unknown block {value!r} (known: {', '.join(rig.BY_NAME)})")
    return value


def _ir_file(value, req):
    if not isinstance(value, str) or (value and (value.startswith(".") or any(c in value for c in "/\\\0"))):
        raise MessageError("global_ir: 'file' must be a file name in the models folder's irs/, or \"\"")
    return value


def _midi_events(events, req):
    if not isinstance(events, list) or not events:
        raise MessageError("midi: 'events' must be a non-empty list")
    if len(events) > MAX_MIDI_EVENTS:
        raise MessageError(f"midi: {len(events)} events, at most {MAX_MIDI_EVENTS} per message")
    return [_midi_event(e) for e in events]


def _midi_int(e, key, lo, hi, default=None):
    v = e.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise MessageError(f"midi: {key} must be a whole number {lo}..{hi}, got {v!r}")
    return v


def _midi_event(e):
    """{"type": "cc", "control": 0-127, "value": 0-127, "channel": 1-16} or
    {"type": "program", "program": 0-127, "channel": 1-16} (channel 1 when left out)."""
    if not isinstance(e, dict) or not isinstance(e.get("type"), str) or e["type"] not in MIDI_EVENT_TYPES:
        raise MessageError(f"midi: an event must be an object with type {' or '.join(MIDI_EVENT_TYPES)}")
    out = {"type": e["type"], "channel": _midi_int(e, "channel", 1, 16, 1)}
    for key in MIDI_EVENT_TYPES[e["type"]]:
        out[key] = _midi_int(e, key, 0, 127)
    return out


def midi_message(words):
    """`tubeless ctl midi cc 11 100 [channel]` / `midi program 3 [channel]` -> the request."""
    usage = ctl_usage_of("midi")
    keys = MIDI_EVENT_TYPES
    if not words or words[0] not in keys or len(words) - 1 not in (len(keys[words[0]]), len(keys[words[0]]) + 1):
        raise MessageError(usage)
    try:
        nums = [int(w) for w in words[1:]]
    except ValueError:
        raise MessageError(usage) from None
    ev = {"type": words[0], **dict(zip(keys[words[0]], nums))}
    if len(nums) > len(keys[words[0]]):
        ev["channel"] = nums[-1]
    return {"cmd": "midi", "events": [ev]}


# --- presets (firmware.presets) -----------------------------------------------------------
STEPS = ("next", "prev")


def _preset_ref(value, req):
    """A preset's (bank's) name, or its 1-based number; `preset`/`snapshot` also take next/prev."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > preset_format.MAX_NAME:
        raise MessageError(f"{req['cmd']}: needs a 'name' (or a number) of at most {preset_format.MAX_NAME} "
                           "characters")
    return value.strip()


def _new_preset_name(value, req):
    try:
        return preset_format.check_name(value)
    except UserError as e:
        raise MessageError(f"{req['cmd']}: {e}") from None


def _snapshot_ref(value, req):
    """0 (the preset's own settings) .. MAX_SNAPSHOTS, or next/prev."""
    if isinstance(value, str) and value in STEPS:
        return value
    try:
        n = int(value) if not isinstance(value, (bool, float)) else None
    except (TypeError, ValueError):
        n = None
    if n is None or not 0 <= n <= preset_format.MAX_SNAPSHOTS:
        raise MessageError(f"snapshot: 'n' must be 0..{preset_format.MAX_SNAPSHOTS} (0: the preset as saved), "
                           f"next or prev, got {value!r}")
    return n


def _bank_name(value, req):
    """A bank file's name (not one of the pedal's own banks)."""
    try:
        name = preset_format.check_name(value, "bank")
    except UserError as e:
        raise MessageError(f"{req['cmd']}: {e}") from None
    if name.lower() in (preset_store.SETLIST, preset_store.ALL):
        raise MessageError(f"{req['cmd']}: {name!r} is the pedal's own bank; choose another name")
    return name


def _preset_list(value, req):
    """A bank's presets in playing order: names, each once, at most MAX_BANK_ENTRIES."""
    most = preset_store.MAX_BANK_ENTRIES
    if not isinstance(value, list) or not value or len(value) > most:
        raise MessageError(f"{req['cmd']}: 'presets' must be a list of 1..{most} preset names")
    out = []
    for v in value:
        if not isinstance(v, str) or not v.strip() or len(v) > preset_format.MAX_NAME:
            raise MessageError(f"{req['cmd']}: a preset name of at most {preset_format.MAX_NAME} characters, "
                               f"got {str(v)[:40]!r}")
        if v.strip() in out:
            raise MessageError(f"{req['cmd']}: {v.strip()!r} is listed twice")
        out.append(v.strip())
    return out


def bank_set_words(words):
    """`tubeless ctl bank-set NAME PRESET...`: the bank, then its presets in order."""
    if len(words) < 2:
        raise MessageError(ctl_usage_of("bank-set"))
    return {"cmd": "bank-set", "name": words[0], "presets": list(words[1:])}


# --- the table --------------------------------------------------------------------------
CAPTURE_ACTIONS = ("status", "start", "continue", "abort")
MAX_CAPTURE_TAKES = 32       # firmware.capture.session.MAX_TAKES


def _capture_action(value, req):
    if value not in CAPTURE_ACTIONS:
        raise MessageError(f"capture: 'action' must be one of {', '.join(CAPTURE_ACTIONS)}, got {value!r}")
    return value


def _capture_takes(value, req):
    """The knob takes as `tubeless capture --take` spells them: ["gain=2", "gain=5"]; the
    pedal parses each (firmware.capture.session.parse_take)."""
    if (not isinstance(value, list) or len(value) > MAX_CAPTURE_TAKES
            or not all(isinstance(t, str) and 0 < len(t) <= 200 for t in value)):
        raise MessageError(f"capture: 'takes' must be a list of at most {MAX_CAPTURE_TAKES} texts like \"gain=5\"")
    return value


def _dial_max(value, req):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1000:
        raise MessageError(f"capture: 'dial_max' must be a number above 0 (the top of the amp's dials), got {value!r}")
    return float(value)


def _capture_seconds(hi):
    def check(value, req):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= hi:
            raise MessageError(f"capture: seconds must be a number within 0..{hi}, got {value!r}")
        return float(value)
    return check


def _level_check(value, req):
    if not isinstance(value, bool):
        raise MessageError(f"capture: 'level_check' must be true or false, got {value!r}")
    return value


def capture_words(words):
    """`tubeless ctl capture [start [KNOB=V[,KNOB=V]]...|continue|abort]`."""
    if not words:
        return {"cmd": "capture"}
    if words[0] == "start":
        return {"cmd": "capture", "action": "start", **({"takes": words[1:]} if words[1:] else {})}
    if len(words) == 1:
        return {"cmd": "capture", "action": words[0]}
    raise MessageError(ctl_usage_of("capture"))


ON = Arg("on", _on, '"on"/"off"', optional=True)
BRIEF = "`status` (brief)"
SELECTED = "`selected`: the model now fading in (`name`, `file`); " + BRIEF
PRESET = "`preset`, `bank`, `snapshot`: what plays now; " + BRIEF

COMMANDS = {c.name: c for c in (
    Command("next", (), "play the next model of the setlist", SELECTED, page=True),
    Command("prev", (), "play the previous model", SELECTED, page=True),
    Command("select", (Arg("name", _model_name, "NAME"),),
            "play the model NAME: a file name with or without extension, a model name, or its 1-based "
            "number in the setlist", SELECTED, ctl=("NAME",)),
    Command("stomp", (Arg("name", _stomp_name, "NAME"),),
            "the drive slot's captured pedal: the model NAME of the library (as for `select`) plays before the "
            "amp, crossfaded, at its own gain, and the `stomp` block is switched on; `none`: no capture",
            "`stomp`: the capture's `{name, file}` or null; " + BRIEF, ctl=("NAME|none",), page=True),
    Command("bypass", (ON,), "bypass on/off; without `on`: toggle", BRIEF, ctl=("[on|off]",), page=True),
    Command("mute", (ON,), "mute on/off; without `on`: toggle", BRIEF, ctl=("[on|off]",), page=True),
    Command("set", (Arg("param", _set_param, "P"), Arg("value", _set_value, "V")),
            "set a control P: `drive`, `level`, `knob2` (0..1) or `gate` (threshold dB, -100..0; -100 = off), "
            "or a rig block's parameter `BLOCK.PARAM` (`bass`, `mid`, `treble`, `presence` for the tone "
            "stack's; the table in docs/rig.md). After a set from anywhere but its pot, a pot moves nothing "
            "until turned to (or past) that value (soft takeover)", BRIEF,
            ctl=("|".join(SET_PARAMS) + "|BLOCK.PARAM VALUE",), page=True),
    Command("toggle", (Arg("block", _block, "BLOCK"), Arg("on", _on, '"on"/"off"', optional=True)),
            "switch a rig block (" + ", ".join(rig.BY_NAME) + ") on/off; without `on`: toggle. Off, a "
            "delay's or a reverb's tail rings out", BRIEF, ctl=("BLOCK [on|off]",), page=True),
    Command("tap", (Arg("at", _seconds, "SECONDS", optional=True),), "tap tempo: the delay's time becomes the mean interval of the last taps within 2 s "
            "(two taps at least); `at`: the tap's time on the sender's clock in seconds (`simulate` sends "
            "the audio's), else when the pedal reads it", "`status` (brief) and `tempo_ms` once two taps are in",
            ctl=("",), page=True),
    Command("status", (), "model, state, levels, CPU per period, xruns",
            "`status`: model, bypass, mute, library size, CPU per period (p50/p99/p99.9/max as a share of a "
            "period), lateness, xruns, faults, pots, skipped files"),
    Command("models", (Arg("offset", _whole("offset", MODELS_MAX), "N", optional=True),
                       Arg("limit", _whole("limit", MODELS_PAGE), "N", optional=True),
                       Arg("search", _search, "TEXT", optional=True)),
            "the library in playing order, a page at a time: from `offset` (default 0) at most `limit` models "
            f"(at most {MODELS_PAGE}; 0: only the counts), those whose name, file or architecture contain "
            "`search` (any case); a page never passes the message limit, `next` says where the rest starts",
            "`models`: per model `file, name, architecture, sample_rate, num_knobs, format, bytes, ir_file, "
            "ir_used (the IR could be read), sizes, size, playing`, each with `index` (1-based, in the whole "
            "library); `total` (matching), `count` (the library), `offset`, `next` (null: the last page), "
            "`revision` (changes whenever the reply would); `rejected`: files the librarian refused or the "
            "engine could not build, each `{file, error}` (the latest that fit, `rejected_total` of them); "
            "`library_error`: why the last scan failed, or null",
            ctl=("[TEXT]",), words=models_words),
    # the web page's setting (it writes the config too): `ctl` takes it, its usage leaves it out
    Command("global_ir", (Arg("file", _ir_file, "NAME"),),
            "the global cabinet IR becomes NAME in the models folder's `irs/` (`\"\"`: none); the pedal starts "
            "its librarian again with it (the web page's setting)", "`global_ir`: NAME", ctl=()),
    Command("record", (ON,), "record what is played on/off (without `on`: toggle): the DI and the pedal's output "
            "as two WAVs of the same length, sample-aligned, in the recordings folder (docs/recording.md)",
            "`record`: `{on, name, seconds, stopped}` (`stopped`: why the last one stopped by itself); " + BRIEF,
            ctl=("[on|off]",), page=True),
    Command("capture", (Arg("action", _capture_action, '"start"/"continue"/"abort"', optional=True),
                        Arg("takes", _capture_takes, '["KNOB=V,...", ...]', optional=True),
                        Arg("dial_max", _dial_max, "N", optional=True),
                        Arg("val_seconds", _capture_seconds(60), "S", optional=True),
                        Arg("playing_seconds", _capture_seconds(600), "S", optional=True),
                        Arg("level_check", _level_check, "true/false", optional=True)),
            "capture an amp through the playing pedal (docs/capture.md): `start` plays the capture signal out of "
            "the output instead of the sound (muted before and after) and records the return at the input, with "
            "a level check first, one take per entry of `takes` (the amp's dials, `dial_max` their top, 10 by "
            "default; the signal's validation copies `val_seconds` each, 15, and its guitar `playing_seconds`, "
            "150; `level_check` false: none); `continue` answers its prompt, `abort` stops it and keeps nothing; "
            "without `action`: how it stands",
            "`capture`: `{on, phase, take, takes, prompt, done_s, total_s, peak_db, rms_db, level_message, "
            "folder, error, lines, said}` (`lines`: the session's last lines, `said`: how many so far)",
            ctl=("[start [KNOB=V[,KNOB=V]]...|continue|abort]",), words=capture_words, page=True),
    Command("tuner", (ON,), "the tuner on/off; without `on`: toggle. On, it mutes the output (`tuner.mute`) and "
            "reads the input 50 times a second; off restores the mute as it was",
            "`status` (brief, `\"tuner\": bool`) and `pitch`",
            ctl=("[on|off] (without: a live line until Ctrl-C)",), page=True),
    Command("pitch", (), "the tuner's reading of the input: with the tuner off, read at that moment",
            "`tuner`: bool; `pitch`: `{signal, note, octave, cents, frequency, level_db, clarity, in_tune, a4}` "
            "(`signal` false: no note)"),
    Command("midi", (Arg("events", _midi_events, "[...]"),),
            "MIDI messages as if a controller had sent them, through the `[midi]` mapping: each "
            "`{\"type\": \"cc\", \"control\": 0-127, \"value\": 0-127}` or `{\"type\": \"program\", "
            f"\"program\": 0-127}}`, `\"channel\": 1-16` (default 1), at most {MAX_MIDI_EVENTS}",
            "`events`: how many", ctl=("cc CONTROL VALUE [CHANNEL]", "program N [CHANNEL]"), words=midi_message),
    # presets, banks and snapshots (docs/presets.md)
    Command("preset", (Arg("name", _preset_ref, "NAME/N"),),
            "play the preset NAME of the presets folder, or number N of the current bank (`next`, `prev`: its "
            "neighbours): its models crossfade when they differ, its parameters glide, delay and reverb tails "
            "ring on. A missing model is one line in the log; the rest plays", PRESET, ctl=("NAME|N|next|prev",),
            page=True),
    Command("snapshot", (Arg("n", _snapshot_ref, "N"),),
            f"snapshot N (1..{preset_format.MAX_SNAPSHOTS}) of the playing preset: its parameters only, no reload; "
            "0: the preset's own settings; `next`, `prev`", PRESET, ctl=("N|next|prev",), page=True),
    Command("bank", (Arg("name", _preset_ref, "NAME/N"),),
            "the bank NAME (or number N): footswitch 1 and MIDI Program Change walk its presets, its first "
            "plays; `setlist`, the last bank, is the models folder's own order", PRESET, ctl=("NAME|N",), page=True),
    Command("presets", (), "the banks, the presets and the files that are not played",
            "`banks`: `[{name, presets}]`; `presets`: `[{name, amp, drive_model, ir, snapshots}]`; `errors`: "
            "`[{file, error}]`; `preset`, `bank`, `snapshot`: what plays"),
    Command("save", (), "save the settings as they are into the playing preset (into its snapshot when one "
            "is on: what differs from the preset); keys the pedal does not know stay in the file", PRESET, page=True),
    Command("preset-save-as", (Arg("name", _new_preset_name, "NAME"),),
            "the settings as they are, with the playing models, as a new preset NAME (added to the current "
            "bank's file); it becomes the playing preset", PRESET, ctl=("NAME",), page=True),
    Command("preset-rename", (Arg("name", _preset_ref, "NAME"), Arg("to", _new_preset_name, "NEW")),
            "rename a preset (its banks follow)", PRESET, ctl=("NAME NEW",), page=True),
    Command("preset-delete", (Arg("name", _preset_ref, "NAME"),),
            "delete a preset's file (and its entries in the banks); what plays keeps playing", PRESET,
            ctl=("NAME",), page=True),
    Command("preset-duplicate", (Arg("name", _preset_ref, "NAME"), Arg("to", _new_preset_name, "NEW")),
            "copy a preset as NEW (its snapshots and the keys the pedal does not know too), placed after it in "
            "the banks that hold it; what plays keeps playing", PRESET, ctl=("NAME NEW",), page=True),
    Command("bank-set", (Arg("name", _bank_name, "NAME"), Arg("presets", _preset_list, "[NAME, ...]")),
            "write the bank NAME with these presets in this order: a new bank, or a bank's new order (at most "
            f"{preset_store.MAX_BANK_ENTRIES}, each a preset of the folder); `{preset_store.SETLIST}` and "
            f"`{preset_store.ALL}` are the pedal's own", PRESET, ctl=("NAME PRESET...",), words=bank_set_words,
            page=True),
)}
# what the web page's buttons may send (a tuple: `in` stays an answer for any JSON value)
PAGE_COMMANDS = tuple(name for name, c in COMMANDS.items() if c.page)


def command(name):
    """The table's Command NAME, or MessageError naming the known ones."""
    if not isinstance(name, str) or name not in COMMANDS:
        raise MessageError(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
    return COMMANDS[name]


def check_control(msg):
    """A control request -> normalised dict {"cmd": ..., args}. Raises MessageError."""
    cmd = command(msg.get("cmd"))
    out = {"cmd": cmd.name}
    for arg in cmd.args:
        value = msg.get(arg.name)
        if value is None and arg.optional:
            continue
        out[arg.name] = arg.check(value, out)
    return out


def request(cmd, /, **args):
    """A checked request built in code (the web page): the table's argument names only."""
    unknown = set(args) - {a.name for a in command(cmd).args}
    if unknown:
        raise TypeError(f"{cmd}: no argument {', '.join(sorted(unknown))}")
    return check_control({"cmd": cmd, **args})


# --- tubeless ctl -------------------------------------------------------------------------
def ctl_usage():
    """`tubeless ctl`'s list of commands: next | prev | select NAME | ..."""
    return " | ".join(f"{c.name} {form}".rstrip() for c in COMMANDS.values() for form in c.ctl)


def ctl_usage_of(name):
    """The usage line of one command (when its words do not fit)."""
    c = COMMANDS[name]
    if c.words is not None:
        return "usage: tubeless ctl " + " | ".join(f"{name} {form}".rstrip() for form in c.ctl)
    return f"usage: tubeless ctl {name} {' '.join(a.name.upper() for a in c.args)}".rstrip()


def from_words(name, words):
    """`tubeless ctl NAME WORDS...` -> the request (unchecked: check_control says what is wrong
    with a value). Raises MessageError: an unknown command, or the usage line."""
    c = command(name)
    if c.words is not None:
        return c.words(list(words))
    required = sum(not a.optional for a in c.args)
    if not required <= len(words) <= len(c.args):
        raise MessageError(ctl_usage_of(name))
    return {"cmd": name, **{a.name: w for a, w in zip(c.args, words)}}


# --- docs -------------------------------------------------------------------------------
DOC_BEGIN = "<!-- the control commands: written by `python -m firmware.ipc.commands docs/processes.md` -->"
DOC_END = "<!-- end of the control commands -->"


def markdown():
    """The command list of docs/processes.md, from the table."""
    def cell(text):
        return text.replace("|", "\\|")

    rows = ["| request | `tubeless ctl` | what it does | reply (besides `\"ok\": true`) |", "|---|---|---|---|"]
    for c in COMMANDS.values():
        req = ", ".join([f'"cmd": "{c.name}"'] + [f'"{a.name}": {a.doc}' for a in c.args])
        ctl = "<br>".join(f"`{(c.name + ' ' + form).rstrip()}`" for form in c.ctl) or "(not in its usage)"
        rows.append(f"| `{{{req}}}` | {cell(ctl)} | {cell(c.help)} | {cell(c.reply)} |")
    return "\n".join(rows) + "\n"


def doc_section(text):
    """The part of a document between DOC_BEGIN and DOC_END, or None."""
    return docsections.section(text, DOC_BEGIN, DOC_END)


def write_doc(path):
    """Write the command list into PATH between its markers."""
    docsections.write_section(path, DOC_BEGIN, DOC_END, markdown())


if __name__ == "__main__":
    write_doc(sys.argv[1] if len(sys.argv) > 1 else "docs/processes.md")

"""What the pedal does for each control command: one handler per command of the table
(firmware.ipc.commands), looked up by its name (tests/test_commands.py checks that every
command has one and nothing else does).

A handler takes the pedal, the checked request and the message as submitted (a pot's
`set` carries `"pot": true`, which is no argument of the table) and returns the reply. It
runs on the control thread (Pedal.tick); `then` is housekeeping that follows the reply
rather than delaying it.
"""
import logging
import os
import time
from typing import Callable, NamedTuple

from firmware.core.errors import CaptureError, PresetError, RecordError
from firmware.dsp import rig
from firmware.ipc.commands import SET_PARAMS
from firmware.pedal.listing import DEFAULT_LIMIT

log = logging.getLogger(__name__)


class Handler(NamedTuple):
    run: Callable                 # (pedal, request, message) -> reply
    then: Callable = None         # (pedal) after the reply


HANDLERS = {}


def handles(*names, then=None):
    def register(fn):
        for name in names:
            HANDLERS[name] = Handler(fn, then)
        return fn
    return register


def brief(pedal):
    return {"ok": True, "status": pedal.status(brief=True)}


def _selected(pedal):
    reply = brief(pedal)
    if pedal.current_path in pedal.by_path:
        e = pedal.by_path[pedal.current_path]          # what is fading in (status: what plays now)
        reply["selected"] = {"name": e["name"], "file": e["file"]}
    return reply


def _prepare_neighbours(pedal):
    pedal._prepare_neighbours()


# --- models -----------------------------------------------------------------------------
@handles("next", "prev", then=_prepare_neighbours)
def next_prev(pedal, m, msg):
    step = 1 if m["cmd"] == "next" else -1
    if pedal.preset_mode:                   # a bank of presets: its next one (firmware.pedal.recall)
        return _preset_reply(pedal, pedal.play_preset, m["cmd"])
    path = pedal._neighbour(step)
    if path is None:
        return {"ok": False, "error": "no playable models"}
    pedal._switch_to(path, step)
    return _selected(pedal)


@handles("select", then=_prepare_neighbours)
def select(pedal, m, msg):
    path = pedal._find(m["name"])
    if path is None:
        return {"ok": False, "error": f"no model {m['name']!r} in the library"}
    if path in pedal.bad and pedal.bad[path] == pedal.by_path[path]["stamp"]:
        return {"ok": False, "error": f"{os.path.basename(path)} cannot be played"}
    pedal._switch_to(path, 0)
    return _selected(pedal)


@handles("stomp")
def stomp(pedal, m, msg):
    try:
        path = pedal.stomp_by_name(m["name"])
    except LookupError as e:
        return {"ok": False, "error": f"stomp: {e}"}
    if path is not None and path in pedal.bad and pedal.bad[path] == pedal.by_path[path]["stamp"]:
        return {"ok": False, "error": f"stomp: {os.path.basename(path)} cannot be played"}
    if path != pedal.stomp_path or path is None:
        pedal.set_stomp(path)
    if path is not None and not pedal.params.rig.is_on("stomp"):
        pedal.params.rig.set_on("stomp", True)
        _saved_rig(pedal)["stomp"] = True
    reply = brief(pedal)
    reply["stomp"] = None if path is None else {"name": pedal.by_path[path]["name"],
                                                 "file": pedal.by_path[path]["file"]}
    return reply


@handles("models")
def models(pedal, m, msg):
    """A page of the library (firmware.pedal.listing): bounded whatever its size."""
    return pedal.listing.reply(pedal, m.get("offset", 0), m.get("limit", DEFAULT_LIMIT), m.get("search", ""))


@handles("global_ir")
def global_ir(pedal, m, msg):
    """The global cabinet IR (the web page's setting): NAME in the models folder's irs/,
    or "" for none. The librarian converts it: one in this process takes the new path at
    its next look; one in its own process is started again with it (its cache makes the
    new start cheap)."""
    name = m["file"]
    path = os.path.join(pedal.cfg["models"]["directory"], "irs", name) if name else ""
    if path and not os.path.isfile(path):
        return {"ok": False, "error": f"no IR {name!r} in the models folder's irs/"}
    pedal.cfg["models"]["ir"] = path
    lib = pedal.librarian
    if hasattr(lib, "librarian"):                  # LocalLibrarian (simulate, tests)
        lib.librarian.global_ir_path = path
    elif "--ir" in getattr(lib, "args", ()):        # LibrarianProcess: supervise() starts it again
        lib.args[lib.args.index("--ir") + 1] = path
        lib.close()
        lib.proc, lib.working, lib._next_start = None, None, 0.0
    log.info("global IR: %s", name or "none")
    return {"ok": True, "global_ir": name}


# --- the chain's switches and controls --------------------------------------------------
@handles("bypass")
def bypass(pedal, m, msg):
    on = (not pedal.params.bypassed) if m.get("on") is None else m["on"]
    pedal.params.set_bypass(on)
    pedal.state["bypass"] = bool(on)
    pedal._state_dirty = True
    log.info("bypass %s", "on" if on else "off")
    return brief(pedal)


@handles("mute")
def mute(pedal, m, msg):
    on = (not pedal.params.muted) if m.get("on") is None else m["on"]
    pedal.params.set_mute(on)
    log.info("mute %s", "on" if on else "off")
    return brief(pedal)


@handles("set")
def set_control(pedal, m, msg):
    param, v = m["param"], m["value"]
    if msg.get("pot") is True and not _pot_takes_over(pedal, param, v):
        return {"ok": True, "status": pedal.status(brief=True), "held": param}
    if msg.get("pot") is not True:
        pedal._pickup[param] = v          # the pot must come by here before it takes over
    p = pedal.params
    if param == "drive":
        p.set_drive(v)
    elif param == "level":
        p.set_level(v)
    elif param == "knob2":
        p.set_knob2(v)
        pedal.state["knob2"] = v
        pedal._state_dirty = True
    elif param == "gate":
        p.set_gate_threshold_db(v)
        pedal.state["gate_threshold_db"] = v
        pedal._state_dirty = True
    else:                                 # a rig block's parameter, `block.param`
        p.rig.set(param, v)
        _saved_rig(pedal)[param] = v
        pedal._state_dirty = True
    pedal.pots[param] = v
    return brief(pedal)


def _saved_rig(pedal):
    """The state file's rig entries (a new table when the file had none)."""
    if not isinstance(pedal.state.get("rig"), dict):
        pedal.state["rig"] = {}
    return pedal.state["rig"]


@handles("toggle")
def toggle_block(pedal, m, msg):
    block = m["block"]
    on = (not pedal.params.rig.is_on(block)) if m.get("on") is None else m["on"]
    pedal.params.rig.set_on(block, on)
    _saved_rig(pedal)[block] = on
    pedal._state_dirty = True
    log.info("%s %s", block, "on" if on else "off")
    return brief(pedal)


@handles("tap")
def tap(pedal, m, msg):
    from firmware.dsp.blocks.delay import TAP_MAX, Delay
    now = m.get("at", time.monotonic())
    pedal._taps = (pedal._taps + [now])[-TAP_MAX:]
    ms = Delay.tap_time_ms(pedal._taps)
    reply = brief(pedal)
    if ms is not None:
        qualified, v = pedal.params.rig.set(rig.TAP_PARAM, ms)
        _saved_rig(pedal)[qualified] = v
        pedal._state_dirty = True
        reply["tempo_ms"] = v
    return reply


def _pot_takes_over(pedal, param, v):
    """Soft takeover: after the page, MIDI or `ctl` set a control, its pot moves nothing
    until it reaches (or passes) that value, so turning it never jumps the sound."""
    target = pedal._pickup.get(param)
    last, pedal._pot_last[param] = pedal._pot_last.get(param), v
    if target is None:
        return True
    lo, hi = SET_PARAMS[param] if param in SET_PARAMS else rig.resolve(param)[1][1:3]
    if abs(v - target) <= 0.02 * (hi - lo) or (last is not None and (last - target) * (v - target) <= 0):
        del pedal._pickup[param]
        return True
    return False


# --- reports, the tuner, MIDI -----------------------------------------------------------
@handles("status")
def status(pedal, m, msg):
    return {"ok": True, "status": pedal.status()}


@handles("record")
def record(pedal, m, msg):
    r = pedal.recorder
    on = (not r.recording()) if m.get("on") is None else m["on"]
    try:
        if on:
            if pedal.capture.active():
                raise RecordError("cannot record while a capture runs (its signal is what plays)")
            r.start(pedal.recording_about())
        else:
            r.stop(timeout=1.0)         # its last samples and the sync (a slow card: its thread goes on)
    except RecordError as e:
        return {"ok": False, "error": str(e)}
    return {**brief(pedal), "record": r.status()}


@handles("capture")
def capture(pedal, m, msg):
    cap, action = pedal.capture, m.get("action", "status")
    try:
        if action == "start":
            web = pedal.cfg.get("web") or {}
            gain = web.get("input_gain_db", "")
            given = {k: m[k] for k in ("val_seconds", "playing_seconds", "level_check") if k in m}
            cap.start(m.get("takes", ()), m.get("dial_max", 10.0), hat_gain_db=None if gain == "" else gain,
                      recording=pedal.recorder.recording(), **given)
            log.info("capture started")
        elif action == "continue":
            cap.proceed()
        elif action == "abort":
            cap.abort()
    except CaptureError as e:
        return {"ok": False, "error": str(e)}
    return {**brief(pedal), "capture": cap.status()}


@handles("tuner")
def tuner(pedal, m, msg):
    _set_tuner(pedal, (not pedal.tuning) if m.get("on") is None else m["on"])
    return {"ok": True, "status": pedal.status(brief=True), "pitch": pedal.tuner.state()}


def _set_tuner(pedal, on):
    if on == pedal.tuning:
        return
    pedal.tuning = on
    mute = bool(pedal.cfg.get("tuner", {}).get("mute", True))
    if on:
        pedal._mute_before_tuner = pedal.params.muted
        if mute:
            pedal.params.set_mute(True)
        pedal.tuner.reading = None
    elif mute:
        pedal.params.set_mute(pedal._mute_before_tuner)
    log.info("tuner %s", "on" if on else "off")


@handles("pitch")
def pitch(pedal, m, msg):
    if not pedal.tuning:             # the tuner is off: read the input now
        pedal.tuner.update()
    return {"ok": True, "tuner": pedal.tuning, "pitch": pedal.tuner.state()}


@handles("midi")
def midi(pedal, m, msg):
    if pedal.midi is None:
        return {"ok": False, "error": "MIDI is off (midi.enabled = false in the config)"}
    pedal.midi.inject(m["events"])
    return {"ok": True, "events": len(m["events"])}


# --- presets, banks, snapshots (firmware.pedal.recall) ------------------------------------
def _preset_reply(pedal, action, *args):
    try:
        action(*args)
    except PresetError as e:
        return {"ok": False, "error": str(e)}
    except OSError as e:                    # the presets folder could not be written
        return {"ok": False, "error": f"presets folder: {e.strerror or e}"}
    reply = _selected(pedal)
    reply.update(pedal.preset_status())
    return reply


@handles("preset", then=_prepare_neighbours)
def preset(pedal, m, msg):
    return _preset_reply(pedal, pedal.play_preset, m["name"])


@handles("snapshot")
def snapshot(pedal, m, msg):
    return _preset_reply(pedal, pedal.play_snapshot, m["n"])


@handles("bank", then=_prepare_neighbours)
def bank(pedal, m, msg):
    return _preset_reply(pedal, pedal.play_bank, m["name"])


@handles("presets")
def presets(pedal, m, msg):
    pedal.poll_presets(force=True)
    return {"ok": True, **pedal.presets_listing()}


@handles("save")
def save(pedal, m, msg):
    return _preset_reply(pedal, pedal.save_preset)


@handles("preset-save-as", then=_prepare_neighbours)
def save_as(pedal, m, msg):
    return _preset_reply(pedal, pedal.save_preset_as, m["name"])


@handles("preset-rename")
def rename(pedal, m, msg):
    return _preset_reply(pedal, pedal.rename_preset, m["name"], m["to"])


@handles("preset-delete", then=_prepare_neighbours)
def delete(pedal, m, msg):
    return _preset_reply(pedal, pedal.delete_preset, m["name"])


def _after_folder_change(pedal):
    """The bank and the preset playing, taken again from the folder just written (what
    plays keeps playing)."""
    pedal._rebind(None)


@handles("preset-duplicate", then=_prepare_neighbours)
def duplicate(pedal, m, msg):
    def copy():
        pedal.presets.duplicate(m["name"], m["to"])
        _after_folder_change(pedal)
        log.info("preset %s duplicated as %s", m["name"], m["to"])
    return _preset_reply(pedal, copy)


@handles("bank-set", then=_prepare_neighbours)
def bank_set(pedal, m, msg):
    def write():
        pedal.poll_presets(force=True)          # a preset copied in a moment ago counts
        names = [pedal.presets.find(n).name for n in m["presets"]]      # as the folder spells them
        if len(set(names)) != len(names):
            raise PresetError(f"bank {m['name']}: a preset is listed twice")
        pedal.presets.write_bank(m["name"], names)
        _after_folder_change(pedal)
        log.info("bank %s: %s", m["name"], ", ".join(names))
    return _preset_reply(pedal, write)

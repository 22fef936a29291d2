"""The pedal's control side: every action a player takes, and what follows from it.

It talks to the engine (the audio process) and to the librarian (the model-file process)
through links (firmware.pedal.links): in `tubeless run` they are other processes, in
`simulate` and the tests they run in this one. Nothing here runs on the audio thread, and
in `tubeless run` nothing here can make the audio wait: a slow step only delays the next
action.

Actions come from the footswitches, the keyboard, the pots, the control socket (`tubeless
ctl`, later MIDI and the web page) through one entry, `submit(message)` (firmware.ipc.messages
CONTROL_COMMANDS), from any thread; `tick()` executes them in order on the control thread,
together with the engine's and the librarian's events and the housekeeping (50 Hz).
"""
import bisect
import logging
import math
import os
import queue
import threading
import time

from firmware.core.config import tone_settings
from firmware.dsp.chain import ChainParams
from firmware.ipc import shared as sh
from firmware.ipc.messages import SET_PARAMS, MessageError, check_control
from firmware.pedal.state import load_state, save_state

log = logging.getLogger(__name__)


class Request:
    """A submitted action; `wait()` returns its reply (a dict with "ok")."""

    def __init__(self, msg):
        self.msg = msg
        self.reply = None
        self._done = threading.Event()

    def finish(self, reply):
        self.reply = reply
        self._done.set()

    def wait(self, timeout=5.0):
        if not self._done.wait(timeout):
            return {"ok": False, "error": "the pedal did not answer in time"}
        return self.reply


class SlotRef:
    """The control side's view of one engine slot."""

    def __init__(self, sid, entry):
        self.id = sid
        self.path = entry["path"]
        self.stamp = entry["stamp"]
        self.name = entry["name"]
        self.status = "loading"           # -> "ready" | "failed"
        self.error = None


class Pedal:
    def __init__(self, cfg, engine, librarian, state_path=None, controls=None):
        self.cfg = cfg
        self.rate = int(cfg["audio"]["rate"])
        self.period = int(cfg["audio"]["period"])
        self.tone = tone_settings(cfg)
        self.engine = engine
        self.librarian = librarian
        self.shared = engine.shared
        self.params = ChainParams(self.tone, self.shared.params, self.shared.state)
        self.state_path = state_path if state_path is not None else cfg["state"]["file"]
        self.state = load_state(self.state_path) if self.state_path else {}
        self.controls = controls
        self.entries = []                  # the librarian's list, playing order
        self.by_path = {}
        self.global_ir = None
        self.library_version = 0
        self.slots = {}                    # path -> SlotRef (loading or loaded in the engine)
        self.by_id = {}                    # slot id -> SlotRef
        self._next_id = 1
        self.bad = {}                      # path -> stamp that the engine could not build
        self.rejected = {}                 # file name -> why the librarian refused it
        self.current_path = None           # what plays, or is being faded in
        self.last_good_path = None
        self._step = 0                     # direction of a next/prev still looking for a model
        self._seen_faults = 0
        self._state_dirty = False
        self.pots = {}
        self._pickup = {}                  # control -> value a pot must reach to take over again
        self._pot_last = {}
        self.queue = queue.SimpleQueue()
        self.submitted = 0
        self.handled = 0
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self.stopped = False
        from firmware.pedal.tuner import Tuner
        self.tuner = Tuner(self.shared, self.rate, cfg.get("tuner"))
        self.tuning = False                # the tuner is on (and, with tuner.mute, the output muted)
        self._mute_before_tuner = False
        self.midi = None                   # firmware.pedal.midi.MidiInput, when MIDI runs

    # --- any thread ---------------------------------------------------------------------
    def submit(self, msg):
        """Queue a control message (a dict, firmware.ipc.messages); returns its Request."""
        req = Request(msg)
        self.queue.put(req)
        with self._cv:
            self.submitted += 1
            self._cv.notify_all()
        return req

    def wait_submitted(self, count, timeout=5.0):
        with self._cv:
            return self._cv.wait_for(lambda: self.submitted >= count, timeout)

    # the actions the footswitches and the keyboard call
    def next_model(self):
        return self.submit({"cmd": "next"})

    def prev_model(self):
        return self.submit({"cmd": "prev"})

    def toggle_bypass(self):
        return self.submit({"cmd": "bypass"})

    def toggle_mute(self):
        return self.submit({"cmd": "mute"})

    def toggle_tuner(self):
        return self.submit({"cmd": "tuner"})

    def press_bypass(self):
        """Footswitch 2's short press: leaves the tuner when it is on, else bypass."""
        return self.submit({"cmd": "tuner", "on": False} if self.tuning else {"cmd": "bypass"})

    def set_pot(self, role, v):
        if role == "gate":
            return self.submit({"cmd": "set", "param": "gate", "value": -100.0 + 60.0 * v, "pot": True})  # off..-40 dB
        return self.submit({"cmd": "set", "param": role, "value": v, "pot": True})

    def stop(self):
        self._stop.set()

    # --- executing actions (control thread) ---------------------------------------------
    def handle(self, msg):
        """One control message -> its reply. Errors are one-line replies, never raised."""
        try:
            m = check_control(msg)
        except MessageError as e:
            return {"ok": False, "error": str(e)}
        cmd = m["cmd"]
        if cmd in ("next", "prev"):
            step = 1 if cmd == "next" else -1
            path = self._neighbour(step)
            if path is None:
                return {"ok": False, "error": "no playable models"}
            self._switch_to(path, step)
        elif cmd == "select":
            path = self._find(m["name"])
            if path is None:
                return {"ok": False, "error": f"no model {m['name']!r} in the library"}
            if path in self.bad and self.bad[path] == self.by_path[path]["stamp"]:
                return {"ok": False, "error": f"{os.path.basename(path)} cannot be played"}
            self._switch_to(path, 0)
        elif cmd == "bypass":
            on = (not self.params.bypassed) if m.get("on") is None else m["on"]
            self.params.set_bypass(on)
            self.state["bypass"] = bool(on)
            self._state_dirty = True
            log.info("bypass %s", "on" if on else "off")
        elif cmd == "mute":
            on = (not self.params.muted) if m.get("on") is None else m["on"]
            self.params.set_mute(on)
            log.info("mute %s", "on" if on else "off")
        elif cmd == "set":
            if msg.get("pot") is True and not self._pot_takes_over(m["param"], m["value"]):
                return {"ok": True, "status": self.status(brief=True), "held": m["param"]}
            if msg.get("pot") is not True:
                self._pickup[m["param"]] = m["value"]   # the pot must come by here before it takes over
            self._set(m["param"], m["value"])
        elif cmd == "status":
            return {"ok": True, "status": self.status()}
        elif cmd == "models":
            return {"ok": True, "models": [self._describe(e) for e in self.entries],
                    "rejected": [{"file": f, "error": why} for f, why in sorted(self.rejected.items())]
                    + [{"file": os.path.basename(p), "error": "cannot be built"} for p in sorted(self.bad)]}
        elif cmd == "global_ir":
            return self._set_global_ir(m["file"])
        elif cmd == "tuner":
            self._set_tuner((not self.tuning) if m.get("on") is None else m["on"])
            return {"ok": True, "status": self.status(brief=True), "pitch": self.tuner.state()}
        elif cmd == "pitch":
            if not self.tuning:             # the tuner is off: read the input now
                self.tuner.update()
            return {"ok": True, "tuner": self.tuning, "pitch": self.tuner.state()}
        elif cmd == "midi":
            if self.midi is None:
                return {"ok": False, "error": "MIDI is off (midi.enabled = false in the config)"}
            self.midi.inject(m["events"])
            return {"ok": True, "events": len(m["events"])}
        reply = {"ok": True, "status": self.status(brief=True)}
        if cmd in ("next", "prev", "select") and self.current_path in self.by_path:
            e = self.by_path[self.current_path]          # what is fading in (status: what plays now)
            reply["selected"] = {"name": e["name"], "file": e["file"]}
        return reply

    def _pot_takes_over(self, param, v):
        """Soft takeover: after the page, MIDI or `ctl` set a control, its pot moves nothing
        until it reaches (or passes) that value, so turning it never jumps the sound."""
        target = self._pickup.get(param)
        last, self._pot_last[param] = self._pot_last.get(param), v
        if target is None:
            return True
        lo, hi = SET_PARAMS[param]
        if abs(v - target) <= 0.02 * (hi - lo) or (last is not None and (last - target) * (v - target) <= 0):
            del self._pickup[param]
            return True
        return False

    def _set(self, param, v):
        p = self.params
        if param == "drive":
            p.set_drive(v)
        elif param == "level":
            p.set_level(v)
        elif param == "knob2":
            p.set_knob2(v)
            self.state["knob2"] = v
            self._state_dirty = True
        elif param == "gate":
            p.set_gate_threshold_db(v)
            self.state["gate_threshold_db"] = v
            self._state_dirty = True
        self.pots[param] = v

    def _set_tuner(self, on):
        if on == self.tuning:
            return
        self.tuning = on
        mute = bool(self.cfg.get("tuner", {}).get("mute", True))
        if on:
            self._mute_before_tuner = self.params.muted
            if mute:
                self.params.set_mute(True)
            self.tuner.reading = None
        elif mute:
            self.params.set_mute(self._mute_before_tuner)
        log.info("tuner %s", "on" if on else "off")

    def _find(self, name):
        paths = [e["path"] for e in self.entries]
        if name.isdigit() and 1 <= int(name) <= len(paths):
            return paths[int(name) - 1]
        low = name.lower()
        for e in self.entries:
            if low in (e["file"].lower(), os.path.splitext(e["file"])[0].lower(), str(e["name"]).lower()):
                return e["path"]
        return None

    def _describe(self, e):
        return {k: e.get(k) for k in ("file", "name", "architecture", "sample_rate", "num_knobs", "format",
                                      "bytes", "ir_file", "sizes", "size")} | {"playing": e["path"] == self.current_path,
                                                                               "ir_used": e.get("ir") is not None}

    def _set_global_ir(self, name):
        """The global cabinet IR (the web page's setting): NAME in the models folder's irs/,
        or "" for none. The librarian converts it: one in this process takes the new path at
        its next look; one in its own process is started again with it (its cache makes the
        new start cheap)."""
        path = os.path.join(self.cfg["models"]["directory"], "irs", name) if name else ""
        if path and not os.path.isfile(path):
            return {"ok": False, "error": f"no IR {name!r} in the models folder's irs/"}
        self.cfg["models"]["ir"] = path
        lib = self.librarian
        if hasattr(lib, "librarian"):                  # LocalLibrarian (simulate, tests)
            lib.librarian.global_ir_path = path
        elif "--ir" in getattr(lib, "args", ()):        # LibrarianProcess: supervise() starts it again
            lib.args[lib.args.index("--ir") + 1] = path
            lib.close()
            lib.proc, lib.working, lib._next_start = None, None, 0.0
        log.info("global IR: %s", name or "none")
        return {"ok": True, "global_ir": name}

    # --- models -------------------------------------------------------------------------
    def _playable(self, path):
        e = self.by_path.get(path)
        return e is not None and self.bad.get(path) != e["stamp"]

    def _neighbour(self, step, start=None):
        """The next playable model from `start` (default: the current one) in direction step."""
        paths = [e["path"] for e in self.entries]
        if not paths:
            return None
        start = self.current_path if start is None else start
        if start in paths:
            i = paths.index(start)
        else:   # the current model was removed (or none yet): its place by name
            names = [e["file"].lower() for e in self.entries]
            i = bisect.bisect_left(names, os.path.basename(start or "").lower()) - (1 if step > 0 else 0)
        for k in range(1, len(paths) + 1):
            p = paths[(i + step * k) % len(paths)]
            if self._playable(p):
                return p
        return None

    def _slot(self, path, reload=False):
        """The SlotRef for path's current version, asking the engine to load it if needed."""
        e = self.by_path[path]
        ref = self.slots.get(path)
        if ref is not None and ref.stamp == e["stamp"] and not reload:
            return ref
        if ref is not None:
            self._drop(ref)
        ref = SlotRef(self._next_id, e)
        self._next_id += 1
        self.slots[path] = ref
        self.by_id[ref.id] = ref
        self.engine.send({"op": "load", "slot": ref.id, "model": e["model"], "ir": e.get("ir"), "name": e["name"]})
        return ref

    def _drop(self, ref):
        if self.slots.get(ref.path) is ref:
            del self.slots[ref.path]
        self.engine.send({"op": "drop", "slot": ref.id})

    def _switch_to(self, path, step=0, reload=False, immediate=False):
        if path is None:
            return
        cur = self.shared.counters[sh.CURRENT_SLOT]
        ref = self.slots.get(path)
        if (not reload and path == self.current_path and ref is not None and ref.id == cur
                and ref.stamp == self.by_path[path]["stamp"] and self.shared.counters[sh.FAULT_SLOT] != cur):
            return
        ref = self._slot(path, reload)
        if self.current_path and self.current_path != path and self._healthy_now():
            self.last_good_path = self.current_path
        self.current_path = path
        self._step = step
        self.engine.send({"op": "play", "slot": ref.id, "immediate": bool(immediate)})
        log.info("model: %s (%s)", ref.name, os.path.basename(path))
        if self.controls:
            self.controls.blink_model()
        self.state["model"] = os.path.basename(path)
        self._state_dirty = True

    def _healthy_now(self):
        c = self.shared.counters
        return c[sh.CURRENT_SLOT] != sh.NO_SLOT and c[sh.FAULT_SLOT] != c[sh.CURRENT_SLOT]

    def _prepare_neighbours(self):
        want = {self.current_path} | {p for p in (self._neighbour(+1), self._neighbour(-1)) if p}
        c = self.shared.counters
        playing = {c[sh.CURRENT_SLOT], c[sh.INCOMING_SLOT], c[sh.PENDING_SLOT]}
        for path, ref in list(self.slots.items()):
            stale = path not in self.by_path or ref.stamp != self.by_path[path]["stamp"]
            if (path not in want or stale or ref.status == "failed") and ref.id not in playing:
                self._drop(ref)
        for p in want:
            if p in self.by_path and self._playable(p):
                self._slot(p)

    # --- events (control thread) --------------------------------------------------------
    def _on_engine(self, ev):
        kind = ev.get("ev")
        ref = self.by_id.get(ev.get("slot"))
        if kind == "loaded" and ref is not None:
            ref.status = "ready"
        elif kind == "load_failed" and ref is not None:
            ref.status, ref.error = "failed", ev.get("error")
            if self.bad.get(ref.path) != ref.stamp:
                self.bad[ref.path] = ref.stamp
                log.error("model skipped: %s cannot be built: %s", os.path.basename(ref.path), ref.error)
            if ref.path == self.current_path:       # it was to play: move on
                if self._step:
                    self._switch_to(self._neighbour(self._step, ref.path), self._step)
                elif self.last_good_path and self._playable(self.last_good_path):
                    self._switch_to(self.last_good_path)
        elif kind == "stopped":
            if ev.get("error"):
                log.error("audio stopped: %s", ev["error"])
            self._stop.set()

    def _on_library(self, msg):
        self.entries = msg["entries"]
        self.by_path = {e["path"]: e for e in self.entries}
        self.global_ir = msg.get("global_ir")
        self.library_version += 1
        present = set(os.listdir(self.cfg["models"]["directory"])) if os.path.isdir(self.cfg["models"]["directory"]) else set()
        for f in [f for f in self.rejected if f in {e["file"] for e in self.entries} or f not in present]:
            del self.rejected[f]                # now playable, or gone
        for p in [p for p in self.bad if p not in self.by_path or self.by_path[p]["stamp"] != self.bad[p]]:
            del self.bad[p]                   # changed or gone: try it again when it returns

    def _library_changed(self, started):
        if not started:
            return
        cur = self.current_path
        if cur is None or cur not in self.by_path:
            if self.shared.counters[sh.CURRENT_SLOT] == sh.NO_SLOT or cur is None:
                self._switch_to(self._neighbour(+1, cur) if cur else self._first(), 1)
        else:
            ref = self.slots.get(cur)
            if ref is not None and ref.stamp != self.by_path[cur]["stamp"]:
                log.info("model %s changed on disk: reloading", os.path.basename(cur))
                self._switch_to(cur, 0, reload=True)
        self._prepare_neighbours()

    def _first(self):
        for e in self.entries:
            if self._playable(e["path"]):
                return e["path"]
        return None

    def _check_faults(self):
        c = self.shared.counters
        if c[sh.FAULTS] == self._seen_faults:
            return
        self._seen_faults = int(c[sh.FAULTS])
        bad = self.by_id.get(int(c[sh.FAULT_SLOT]))
        name = bad.name if bad is not None else "?"
        back = self.last_good_path if bad is None or self.last_good_path != bad.path else None
        log.error("model %s produced NaN/Inf: silenced%s", name,
                  f", falling back to {os.path.basename(back)}" if back else "")
        if back and self._playable(back):
            self._switch_to(back)

    def tick(self, started=True):
        """One pass of the control side: events, actions, housekeeping."""
        for ev in self.engine.events():
            self._on_engine(ev)
        changed = False
        for msg in self.librarian.events():
            if msg.get("ev") == "library":
                self._on_library(msg)
                changed = True
            elif msg.get("ev") == "rejected" and msg.get("path"):
                self.rejected[os.path.basename(msg["path"])] = msg.get("error") or "refused"
        if changed:
            self.engine.send({"op": "ir", "ir": self.global_ir})
            self._library_changed(started)
        while True:
            try:
                req = self.queue.get_nowait()
            except queue.Empty:
                break
            try:
                req.finish(self.handle(req.msg))
            except Exception as e:      # a bug must not take the pedal's controls down
                log.exception("action %r", req.msg)
                req.finish({"ok": False, "error": f"internal error: {e}"})
            self.handled += 1
            if req.msg.get("cmd") in ("next", "prev", "select"):
                self._prepare_neighbours()
        self._check_faults()
        if self.tuning:
            self.tuner.update()
        c = self.shared.counters
        if (c[sh.CURRENT_SLOT] != sh.NO_SLOT and c[sh.INCOMING_SLOT] == sh.NO_SLOT
                and c[sh.PENDING_SLOT] == sh.NO_SLOT and c[sh.FAULT_SLOT] != c[sh.CURRENT_SLOT]
                and c[sh.SAMPLES] - c[sh.LAST_SWITCH_DONE] > self.rate // 4):
            ref = self.by_id.get(int(c[sh.CURRENT_SLOT]))
            if ref is not None:
                self.last_good_path = ref.path
                self._step = 0
        if self._state_dirty and self.state_path:
            self._state_dirty = False
            try:
                save_state(self.state_path, self.state)
            except OSError as e:
                log.warning("cannot save state to %s: %s", self.state_path, e)

    def restore(self):
        """Before the audio starts: the library's first list, the last model and settings
        from the state file, played from the first sample."""
        self.tick(started=False)
        want = self.state.get("model")
        path = next((e["path"] for e in self.entries if e["file"] == want and self._playable(e["path"])), None)
        path = path or self._first()
        if path:
            self._switch_to(path, 1, immediate=True)
        self.params.set_bypass(bool(self.state.get("bypass")), immediate=True)
        if self.state.get("knob2") is not None:
            self.params.set_knob2(self.state["knob2"], immediate=True)
        if self.state.get("gate_threshold_db") is not None:
            self.params.set_gate_threshold_db(self.state["gate_threshold_db"])
        self._prepare_neighbours()
        self._state_dirty = False

    # --- status -------------------------------------------------------------------------
    def cpu_stats(self):
        s = self.shared.cpu_stats(self.period / self.rate)
        s["blocks"] = int(self.shared.counters[sh.BLOCKS])
        return s

    def status(self, brief=False):
        c = self.shared.counters
        ref = self.by_id.get(int(c[sh.CURRENT_SLOT]))
        out = {
            "model": ref.name if ref is not None else None,
            "model_file": os.path.basename(ref.path) if ref is not None else None,
            "bypass": self.params.bypassed, "mute": self.params.muted, "tuner": self.tuning,
        }
        if brief:
            return out
        late = self.shared.late_stats(self.period / self.rate)
        out.update({
            "models": len(self.entries), "cpu": self.cpu_stats(), "late": late,
            "xruns": int(c[sh.OVERRUNS] + c[sh.UNDERRUNS]), "overruns": int(c[sh.OVERRUNS]),
            "underruns": int(c[sh.UNDERRUNS]), "faults": int(c[sh.FAULTS]), "clips": int(c[sh.CLIPS]),
            "realtime": bool(c[sh.REALTIME]), "pots": dict(self.pots), "frames": int(c[sh.FRAMES]),
            "switches": int(c[sh.SWITCHES]), "skipped": sorted(os.path.basename(p) for p in self.bad),
            "shared": self.shared.path, "time": time.time(),
        })
        if self.tuning:
            out["pitch"] = self.tuner.state()
        if self.midi is not None:
            out["midi"] = self.midi.status()
        return out

    def write_status(self, path):
        import json

        from firmware.core.outputs import OutputError, atomic_path
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with atomic_path(path, force=True) as tmp, open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.status(), f, indent=1)
        except (OSError, OutputError) as e:
            log.debug("status file %s: %s", path, e)

    # --- the control thread (tubeless run) ----------------------------------------------
    def control_loop(self, period_s=0.02):
        a = self.cfg["audio"]
        status_every = float(a.get("status_every_s", 10.0))
        xrun_every = float(a.get("xrun_log_every_s", 5.0))
        status_file = a.get("status_file")
        last_status = time.monotonic()
        last_xrun_log = -math.inf
        logged_xruns = 0
        last_alive, seen_alive = time.monotonic(), (-1, -1)
        from firmware.platform import sdnotify
        while not self._stop.wait(period_s):
            try:
                if self.controls is not None:
                    self.controls.poll_pots()
                self.tick()
                c = self.shared.counters
                if self.controls is not None and self.tuning:
                    self.controls.show_tuner(self.tuner.leds(time.monotonic()))
                elif self.controls is not None:
                    self.controls.show(not self.params.bypassed, c[sh.CLIPS] > 0 or c[sh.FAULTS] > 0)
                self.librarian.supervise()
                if not self.engine.alive():
                    self.tick()                 # its last events (an error says why)
                    log.info("the audio engine stopped")
                    break
                now = time.monotonic()
                xr = int(c[sh.OVERRUNS] + c[sh.UNDERRUNS])
                if xr != logged_xruns and now - last_xrun_log >= xrun_every:
                    log.warning("xruns: %d since start (%d new)", xr, xr - logged_xruns)
                    logged_xruns, last_xrun_log = xr, now
                if now - last_status >= status_every:
                    last_status = now
                    s = self.cpu_stats()
                    log.info("cpu per period: p50 %.1f%% p99 %.1f%% max %.1f%% of %d frames; xruns %d",
                             100 * s["p50"], 100 * s["p99"], 100 * s["max"], self.period, xr)
                    if status_file:
                        self.write_status(status_file)
                if now - last_alive >= 2.0:
                    # systemd's watchdog is fed only while the audio runs and the engine answers
                    alive = (int(c[sh.FRAMES]), int(c[sh.HEARTBEAT]))
                    if alive[0] != seen_alive[0] and alive[1] != seen_alive[1]:
                        sdnotify.watchdog()
                    seen_alive, last_alive = alive, now
            except Exception:
                log.exception("control loop")
        self.stopped = True

"""The pedal's control side: every action a player takes, and what follows from it.

It talks to the engine (the audio process) and to the librarian (the model-file process)
through links (firmware.pedal.links): in `tubeless run` they are other processes, in
`simulate` and the tests they run in this one. Nothing here runs on the audio thread, and
in `tubeless run` nothing here can make the audio wait: a slow step only delays the next
action.

Actions come from the footswitches, the keyboard, the pots, the control socket (`tubeless
ctl`, MIDI and the web page) through one entry, `submit(message)` (a command of the table
in firmware.ipc.commands), from any thread; `tick()` executes them in order on the control
thread, each by its handler (firmware.pedal.handlers), together with the engine's and the
librarian's events and the housekeeping (50 Hz). Which model plays is firmware.pedal.slots,
what the pedal reports firmware.pedal.status.
"""
import logging
import math
import os
import queue
import threading
import time

from firmware.core.config import captures_directory, recordings_directory, tone_settings
from firmware.core.errors import ConfigError, MessageError
from firmware.dsp import rig
from firmware.dsp.chain import ChainParams
from firmware.ipc import shared as sh
from firmware.ipc.commands import check_control
from firmware.pedal.handlers import HANDLERS
from firmware.pedal.listing import Listing
from firmware.pedal.slots import ModelSlots
from firmware.pedal.state import load_state, save_state
from firmware.pedal.status import Status
from firmware.pedal.recall import PresetRecall
from firmware.pedal.capturing import PedalCapture
from firmware.pedal.recorder import Recorder, record_limits
from firmware.pedal.stompslot import StompSlot

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


class Pedal(PresetRecall, ModelSlots, StompSlot, Status):
    def __init__(self, cfg, engine, librarian, state_path=None, controls=None):
        self.cfg = cfg
        self.rate = int(cfg["audio"]["rate"])
        self.period = int(cfg["audio"]["period"])
        self.tone = tone_settings(cfg)
        self.engine = engine
        self.librarian = librarian
        self.shared = engine.shared
        self.params = ChainParams(self.tone, self.shared.params, self.shared.state, self.shared.rig)
        self.recorder = Recorder(self.shared, self.rate, recordings_directory(cfg),
                                 stereo=bool(cfg["audio"].get("stereo_out", False)), **record_limits(cfg))
        self.capture = PedalCapture(cfg, self.shared, captures_directory(cfg), self.params.set_mute)
        self.state_path = state_path if state_path is not None else cfg["state"]["file"]
        self.state = load_state(self.state_path) if self.state_path else {}
        self.controls = controls
        self._init_slots()
        self._init_stomp()
        self._init_presets()
        self._state_dirty = False
        self.pots = {}
        self._pickup = {}                  # control -> value a pot must reach to take over again
        self._taps = []                    # tap tempo: monotonic times of the last taps
        try:
            self.rig_config = rig.settings_of_config(cfg.get("rig") or {})
            from firmware.pedal.controls import check_footswitch_action
            for key in ("footswitch3_press", "footswitch3_hold"):
                check_footswitch_action(cfg["controls"].get(key, "none"), key)
            from firmware.pedal.controls import check_footswitch1_mode
            check_footswitch1_mode(cfg["controls"].get("footswitch1_mode", "presets"))
            role = cfg["controls"].get("pot_assign_role", "knob2")
            if role not in ("knob2", "gate"):
                rig.resolve(role)
        except MessageError as e:
            raise ConfigError(f"config: {e}") from None
        self._pot_last = {}
        self.queue = queue.SimpleQueue()
        self.submitted = 0
        self.handled = 0
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()     # set by submit() and stop(): the control loop answers now
        self.stopped = False
        from firmware.pedal.tuner import Tuner
        self.tuner = Tuner(self.shared, self.rate, cfg.get("tuner"))
        self.tuning = False                # the tuner is on (and, with tuner.mute, the output muted)
        self._mute_before_tuner = False
        self.midi = None                   # firmware.pedal.midi.MidiInput, when MIDI runs
        self.library_error = None          # why the librarian's last scan failed (None: it did not)
        self.listing = Listing()           # the `models` replies, a page at a time

    # --- any thread ---------------------------------------------------------------------
    def submit(self, msg):
        """Queue a control message (a dict, firmware.ipc.commands); returns its Request."""
        req = Request(msg)
        self.queue.put(req)
        self._wake.set()
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
        if role not in ("drive", "level", "knob2"):
            # a rig parameter (the third pot's assignment): the pot's travel spans its range
            _, p = rig.resolve(role)
            v = p.lo + (p.hi - p.lo) * min(1.0, max(0.0, v))
        return self.submit({"cmd": "set", "param": role, "value": v, "pot": True})

    def tap(self):
        return self.submit({"cmd": "tap"})

    def toggle_record(self):
        return self.submit({"cmd": "record"})

    # footswitch 1 in the snapshots mode (controls.footswitch1_mode), the save combination
    def next_snapshot(self):
        return self.submit({"cmd": "snapshot", "n": "next"})

    def prev_snapshot(self):
        return self.submit({"cmd": "snapshot", "n": "prev"})

    def save_current(self):
        return self.submit({"cmd": "save"})

    def stop(self):
        self._stop.set()
        self._wake.set()

    def close(self):
        """After the control loop: a capture is aborted (nothing kept), a recording still
        running is closed whole."""
        self.capture.close()
        self.recorder.close()

    # --- executing actions (control thread) ---------------------------------------------
    def handle(self, msg):
        """One control message -> its reply, by the command's handler. Errors are one-line
        replies, never raised."""
        try:
            m = check_control(msg)
        except MessageError as e:
            return {"ok": False, "error": str(e)}
        return HANDLERS[m["cmd"]].run(self, m, msg)

    def _on_engine(self, ev):
        if ev.get("ev") == "stopped":
            if ev.get("error"):
                log.error("audio stopped: %s", ev["error"])
            self._stop.set()
        else:
            self._on_slot_event(ev)

    def tick(self, started=True):
        """One pass of the control side: events, actions, housekeeping."""
        for ev in self.engine.events():
            self._on_engine(ev)
        changed = False
        for msg in self.librarian.events():
            if msg.get("ev") == "library":
                self._on_library(msg)
                self.library_error = None
                changed = True
            elif msg.get("ev") == "scan_failed":       # the list stays; the page and `ctl models` say why
                self.library_error = str(msg.get("error") or "the library could not be scanned")[:300]
            elif msg.get("ev") == "rejected" and msg.get("path"):
                self.rejected[os.path.basename(msg["path"])] = msg.get("error") or "refused"
        if changed:
            self.engine.send({"op": "ir", "ir": self.global_ir})
            self._library_changed(started)
            self._stomp_library_changed()
        self.answer_requests()
        self._check_faults()
        if self.tuning:
            self.tuner.update()
        self._note_good_model()
        if self._state_dirty and self.state_path:
            self._state_dirty = False
            try:
                save_state(self.state_path, self.state)
            except OSError as e:
                log.warning("cannot save state to %s: %s", self.state_path, e)

    def answer_requests(self):
        """Every submitted action, in order, each by its handler (the control thread)."""
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
            cmd = req.msg.get("cmd")
            then = HANDLERS[cmd].then if isinstance(cmd, str) and cmd in HANDLERS else None
            if then is not None:
                then(self)

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
        self.params.rig.apply(self.rig_config)         # the config's, then the state file's
        self._restore_rig(self.state.get("rig"))
        self._restore_stomp()
        self._restore_presets()                        # a preset of the state file, as its file says
        self._prepare_neighbours()
        self._state_dirty = False

    def _restore_rig(self, saved):
        """The rig's parameters and on/off as saved; an entry this firmware does not know (or
        out of its range) is left out with one line, the rest plays."""
        if not isinstance(saved, dict):
            return
        for name, value in saved.items():
            try:
                self.params.rig.apply([(name, bool(value) if name in rig.BY_NAME else value)])
            except MessageError as e:
                log.warning("state: %s: not restored", e)

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
        next_tick = time.monotonic() + period_s
        while True:
            # A request is answered as it comes, between the ticks: a client paging through a
            # big library (100 pages for `ctl models`) waited a tick (20 ms) for each page.
            if self._wake.wait(max(0.0, next_tick - time.monotonic())):
                self._wake.clear()
            if self._stop.is_set():
                break
            if time.monotonic() < next_tick:
                try:
                    self.answer_requests()
                except Exception:
                    log.exception("control loop")
                continue
            next_tick = max(next_tick + period_s, time.monotonic())
            try:
                if self.controls is not None:
                    self.controls.poll_pots()
                self.tick()
                self.poll_presets()             # the presets folder, every presets.poll_s
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

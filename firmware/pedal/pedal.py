"""The pedal: the audio loop and the threads around it.

Threads:
- audio (`tubeless-audio`): read a period, `ToneChain.process_block`, write; measures the
  per-block compute time into a preallocated ring. After a JIT warm-up it asks for
  SCHED_FIFO and locks memory. Nothing in it allocates buffers, takes a lock, logs or
  touches a file; it hands everything else to the control thread through plain attributes.
- control (`tubeless-control`, 50 Hz): pots, LEDs, logging (xruns rate-limited, model
  faults, CPU load), status file, state file, preparing neighbours of the current model.
- library (`tubeless-library`): polls the model directory (see library.py).
- gpiozero's own threads call the footswitch actions (`next_model`...).
"""
import bisect
import ctypes
import gc
import json
import logging
import math
import os
import threading
import time

import numpy as np

from . import chain as chain_mod
from .config import tone_settings
from .library import ModelLibrary
from .state import load_state, save_state

log = logging.getLogger(__name__)

CPU_RING = 4096                      # blocks of per-block compute time kept


class Pedal:
    def __init__(self, cfg, io=None, library=None, state_path=None, controls=None, irs=None):
        self.cfg = cfg
        a = cfg["audio"]
        self.rate = int(a["rate"])
        self.period = int(a["period"])
        self.tone = tone_settings(cfg)
        self.io = io
        self.global_ir = irs
        ir = None
        if cfg["models"].get("ir"):
            ir = chain_mod.load_ir(cfg["models"]["ir"], self.rate, cfg["models"].get("ir_max_ms", 500))
        self.chain = chain_mod.ToneChain(self.rate, self.period, ir=ir, **self.tone)
        self.library = library if library is not None else ModelLibrary(cfg["models"]["directory"], poll_s=cfg["models"]["poll_s"])
        self.state_path = state_path if state_path is not None else cfg["state"]["file"]
        self.state = load_state(self.state_path) if self.state_path else {}
        self.controls = controls
        self.current_path = None
        self.last_good_path = None
        self._prepared = {}                  # path -> (stamp, Slot), neighbours ready to fade in
        self._prep_lock = threading.Lock()   # control-side only; the audio thread never takes it
        self._stop = threading.Event()
        self.actions = 0                     # increases after each handled control action
        self._action_cv = threading.Condition()
        self.pots = {}
        self.cpu_ns = np.zeros(CPU_RING, np.int64)
        self.blocks = 0
        self.frames = 0
        self.block_hook = None               # simulate: called between blocks (not real time)
        self.rt = False
        self._seen_faults = 0
        self._state_dirty = False
        self._library_version = -1
        self.stopped = False

    # --- actions (any thread but audio) -------------------------------------------------
    def _done(self):
        with self._action_cv:
            self.actions += 1
            self._action_cv.notify_all()

    def wait_actions(self, count, timeout=5.0):
        with self._action_cv:
            return self._action_cv.wait_for(lambda: self.actions >= count, timeout)

    def _paths(self):
        return [e.path for e in self.library.entries()]

    def _neighbour(self, step):
        paths = self._paths()
        if not paths:
            return None
        if self.current_path in paths:
            i = paths.index(self.current_path)
            return paths[(i + step) % len(paths)]
        # the current model was removed (or none yet): its place by name
        names = [os.path.basename(p).lower() for p in paths]
        i = bisect.bisect_left(names, os.path.basename(self.current_path or "").lower())
        return paths[(i if step > 0 else i - 1) % len(paths)]

    def next_model(self):
        self._switch_to(self._neighbour(+1))

    def prev_model(self):
        self._switch_to(self._neighbour(-1))

    def select(self, path):
        self._switch_to(path)

    def _switch_to(self, path, action=True, reload=False):
        try:
            if path is None or (path == self.current_path and self.chain.current is not None
                                and not self.chain.current.faulted and not reload):
                return
            slot = self._slot_for(path)
            if slot is None:
                return
            if self.chain.current is not None and not self.chain.current.faulted:
                self.last_good_path = self.current_path
            self.current_path = path
            self.chain.request_switch(slot)
            with self._prep_lock:
                self._prepared.pop(path, None)     # this instance is now playing
            log.info("model: %s", slot.name)
            if self.controls:
                self.controls.blink_model()
            self.state["model"] = os.path.basename(path)
            self._state_dirty = True
        finally:
            if action:
                self._done()

    def _slot_for(self, path):
        entry = self.library.get(path)
        if entry is None:
            return None
        with self._prep_lock:
            ready = self._prepared.get(path)
        if ready is not None and ready[0] == entry.stamp:
            return ready[1]
        return self._make_slot(entry)

    def _make_slot(self, entry):
        """The model, resampled when trained at another rate, with its own IR when it has
        one (NAME.wav beside it; else the global IR plays). Slow: control side only."""
        mf = entry.model_file
        ir = None
        ir_path = getattr(entry, "ir_path", None)
        if ir_path:
            try:
                ir = chain_mod.load_ir(ir_path, self.rate, self.cfg["models"].get("ir_max_ms", 500))
            except Exception as e:      # a bad IR: the model still plays, through the global IR
                log.warning("%s: IR %s not used: %s", mf.name, os.path.basename(ir_path), e)
        try:
            slot = chain_mod.make_slot(mf, self.period, self.tone, tag=entry.path, sample_rate=self.rate, ir=ir)
        except Exception as e:
            log.error("model %s cannot be built: %s", mf.name, e)
            return None
        slot.stamp = entry.stamp
        if mf.sample_rate != self.rate:
            log.debug("%s: %d Hz model resampled to %d Hz (+%d samples)", mf.name, mf.sample_rate, self.rate,
                      getattr(slot.model, "latency", 0))
        return slot

    def toggle_bypass(self):
        self.set_bypass(not self.chain.bypassed)

    def set_bypass(self, on):
        self.chain.set_bypass(on)
        self.state["bypass"] = bool(on)
        self._state_dirty = True
        log.info("bypass %s", "on" if on else "off")
        self._done()

    def toggle_mute(self):
        self.chain.set_mute(not self.chain.muted)
        log.info("mute %s", "on" if self.chain.muted else "off")
        self._done()

    def set_pot(self, role, v):
        self.pots[role] = v
        if role == "drive":
            self.chain.set_drive(v)
        elif role == "level":
            self.chain.set_level(v)
        elif role == "knob2":
            self.chain.set_knob2(v)
            self.state["knob2"] = v
        elif role == "gate":
            db = -100.0 + 60.0 * v              # -100 (off) .. -40 dB
            self.chain.set_gate_threshold_db(db)
            self.state["gate_threshold_db"] = db
        self._done()

    def stop(self):
        self._stop.set()

    # --- housekeeping (control thread) --------------------------------------------------
    def _prepare_neighbours(self):
        want = {p for p in (self._neighbour(+1), self._neighbour(-1)) if p and p != self.current_path}
        with self._prep_lock:
            for p in list(self._prepared):
                if p not in want:
                    del self._prepared[p]
        for p in want:
            entry = self.library.get(p)
            with self._prep_lock:
                ready = self._prepared.get(p)
            if entry is None or (ready is not None and ready[0] == entry.stamp):
                continue
            slot = self._make_slot(entry)
            if slot is not None:
                with self._prep_lock:
                    self._prepared[p] = (entry.stamp, slot)

    def housekeeping(self):
        ch = self.chain
        # drop slots the audio thread finished with (their memory is freed here, not there)
        while ch.retired:
            ch.retired.pop()
        if ch.faults != self._seen_faults:
            self._seen_faults = ch.faults
            bad = ch.fault_slot
            name = bad.name if bad is not None else "?"
            back = self.last_good_path if self.last_good_path != (bad.tag if bad else None) else None
            log.error("model %s produced NaN/Inf: silenced%s", name,
                      f", falling back to {os.path.basename(back)}" if back else "")
            if back and self.library.get(back) is not None:
                self._switch_to(back, action=False)
        cur = ch.current
        if (cur is not None and not cur.faulted and ch.incoming is None and ch.pending is None
                and ch.samples - ch.last_switch_done > self.rate // 4):
            self.last_good_path = self.current_path
        if self.library.version != self._library_version:
            self._library_version = self.library.version
            if self.current_path is None or self.library.get(self.current_path) is None and cur is None:
                paths = self._paths()
                if paths:
                    self._switch_to(paths[0], action=False)
            elif self.library.get(self.current_path) is not None and cur is not None:
                entry = self.library.get(self.current_path)
                if cur.tag == entry.path and cur.stamp is not None and cur.stamp != entry.stamp:
                    # The playing model's file (or its IR) was replaced: fade to the new one.
                    log.info("model %s changed on disk: reloading", os.path.basename(entry.path))
                    self._switch_to(entry.path, action=False, reload=True)
            self._prepare_neighbours()
        if self._state_dirty and self.state_path:
            self._state_dirty = False
            try:
                save_state(self.state_path, self.state)
            except OSError as e:
                log.warning("cannot save state to %s: %s", self.state_path, e)

    def restore(self):
        """Last model and bypass from the state file (before the audio starts)."""
        paths = self._paths()
        want = self.state.get("model")
        path = next((p for p in paths if os.path.basename(p) == want), None) or (paths[0] if paths else None)
        if path:
            slot = self._slot_for(path)
            if slot is not None:
                self.chain.set_model(slot)
                self.current_path = path
                self.last_good_path = path
        self._library_version = self.library.version
        self.chain.set_bypass(bool(self.state.get("bypass")), immediate=True)
        if self.state.get("knob2") is not None:
            self.chain.set_knob2(self.state["knob2"], immediate=True)
        if self.state.get("gate_threshold_db") is not None:
            self.chain.set_gate_threshold_db(self.state["gate_threshold_db"])
        self._prepare_neighbours()

    # --- CPU load / status --------------------------------------------------------------
    def cpu_stats(self):
        """Per-block compute time as a fraction of the period: p50, p99, max."""
        k = min(self.blocks, CPU_RING)
        if k == 0:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "blocks": 0}
        t = self.cpu_ns[:k].astype(np.float64) / (1e9 * self.period / self.rate)
        return {"p50": float(np.percentile(t, 50)), "p99": float(np.percentile(t, 99)), "max": float(t.max()),
                "blocks": int(self.blocks)}

    def status(self):
        io = self.io
        cur = self.chain.current
        return {
            "model": cur.name if cur is not None else None,
            "model_file": os.path.basename(self.current_path) if self.current_path else None,
            "models": len(self.library), "bypass": self.chain.bypassed, "mute": self.chain.muted,
            "cpu": self.cpu_stats(), "xruns": io.xruns if io is not None else 0,
            "overruns": getattr(io, "overruns", 0), "underruns": getattr(io, "underruns", 0),
            "faults": self.chain.faults, "clips": self.chain.clips, "realtime": self.rt,
            "pots": self.pots, "frames": self.frames, "time": time.time(),
        }

    def write_status(self, path):
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.status(), f, indent=1)
            os.replace(tmp, path)
        except OSError as e:
            log.debug("status file %s: %s", path, e)

    # --- the audio thread ---------------------------------------------------------------
    def warm_up(self):
        """Compile every kernel on the loop's path before real time starts, on a scratch
        chain (the real one's state stays untouched: the output matches an offline render).
        The models' own kernels were compiled when their slots were prewarmed."""
        scratch = chain_mod.ToneChain(self.rate, self.period, ir=np.ones(3 * self.period), **self.tone)
        for _ in range(3):
            scratch.process_block(self.period)
        if self.io is not None and hasattr(self.io, "warm_up"):
            self.io.warm_up()

    def go_realtime(self):
        a = self.cfg["audio"]
        if not a.get("realtime", True):
            return False
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(a.get("rt_priority", 70))))
        except (OSError, AttributeError) as e:
            log.info("real-time priority not available (%s): running at normal priority", e)
            return False
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.mlockall(3) != 0:          # MCL_CURRENT | MCL_FUTURE
                log.info("mlockall failed (errno %d): memory not locked", ctypes.get_errno())
        except OSError:
            pass
        return True

    def audio_loop(self, max_frames=None):
        io = self.io
        ch = self.chain
        x = ch.x
        out = ch.out
        P = self.period
        ring = self.cpu_ns
        mask = CPU_RING - 1
        perf = time.perf_counter_ns
        stop = self._stop
        hook = self.block_hook
        self.warm_up()
        self.rt = self.go_realtime()
        gc.collect()
        gc.freeze()                             # nothing old for the collector to walk
        io.prime()
        frames = 0
        blocks = 0
        while not stop.is_set():
            if hook is not None:
                hook(frames)
            n = io.read(x)
            if n == 0:
                x.fill(0.0)                     # overrun: one period of silence
                n = P
            t0 = perf()
            ch.process_block(n)
            ring[blocks & mask] = perf() - t0
            blocks += 1
            self.blocks = blocks
            io.write(out, n)
            frames += n
            self.frames = frames
            if max_frames is not None and frames >= max_frames:
                break

    # --- running ------------------------------------------------------------------------
    def control_loop(self, period_s=0.02):
        a = self.cfg["audio"]
        status_every = float(a.get("status_every_s", 10.0))
        xrun_every = float(a.get("xrun_log_every_s", 5.0))
        status_file = a.get("status_file")
        last_status = time.monotonic()
        last_xrun_log = -math.inf              # the first xrun is logged at once
        logged_xruns = 0
        while not self._stop.wait(period_s):
            try:
                if self.controls is not None:
                    self.controls.poll_pots()
                    self.controls.show(not self.chain.bypassed, self.chain.clips > 0 or self.chain.faults > 0)
                self.housekeeping()
                now = time.monotonic()
                xr = self.io.xruns if self.io is not None else 0
                if xr != logged_xruns and now - last_xrun_log >= xrun_every:
                    log.warning("xruns: %d since start (%d new)", xr, xr - logged_xruns)
                    logged_xruns, last_xrun_log = xr, now
                if now - last_status >= status_every:
                    last_status = now
                    s = self.cpu_stats()
                    log.info("cpu per block: p50 %.1f%% p99 %.1f%% max %.1f%% of %d frames; xruns %d",
                             100 * s["p50"], 100 * s["p99"], 100 * s["max"], self.period, xr)
                    if status_file:
                        self.write_status(status_file)
                    try:
                        from .. import sdnotify
                        sdnotify.watchdog()
                    except Exception:
                        pass
            except Exception:
                log.exception("control loop")

    def run(self, max_frames=None, control=True):
        """Start library + control threads, run the audio loop in its own thread, wait."""
        # Other Python threads (model loading, pots) hand the GIL back within 0.5 ms, not 5:
        # every njit call off the audio thread works in blocks, so this bounds the wait.
        import sys
        sys.setswitchinterval(0.0005)
        if self.library._thread is None:
            self.library.start()
        self.restore()
        ctl = None
        if control:
            ctl = threading.Thread(target=self.control_loop, name="tubeless-control", daemon=True)
            ctl.start()
        err = []

        def audio():
            try:
                self.audio_loop(max_frames)
            except BaseException as e:  # noqa: BLE001 - reported to the caller
                err.append(e)
            finally:
                self._stop.set()

        t = threading.Thread(target=audio, name="tubeless-audio", daemon=True)
        t.start()
        try:
            from .. import sdnotify
            sdnotify.ready(f"playing {self.chain.current.name if self.chain.current else 'no model'}")
        except Exception:
            pass
        try:
            while t.is_alive():
                t.join(0.2)
        except KeyboardInterrupt:
            self._stop.set()
            t.join(2)
        self.stopped = True
        if ctl is not None:
            ctl.join(2)
        self.housekeeping()
        self.library.stop()
        if err:
            raise err[0]

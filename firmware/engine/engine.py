"""The engine: the pedal's audio process.

Two threads and nothing else, so that no Python code the engine does not own can hold the
GIL while the audio waits for it:

- audio (`tubeless-audio`, SCHED_FIFO at `audio.rt_priority`): read a period, run the tone
  chain, write it; record its compute time and how late it started (frames the device had
  already delivered beyond the period) in the shared rings. It
  allocates nothing, takes no lock, logs nothing, touches no file.
- commands (the main thread, SCHED_FIFO ten below the audio): executes the pedal's
  commands (firmware.ipc.messages: load a cached model into a slot, play, drop, IR), copies
  the chain's counters into the shared block, and frees what the audio thread retired.
  Every step it takes is short, and the kernels it runs (prewarm) release the GIL.

Model files reach it already parsed, converted and verified by the librarian, as cached
.npz/.npy files that load with a few short calls; the engine never imports the importers
(its entry point blocks them), never measures loudness and never compiles a kernel after
start-up (`warm_up` loads every kernel family first).
"""
import ctypes
import gc
import logging
import os
import threading
import time

import numpy as np

from firmware.core import limits, safeio
from firmware.core.config import tone_settings
from firmware.dsp import chain as chain_mod
from firmware.dsp import kernels as dsp
from firmware.dsp.convolver import Convolver
from firmware.ipc import shared as sh
from firmware.models import modelfile

log = logging.getLogger(__name__)


def _read_ir(path):
    """A cabinet IR the librarian cached as .npy (read without numpy's header parser, which
    leaves reference cycles: see audio_loop's collector)."""
    return safeio.read_npy_file(path, limits.active().npz_bytes)

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4


class Engine:
    def __init__(self, cfg, io=None, shared=None, emit=None):
        self.cfg = cfg
        a = cfg["audio"]
        self.rate = int(a["rate"])
        self.period = int(a["period"])
        self.tone = tone_settings(cfg)
        if self.tone["stereo_out"] and int(a["channels"]) < 2:
            from firmware.core.errors import ConfigError
            raise ConfigError(f"config: audio.stereo_out needs audio.channels = 2 or more, not {a['channels']}")
        self.io = io
        self.shared = shared if shared is not None else sh.SharedBlock()
        self.chain = chain_mod.ToneChain(self.rate, self.period, params=self.shared.params,
                                         state=self.shared.state, rig=self.shared.rig, **self.tone)
        c = self.shared.counters
        c[sh.PERIOD], c[sh.RATE] = self.period, self.rate
        self.emit = emit or (lambda msg: None)     # engine -> pedal events
        self.stomp = self.chain.rig.blocks["stomp"]   # the drive slot's captured pedal
        self.slots = {}                            # slot id -> chain Slot
        self._dropping = set()                     # slots the pedal dropped, some maybe still playing
        self.block_hook = None                     # simulate: called between blocks
        self._stop = threading.Event()
        self.audio_thread = None
        self.audio_error = None
        self.max_frames = None

    # --- commands (the command thread) --------------------------------------------------
    def handle(self, msg):
        op = msg.get("op")
        if op == "load":
            self._load(msg)
        elif op == "play":
            slot = self.slots.get(msg.get("slot"))
            if slot is not None:
                if msg.get("immediate") or not self.shared.counters[sh.RUNNING]:
                    self.chain.set_model(slot)
                else:
                    self.chain.request_switch(slot)
        elif op == "stomp":             # the drive slot's captured pedal (null: none)
            sid = msg.get("slot")
            slot = self.slots.get(sid)
            if sid is None or slot is not None:
                self.stomp.request(slot)
        elif op == "drop":
            if msg.get("slot") in self.slots:
                self._dropping.add(msg["slot"])     # freed once no longer playing (sync)
        elif op == "ir":
            self._global_ir(msg.get("ir"))
        elif op == "start":
            self.start()
        elif op == "quit":
            self.stop()
        else:
            log.warning("engine: unknown command %r", op)
        self.sync()

    def _load(self, msg):
        sid = msg.get("slot")
        t0 = time.perf_counter()
        try:
            mf = modelfile.load(msg["model"], verify=False)     # already verified by the librarian
            ir = None
            if msg.get("ir"):
                ir = _read_ir(msg["ir"])
            if msg.get("role") == "stomp":
                slot = chain_mod.make_stomp_slot(mf, self.period, self.tone, tag=sid, sample_rate=self.rate)
            else:
                slot = chain_mod.make_slot(mf, self.period, self.tone, tag=sid, sample_rate=self.rate, ir=ir)
            slot.name = msg.get("name") or mf.name
        except Exception as e:          # a slot that cannot be built: the pedal skips it
            self.emit({"ev": "load_failed", "slot": sid, "error": str(e).replace(str(msg.get("model")) + ": ", "")})
            return
        slot.id = sid
        self.slots[sid] = slot
        self.emit({"ev": "loaded", "slot": sid, "seconds": round(time.perf_counter() - t0, 4)})

    def _global_ir(self, path):
        conv = None
        if path:
            try:
                conv = Convolver(_read_ir(path), block=self.period)
            except Exception as e:
                log.warning("global IR %s not used: %s", path, e)
        self.chain.request_ir(conv)      # crossfaded at the next block (one store)

    def sync(self):
        """Chain -> shared counters; free slots the audio thread retired."""
        ch, c, io = self.chain, self.shared.counters, self.io
        stomp = self.stomp
        while ch.retired:
            ch.retired.pop()
        while stomp.retired:
            stomp.retired.pop()
        for sid in list(self._dropping):
            slot = self.slots.get(sid)
            if slot is None or (slot is not ch.current and slot is not ch.incoming and slot is not ch.pending
                                and slot not in stomp.slots_in_use()):
                self.slots.pop(sid, None)
                self._dropping.discard(sid)
        c[sh.CURRENT_SLOT] = getattr(ch.current, "id", sh.NO_SLOT) if ch.current is not None else sh.NO_SLOT
        c[sh.INCOMING_SLOT] = getattr(ch.incoming, "id", sh.NO_SLOT) if ch.incoming is not None else sh.NO_SLOT
        c[sh.PENDING_SLOT] = getattr(ch.pending, "id", sh.NO_SLOT) if ch.pending is not None else sh.NO_SLOT
        c[sh.FAULTS] = ch.faults
        c[sh.FAULT_SLOT] = getattr(ch.fault_slot, "id", sh.NO_SLOT) if ch.fault_slot is not None else sh.NO_SLOT
        c[sh.CLIPS] = ch.clips
        c[sh.SWITCHES] = ch.switches
        c[sh.SAMPLES] = ch.samples
        c[sh.LAST_SWITCH_DONE] = ch.last_switch_done
        playing = stomp.incoming if stomp.fading else stomp.current
        c[sh.STOMP_SLOT] = getattr(playing, "id", sh.NO_SLOT) if playing is not None else sh.NO_SLOT
        c[sh.STOMP_FAULTS] = stomp.faults
        if io is not None:
            c[sh.OVERRUNS] = getattr(io, "overruns", 0)
            c[sh.UNDERRUNS] = getattr(io, "underruns", 0)
        c[sh.HEARTBEAT] += 1

    # --- start-up -----------------------------------------------------------------------
    def warm_up(self):
        """Load every kernel (model families, chain) before real time starts, on scratch
        objects: the real chain's state stays untouched."""
        from firmware.dsp.warm import warm
        warm(self.rate, self.period)
        scratch = chain_mod.ToneChain(self.rate, self.period, ir=np.ones(3 * self.period), **self.tone)
        for _ in range(3):
            scratch.process_block(self.period)
        sh_ = self.shared
        dsp.ring_write_block(scratch.x, scratch.out, scratch.out_r, self.period, sh_.input, sh_.output, sh_.output_r,
                             0, self.chain.stereo)
        # on a small ring of its own (a power of two, as the shared one): that one is the pedal's to write
        dsp.send_block(scratch.out, scratch.out_r, self.period, np.zeros(4 * self.period, np.float32),
                       sh_.counters[sh.FRAMES], sh_.counters[sh.SEND_END])
        if self.io is not None and hasattr(self.io, "warm_up"):
            self.io.warm_up()

    def go_realtime(self, offset=0):
        """SCHED_FIFO for the calling thread at `rt_priority - offset`, memory locked."""
        a = self.cfg["audio"]
        if not a.get("realtime", True):
            return False
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0),
                                  os.sched_param(max(1, int(a.get("rt_priority", 70)) - offset)))
        except (OSError, AttributeError) as e:
            if offset == 0:
                log.info("real-time priority not available (%s): running at normal priority", e)
            return False
        if offset == 0:
            # MCL_ONFAULT: pages are locked as they are first touched, not when mapped. Without
            # it the command thread's every allocation of a new model (megabytes of history)
            # is populated and locked at once, holding the process's memory-map lock, and the
            # audio thread's own small allocations wait for it (blocks of 20x a period here).
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0:
                    log.info("mlockall failed (errno %d): memory not locked", ctypes.get_errno())
            except OSError:
                pass
        return True

    def start(self, max_frames=None):
        if self.audio_thread is not None:
            return
        self.max_frames = max_frames
        self.audio_thread = threading.Thread(target=self._audio_main, name="tubeless-audio", daemon=True)
        self.audio_thread.start()

    def stop(self):
        self._stop.set()

    @property
    def running(self):
        return self.audio_thread is not None and self.audio_thread.is_alive()

    def _audio_main(self):
        try:
            self.audio_loop(self.max_frames)
        except BaseException as e:  # noqa: BLE001 - reported to the pedal
            self.audio_error = e
        finally:
            self.shared.counters[sh.RUNNING] = 0
            self._stop.set()

    # --- the audio thread ---------------------------------------------------------------
    def audio_loop(self, max_frames=None):
        io = self.io
        ch = self.chain
        x = ch.x
        out = ch.out
        out_r = ch.out_r
        stereo = ch.stereo
        P = self.period
        c = self.shared.counters
        cpu = self.shared.cpu_ns
        late = self.shared.late_frames
        avail = getattr(getattr(io, "capture", None), "avail", None)
        buffer_frames = P * int(self.cfg["audio"]["periods"])
        ring_in, ring_out, ring_out_r = self.shared.input, self.shared.output, self.shared.output_r
        ring_write = dsp.ring_write_block
        ring_send = self.shared.send
        send = dsp.send_block
        mask = sh.RING - 1
        perf = time.perf_counter_ns
        stop = self._stop
        hook = self.block_hook
        rt = self.go_realtime()
        c[sh.REALTIME] = int(rt)
        # No collector passes while the pedal plays: one holds the GIL for as long as it walks
        # (0.3-0.56 ms per preset switch measured on a 2-core guest, a third of a 64-frame
        # period) and the audio thread waits for it. The engine's commands leave no
        # reference cycles for it to find (tests/test_engine_gc.py), so refcounting frees all.
        gc.collect()
        gc.freeze()                             # what start-up built: never walked again
        collecting = gc.isenabled()
        gc.disable()
        try:
            io.prime()
            c[sh.RUNNING] = 1
            self.emit({"ev": "started", "realtime": rt})
            frames = 0
            blocks = 0
            while not stop.is_set():
                if hook is not None:
                    hook(frames)
                n = io.read(x)
                t0 = perf()
                # lateness: what the device had already delivered beyond this period when the
                # block started (an overrun: at least the whole buffer)
                waiting = avail() if avail is not None else 0
                if n == 0:
                    x.fill(0.0)                     # overrun: one period of silence
                    n = P
                    waiting = buffer_frames
                if c[sh.SEND_ON]:                   # a capture (firmware.capture.enginetake): its signal instead,
                    send(out, out_r, n, ring_send, frames, c[sh.SEND_END])    # and nothing else to compute
                else:
                    ch.process_block(n)
                # the raw input and the output (a capture's signal as sent), for the tuner, the
                # recorder and the capture on the control side
                ring_write(x, out, out_r, n, ring_in, ring_out, ring_out_r, frames, stereo)
                c[sh.INPUT_POS] = frames + n
                i = blocks & mask
                late[i] = waiting if waiting > 0 else 0
                cpu[i] = perf() - t0
                blocks += 1
                c[sh.BLOCKS] = blocks
                if stereo:
                    io.write(out, n, out_r)
                else:
                    io.write(out, n)
                frames += n
                c[sh.FRAMES] = frames
                if max_frames is not None and frames >= max_frames:
                    break
        finally:
            if collecting:
                gc.enable()       # an engine inside another process (simulate) gives it back

    # --- the process: commands from a pipe ----------------------------------------------
    def serve(self, rfd, sync_s=0.005):
        """Read command lines from file descriptor rfd until quit/EOF or the audio ends;
        sync the shared counters every sync_s."""
        import select

        from firmware.core.errors import MessageError
        from firmware.ipc.lines import LineReader
        reader = LineReader()
        while not self._stop.is_set():
            r, _, _ = select.select([rfd], [], [], sync_s)
            if r:
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break                       # the pedal went away: stop playing
                for msg in reader.feed(chunk):
                    try:
                        if isinstance(msg, MessageError):
                            raise msg
                        self.handle(msg)
                    except MessageError as e:
                        log.warning("engine: bad command: %s", e)
            self.sync()
        self.stop()
        if self.audio_thread is not None:
            self.audio_thread.join(2)
        self.sync()

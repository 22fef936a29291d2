"""Stomp: the drive slot's captured pedal, a second model in series before the amp model.

A TS9, a Klon, a fuzz: any model of the library (`.nam`, GuitarML, AIDA-X) played before
the amp, as players stack a pedal into an amp. Its own input trim and output level, a knob
for a conditioned capture (a GuitarML TS9 with its drive knob), its own click-free on/off.
With no capture set it passes the guitar through (the boost before it is the clean
alternative).

Loudness: the amp slot's models are levelled to the pedal's target loudness, a pedal
capture is not. A pedal capture maps the guitar's voltage to the pedal's output voltage, so
it plays at its own gain: engaging a capture of a unity-gain pedal leaves the level where
it was, a TS9 set hot raises it by what the real pedal does, never more. Its input is
calibrated like the amp's (the file's `input_level_dbu` against the interface's), and its
output converted back by the same gain, so the amp after it sees the interface's level.

Switching captures crossfades the two (`fade_ms`, as the amp slot); a model that produces
NaN/Inf is skipped (the guitar passes dry) and counted. The engine's command thread builds
the slot (firmware.dsp.chain.make_slot) and hands it over with `request(slot)`, a single
store; everything else happens here, on the audio thread, allocation-free.
"""
import math

import numpy as np
from numba import njit

from firmware.dsp.blocks.base import Block, Param, copy_into, ramp_toward

# state: smoothed trim gain, smoothed level gain, crossfade position 0..1
_TRIM, _LEVEL, _FADE = range(3)
BAD_A, BAD_B = 1, 2
FADE_MS = 30.0
KEEP = object()             # `pending` when no change is asked for (None asks for no capture)


@njit(cache=True, fastmath={"contract"})
def trim_into(x, y, n, trim_db, state, smooth):
    """y = x times the smoothed input trim."""
    tg = 10.0 ** (trim_db / 20.0)
    g = state[0]
    for i in range(n):
        g += (tg - g) * smooth
        y[i] = np.float32(x[i] * g)
    state[0] = g


@njit(cache=True, fastmath={"contract"})
def stomp_mix(x, ma, mb, model_a, model_b, fading, gain_a, gain_b, y, n, targets, state, ramp, ramp_step,
              smooth, fade_step):
    """y = x + ramp * (wet - x); wet = the playing path, crossfaded to the incoming one while
    `fading`. A path is a model's output (times its gain and the smoothed level) or, without a
    model, the dry input. A path with a NaN/Inf sample plays dry for the block (flag returned)."""
    flags = 0
    if model_a:
        for i in range(n):
            if not math.isfinite(ma[i]):
                flags |= BAD_A
                break
    if fading and model_b:
        for i in range(n):
            if not math.isfinite(mb[i]):
                flags |= BAD_B
                break
    use_a = model_a and not (flags & BAD_A)
    use_b = model_b and not (flags & BAD_B)
    tl = 10.0 ** (targets[2] / 20.0)
    lvl = state[1]
    f = state[2]
    for i in range(n):
        r = ramp_toward(ramp, targets[0], ramp_step)
        lvl += (tl - lvl) * smooth
        dry = np.float64(x[i])
        wa = ma[i] * gain_a * lvl if use_a else dry
        if fading:
            f = f + fade_step if f + fade_step < 1.0 else 1.0
            wb = mb[i] * gain_b * lvl if use_b else dry
            wet = wa + f * (wb - wa)
        else:
            wet = wa
        y[i] = np.float32(dry + r * (wet - dry))
    state[1] = lvl
    state[2] = f
    return flags


class Stomp(Block):
    NAME = "stomp"
    PARAMS = (
        Param("trim_db", -24.0, 24.0, 0.0, "dB", "input trim into the captured pedal"),
        Param("level_db", -24.0, 12.0, 0.0, "dB", "the captured pedal's output level"),
        Param("knob", 0.0, 1.0, 0.5, "", "a conditioned capture's knob (its drive)"),
    )
    N_STATE = 3

    def __init__(self, sample_rate, max_block, targets=None):
        super().__init__(sample_rate, max_block, targets)
        B = self.max_block
        self.xt = np.zeros(B, np.float32)      # after the trim
        self.xm = np.zeros(B, np.float32)      # one model's input (its calibration gain)
        self.ma = np.zeros(B, np.float32)
        self.mb = np.zeros(B, np.float32)
        self.fade_step = 1.0 / max(1.0, FADE_MS * 1e-3 * self.sample_rate)
        # the slots (firmware.dsp.chain.Slot): written by the engine's command thread only
        # through request(); the audio thread moves them along
        self.current = None
        self.incoming = None
        self.fading = False
        self.pending = KEEP
        self.retired = []               # slots done playing, freed by the command thread
        self.faults = 0
        self.fault_slot = None
        self.settle_state()
        self.ramp[0] = 1.0 if self.on else 0.0

    # --- the control side (the engine's command thread) -----------------------------------
    def request(self, slot):
        """Play `slot` (a prepared chain Slot) from the next block, crossfaded; None: no capture."""
        self.pending = slot

    def set_capture(self, slot):
        """Offline use (render): play `slot` from now on, no crossfade."""
        self.current = slot
        self.incoming = None
        self.fading = False
        self.pending = KEEP

    def slots_in_use(self):
        return tuple(s for s in (self.current, self.incoming, self.pending) if s is not None and s is not KEEP)

    # --- the audio side ---------------------------------------------------------------------
    def settle_state(self):
        self.state[_TRIM] = 10.0 ** (self.targets[1] / 20.0)
        self.state[_LEVEL] = 10.0 ** (self.targets[2] / 20.0)

    def resting(self):
        idle = self.current is None and self.incoming is None and self.pending is KEEP
        return idle or super().resting()

    def process(self, x, y, n):
        if self.resting():
            if self.current is None and self.incoming is None:
                # no capture: the block is the dry signal, on or off; its ramp follows the switch
                self.ramp[0] = 1.0 if self.on else 0.0
            if self.fading:             # a crossfade the off switch interrupted: nothing is heard, end it
                self._fade_done()
            pending = self.pending
            if pending is not KEEP:     # nothing audible to fade: the new capture takes its place now
                self.pending = KEEP
                if self.current is not None:
                    self.retired.append(self.current)
                self.current = pending
            if x is not y:
                copy_into(x, y, n)
            return
        self.run(x, y, n)

    def _fade_done(self):
        if self.current is not None:
            self.retired.append(self.current)   # list.append of an existing object: no new buffer
        self.current = self.incoming
        self.incoming = None
        self.fading = False

    def run(self, x, y, n):
        if self.incoming is None and not self.fading and self.pending is not KEEP:
            self.incoming = self.pending
            self.pending = KEEP
            self.fading = True
            self.state[_FADE] = 0.0
        a, b = self.current, self.incoming
        trim_into(x, self.xt, n, float(self.targets[1]), self.state, self.smooth)
        model_a = a is not None and not a.faulted
        model_b = self.fading and b is not None and not b.faulted
        if model_a:
            self._play(a, self.ma, n)
        if model_b:
            self._play(b, self.mb, n)
        flags = stomp_mix(x, self.ma, self.mb, model_a, model_b, self.fading,
                          a.out_gain if model_a else 1.0, b.out_gain if model_b else 1.0,
                          y, n, self.targets, self.state, self.ramp, self.ramp_step, self.smooth, self.fade_step)
        if flags & BAD_A:
            a.faulted = True
            self.fault_slot = a
            self.faults += 1
        if flags & BAD_B:
            b.faulted = True
            self.fault_slot = b
            self.faults += 1
        if self.fading and self.state[_FADE] >= 1.0:
            self._fade_done()

    def _play(self, slot, out, n):
        m = slot.model
        if slot.conditioned:
            m.knobs[0] = self.targets[3]
        src = self.xt
        if slot.in_gain != 1.0:
            scale(self.xt, self.xm, n, slot.in_gain)
            src = self.xm
        m.process(src, out, n)


@njit(cache=True)
def scale(x, y, n, g):
    for i in range(n):
        y[i] = np.float32(x[i] * g)

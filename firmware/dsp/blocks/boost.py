"""Boost: the drive slot's pedal when no capture is set, a clean boost into the amp model.

Clean gain with a tight high-pass in front, as players push an amp with a treble/clean
booster: the low end is cut before the gain so the amp model's distortion stays tight
instead of flubby. A second-order Butterworth high-pass (RBJ, Q 0.707) at `tight_hz`, then
`gain_db`. Both are smoothed per sample; the high-pass is redesigned only while its
frequency moves.
"""
import math

import numpy as np
from numba import njit

from firmware.dsp.blocks.base import Block, Param, ramp_toward

# state: smoothed gain (linear), smoothed frequency, z1, z2, b0, b1, b2, a1, a2
_GAIN, _FREQ, _Z1, _Z2, _B0, _B1, _B2, _A1, _A2 = range(9)


@njit(cache=True, fastmath={"contract"})
def _highpass(freq, rate, state):
    w0 = 2.0 * math.pi * freq / rate
    cw = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * 0.7071067811865476)
    a0 = 1.0 + alpha
    state[4] = (1.0 + cw) / 2.0 / a0
    state[5] = -(1.0 + cw) / a0
    state[6] = (1.0 + cw) / 2.0 / a0
    state[7] = -2.0 * cw / a0
    state[8] = (1.0 - alpha) / a0


@njit(cache=True, fastmath={"contract"})
def boost_block(x, y, n, targets, state, rate, ramp, ramp_step, smooth):
    tg = 10.0 ** (targets[1] / 20.0)
    tf = targets[2]
    for i in range(n):
        r = ramp_toward(ramp, targets[0], ramp_step)
        dry = np.float64(x[i])
        if r <= 0.0:
            y[i] = x[i]
            continue
        g = state[0] + (tg - state[0]) * smooth
        state[0] = g
        f = state[1]
        if f != tf:
            d = tf - f
            f = tf if abs(d) < 1e-3 else f + d * smooth
            state[1] = f
            _highpass(f, rate, state)
        out = state[4] * dry + state[2]
        z1 = state[5] * dry - state[7] * out + state[3]
        z2 = state[6] * dry - state[8] * out
        state[2] = z1 if abs(z1) > 1e-30 else 0.0
        state[3] = z2 if abs(z2) > 1e-30 else 0.0
        y[i] = dry + r * (out * g - dry)


class Boost(Block):
    NAME = "boost"
    PARAMS = (
        Param("gain_db", 0.0, 24.0, 9.0, "dB", "clean gain into the amp model"),
        Param("tight_hz", 20.0, 600.0, 120.0, "Hz", "high-pass before the gain: higher is tighter"),
    )
    N_STATE = 9

    def __init__(self, sample_rate, max_block, targets=None):
        super().__init__(sample_rate, max_block, targets)
        self.settle_state()
        self.ramp[0] = 1.0 if self.on else 0.0

    def settle_state(self):
        self.state[_GAIN] = 10.0 ** (self.targets[1] / 20.0)
        self.state[_FREQ] = self.targets[2]
        _highpass(float(self.targets[2]), float(self.sample_rate), self.state)

    def run(self, x, y, n):
        boost_block(x, y, n, self.targets, self.state, float(self.sample_rate), self.ramp, self.ramp_step,
                    self.smooth)

"""Tone stack: bass, middle, treble and presence, voiced as the NAM plugin's by default.

RBJ ("Audio EQ Cookbook") biquads in cascade. Knobs 0..1 with 0.5 flat; the NAM plugin's
knobs run 0..10 with 5 flat, so a setting copied from it is the same sound (knob / 10):

    bass      low shelf  150 Hz, Q 0.707, 4 dB per step (+-20 dB)        NAM's voicing
    middle    peak       425 Hz, Q 0.7 boosting / 1.5 cutting, 3 dB/step  NAM's voicing
    treble    high shelf 1800 Hz, Q 0.707, 2 dB per step (+-10 dB)        NAM's voicing
    presence  high shelf 4500 Hz, Q 0.707, 2 dB per step (+-10 dB)        ours, above treble

Each knob is smoothed per sample, and a band's coefficients are recomputed only while its
knob moves, so a still tone stack costs four biquads a sample. Position: after the amp model
and before the cabinet IR (post, the default, as the NAM plugin and Proteus have it), or
before the model (pre, as NeuralPi has it), where it shapes what the amp distorts.
"""
import math

import numpy as np
from numba import njit

from firmware.dsp.blocks.base import Block, Param, ramp_toward

LOW_SHELF, PEAK, HIGH_SHELF = 0, 1, 2
# (kind, frequency Hz, Q boosting, Q cutting, dB per step of a 0..10 knob)
BANDS = (
    (LOW_SHELF, 150.0, 0.707, 0.707, 4.0),
    (PEAK, 425.0, 0.7, 1.5, 3.0),
    (HIGH_SHELF, 1800.0, 0.707, 0.707, 2.0),
    (HIGH_SHELF, 4500.0, 0.707, 0.707, 2.0),
)
POSITIONS = ("post", "pre")

# per band in `state`: smoothed knob, z1, z2, b0, b1, b2, a1, a2
_BAND_STATE = 8
_KNOB, _Z1, _Z2, _B0, _B1, _B2, _A1, _A2 = range(_BAND_STATE)
# per band in `design`: kind, cos w0, sin w0, Q boosting, Q cutting, dB per step
_DESIGN = 6


def knob_to_db(knob, db_per_step):
    """A 0..1 knob (0.5 flat) as the band's gain: the NAM plugin's (10 * knob - 5) steps."""
    return db_per_step * (10.0 * knob - 5.0)


@njit(cache=True, fastmath={"contract"})
def _coefficients(design, k, knob, out, o):
    """RBJ biquad of band k at `knob`, normalised by a0, into out[o + B0 .. o + A2]."""
    kind = design[k, 0]
    cw = design[k, 1]
    sw = design[k, 2]
    db = design[k, 5] * (10.0 * knob - 5.0)
    q = design[k, 3] if db >= 0.0 else design[k, 4]
    alpha = sw / (2.0 * q)
    a = 10.0 ** (db / 40.0)
    if kind == 1:       # peak
        b0 = 1.0 + alpha * a
        b1 = -2.0 * cw
        b2 = 1.0 - alpha * a
        a0 = 1.0 + alpha / a
        a1 = -2.0 * cw
        a2 = 1.0 - alpha / a
    else:
        sa = 2.0 * math.sqrt(a) * alpha
        if kind == 0:   # low shelf
            b0 = a * ((a + 1.0) - (a - 1.0) * cw + sa)
            b1 = 2.0 * a * ((a - 1.0) - (a + 1.0) * cw)
            b2 = a * ((a + 1.0) - (a - 1.0) * cw - sa)
            a0 = (a + 1.0) + (a - 1.0) * cw + sa
            a1 = -2.0 * ((a - 1.0) + (a + 1.0) * cw)
            a2 = (a + 1.0) + (a - 1.0) * cw - sa
        else:           # high shelf
            b0 = a * ((a + 1.0) + (a - 1.0) * cw + sa)
            b1 = -2.0 * a * ((a - 1.0) + (a + 1.0) * cw)
            b2 = a * ((a + 1.0) + (a - 1.0) * cw - sa)
            a0 = (a + 1.0) - (a - 1.0) * cw + sa
            a1 = 2.0 * ((a - 1.0) - (a + 1.0) * cw)
            a2 = (a + 1.0) - (a - 1.0) * cw - sa
    out[o + 3] = b0 / a0
    out[o + 4] = b1 / a0
    out[o + 5] = b2 / a0
    out[o + 6] = a1 / a0
    out[o + 7] = a2 / a0


@njit(cache=True, fastmath={"contract"})
def tonestack_block(x, y, n, targets, state, design, ramp, ramp_step, smooth):
    nb = design.shape[0]
    for i in range(n):
        r = ramp_toward(ramp, targets[0], ramp_step)
        dry = np.float64(x[i])
        if r <= 0.0:
            y[i] = x[i]
            continue
        v = dry
        for k in range(nb):
            o = k * 8
            t = targets[1 + k]
            cur = state[o]
            if cur != t:
                d = t - cur
                cur = t if abs(d) < 1e-6 else cur + d * smooth
                state[o] = cur
                _coefficients(design, k, cur, state, o)
            out = state[o + 3] * v + state[o + 1]
            z1 = state[o + 4] * v - state[o + 6] * out + state[o + 2]
            z2 = state[o + 5] * v - state[o + 7] * out
            # flush what decays towards denormals after a loud note (they stall the FPU)
            state[o + 1] = z1 if abs(z1) > 1e-30 else 0.0
            state[o + 2] = z2 if abs(z2) > 1e-30 else 0.0
            v = out
        y[i] = dry + r * (v - dry)


class ToneStack(Block):
    NAME = "tonestack"
    PARAMS = (
        Param("bass", 0.0, 1.0, 0.5, "", "low shelf at 150 Hz, +-20 dB (0.5 flat)"),
        Param("mid", 0.0, 1.0, 0.5, "", "peak at 425 Hz, +-15 dB (0.5 flat)"),
        Param("treble", 0.0, 1.0, 0.5, "", "high shelf at 1.8 kHz, +-10 dB (0.5 flat)"),
        Param("presence", 0.0, 1.0, 0.5, "", "high shelf at 4.5 kHz, +-10 dB (0.5 flat)"),
    )
    DEFAULT_ON = True
    N_STATE = _BAND_STATE * len(BANDS)

    def __init__(self, sample_rate, max_block, targets=None, position="post"):
        if position not in POSITIONS:
            raise ValueError(f"tone stack position must be one of {', '.join(POSITIONS)}, not {position!r}")
        self.position = position
        super().__init__(sample_rate, max_block, targets)
        self.design = np.zeros((len(BANDS), _DESIGN))
        for k, (kind, freq, q_boost, q_cut, step) in enumerate(BANDS):
            w0 = 2.0 * math.pi * min(freq, 0.45 * self.sample_rate) / self.sample_rate
            self.design[k] = (kind, math.cos(w0), math.sin(w0), q_boost, q_cut, step)
        self.settle_state()
        self.ramp[0] = 1.0 if self.on else 0.0

    def settle_state(self):
        design = getattr(self, "design", None)
        if design is None:
            return
        for k in range(len(BANDS)):
            self.state[k * _BAND_STATE] = self.targets[1 + k]
            _coefficients(design, k, float(self.targets[1 + k]), self.state, k * _BAND_STATE)

    def run(self, x, y, n):
        tonestack_block(x, y, n, self.targets, self.state, self.design, self.ramp, self.ramp_step, self.smooth)

    def response_db(self, freqs):
        """The magnitude response (dB) at the settled knobs: for tests and the docs."""
        w = 2.0 * np.pi * np.asarray(freqs, float) / self.sample_rate
        z1 = np.exp(-1j * w)
        h = np.ones_like(z1)
        for k in range(len(BANDS)):
            b0, b1, b2, a1, a2 = self.state[k * _BAND_STATE + _B0:k * _BAND_STATE + _A2 + 1]
            h *= (b0 + b1 * z1 + b2 * z1 ** 2) / (1.0 + a1 * z1 + a2 * z1 ** 2)
        return 20.0 * np.log10(np.abs(h))

"""Circuits solved numerically, to stand in for a real amp in tests and quality measurements.

`DiodeClipper` is an overdrive pedal's core: a drive stage whose gain rises with frequency
(the high-pass feedback network of a Tube Screamer-style op-amp stage), then an RC low-pass
loaded by an asymmetric diode pair (one diode one way, two in series the other, so even
harmonics appear), then a tone low-pass. The diode node is an ODE

    C dv/dt = (u - v) / R - i_d(v),   i_d(v) = Is (e^{v / nVt} - 1) - Is (e^{-v / 2nVt} - 1)

solved by the trapezoidal rule with Newton's method per sample, at 2x oversampling. The
capacitor gives it memory: the clipping depends on the signal's recent past, which a
memoryless waveshaper cannot reproduce.
"""
import numpy as np
from numba import njit
from scipy import signal

THERMAL_VOLTAGE = 0.02585
DIODE_IS = 2.52e-9                # 1N4148
DIODE_N = 1.752


@njit(cache=True)
def _solve_diode_node(u, fs, r, c, i_s, nvt):
    """Trapezoidal rule + Newton on the diode node; returns the node voltage per sample."""
    out = np.empty_like(u)
    half_t = 0.5 / fs
    v = 0.0
    g_prev = 0.0
    for n in range(len(u)):
        un = u[n]
        x = v
        for _ in range(50):
            ef = np.exp(min(x / nvt, 80.0))
            er = np.exp(min(-x / (2 * nvt), 80.0))
            i_d = i_s * (ef - 1.0) - i_s * (er - 1.0)
            di_d = i_s * ef / nvt + i_s * er / (2 * nvt)
            g = ((un - x) / r - i_d) / c
            f = x - v - half_t * (g + g_prev)
            df = 1.0 + half_t * (1.0 / r + di_d) / c
            step = f / df
            step = max(-0.1, min(0.1, step))         # damped: the exponential overshoots
            x -= step
            if abs(step) < 1e-10:
                break
        ef = np.exp(min(x / nvt, 80.0))
        er = np.exp(min(-x / (2 * nvt), 80.0))
        g_prev = ((un - x) / r - (i_s * (ef - 1.0) - i_s * (er - 1.0))) / c
        v = x
        out[n] = x
    return out


class DiodeClipper:
    """An overdrive circuit with a drive knob in 0..1. Call it on float audio at `sample_rate`."""

    def __init__(self, drive=0.5, sample_rate=48000, resistance=2200.0, capacitance=22e-9,
                 emphasis_hz=720.0, tone_hz=4500.0, oversample=2):
        if not 0.0 <= drive <= 1.0:
            raise ValueError(f"drive must be within 0..1, got {drive}")
        self.drive, self.sample_rate, self.oversample = drive, sample_rate, oversample
        self.resistance, self.capacitance = resistance, capacitance
        self.emphasis_hz, self.tone_hz = emphasis_hz, tone_hz

    @property
    def gain(self):
        return 10 ** ((6 + 34 * self.drive) / 20)       # 6..40 dB, as a log pot sweeps it

    def __call__(self, x):
        x = np.asarray(x, np.float64)
        fs = self.sample_rate
        # Drive stage: unity for lows, + gain above the emphasis corner.
        b, a = signal.butter(1, self.emphasis_hz, "highpass", fs=fs)
        u = x + self.gain * signal.lfilter(b, a, x)
        if self.oversample > 1:     # linear-phase resampling: like an interface's converters
            u = signal.resample_poly(u, self.oversample, 1)
        v = _solve_diode_node(u, fs * self.oversample, self.resistance, self.capacitance,
                              DIODE_IS, DIODE_N * THERMAL_VOLTAGE)
        if self.oversample > 1:
            v = signal.resample_poly(v, 1, self.oversample)[:len(x)]
        b, a = signal.butter(1, self.tone_hz, "lowpass", fs=fs)
        v = signal.lfilter(b, a, v)
        b, a = signal.butter(1, 10.0, "highpass", fs=fs)     # output coupling capacitor
        return (0.6 * signal.lfilter(b, a, v)).astype(np.float32)   # diodes clamp at ~0.6 / 1.2 V

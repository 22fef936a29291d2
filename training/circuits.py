"""Circuits solved numerically, to stand in for a real amp in tests and quality measurements.

`DiodeClipper` is an overdrive pedal's core: a drive stage whose gain rises with frequency
(the high-pass feedback network of a Tube Screamer-style op-amp stage), then an RC low-pass
loaded by an asymmetric diode pair (one diode one way, two in series the other, so even
harmonics appear), then a tone low-pass. The diode node is an ODE

    C dv/dt = (u - v) / R - i_d(v),   i_d(v) = Is (e^{v / nVt} - 1) - Is (e^{-v / 2nVt} - 1)

solved by the trapezoidal rule with Newton's method per sample, at 2x oversampling. The
capacitor gives it memory: the clipping depends on the signal's recent past, which a
memoryless waveshaper cannot reproduce.

`TubeAmp` is more like an amp: two 12AX7 common-cathode stages (Koren's triode equations,
bypassed cathode, coupling capacitors onto grid leaks, grid current) into Fender's passive
bass/mid/treble stack. Each stage's three node voltages are solved per sample, at 4x
oversampling. The tubes clip one side by grid conduction and the other by cutoff, and
grid current charges the coupling capacitor during loud notes, shifting the bias of
what follows: asymmetric clipping with memory.
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


# --- a two-stage tube preamp ---------------------------------------------------------------
# 12AX7 by Koren's equations (mu, ex, kg1, kp, kvb as in his published SPICE model).
KOREN_12AX7 = (100.0, 1.4, 1060.0, 600.0, 300.0)
GRID_CONDUCTANCE = 1.0 / 1300.0         # grid current above the cathode: (softplus(k v) / k)^1.5 / 1300 ohm
GRID_SOFTNESS = 10.0                    # 1/V: how smoothly grid conduction starts


@njit(cache=True)
def _koren(vgk, vpk, mu, ex, kg1, kp, kvb):
    """Plate current and its derivatives by the grid-cathode and plate-cathode voltages."""
    s = np.sqrt(kvb + vpk * vpk)
    a = kp * (1.0 / mu + vgk / s)
    if a > 30.0:
        sp, sig = a, 1.0
    else:
        ea = np.exp(a)
        sp, sig = np.log1p(ea), ea / (1.0 + ea)
    e1 = vpk / kp * sp
    if e1 <= 0.0:
        return 0.0, 0.0, 0.0
    d_vgk = vpk * sig / s
    d_vpk = sp / kp - sig * vgk * vpk * vpk / (s * s * s)
    ip = e1 ** ex / kg1
    di = ex * e1 ** (ex - 1.0) / kg1
    return ip, di * d_vgk, di * d_vpk


@njit(cache=True)
def _grid_current(v):
    """Current into the grid when it rises above the cathode (a soft 3/2-power law)."""
    k = GRID_SOFTNESS
    x = k * v
    if x > 30.0:
        sp, sig = x, 1.0
    else:
        ex = np.exp(x)
        sp, sig = np.log1p(ex), ex / (1.0 + ex)
    base = sp / k
    return GRID_CONDUCTANCE * base ** 1.5, GRID_CONDUCTANCE * 1.5 * np.sqrt(base) * sig


@njit(cache=True)
def _solve_triode_stage(u, fs, supply, r_plate, r_cathode, c_cathode, c_coupling, r_grid, tube):
    """One common-cathode stage driven through a coupling capacitor, per sample.

    Unknowns: grid node G, cathode K, plate P. Kirchhoff at each, capacitors by the
    trapezoidal rule (companion currents), Newton's method on the 3x3 system:
        G: i_Cc - G / Rg - Ig(G - K) = 0                 (coupling cap in, grid leak, grid current)
        K: Ip + Ig - K / Rk - i_Ck = 0                   (cathode resistor and its bypass cap)
        P: (B - P) / Ra - Ip = 0                         (plate resistor)
    Grid current charges the coupling cap (bias shift after loud notes) and cutoff flattens
    the other side: clipping that is asymmetric and depends on the recent past."""
    mu, ex, kg1, kp, kvb = tube
    out = np.empty_like(u)
    gc, gk = 2.0 * c_coupling * fs, 2.0 * c_cathode * fs
    g, k, p = 0.0, 1.5, supply * 0.6
    vc_prev, ic_prev = u[0] - g, 0.0         # coupling cap voltage (u - G) and current
    vk_prev, ik_prev = k, 0.0                # cathode cap
    for n in range(len(u)):
        un = u[n]
        for _ in range(30):
            ic = gc * ((un - g) - vc_prev) - ic_prev
            ikc = gk * (k - vk_prev) - ik_prev
            ig, dig = _grid_current(g - k)
            ip, dip_g, dip_p = _koren(g - k, p - k, mu, ex, kg1, kp, kvb)
            f1 = ic - g / r_grid - ig
            f2 = ip + ig - k / r_cathode - ikc
            f3 = (supply - p) / r_plate - ip
            # Jacobian by (g, k, p); Ip depends on g - k and p - k.
            j11, j12, j13 = -gc - 1.0 / r_grid - dig, dig, 0.0
            j21, j22, j23 = dip_g + dig, -dip_g - dip_p - dig - 1.0 / r_cathode - gk, dip_p
            j31, j32, j33 = -dip_g, dip_g + dip_p, -1.0 / r_plate - dip_p
            det = j11 * (j22 * j33 - j23 * j32) - j12 * (j21 * j33 - j23 * j31) + j13 * (j21 * j32 - j22 * j31)
            if det == 0.0:
                break
            # Cramer's rule for J d = f
            dg = (f1 * (j22 * j33 - j23 * j32) - j12 * (f2 * j33 - j23 * f3) + j13 * (f2 * j32 - j22 * f3)) / det
            dk = (j11 * (f2 * j33 - j23 * f3) - f1 * (j21 * j33 - j23 * j31) + j13 * (j21 * f3 - f2 * j31)) / det
            dp = (j11 * (j22 * f3 - f2 * j32) - j12 * (j21 * f3 - f2 * j31) + f1 * (j21 * j32 - j22 * j31)) / det
            dg, dk, dp = max(-5.0, min(5.0, dg)), max(-5.0, min(5.0, dk)), max(-20.0, min(20.0, dp))
            g, k, p = g - dg, k - dk, p - dp
            if abs(dg) + abs(dk) + abs(dp) < 1e-9:
                break
        ic_prev = gc * ((un - g) - vc_prev) - ic_prev
        vc_prev = un - g
        ik_prev = gk * (k - vk_prev) - ik_prev
        vk_prev = k
        out[n] = p
    return out


def tone_stack(bass, mid, treble, sample_rate):
    """The passive bass/mid/treble network of Fender's Bassman ('59) as a digital filter
    (Yeh and Smith's transfer function, bilinear transform). Positions 0..1."""
    c1, c2, c3 = 250e-12, 20e-9, 20e-9
    r1, r2, r3, r4 = 250e3, 1e6, 25e3, 56e3
    t, m, l = treble, mid, bass
    b1 = t * c1 * r1 + m * c3 * r3 + l * (c1 * r2 + c2 * r2) + (c1 * r3 + c2 * r3)
    b2 = (t * (c1 * c2 * r1 * r4 + c1 * c3 * r1 * r4) - m * m * (c1 * c3 * r3 ** 2 + c2 * c3 * r3 ** 2)
          + m * (c1 * c3 * r1 * r3 + c1 * c3 * r3 ** 2 + c2 * c3 * r3 ** 2)
          + l * (c1 * c2 * r1 * r2 + c1 * c2 * r2 * r4 + c1 * c3 * r2 * r4)
          + l * m * (c1 * c3 * r2 * r3 + c2 * c3 * r2 * r3)
          + (c1 * c2 * r1 * r3 + c1 * c2 * r3 * r4 + c1 * c3 * r3 * r4))
    b3 = (l * m * (c1 * c2 * c3 * r1 * r2 * r3 + c1 * c2 * c3 * r2 * r3 * r4)
          - m * m * (c1 * c2 * c3 * r1 * r3 ** 2 + c1 * c2 * c3 * r3 ** 2 * r4)
          + m * (c1 * c2 * c3 * r1 * r3 ** 2 + c1 * c2 * c3 * r3 ** 2 * r4)
          + t * c1 * c2 * c3 * r1 * r3 * r4 - t * m * c1 * c2 * c3 * r1 * r3 * r4
          + t * l * c1 * c2 * c3 * r1 * r2 * r4)
    a1 = (c1 * r1 + c1 * r3 + c2 * r3 + c2 * r4 + c3 * r4) + m * c3 * r3 + l * (c1 * r2 + c2 * r2)
    a2 = (m * (c1 * c3 * r1 * r3 - c2 * c3 * r3 * r4 + c1 * c3 * r3 ** 2 + c2 * c3 * r3 ** 2)
          + l * m * (c1 * c3 * r2 * r3 + c2 * c3 * r2 * r3) - m * m * (c1 * c3 * r3 ** 2 + c2 * c3 * r3 ** 2)
          + l * (c1 * c2 * r2 * r4 + c1 * c2 * r1 * r2 + c1 * c3 * r2 * r4 + c2 * c3 * r2 * r4)
          + (c1 * c2 * r1 * r4 + c1 * c3 * r1 * r4 + c1 * c2 * r3 * r4 + c1 * c2 * r1 * r3
             + c1 * c3 * r3 * r4 + c2 * c3 * r3 * r4))
    a3 = (l * m * (c1 * c2 * c3 * r1 * r2 * r3 + c1 * c2 * c3 * r2 * r3 * r4)
          - m * m * (c1 * c2 * c3 * r1 * r3 ** 2 + c1 * c2 * c3 * r3 ** 2 * r4)
          + m * (c1 * c2 * c3 * r3 ** 2 * r4 + c1 * c2 * c3 * r1 * r3 ** 2 - c1 * c2 * c3 * r1 * r3 * r4)
          + l * c1 * c2 * c3 * r1 * r2 * r4 + c1 * c2 * c3 * r1 * r3 * r4)
    return signal.bilinear([b3, b2, b1, 0.0], [a3, a2, a1, 1.0], fs=sample_rate)


class TubeAmp:
    """Two 12AX7 common-cathode gain stages into a passive tone stack: an amp-like reference.

    Each stage: 250 V supply, 100k plate resistor, 1.5k cathode resistor bypassed by 22 uF,
    input through a 22 nF coupling capacitor onto a 1M grid leak; a gain pot between the
    stages (the drive knob, 0..1). Every stage is solved per sample (trapezoidal rule,
    Newton) at 4x oversampling; the Bassman tone stack follows. Guitar full scale is taken
    as 0.5 V at the first grid."""

    SUPPLY, R_PLATE, R_CATHODE, C_CATHODE, C_COUPLING, R_GRID = 250.0, 100e3, 1.5e3, 22e-6, 22e-9, 1e6
    INPUT_VOLTS = 0.5
    OUTPUT_SCALE = 1 / 150.0          # plate volts to digital full scale (the second stage swings ~ +-100 V)
    PREROLL_S = 0.4                   # silence first, so the capacitors sit at their operating point

    def __init__(self, drive=0.5, bass=0.5, mid=0.5, treble=0.6, sample_rate=48000, oversample=4):
        for name, value in (("drive", drive), ("bass", bass), ("mid", mid), ("treble", treble)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        self.drive, self.bass, self.mid, self.treble = drive, bass, mid, treble
        self.sample_rate, self.oversample = sample_rate, oversample

    @property
    def interstage(self):
        return 10 ** (-36 * (1 - self.drive) / 20)      # a log pot: -36 dB..0 dB

    def _stage(self, u, fs):
        return _solve_triode_stage(u, fs, self.SUPPLY, self.R_PLATE, self.R_CATHODE, self.C_CATHODE,
                                   self.C_COUPLING, self.R_GRID, KOREN_12AX7)

    def __call__(self, x):
        x = np.asarray(x, np.float64)
        fs, os_ = self.sample_rate, self.oversample
        pre = int(self.PREROLL_S * fs)
        u = np.concatenate([np.zeros(pre), x]) * self.INPUT_VOLTS
        if os_ > 1:
            u = signal.resample_poly(u, os_, 1)
        first = self._stage(u, fs * os_)
        second = self._stage(self.interstage * first, fs * os_)
        if os_ > 1:
            second = signal.resample_poly(second - second[pre * os_ - 1], 1, os_)
        else:
            second = second - second[pre - 1]
        b, a = tone_stack(self.bass, self.mid, self.treble, fs)
        # Inverting twice (two stages) keeps the polarity; the tone stack loses some level.
        y = signal.lfilter(b, a, second)[pre:pre + len(x)]
        return (self.OUTPUT_SCALE * y).astype(np.float32)

"""Reverb: a 16-line feedback delay network (FDN) behind a pre-delay and an input diffuser.

    x -> on/off fade -> pre-delay -> 4 series allpasses (the diffuser) -> 16 delay lines
         -> per-line damping filter and gain -> 16-point Hadamard matrix -> back into the lines

- **Lines**: 16 distinct primes (so mutually prime) spread geometrically over 25-100 ms at
  any sample rate; each line's length moves by up to +-0.15 ms (slow sines, 0.1-0.9 Hz, read
  with linear interpolation), which breaks up the fixed modes a static FDN rings at (the
  metallic colour) and adds well under 2 cents of pitch wobble.
- **Feedback**: the fast Walsh-Hadamard transform, scaled by 1/4: orthogonal (lossless) and
  every line feeds every other, so the echo density multiplies by 16 each pass.
- **Decay** (`decay_s`): RT60 at 1 kHz. Line i of length d_i samples gets the gain
  g_i = 10^(-3 d_i / (T60 fs)) (Jot): every line loses 60 dB in T60 whatever its length.
- **Tone** (`tone`): the ratio of the RT60 at the top of the band (Nyquist) to the one at
  1 kHz, alpha = 0.1 * 10^tone: 0 is dark (the top dies 10x faster than the middle), 0.5
  about 1/3, 1 flat (bright; only the interpolation's slight loss). A one-pole low-pass per
  line does it, its pole b_i = (1 - r_i) / (1 + r_i) from the gain r_i = g_i^(1/alpha - 1) it
  must add at Nyquist (capped at 0.9); its gain is then lifted so that the loss at 1 kHz is
  g_i exactly (below 1 kHz the decay is at most twice as long: a little more body, as rooms have).
- **Pre-delay** (`predelay_ms`): the gap between the dry sound and the first of the reverb:
  the diffuser's output is heard at once (the early part), the lines' from 25 ms on.
- **Mix**: y = x + mix * wet, the dry at unity (so mix 0 is the dry signal, bit for bit).

Every parameter is smoothed per sample: mix and pre-delay as values (a moving pre-delay glides
like a tape delay's time, no click); decay and tone set per-line targets once per change and
the line gains glide to them per sample. On/off fades the reverb's input (TRAILS): switched
off, the tail rings out; once it is below -120 dB for longer than it takes anything left to
come out, the lines are cleared and the block costs nothing until switched on again.

Delay memory is float32 (the tail's rounding stays near -140 dB): half the cache a Pi 4 shares
with the amp model. A `seed` at construction picks other primes, modulation phases and signs:
two reverbs with different seeds are decorrelated (the left and right of a wide reverb).
"""
import math

import numpy as np
from numba import njit

from firmware.dsp.blocks.base import Block, Param, copy_into, ramp_toward

N_LINES = 16                    # a power of two (the Hadamard transform)
LINE_MS = (25.0, 100.0)         # shortest and longest line
MOD_MS = 0.15                   # line-length modulation depth, each way
MOD_HZ = (0.13, 0.29, 0.53, 0.87)   # four slow sines (cos and sin of each: eight signals)
# the diffuser: series allpasses (ms, gain)
DIFFUSER = ((1.31, 0.7), (2.03, 0.7), (3.07, 0.7), (4.61, 0.7), (6.97, 0.7), (10.3, 0.7))
PREDELAY_MAX_MS = 200.0
MID_HZ = 1000.0                 # where decay_s is the RT60
POLE_MAX = 0.9                  # the darkest a line's low-pass gets
EARLY_GAIN = 0.35               # the diffuser's output in the wet (the early part)
LATE_GAIN = 0.5 / math.sqrt(N_LINES)    # the lines' sum: a 2 s tail about as loud as the dry
QUIET = 1e-12                   # -120 dB (energy): the tail counts as gone
FLUSH = 1e-30                   # memories below this are zeroed (denormals stall the FPU)

# state (float64): smoothed values, bookkeeping, four LFO phasors, then per line
_MIX, _PRE, _DECAY_AT, _TONE_AT, _GLIDE, _QUIET, _IDLE = range(7)
_LFO = 8                        # cos, sin of each phasor
_LINE = _LFO + 2 * len(MOD_HZ)  # per line: gain a, pole b, filter memory s, target a, target b
_A, _B, _S, _TA, _TB = range(5)
# design (float64, per line): nominal delay (samples), modulation depth (signed), LFO signal,
# input sign, output sign
_D, _MOD, _SRC, _IN, _OUT = range(5)
# regions of the delay memory, in `geo` (offset, length) and `ptr` (write position)
_PREDELAY = 0
_AP = 1
_LINES = _AP + len(DIFFUSER)
CHUNK = 64                      # samples the lines take at a time (shorter than any line)
# per-chunk scratch rows (`vec`): diffused input, mix, the lines' sum, their energy, LFOs at the start
_U, _MIXV, _LATE, _ENERGY, _LFO0 = range(5)


@njit(cache=True, fastmath={"contract"})
def _line_targets(decay_s, tone, design, rate, state):
    """The per-line gain and pole targets for an RT60 of decay_s at 1 kHz and a tone 0..1."""
    alpha = 0.1 * 10.0 ** tone
    w = 2.0 * math.pi * MID_HZ / rate
    cw = math.cos(w)
    sw = math.sin(w)
    for k in range(N_LINES):
        g = 10.0 ** (-3.0 * design[k, _D] / (decay_s * rate))
        r = g ** (1.0 / alpha - 1.0)
        b = (1.0 - r) / (1.0 + r)
        if b > POLE_MAX:
            b = POLE_MAX
        # the low-pass (1 - b) / (1 - b z^-1) at 1 kHz, compensated (the DC gain capped at sqrt g)
        mag = (1.0 - b) / math.sqrt((1.0 - b * cw) ** 2 + (b * sw) ** 2)
        dc = g / mag
        if dc > math.sqrt(g):
            dc = math.sqrt(g)
        o = _LINE + 5 * k
        state[o + _TA] = dc * (1.0 - b)
        state[o + _TB] = b


@njit(cache=True, fastmath={"contract"})
def _clear(buf, state):
    buf[:] = 0.0
    for k in range(N_LINES):
        state[_LINE + 5 * k + _S] = 0.0


@njit(cache=True, fastmath={"contract"})
def _input(x, i0, m, r_on, state, lfo_step, buf, geo, ptr, rate, t_pre, t_mix, ramp, ramp_step, smooth, vec):
    """A chunk's input path, sample by sample: on/off fade, pre-delay, diffuser; the smoothed mix
    and the LFOs. Leaves the diffused input in vec[_U] and the mix in vec[_MIXV]."""
    p_off = geo[_PREDELAY, 0]
    p_len = geo[_PREDELAY, 1]
    for i in range(m):
        r = ramp_toward(ramp, r_on, ramp_step)
        mix = state[_MIX]
        if mix != t_mix:
            d = t_mix - mix
            mix = t_mix if abs(d) < 1e-6 else mix + d * smooth
            state[_MIX] = mix
        vec[_MIXV, i] = mix
        pre = state[_PRE]
        if pre != t_pre:
            d = t_pre - pre
            pre = t_pre if abs(d) < 1e-3 else pre + d * smooth
            state[_PRE] = pre
        # pre-delay (written first: a pre-delay of 0 reads this very sample), interpolated
        p = ptr[_PREDELAY]
        v = np.float64(x[i0 + i]) * r
        buf[p_off + p] = v if abs(v) > FLUSH else 0.0
        u = v
        if pre > 0.0:
            k = int(pre)
            f = pre - k
            j0 = p - k
            if j0 < 0:
                j0 += p_len
            j1 = j0 - 1
            if j1 < 0:
                j1 += p_len
            u = (1.0 - f) * buf[p_off + j0] + f * buf[p_off + j1]
        p += 1
        ptr[_PREDELAY] = p if p < p_len else 0
        # the diffuser: Schroeder allpasses, w = u + g w[-L], out = w[-L] - g w
        for a in range(len(DIFFUSER)):
            off = geo[_AP + a, 0]
            q = ptr[_AP + a]
            g = DIFFUSER[a][1]
            old = np.float64(buf[off + q])
            w = u + g * old
            buf[off + q] = w if abs(w) > FLUSH else 0.0
            u = old - g * w
            q += 1
            ptr[_AP + a] = q if q < geo[_AP + a, 1] else 0
        vec[_U, i] = u
        for j in range(len(MOD_HZ)):
            c = state[_LFO + 2 * j]
            sn = state[_LFO + 2 * j + 1]
            state[_LFO + 2 * j] = c * lfo_step[j, 0] - sn * lfo_step[j, 1]
            state[_LFO + 2 * j + 1] = c * lfo_step[j, 1] + sn * lfo_step[j, 0]


@njit(cache=True, fastmath={"contract"})
def reverb_block(x, y, n, targets, state, design, lfo_step, buf, geo, ptr, work, vec, rate,
                 ramp, ramp_step, smooth, drain):
    on = targets[0] > 0.5
    if on:
        state[_IDLE] = 0.0
        state[_QUIET] = 0.0
    elif state[_IDLE] > 0.0 and ramp[0] <= 0.0:
        for i in range(n):
            y[i] = x[i]
        return
    if targets[1] != state[_DECAY_AT] or targets[3] != state[_TONE_AT]:
        _line_targets(targets[1], targets[3], design, rate, state)
        state[_DECAY_AT] = targets[1]
        state[_TONE_AT] = targets[3]
        state[_GLIDE] = 10.0 / smooth           # ten time constants, then snap
    t_pre = targets[2] * 1e-3 * rate
    t_mix = targets[4]
    chunk = work.shape[0]
    for i0 in range(0, n, chunk):
        m = min(chunk, n - i0)
        # keep the LFO phasors on the unit circle (the rotation's rounding would drift)
        for j in range(len(MOD_HZ)):
            c = state[_LFO + 2 * j]
            sn = state[_LFO + 2 * j + 1]
            g = 1.5 - 0.5 * (c * c + sn * sn)
            state[_LFO + 2 * j] = c * g
            state[_LFO + 2 * j + 1] = sn * g
            vec[_LFO0, 2 * j] = c * g
            vec[_LFO0, 2 * j + 1] = sn * g
        _input(x, i0, m, targets[0], state, lfo_step, buf, geo, ptr, rate, t_pre, t_mix, ramp, ramp_step,
               smooth, vec)
        draining = not on and ramp[0] <= 0.0
        gliding = state[_GLIDE] > 0.0
        # the lines, one at a time over the chunk (the shortest line is longer than a chunk,
        # so every sample read here was written before it): read, damp
        for k in range(N_LINES):
            o = _LINE + 5 * k
            src = int(design[k, _SRC])
            d0 = design[k, _D] + design[k, _MOD] * vec[_LFO0, src]
            d1 = design[k, _D] + design[k, _MOD] * state[_LFO + src]
            step = 1.0 - (d1 - d0) / m          # the read position moves a little off 1 a sample
            off = geo[_LINES + k, 0]
            length = geo[_LINES + k, 1]
            pos = ptr[_LINES + k] - d0
            if pos < 0.0:
                pos += length
            a = state[o + _A]
            b = state[o + _B]
            sk = state[o + _S]
            row = work[k]
            if gliding:
                ta = state[o + _TA]
                tb = state[o + _TB]
                for i in range(m):
                    j = int(pos)
                    f = pos - j
                    j1 = j + 1 if j + 1 < length else 0
                    out = (1.0 - f) * buf[off + j] + f * buf[off + j1]
                    pos += step
                    if pos >= length:
                        pos -= length
                    a += (ta - a) * smooth
                    b += (tb - b) * smooth
                    sk = b * sk + a * out
                    row[i] = sk
                state[o + _A] = a
                state[o + _B] = b
            else:
                for i in range(m):
                    j = int(pos)
                    f = pos - j
                    j1 = j + 1 if j + 1 < length else 0
                    out = (1.0 - f) * buf[off + j] + f * buf[off + j1]
                    pos += step
                    if pos >= length:
                        pos -= length
                    sk = b * sk + a * out
                    row[i] = sk
            state[o + _S] = sk if abs(sk) > FLUSH else 0.0
        # what is heard: the lines' sum (their energy too, while the tail drains)
        late = vec[_LATE]
        for i in range(m):
            late[i] = 0.0
        for k in range(N_LINES):
            sign = design[k, _OUT]
            row = work[k]
            for i in range(m):
                late[i] += sign * row[i]
        if draining:
            energy = vec[_ENERGY]
            for i in range(m):
                energy[i] = 0.0
            for k in range(N_LINES):
                row = work[k]
                for i in range(m):
                    energy[i] += row[i] * row[i]
        # feedback: the Hadamard matrix across the lines (butterflies over the whole chunk),
        # plus the diffused input, written back
        for h in (1, 2, 4, 8):
            for q in range(8):
                j = (q // h) * 2 * h + q % h
                r0 = work[j]
                r1 = work[j + h]
                for i in range(m):
                    a0 = r0[i]
                    a1 = r1[i]
                    r0[i] = a0 + a1
                    r1[i] = a0 - a1
        u = vec[_U]
        for k in range(N_LINES):
            off = geo[_LINES + k, 0]
            length = geo[_LINES + k, 1]
            q = ptr[_LINES + k]
            gin = design[k, _IN]
            row = work[k]
            first = min(m, length - q)          # up to the end of the line, then from its start
            for i in range(first):
                w = 0.25 * row[i] + gin * u[i]
                buf[off + q + i] = w if abs(w) > FLUSH else 0.0
            for i in range(first, m):
                w = 0.25 * row[i] + gin * u[i]
                buf[off + q + i - length] = w if abs(w) > FLUSH else 0.0
            q += m
            ptr[_LINES + k] = q if q < length else q - length
        if gliding:
            state[_GLIDE] -= m
            if state[_GLIDE] <= 0.0:
                state[_GLIDE] = 0.0
                for k in range(N_LINES):
                    state[_LINE + 5 * k + _A] = state[_LINE + 5 * k + _TA]
                    state[_LINE + 5 * k + _B] = state[_LINE + 5 * k + _TB]
        for i in range(m):
            y[i0 + i] = np.float64(x[i0 + i]) + vec[_MIXV, i] * (EARLY_GAIN * vec[_U, i] + LATE_GAIN * vec[_LATE, i])
        # off and faded: count how long everything has been below -120 dB, then go idle
        if draining:
            quiet = True
            for i in range(m):
                if vec[_ENERGY, i] >= QUIET or vec[_U, i] * vec[_U, i] >= QUIET:
                    quiet = False
            state[_QUIET] = state[_QUIET] + m if quiet else 0.0
            if state[_QUIET] > drain:
                _clear(buf, state)
                state[_IDLE] = 1.0
                for i in range(i0 + m, n):
                    y[i] = x[i]
                return


def _primes_near(targets):
    """Distinct primes, each the nearest free one to its target (distinct primes are mutually prime)."""
    out = []
    for t in targets:
        for step in range(0, 10 * int(t) + 10):
            found = False
            for c in (int(round(t)) + step, int(round(t)) - step):
                if c > 2 and c not in out and all(c % q for q in range(2, int(c ** 0.5) + 1)):
                    out.append(c)
                    found = True
                    break
            if found:
                break
    return out


class Reverb(Block):
    NAME = "reverb"
    PARAMS = (
        Param("decay_s", 0.3, 10.0, 2.0, "s", "RT60 at 1 kHz: the time the tail takes to fall 60 dB"),
        Param("predelay_ms", 0.0, PREDELAY_MAX_MS, 10.0, "ms", "the gap before the reverb starts"),
        Param("tone", 0.0, 1.0, 0.5, "", "damping: 0 dark (the top decays 10x faster), 1 bright"),
        Param("mix", 0.0, 1.0, 0.2, "", "the reverb added to the dry signal (dry stays at unity)"),
    )
    DEFAULT_ON = False
    TRAILS = True
    N_STATE = _LINE + 5 * N_LINES

    def __init__(self, sample_rate, max_block, targets=None, seed=0):
        super().__init__(sample_rate, max_block, targets)
        rate = float(self.sample_rate)
        rng = np.random.default_rng(0x5EB + int(seed))
        # line lengths: geometric over 25-100 ms, jittered by the seed (not for seed 0)
        lo, hi = (ms * 1e-3 * rate for ms in LINE_MS)
        nominal = lo * (hi / lo) ** (np.arange(N_LINES) / (N_LINES - 1))
        if seed:
            nominal = nominal * (1.0 + rng.uniform(-0.04, 0.04, N_LINES))
        delays = np.array(_primes_near(nominal), float)
        depth = MOD_MS * 1e-3 * rate
        self.design = np.zeros((N_LINES, 5))
        self.design[:, _D] = delays
        self.design[:, _MOD] = depth * np.where(np.arange(N_LINES) % 2, -1.0, 1.0)
        self.design[:, _SRC] = rng.permutation(np.arange(N_LINES) % (2 * len(MOD_HZ)))
        self.design[:, _IN] = rng.choice((-1.0, 1.0), N_LINES)
        self.design[:, _OUT] = rng.choice((-1.0, 1.0), N_LINES)
        self.lfo_step = np.array([(math.cos(2 * math.pi * f / rate), math.sin(2 * math.pi * f / rate))
                                  for f in MOD_HZ])
        self.lfo_phase = rng.uniform(0.0, 2 * math.pi, len(MOD_HZ))
        # the delay memory: pre-delay, the diffuser's allpasses, the lines (with room to move)
        ap = _primes_near([ms * 1e-3 * rate * (1.0 + (rng.uniform(-0.05, 0.05) if seed else 0.0))
                           for ms, _ in DIFFUSER])
        lengths = ([int(math.ceil(PREDELAY_MAX_MS * 1e-3 * rate)) + 2] + ap
                   + [int(d + depth) + 2 for d in delays])
        self.geo = np.zeros((len(lengths), 2), np.int64)
        self.geo[:, 1] = lengths
        self.geo[1:, 0] = np.cumsum(lengths)[:-1]
        self.buf = np.zeros(int(np.sum(lengths)), np.float32)
        self.ptr = np.zeros(len(lengths), np.int64)
        if delays[0] - depth - 2 < CHUNK:
            raise ValueError(f"reverb: {self.sample_rate} Hz is too low a sample rate")
        self.work = np.zeros((N_LINES, CHUNK))
        self.vec = np.zeros((5, CHUNK))
        # off: how long everything must stay quiet before the lines are cleared (all of it
        # has come out by then: the pre-delay, the diffuser and the longest line)
        self.drain = float(np.sum(lengths))
        self.reset()
        self.ramp[0] = 1.0 if self.on else 0.0

    def reset(self):
        self.buf[:] = 0.0
        self.ptr[:] = 0
        self.state[:] = 0.0
        for j, phase in enumerate(self.lfo_phase):
            self.state[_LFO + 2 * j] = math.cos(phase)
            self.state[_LFO + 2 * j + 1] = math.sin(phase)
        self.state[_IDLE] = 1.0                 # empty lines: nothing to ring out
        self.settle_state()

    def settle_state(self):
        if getattr(self, "design", None) is None:
            return
        self.state[_PRE] = self.targets[2] * 1e-3 * self.sample_rate
        self.state[_MIX] = self.targets[4]
        _line_targets(float(self.targets[1]), float(self.targets[3]), self.design, float(self.sample_rate),
                      self.state)
        self.state[_DECAY_AT] = self.targets[1]
        self.state[_TONE_AT] = self.targets[3]
        self.state[_GLIDE] = 0.0
        for k in range(N_LINES):
            o = _LINE + 5 * k
            self.state[o + _A] = self.state[o + _TA]
            self.state[o + _B] = self.state[o + _TB]

    @property
    def idle(self):
        """Off, faded and rung out: process costs nothing."""
        return bool(self.state[_IDLE] > 0.0)

    def process(self, x, y, n):
        if self.targets[0] <= 0.5 and self.ramp[0] <= 0.0 and self.state[_IDLE] > 0.0:
            if x is not y:
                copy_into(x, y, n)
            return
        reverb_block(x, y, n, self.targets, self.state, self.design, self.lfo_step, self.buf, self.geo,
                     self.ptr, self.work, self.vec, float(self.sample_rate), self.ramp, self.ramp_step, self.smooth,
                     self.drain)

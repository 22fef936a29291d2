"""Reverb: a 16-line feedback delay network (FDN) behind a pre-delay and an input diffuser.

    x -> on/off fade -> pre-delay -> 6 series allpasses (the diffuser) -> 16 delay lines
         -> per-line damping filter and gain -> 16-point Hadamard matrix -> back into the lines
    y = x + mix * (early * diffused input + late * signed sum of the lines)

- **Lines**: 16 distinct primes (so mutually prime) spread geometrically over 25-100 ms at
  any sample rate; each line's length moves by up to +-0.3 ms (eight slow sines, 0.21-0.97
  Hz, read with linear interpolation), which smears the fixed modes a static FDN rings at
  (its metallic colour: some thirty times fewer narrow peaks in a long tail's spectrum) for
  at most 3.5 cents of pitch drift on one line, a faint chorus across the sixteen.
- **Feedback**: the fast Walsh-Hadamard transform scaled by 1/4: orthogonal (lossless), every
  line feeds every other, so the echo density multiplies by 16 each pass. The lines' input and
  output signs are bent sequences (flat in the Hadamard domain): the lines' lengths show least
  in the tail's autocorrelation (by a quarter against random signs).
- **Diffuser**: six Schroeder allpasses of 0.5-3.9 ms (gain 0.6) in front smear the attack into
  noise before it reaches the lines: the reverb is noise-like from its first 20 ms. Longer
  allpasses would ring on as a flutter at their length (seen in the tail's autocorrelation).
- **Decay** (`decay_s`): the RT60 at 1 kHz. Line i of length d_i samples loses
  g_i = 10^(-3 d_i / (T60 fs)) a pass (Jot): 60 dB in T60 whatever its length.
- **Tone** (`tone`): sets alpha = RT60 at Nyquist / RT60 at 1 kHz = 0.1 * 10^tone: tone 0 is
  dark (the top dies 10x faster than the middle), 0.5 about 3x faster, 1 bright (no damping
  but the interpolation's slight loss). A one-pole low-pass per line does it: its pole
  b_i = (1 - r_i) / (1 + r_i) from the loss r_i = g_i^(1/alpha - 1) it must add at Nyquist
  (capped at 0.9), its gain lifted so that the loss at 1 kHz stays g_i (below 1 kHz the decay
  runs at most twice as long: a little more body, as rooms have).
- **Pre-delay** (`predelay_ms`): the gap between the dry sound and the reverb's first sound
  (the diffuser's output is heard at once, the lines' from 25 ms on), in whole samples. A new
  value crossfades from the old one over 20 ms (a gliding delay would sweep the pitch).
- **Mix**: y = x + mix * wet, the dry at unity: mix 0 is the dry signal, bit for bit. At mix 1
  the wet of steady noise sits about 3 dB under the dry at a 2 s decay (level near 5 s).

Every parameter moves smoothly, per sample: the mix as a value, the pre-delay by a crossfade;
a decay or tone change sets new per-line targets once (at the next 64-sample grid point), and
the line gains and poles glide to them per sample. On/off fades the reverb's input (TRAILS):
switched off, the tail rings out; once it has been below -120 dB for as long as anything left
takes to come out, the lines are cleared and the block costs nothing until it is switched on
again.

The kernel takes the lines a chunk of 64 samples at a time, one line after another (the
shortest line is far longer than a chunk, so all it reads was written before the chunk),
which keeps the per-sample work in short loops over contiguous rows. The chunks lie on a fixed
grid of the sample count, and what moves per chunk (the LFOs, the gains' glide) is linear
between grid points, so the output does not depend on the block size. Delay memory is float32
(its rounding stays near -140 dB), half the cache a Pi 4 shares with the amp model. A `seed`
at construction picks other primes, modulation phases and signs: two reverbs with different
seeds are decorrelated (the left and right of a wide reverb).
"""
import math

import numpy as np
from numba import njit

from firmware.dsp.blocks.base import Block, Param, ramp_toward

N_LINES = 16                    # a power of two (the Hadamard transform)
LINE_MS = (25.0, 100.0)         # the shortest and the longest line
MOD_MS = 0.3                    # line-length modulation depth, each way
MOD_HZ = (0.21, 0.37, 0.61, 0.97)   # four phasors: their cos and sin are eight slow sines
# the diffuser: series allpasses (ms, gain); short, so that their own ringing (a comb's flutter
# at the longest one's length) is over in ~50 ms, before the tail
DIFFUSER = ((0.53, 0.6), (0.79, 0.6), (1.19, 0.6), (1.73, 0.6), (2.61, 0.6), (3.89, 0.6))
DECAY_S = (0.3, 10.0)
PREDELAY_MAX_MS = 200.0
PREDELAY_FADE_MS = 20.0         # a new pre-delay crossfades from the old one (no pitch sweep)
MID_HZ = 1000.0                 # where decay_s is the RT60
POLE_MAX = 0.9                  # the darkest a line's low-pass gets
EARLY_GAIN = 0.3                # the diffuser's output in the wet (the early part)
LATE_GAIN = 0.7 / math.sqrt(N_LINES)    # the lines' sum
QUIET = 1e-12                   # -120 dB (energy): the tail counts as gone
FLUSH = 1e-30                   # memories below this are zeroed (denormals stall the FPU)
CHUNK = 64                      # samples the lines take at a time (shorter than any line)

# state (float64): smoothed values, bookkeeping, the LFOs, then per line
_MIX, _PRE, _PRE_TO, _FADE, _DECAY_AT, _TONE_AT, _GLIDE, _QUIET, _IDLE, _PHASE = range(10)
_PHASOR = 10                    # cos, sin of each LFO phasor, at the next grid point
_L0 = _PHASOR + 2 * len(MOD_HZ)     # the eight LFO signals at the current grid point...
_L1 = _L0 + 2 * len(MOD_HZ)         # ... and at the next
_LINE = _L1 + 2 * len(MOD_HZ)
# per line: gain a and pole b at the current grid point and at the next, the filter's memory,
# the targets of a and b
_A0, _B0, _A1, _B1, _S, _TA, _TB = range(7)
_PER_LINE = 7
# design (float64): a row per line (nominal delay in samples, signed modulation depth, its
# LFO signal, input sign, output sign), then a row per phasor (its rotation over one chunk)
_D, _MOD, _SRC, _IN, _OUT = range(5)
_ROT = N_LINES
# geo (int64): a row per region of the delay memory: offset, length, write position
_OFF, _LEN, _PTR = range(3)
_PREDELAY = 0
_AP = 1
_LINES = _AP + len(DIFFUSER)
# scratch (float64): a row per line (its chunk), then the diffused input, the mix, the lines'
# sum and their energy
_U, _MIXV, _LATE, _ENERGY = range(N_LINES, N_LINES + 4)


@njit(cache=True, fastmath={"contract"})
def _line_targets(decay_s, tone, design, rate, state):
    """The per-line gain and pole targets for an RT60 of decay_s at 1 kHz and a tone 0..1."""
    # kept in range here too: the targets are a shared array, and the audio thread must not fail
    decay_s = min(max(decay_s, DECAY_S[0]), DECAY_S[1])
    alpha = 0.1 * 10.0 ** min(max(tone, 0.0), 1.0)
    w = 2.0 * math.pi * MID_HZ / rate
    cw = math.cos(w)
    sw = math.sin(w)
    per_sample = -3.0 * math.log(10.0) / (decay_s * rate)      # ln of the gain a sample
    for k in range(N_LINES):
        ln_g = per_sample * design[k, _D]
        g = math.exp(ln_g)
        r = math.exp(ln_g * (1.0 / alpha - 1.0))
        b = min((1.0 - r) / (1.0 + r), POLE_MAX)
        # the low-pass (1 - b) / (1 - b z^-1) at 1 kHz, made up for (its DC gain at most sqrt g)
        mag = (1.0 - b) / math.sqrt((1.0 - b * cw) ** 2 + (b * sw) ** 2)
        dc = min(g / mag, math.exp(0.5 * ln_g))
        o = _LINE + _PER_LINE * k
        state[o + _TA] = dc * (1.0 - b)
        state[o + _TB] = b


@njit(cache=True, fastmath={"contract"})
def _clear(buf, state):
    buf[:] = 0.0
    for k in range(N_LINES):
        state[_LINE + _PER_LINE * k + _S] = 0.0


@njit(cache=True, fastmath={"contract"})
def _grid_point(targets, state, design, rate, smooth):
    """At every CHUNK-th sample: take up a decay or tone change, move the line gains and
    poles one chunk along their glide (the exact one-pole there; linear in between), and the
    LFOs one chunk along."""
    if targets[1] != state[_DECAY_AT] or targets[3] != state[_TONE_AT]:
        _line_targets(targets[1], targets[3], design, rate, state)
        state[_DECAY_AT] = targets[1]
        state[_TONE_AT] = targets[3]
        state[_GLIDE] = 10.0 / smooth           # ten time constants, then snap
    glide = 0.0
    if state[_GLIDE] > 0.0:
        glide = 1.0 - (1.0 - smooth) ** CHUNK
        state[_GLIDE] -= CHUNK
        if state[_GLIDE] <= 0.0:
            state[_GLIDE] = 0.0
            glide = 1.0
    for k in range(N_LINES):
        o = _LINE + _PER_LINE * k
        state[o + _A0] = state[o + _A1]
        state[o + _B0] = state[o + _B1]
        state[o + _A1] += (state[o + _TA] - state[o + _A1]) * glide
        state[o + _B1] += (state[o + _TB] - state[o + _B1]) * glide
    for j in range(len(MOD_HZ)):
        c = state[_PHASOR + 2 * j]
        s = state[_PHASOR + 2 * j + 1]
        g = 1.5 - 0.5 * (c * c + s * s)         # back onto the unit circle (rotations drift)
        c *= g
        s *= g
        state[_L0 + 2 * j] = state[_L1 + 2 * j]
        state[_L0 + 2 * j + 1] = state[_L1 + 2 * j + 1]
        state[_L1 + 2 * j] = c
        state[_L1 + 2 * j + 1] = s
        state[_PHASOR + 2 * j] = c * design[_ROT + j, 0] - s * design[_ROT + j, 1]
        state[_PHASOR + 2 * j + 1] = c * design[_ROT + j, 1] + s * design[_ROT + j, 0]


@njit(cache=True, fastmath={"contract"})
def _input(x, i0, m, on, state, buf, geo, scratch, t_pre, t_mix, ramp, ramp_step, smooth, fade_step):
    """m samples of the input path, sample by sample: the on/off fade, pre-delay and diffuser
    (into scratch[_U]), the smoothed mix (into scratch[_MIXV])."""
    p_off = geo[_PREDELAY, _OFF]
    p_len = geo[_PREDELAY, _LEN]
    for i in range(m):
        r = ramp_toward(ramp, on, ramp_step)
        mix = state[_MIX]
        if mix != t_mix:
            d = t_mix - mix
            mix = t_mix if abs(d) < 1e-6 else mix + d * smooth
            state[_MIX] = mix
        scratch[_MIXV, i] = mix
        # pre-delay (whole samples): written first, so a pre-delay of 0 reads this very sample;
        # a new value is crossfaded to from the old one (gliding the delay would sweep the pitch)
        p = geo[_PREDELAY, _PTR]
        v = np.float64(x[i0 + i]) * r
        buf[p_off + p] = v if abs(v) > FLUSH else 0.0
        fade = state[_FADE]
        if fade <= 0.0 and t_pre != state[_PRE]:
            state[_PRE_TO] = t_pre
            fade = fade_step
        j = p - int(state[_PRE])
        u = np.float64(buf[p_off + (j if j >= 0 else j + p_len)])
        if fade > 0.0:
            j = p - int(state[_PRE_TO])
            u += fade * (np.float64(buf[p_off + (j if j >= 0 else j + p_len)]) - u)
            fade += fade_step
            if fade >= 1.0:
                state[_PRE] = state[_PRE_TO]
                fade = 0.0
        state[_FADE] = fade
        geo[_PREDELAY, _PTR] = p + 1 if p + 1 < p_len else 0
        # the diffuser: Schroeder allpasses, w = u + g w[-L], out = w[-L] - g w
        for a in range(len(DIFFUSER)):
            off = geo[_AP + a, _OFF]
            q = geo[_AP + a, _PTR]
            g = DIFFUSER[a][1]
            old = np.float64(buf[off + q])
            w = u + g * old
            buf[off + q] = w if abs(w) > FLUSH else 0.0
            u = old - g * w
            geo[_AP + a, _PTR] = q + 1 if q + 1 < geo[_AP + a, _LEN] else 0
        scratch[_U, i] = u


@njit(cache=True, fastmath={"contract"})
def _read_damp(buf, geo, design, state, scratch, k0, k1, ph, m):
    """Lines k0 and k1 over m samples from `ph` into the chunk, into scratch[k0] and scratch[k1]:
    each read at its modulated length (linear interpolation; the length linear over the chunk),
    through its one-pole low-pass and gain (their glide linear over the chunk too)."""
    o0 = _LINE + _PER_LINE * k0
    o1 = _LINE + _PER_LINE * k1
    src0 = int(design[k0, _SRC])
    src1 = int(design[k1, _SRC])
    # the length: its slope over the chunk and its value here
    sl0 = design[k0, _MOD] * (state[_L1 + src0] - state[_L0 + src0]) / CHUNK
    sl1 = design[k1, _MOD] * (state[_L1 + src1] - state[_L0 + src1]) / CHUNK
    d0 = design[k0, _D] + design[k0, _MOD] * state[_L0 + src0] + sl0 * ph
    d1 = design[k1, _D] + design[k1, _MOD] * state[_L0 + src1] + sl1 * ph
    off0 = geo[_LINES + k0, _OFF]
    off1 = geo[_LINES + k1, _OFF]
    len0 = geo[_LINES + k0, _LEN]
    len1 = geo[_LINES + k1, _LEN]
    pos0 = geo[_LINES + k0, _PTR] - d0
    pos1 = geo[_LINES + k1, _PTR] - d1
    pos0 = pos0 + len0 if pos0 < 0.0 else pos0
    pos1 = pos1 + len1 if pos1 < 0.0 else pos1
    step0 = 1.0 - sl0
    step1 = 1.0 - sl1
    da0 = (state[o0 + _A1] - state[o0 + _A0]) / CHUNK
    db0 = (state[o0 + _B1] - state[o0 + _B0]) / CHUNK
    da1 = (state[o1 + _A1] - state[o1 + _A0]) / CHUNK
    db1 = (state[o1 + _B1] - state[o1 + _B0]) / CHUNK
    a0 = state[o0 + _A0] + da0 * ph
    b0 = state[o0 + _B0] + db0 * ph
    a1 = state[o1 + _A0] + da1 * ph
    b1 = state[o1 + _B0] + db1 * ph
    s0 = state[o0 + _S]
    s1 = state[o1 + _S]
    for i in range(m):
        # nothing carried from one sample to the next but the filters' memories
        p0 = pos0 + i * step0
        p1 = pos1 + i * step1
        p0 = p0 - len0 if p0 >= len0 else p0
        p1 = p1 - len1 if p1 >= len1 else p1
        j0 = int(p0)
        j1 = int(p1)
        f0 = p0 - j0
        f1 = p1 - j1
        n0 = j0 + 1 if j0 + 1 < len0 else 0
        n1 = j1 + 1 if j1 + 1 < len1 else 0
        x0 = np.float64(buf[off0 + j0])
        x1 = np.float64(buf[off1 + j1])
        out0 = x0 + f0 * (np.float64(buf[off0 + n0]) - x0)
        out1 = x1 + f1 * (np.float64(buf[off1 + n1]) - x1)
        s0 = (b0 + i * db0) * s0 + (a0 + i * da0) * out0
        s1 = (b1 + i * db1) * s1 + (a1 + i * da1) * out1
        scratch[k0, i] = s0
        scratch[k1, i] = s1
    state[o0 + _S] = s0 if abs(s0) > FLUSH else 0.0
    state[o1 + _S] = s1 if abs(s1) > FLUSH else 0.0


@njit(cache=True, fastmath={"contract"})
def reverb_block(x, y, n, targets, state, design, buf, geo, scratch, ramp, ramp_step, smooth, rate, drain):
    on = targets[0] > 0.5
    if on:
        state[_IDLE] = 0.0
        state[_QUIET] = 0.0
    elif state[_IDLE] > 0.0 and ramp[0] <= 0.0:
        for i in range(n):
            y[i] = x[i]
        return
    t_pre = min(max(math.floor(targets[2] * 1e-3 * rate + 0.5), 0.0), geo[_PREDELAY, _LEN] - 1.0)
    t_mix = targets[4]
    fade_step = 1.0 / (PREDELAY_FADE_MS * 1e-3 * rate)
    i0 = 0
    # the work goes in chunks on a fixed grid of CHUNK samples, whatever the blocks: the
    # output does not depend on how the audio is cut
    while i0 < n:
        ph = int(state[_PHASE])
        if ph == 0:
            _grid_point(targets, state, design, rate, smooth)
        m = min(CHUNK - ph, n - i0)
        _input(x, i0, m, targets[0], state, buf, geo, scratch, t_pre, t_mix, ramp, ramp_step, smooth, fade_step)
        draining = not on and ramp[0] <= 0.0
        # the lines, two at a time (their recursions overlap): read, damp (the shortest line
        # is longer than a chunk, so all they read here was written before it)
        for k in range(0, N_LINES, 2):
            _read_damp(buf, geo, design, state, scratch, k, k + 1, ph, m)
        # what is heard: the lines' signed sum (and, while the tail drains, their energy)
        # (2-D indexing, not row views: a view costs two atomic reference counts)
        for i in range(m):
            scratch[_LATE, i] = 0.0
        for k in range(N_LINES):
            sign = design[k, _OUT]
            for i in range(m):
                scratch[_LATE, i] += sign * scratch[k, i]
        if draining:
            for i in range(m):
                scratch[_ENERGY, i] = 0.0
            for k in range(N_LINES):
                for i in range(m):
                    scratch[_ENERGY, i] += scratch[k, i] * scratch[k, i]
        # the feedback: the Hadamard matrix across the lines (butterflies on whole rows)...
        for h in (1, 2, 4, 8):
            for q in range(8):
                j = (q // h) * 2 * h + q % h
                for i in range(m):
                    a0 = scratch[j, i]
                    a1 = scratch[j + h, i]
                    scratch[j, i] = a0 + a1
                    scratch[j + h, i] = a0 - a1
        # ... plus the diffused input, written into the lines
        for k in range(N_LINES):
            off = geo[_LINES + k, _OFF]
            length = geo[_LINES + k, _LEN]
            q = geo[_LINES + k, _PTR]
            gin = design[k, _IN]
            first = min(m, length - q)          # up to the line's end, then from its start
            for i in range(first):
                w = 0.25 * scratch[k, i] + gin * scratch[_U, i]
                buf[off + q + i] = w if abs(w) > FLUSH else 0.0
            for i in range(first, m):
                w = 0.25 * scratch[k, i] + gin * scratch[_U, i]
                buf[off + q + i - length] = w if abs(w) > FLUSH else 0.0
            geo[_LINES + k, _PTR] = q + m if q + m < length else q + m - length
        for i in range(m):
            wet = EARLY_GAIN * scratch[_U, i] + LATE_GAIN * scratch[_LATE, i]
            y[i0 + i] = np.float64(x[i0 + i]) + scratch[_MIXV, i] * wet
        state[_PHASE] = ph + m if ph + m < CHUNK else 0
        i0 += m
        # off and faded: once everything has stayed below -120 dB long enough, go idle
        if draining:
            quiet = True
            for i in range(m):
                if scratch[_ENERGY, i] >= QUIET or scratch[_U, i] ** 2 >= QUIET:
                    quiet = False
            state[_QUIET] = state[_QUIET] + m if quiet else 0.0
            if state[_QUIET] > drain:
                _clear(buf, state)
                state[_IDLE] = 1.0
                for i in range(i0, n):
                    y[i] = x[i]
                return


def _primes_near(targets):
    """Distinct primes, each the free one nearest its target (distinct primes are mutually prime)."""
    def is_prime(c):
        return c > 2 and all(c % q for q in range(2, int(c ** 0.5) + 1))
    out = []
    for t in targets:
        c0 = round(t)
        c = next(c for step in range(c0) for c in (c0 + step, c0 - step) if is_prime(c) and c not in out)
        out.append(c)
    return out


def _bent_signs(rng):
    """16 signs (-1)^f(i) of a bent function of i's four bits (x0 x1 + x2 x3, its bits paired,
    masked and a linear term added at random): its Hadamard transform is +-4 everywhere."""
    bits = rng.permutation(4)
    mask = int(rng.integers(16))
    linear = int(rng.integers(16))
    out = np.empty(N_LINES)
    for i in range(N_LINES):
        v = i ^ mask
        b = [(v >> bits[j]) & 1 for j in range(4)]
        f = (b[0] & b[1]) ^ (b[2] & b[3]) ^ ((i & linear).bit_count() & 1)
        out[i] = -1.0 if f else 1.0
    return out


class Reverb(Block):
    NAME = "reverb"
    PARAMS = (
        Param("decay_s", DECAY_S[0], DECAY_S[1], 2.0, "s", "RT60 at 1 kHz: the time the tail takes to fall 60 dB"),
        Param("predelay_ms", 0.0, PREDELAY_MAX_MS, 10.0, "ms", "the gap between the dry sound and the reverb"),
        Param("tone", 0.0, 1.0, 0.5, "", "damping: 0 dark (the top decays 10x faster than 1 kHz), 1 bright"),
        Param("mix", 0.0, 1.0, 0.2, "", "the reverb added to the dry signal (the dry stays at unity)"),
    )
    DEFAULT_ON = False
    TRAILS = True
    N_STATE = _LINE + _PER_LINE * N_LINES

    def __init__(self, sample_rate, max_block, targets=None, seed=0):
        super().__init__(sample_rate, max_block, targets)
        rate = float(self.sample_rate)
        rng = np.random.default_rng(0x5EB + int(seed))
        # line lengths: geometric over 25-100 ms, jittered by the seed (not for seed 0)
        lo, hi = (ms * 1e-3 * rate for ms in LINE_MS)
        nominal = lo * (hi / lo) ** (np.arange(N_LINES) / (N_LINES - 1))
        if seed:
            nominal = nominal * (1.0 + rng.uniform(-0.04, 0.04, N_LINES))
        delays = _primes_near(nominal)
        depth = MOD_MS * 1e-3 * rate
        if delays[0] - depth - 2 < CHUNK:
            raise ValueError(f"reverb: {self.sample_rate} Hz is too low a sample rate")
        self.design = np.zeros((N_LINES + len(MOD_HZ), 5))
        self.design[:N_LINES, _D] = delays
        self.design[:N_LINES, _MOD] = depth * np.where(np.arange(N_LINES) % 2, -1.0, 1.0)
        self.design[:N_LINES, _SRC] = rng.permutation(np.arange(N_LINES) % (2 * len(MOD_HZ)))
        self.design[:N_LINES, _IN] = _bent_signs(rng)
        self.design[:N_LINES, _OUT] = _bent_signs(rng)
        for j, f in enumerate(MOD_HZ):
            w = 2 * math.pi * f * CHUNK / rate
            self.design[_ROT + j, :2] = math.cos(w), math.sin(w)
        self.lfo_phase = rng.uniform(0.0, 2 * math.pi, len(MOD_HZ))
        # the delay memory: pre-delay (200 ms and this sample), the diffuser's
        # allpasses, the lines (with room for their modulation)
        diffuser = _primes_near([ms * 1e-3 * rate * (1.0 + (rng.uniform(-0.05, 0.05) if seed else 0.0))
                                 for ms, _ in DIFFUSER])
        lengths = ([math.floor(PREDELAY_MAX_MS * 1e-3 * rate + 0.5) + 1] + diffuser
                   + [int(d + depth) + 2 for d in delays])
        self.geo = np.zeros((len(lengths), 3), np.int64)
        self.geo[:, _LEN] = lengths
        self.geo[1:, _OFF] = np.cumsum(lengths)[:-1]
        self.buf = np.zeros(int(np.sum(lengths)), np.float32)
        self.scratch = np.zeros((N_LINES + 4, CHUNK))
        # switched off, how long everything must stay quiet before the lines are cleared:
        # by then whatever the pre-delay, the diffuser and the longest line held has come out
        self.drain = float(np.sum(lengths[:_LINES]) + max(lengths[_LINES:]))
        self.reset()
        self.ramp[0] = 1.0 if self.on else 0.0

    def reset(self):
        self.buf[:] = 0.0
        self.geo[:, _PTR] = 0
        self.state[:] = 0.0
        for j, phase in enumerate(self.lfo_phase):
            self.state[_PHASOR + 2 * j] = self.state[_L1 + 2 * j] = math.cos(phase)
            self.state[_PHASOR + 2 * j + 1] = self.state[_L1 + 2 * j + 1] = math.sin(phase)
        self.state[_IDLE] = 1.0                 # empty lines: nothing to ring out
        self.settle_state()

    def settle_state(self):
        if getattr(self, "design", None) is None:
            return
        pre = math.floor(self.targets[2] * 1e-3 * self.sample_rate + 0.5)
        self.state[_PRE] = self.state[_PRE_TO] = min(max(pre, 0), self.geo[_PREDELAY, _LEN] - 1)
        self.state[_FADE] = 0.0
        self.state[_MIX] = self.targets[4]
        _line_targets(float(self.targets[1]), float(self.targets[3]), self.design, float(self.sample_rate),
                      self.state)
        self.state[_DECAY_AT] = self.targets[1]
        self.state[_TONE_AT] = self.targets[3]
        self.state[_GLIDE] = 0.0
        for k in range(N_LINES):
            o = _LINE + _PER_LINE * k
            self.state[o + _A0] = self.state[o + _A1] = self.state[o + _TA]
            self.state[o + _B0] = self.state[o + _B1] = self.state[o + _TB]

    @property
    def idle(self):
        """Off, faded and rung out: process costs nothing."""
        return bool(self.state[_IDLE] > 0.0 and not self.on and self.ramp[0] <= 0.0)

    def resting(self):
        return self.targets[0] <= 0.5 and self.ramp[0] <= 0.0 and self.state[_IDLE] > 0.0

    def run(self, x, y, n):
        reverb_block(x, y, n, self.targets, self.state, self.design, self.buf, self.geo, self.scratch, self.ramp,
                     self.ramp_step, self.smooth, float(self.sample_rate), self.drain)

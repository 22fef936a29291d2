"""Block kernels of the tone chain: every buffer is passed in, nothing is allocated.

Each function processes `n` samples of preallocated float32 arrays and keeps its state in
small float64 arrays, so a block costs one njit call per stage and the chain can run in
the audio thread. Zero latency everywhere (the pedal must stay sample-aligned with its
input): the limiter has no look-ahead, the convolution's first partition is a direct FIR.

These kernels keep the GIL (no nogil=True, unlike the models'): each is a few microseconds
on the audio thread, and giving the GIL away for them would let another thread take it
between every stage of the block, each time costing the audio a wait to get it back.
"""
import math

import numpy as np
from numba import njit

# --- parameter / state slots (shared with chain.py) ------------------------------------
# params (targets, written by the control side, one float64 each):
P_DRIVE_GAIN, P_DRIVE, P_LEVEL_GAIN, P_GATE_OPEN, P_BYPASS, P_MUTE, P_KNOB2 = range(7)
N_PARAMS = 8
# state (the audio thread's smoothed values and filter memories):
(S_DRIVE_GAIN, S_DRIVE, S_LEVEL_GAIN, S_BYPASS, S_MUTE, S_GATE_ENV, S_GATE_GAIN, S_GATE_HOLD,
 S_DC_X1, S_DC_Y1, S_LIM_ENV, S_FADE, S_KNOB2) = range(13)
N_STATE = 16
# coefficients (fixed per sample rate):
(C_SMOOTH, C_RAMP, C_GATE_DET, C_GATE_ATTACK, C_GATE_RELEASE, C_GATE_HOLD, C_DC_R,
 C_LIM_RELEASE, C_CEILING, C_FADE_STEP) = range(10)
N_COEF = 12

# flags returned by fade_block
F_BAD_A, F_BAD_B, F_CLIP = 1, 2, 4


@njit(cache=True, fastmath={"contract"})
def pre_block(x, xa, gate, n, params, state, coef):
    """Drive (smoothed input gain) into xa; the noise gate's gain, detected on the raw
    input, into gate (applied after the model)."""
    g = state[S_DRIVE_GAIN]
    d = state[S_DRIVE]
    tg = params[P_DRIVE_GAIN]
    td = params[P_DRIVE]
    a = coef[C_SMOOTH]
    env = state[S_GATE_ENV]
    gg = state[S_GATE_GAIN]
    hold = state[S_GATE_HOLD]
    thr_open = params[P_GATE_OPEN]
    thr_close = 0.5 * thr_open             # 6 dB of hysteresis
    det = coef[C_GATE_DET]
    att = coef[C_GATE_ATTACK]
    rel = coef[C_GATE_RELEASE]
    hold_n = coef[C_GATE_HOLD]
    for i in range(n):
        g += (tg - g) * a
        d += (td - d) * a
        s = x[i]
        xa[i] = s * g
        v = abs(s)
        env = v if v > env else env * det
        if env > thr_open or (hold > 0.0 and env > thr_close):
            hold = hold_n
        elif hold > 0.0:
            hold -= 1.0
        if hold > 0.0:
            gg += att
            if gg > 1.0:
                gg = 1.0
        else:
            gg *= rel
        gate[i] = gg
    state[S_DRIVE_GAIN] = g
    state[S_DRIVE] = d
    state[S_GATE_ENV] = env
    state[S_GATE_GAIN] = gg
    state[S_GATE_HOLD] = hold
    # knob 2 is set once per block (the model reads knobs per block anyway)
    state[S_KNOB2] += (params[P_KNOB2] - state[S_KNOB2]) * min(1.0, a * n)


@njit(cache=True)
def scale_into(src, dst, n, g):
    for i in range(n):
        dst[i] = src[i] * g


@njit(cache=True)
def ring_write(src, n, ring, pos):
    """n samples of src into the ring (a power-of-two length) from absolute position pos."""
    mask = len(ring) - 1
    for i in range(n):
        ring[(pos + i) & mask] = src[i]


@njit(cache=True)
def all_finite(y, n):
    for i in range(n):
        if not np.isfinite(y[i]):
            return False
    return True


@njit(cache=True, fastmath={"contract"})
def fade_block(ma, mb, use_a, use_b, ga, gb, fading, shared, gate, wf, n, state, coef):
    """The model(s) before the cabinet: output gain, gate, switch crossfade; in place.

    shared (both models go through the same IR, or no switch): the crossfaded mix goes to
    ma, a single IR follows. Otherwise each model goes to its own IR: the incoming one
    faded in before it (mb, so the new IR starts smoothly, no onset transient), the
    outgoing one unweighted (ma), its weight 1 - wf applied after its IR (`mix_block`),
    so the old cab's tail fades out with it instead of being cut. A model that is not
    playing, or whose block holds NaN/Inf (reported in the flags), is silence."""
    flags = 0
    if use_a:
        for i in range(n):
            if not np.isfinite(ma[i]):
                use_a = False
                flags |= F_BAD_A
                break
    if use_b:
        for i in range(n):
            if not np.isfinite(mb[i]):
                use_b = False
                flags |= F_BAD_B
                break
    f = state[S_FADE]
    step = coef[C_FADE_STEP]
    for i in range(n):
        if fading:
            f += step
            if f > 1.0:
                f = 1.0
            w = 0.5 - 0.5 * math.cos(math.pi * f)    # raised cosine
        else:
            w = 0.0
        a = ma[i] * ga * gate[i] if use_a else 0.0
        b = mb[i] * gb * gate[i] if use_b else 0.0
        if shared:
            ma[i] = a * (1.0 - w) + b * w
        else:
            ma[i] = a
            mb[i] = b * w
        wf[i] = w
    state[S_FADE] = f
    return flags


@njit(cache=True, fastmath={"contract"})
def mix_block(ma, mb, wf, two, out, n, state, coef):
    """After the IR(s): the outgoing model's fade-out (when `two`) and the DC blocker."""
    x1 = state[S_DC_X1]
    y1 = state[S_DC_Y1]
    r = coef[C_DC_R]
    for i in range(n):
        if two:
            s = ma[i] * (1.0 - wf[i]) + mb[i]
        else:
            s = ma[i]
        y = s - x1 + r * y1
        x1 = s
        y1 = y
        out[i] = y
    state[S_DC_X1] = x1
    state[S_DC_Y1] = y1


@njit(cache=True, fastmath={"contract"})
def final_block(wet, dry, out, n, params, state, coef):
    """Output level, bypass crossfade, mute ramp, then the limiter that keeps |out| under
    the ceiling (instant attack, no look-ahead, exponential release). Returns 1 when the
    limiter had to act (clip LED), 2 when a non-finite sample had to be silenced."""
    lg = state[S_LEVEL_GAIN]
    tl = params[P_LEVEL_GAIN]
    b = state[S_BYPASS]
    tb = params[P_BYPASS]
    m = state[S_MUTE]
    tm = params[P_MUTE]
    a = coef[C_SMOOTH]
    ramp = coef[C_RAMP]
    env = state[S_LIM_ENV]
    relc = coef[C_LIM_RELEASE]
    ceil = coef[C_CEILING]
    flags = 0
    for i in range(n):
        lg += (tl - lg) * a
        if b < tb:
            b = min(tb, b + ramp)
        elif b > tb:
            b = max(tb, b - ramp)
        if m < tm:
            m = min(tm, m + ramp)
        elif m > tm:
            m = max(tm, m - ramp)
        s = (wet[i] * lg * (1.0 - b) + dry[i] * b) * (1.0 - m)
        if not np.isfinite(s):
            s = 0.0
            flags |= 2
        v = abs(s)
        env *= relc
        if v > env:
            env = v
        if env > ceil:
            s *= ceil / env
            flags |= 1
        out[i] = s
    if not np.isfinite(env):
        env = 0.0
    state[S_LEVEL_GAIN] = lg
    state[S_BYPASS] = b
    state[S_MUTE] = m
    state[S_LIM_ENV] = env
    return flags


# --- partitioned convolution -----------------------------------------------------------
@njit(cache=True, fastmath={"contract"})
def fft_inplace(re, im, bitrev, cos_t, sin_t, inverse):
    """Radix-2 complex FFT of len(re) (a power of two) with precomputed tables."""
    N = re.shape[0]
    for i in range(N):
        j = bitrev[i]
        if j > i:
            t = re[i]; re[i] = re[j]; re[j] = t
            t = im[i]; im[i] = im[j]; im[j] = t
    sgn = 1.0 if inverse else -1.0
    size = 2
    while size <= N:
        half = size // 2
        stride = N // size
        for start in range(0, N, size):
            for k in range(half):
                c = cos_t[k * stride]
                s = sgn * sin_t[k * stride]
                a = start + k
                b = a + half
                tr = re[b] * c - im[b] * s
                ti = re[b] * s + im[b] * c
                re[b] = re[a] - tr
                im[b] = im[a] - ti
                re[a] += tr
                im[a] += ti
        size *= 2


def fft_tables(N):
    bits = int(np.log2(N))
    bitrev = np.array([int(format(i, f"0{bits}b")[::-1], 2) for i in range(N)], np.int64)
    k = np.arange(N // 2)
    return bitrev, np.cos(2 * np.pi * k / N), np.sin(2 * np.pi * k / N)


@njit(cache=True, fastmath={"contract"})
def convolve_block(x, y, n, head, xbuf, pos, H_re, H_im, fdl_re, fdl_im, fdl_idx,
                   acc_re, acc_im, wr, wi, tail, bitrev, cos_t, sin_t):
    """Zero-latency uniformly partitioned convolution, in place allowed (x may be y).

    Partition 0 (the IR's first B taps) is a direct FIR on xbuf = [previous block, current
    block so far]; partitions 1..P-1 run in the frequency domain once per completed block,
    their sum for the *next* block going into `tail` (overlap-save, FFT size 2B)."""
    B = head.shape[0]
    N = 2 * B
    P = H_re.shape[0]
    half = N // 2 + 1
    p = pos[0]
    for i in range(n):
        xbuf[B + p] = x[i]
        acc = tail[p]
        base = B + p
        for m in range(B):
            acc += head[m] * xbuf[base - m]
        y[i] = acc
        p += 1
        if p == B:
            # spectrum of the last 2B input samples into the frequency-domain delay line
            k = fdl_idx[0] - 1
            if k < 0:
                k = P - 1
            fdl_idx[0] = k
            for j in range(N):
                wr[j] = xbuf[j]
                wi[j] = 0.0
            fft_inplace(wr, wi, bitrev, cos_t, sin_t, False)
            for j in range(half):
                fdl_re[k, j] = wr[j]
                fdl_im[k, j] = wi[j]
            # next block's tail: sum over partitions 1..P-1 of H_j * X_{k-j+1}
            for j in range(half):
                acc_re[j] = 0.0
                acc_im[j] = 0.0
            for q in range(1, P):
                slot = k + q - 1
                if slot >= P:
                    slot -= P
                for j in range(half):
                    hr = H_re[q, j]
                    hi = H_im[q, j]
                    xr = fdl_re[slot, j]
                    xi = fdl_im[slot, j]
                    acc_re[j] += hr * xr - hi * xi
                    acc_im[j] += hr * xi + hi * xr
            for j in range(half):
                wr[j] = acc_re[j]
                wi[j] = acc_im[j]
            for j in range(half, N):          # Hermitian symmetry of a real signal
                wr[j] = acc_re[N - j]
                wi[j] = -acc_im[N - j]
            fft_inplace(wr, wi, bitrev, cos_t, sin_t, True)
            for j in range(B):
                tail[j] = wr[B + j] / N
            for j in range(B):
                xbuf[j] = xbuf[B + j]
            p = 0
    pos[0] = p


class Convolver:
    """Cabinet IR as a zero-latency partitioned FFT convolution; buffers made up front."""

    def __init__(self, ir, block=64):
        ir = np.asarray(ir, np.float64).ravel()
        B = int(block)
        if B & (B - 1):
            B = 1 << int(np.ceil(np.log2(B)))
        self.B = B
        N = 2 * B
        P = max(1, -(-len(ir) // B))
        padded = np.zeros(P * B)
        padded[:len(ir)] = ir
        self.head = padded[:B].copy()
        spectra = np.fft.rfft(np.concatenate([padded.reshape(P, B), np.zeros((P, B))], axis=1), n=N, axis=1)
        self.H_re = np.ascontiguousarray(spectra.real)
        self.H_im = np.ascontiguousarray(spectra.imag)
        half = N // 2 + 1
        self.fdl_re = np.zeros((P, half))
        self.fdl_im = np.zeros((P, half))
        self.fdl_idx = np.zeros(1, np.int64)
        self.xbuf = np.zeros(N)
        self.pos = np.zeros(1, np.int64)
        self.acc_re = np.zeros(half)
        self.acc_im = np.zeros(half)
        self.wr = np.zeros(N)
        self.wi = np.zeros(N)
        self.tail = np.zeros(B)
        self.bitrev, self.cos_t, self.sin_t = fft_tables(N)
        self.length = len(ir)

    def reset(self):
        for a in (self.fdl_re, self.fdl_im, self.xbuf, self.tail):
            a.fill(0.0)
        self.pos[0] = 0
        self.fdl_idx[0] = 0

    def process(self, x, y, n):
        convolve_block(x, y, n, self.head, self.xbuf, self.pos, self.H_re, self.H_im, self.fdl_re,
                       self.fdl_im, self.fdl_idx, self.acc_re, self.acc_im, self.wr, self.wi, self.tail,
                       self.bitrev, self.cos_t, self.sin_t)


# --- sample format conversion (ALSA periods) -------------------------------------------
@njit(cache=True)
def decode_channel(raw, out, n, channels, channel, width, bits):
    """Little-endian interleaved integer PCM (bytes or uint8 array; `width` bytes a sample,
    the low `bits` of them valid: S32_LE 4/32, S24_LE 4/24, S24_3LE 3/24, S16_LE 2/16)
    -> float32 samples of one channel."""
    nb = bits // 8
    full = 1 << bits
    half = 1 << (bits - 1)
    scale = 1.0 / half
    for i in range(n):
        o = (i * channels + channel) * width
        v = 0
        for b in range(nb):
            v |= np.int64(raw[o + b]) << (8 * b)
        if v >= half:
            v -= full
        out[i] = v * scale


@njit(cache=True)
def encode_all(x, raw, n, channels, width, bits):
    """float32 -> the same integer PCM on every channel (clipped, rounded, sign-extended)."""
    top = (1 << (bits - 1)) - 1
    for i in range(n):
        s = x[i]
        if s > 1.0:
            s = 1.0
        elif s < -1.0:
            s = -1.0
        v = np.int64(round(s * top))
        for c in range(channels):
            o = (i * channels + c) * width
            for b in range(width):
                raw[o + b] = (v >> (8 * b)) & 0xFF

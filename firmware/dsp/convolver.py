"""Uniformly partitioned convolution for the cabinet IR: zero latency (the first partition
is a direct FIR), the rest in the frequency domain, one block of `process(x, y, n)` at a
time with every buffer allocated up front."""

import math

import numpy as np
from numba import njit

from firmware.dsp.kernels import scale_into


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


@njit(cache=True, fastmath={"contract"})
def fade_in_weights(x, w, xin, n, state, step):
    """w: a raised cosine of state[0], which rises by `step` a sample to 1; xin = x w."""
    f = state[0]
    for i in range(n):
        f = min(1.0, f + step)
        w[i] = 0.5 - 0.5 * math.cos(math.pi * f)
        xin[i] = x[i] * w[i]
    state[0] = f


@njit(cache=True, fastmath={"contract"})
def fade_out_mix(a, w, b, y, n):
    """y = a (1 - w) + b."""
    for i in range(n):
        y[i] = a[i] * (1.0 - w[i]) + b[i]


class IRCrossfade:
    """The global cabinet IR changing while it plays: for `fade_samples` both IRs run, as in
    a switch between models with IRs of their own (the chain's fade_block): the new IR is fed
    the signal faded in (a raised cosine), so it starts with no onset transient, and the old
    IR's output fades out after it. So a preset's or the page's new cab does not click.
    Made off the audio thread, its buffers with it; the chain sets `old` when it takes it
    and plays `new` alone once `done`. None on either side is no IR (the signal as it is).
    In place allowed (x may be y)."""

    def __init__(self, new, block, fade_samples):
        self.new = new
        self.old = None
        self.a = np.zeros(block, np.float32)       # the old IR's output
        self.b = np.zeros(block, np.float32)       # the new one's
        self.w = np.zeros(block, np.float32)       # the fade's weight
        self.xin = np.zeros(block, np.float32)     # the new IR's faded-in input
        self.state = np.zeros(1)
        self.step = 1.0 / max(1, int(fade_samples))
        self.done = False

    def reset(self):
        if self.old is not None:
            self.old.reset()
        if self.new is not None:
            self.new.reset()

    def process(self, x, y, n):
        fade_in_weights(x, self.w, self.xin, n, self.state, self.step)
        if self.old is None:
            scale_into(x, self.a, n, 1.0)
        else:
            self.old.process(x, self.a, n)
        if self.new is None:
            scale_into(self.xin, self.b, n, 1.0)
        else:
            self.new.process(self.xin, self.b, n)
        fade_out_mix(self.a, self.w, self.b, y, n)
        self.done = self.state[0] >= 1.0

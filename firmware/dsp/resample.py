"""Streaming rational resampling, so a model trained at another rate plays at the chain's.

A 44.1 kHz model on a 48 kHz pedal runs inside `ResampledModel`: each chain block is
downsampled into a model-rate buffer (58 or 59 samples for 64 at 160/147), the model
processes those, and the result is upsampled back to exactly the block's length. Both
directions are polyphase FIRs from one Kaiser-windowed-sinc prototype designed once at
construction; the kernels keep their own history, so the output is continuous across
blocks and does not depend on how the input is cut.

Timing: output sample t of the upsampler needs model sample floor(t * Fm / Fc), which the
downsampler has produced once chain sample floor(floor(t * Fm / Fc) * Fc / Fm) <= t has
arrived, so within every block the model's output is always there in time: no extra
buffering. The round trip delays by exactly `latency` chain samples (an integer: the
prototype's length is chosen so), 44 samples = 0.92 ms for 48000 <-> 44100.

Filter (48000 <-> 44100): passband 0..18 kHz flat within 0.02 dB per direction, stopband
from 22.05 kHz (the model's Nyquist) at least 60 dB down in each direction: what aliases
on the way down and the images on the way up are both rejected. `design()` reports the
measured figures.
"""
import math
from functools import lru_cache

import numpy as np
from numba import njit

from firmware.core.errors import ResampleError
from firmware.models.base import Model

PASSBAND_HZ = 18000.0
STOPBAND_DB = 61.0                 # Kaiser design target (measured >= 60 dB)
MAX_COEFFICIENTS = 1 << 20         # rates with no small ratio (e.g. 44100 <-> 48001) are refused
SLACK = 2                          # history kept beyond the filter (the upsampler may lag by one)


@njit(cache=True, fastmath={"contract"})
def resample_block(x, n, y, want, H, hist, st, L, M):
    """Polyphase FIR, rate in * L / M. x[:n] are new input samples; outputs go to y.

    want < 0: every output whose newest input has arrived (the count is returned);
    want >= 0: exactly `want` outputs (a caller that guarantees its inputs arrive in time;
    an output that would need an input not yet there uses the newest one and is counted
    in st[2]). st = [next output's newest input index relative to this block, phase, starved].

    hist = [K - 1 + SLACK samples of history | room for the block]."""
    K = H.shape[1]
    keep = K - 1 + SLACK
    for i in range(n):
        hist[keep + i] = x[i]
    b = st[0]
    p = st[1]
    j = 0
    while True:
        if want >= 0:
            if j >= want:
                break
        elif b >= n:
            break
        bb = b
        if bb >= n:
            bb = n - 1
            st[2] += 1
        if bb < -SLACK:
            bb = -SLACK
            st[2] += 1
        base = keep + bb
        acc = 0.0
        for k in range(K):
            acc += H[p, k] * hist[base - k]
        y[j] = acc
        j += 1
        p += M
        b += p // L
        p = p % L
    st[0] = b - n
    st[1] = p
    for i in range(keep):
        hist[i] = hist[n + i]
    return j


@lru_cache(maxsize=16)
def design(rate_in, rate_out, passband_hz=PASSBAND_HZ, stopband_db=STOPBAND_DB):
    """The prototype lowpass shared by both directions of a chain-rate/model-rate pair.

    Returns (h, latency): h at the common rate lcm-ish (rate_in * rate_out / gcd), unit DC
    gain, linear phase, its length chosen so the round trip delays by an integer number
    `latency` of rate_in samples. Passband up to min(passband_hz, 0.816 * low Nyquist),
    stopband from the lower of the two Nyquist frequencies."""
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in <= 0 or rate_out <= 0:
        raise ResampleError(f"sample rates must be positive, got {rate_in} and {rate_out}")
    g = math.gcd(rate_in, rate_out)
    up = rate_out // g                      # common-rate samples per input sample
    proto = rate_in * up
    nyq = 0.5 * min(rate_in, rate_out)
    fpass = min(float(passband_hz), 0.8163 * nyq)
    fstop = nyq
    A = float(stopband_db)
    beta = 0.1102 * (A - 8.7)
    # Kaiser's length estimate, in input samples for the round trip (two passes of h)
    latency = int(math.ceil((A - 7.95) * rate_in / (2.285 * 2 * math.pi * (fstop - fpass))))
    N = latency * up + 1
    if N > MAX_COEFFICIENTS:
        raise ResampleError(f"{rate_in} Hz <-> {rate_out} Hz: ratio {rate_in // g}/{up} needs a "
                            f"{N}-tap filter (more than {MAX_COEFFICIENTS}): resample the model's rate")
    fcut = 0.5 * (fpass + fstop) / proto
    t = np.arange(N) - 0.5 * (N - 1)
    h = 2 * fcut * np.sinc(2 * fcut * t) * np.kaiser(N, beta)
    h /= np.sum(h)
    h.setflags(write=False)
    return h, latency, fpass, fstop


def polyphase(h, L):
    """h (at L times the input rate) -> H[phase, tap], gain L (zero-stuffing)."""
    K = -(-len(h) // L)
    padded = np.zeros(K * L)
    padded[:len(h)] = h
    return np.ascontiguousarray(padded.reshape(K, L).T * L)


def response(h, fs, fpass, fstop, nfft=1 << 19):
    """(passband ripple dB, stopband peak dB) of one pass of h."""
    nfft = max(nfft, 1 << int(math.ceil(math.log2(4 * len(h)))))
    H = np.abs(np.fft.rfft(h, nfft))
    f = np.arange(len(H)) * fs / nfft
    pb = 20 * np.log10(np.maximum(H[f <= fpass], 1e-30))
    sb = 20 * np.log10(np.max(H[f >= fstop]) + 1e-30)
    return float(pb.max() - pb.min()), float(sb)


class Resampler:
    """One direction: rate_in -> rate_out with the prototype `h` (at lcm rate). Buffers
    for blocks of up to `max_in` input samples are made here; `process` allocates nothing."""

    def __init__(self, rate_in, rate_out, h, max_in):
        g = math.gcd(int(rate_in), int(rate_out))
        self.L = int(rate_out) // g
        self.M = int(rate_in) // g
        self.H = polyphase(h, self.L)
        K = self.H.shape[1]
        self.max_in = int(max_in)
        self.max_out = self.max_in * self.L // self.M + 2
        self.hist = np.zeros(K - 1 + SLACK + self.max_in)
        self.st = np.zeros(3, np.int64)
        # compile now (n = 0: no state change), not on the audio thread
        x = np.zeros(1, np.float32)
        resample_block(x, 0, x, -1, self.H, self.hist, self.st, self.L, self.M)
        resample_block(x, 0, x, 0, self.H, self.hist, self.st, self.L, self.M)

    def reset(self):
        self.hist[:] = 0.0
        self.st[:] = 0

    @property
    def starved(self):
        return int(self.st[2])

    def process(self, x, n, y, want=-1):
        """n new input samples -> outputs in y; returns how many (exactly `want` when >= 0)."""
        if n > self.max_in or n > len(x) or len(y) < (want if want >= 0 else self.max_out):
            raise ValueError(f"resampler: {n} samples in (room for {self.max_in}, given {len(x)}), "
                             f"{len(y)} out (needs {want if want >= 0 else self.max_out})")
        return resample_block(x, n, y, want, self.H, self.hist, self.st, self.L, self.M)


class ResampledModel(Model):
    """A model running at its own rate behind a chain at `sample_rate`: a Model to the chain
    (process/reset/prewarm/knobs), blocks of up to `max_block` chain samples."""

    def __init__(self, model, sample_rate, max_block):
        super().__init__(getattr(model, "config", None), None, sample_rate, max_block)
        self.model = model
        self.model_rate = int(model.sample_rate)
        self.architecture = getattr(model, "architecture", "?")
        self.num_knobs = model.num_knobs
        self.knobs = model.knobs                 # the chain writes the model's own knobs
        h, self.latency, self.passband_hz, self.stopband_hz = design(self.sample_rate, self.model_rate)
        self.down = Resampler(self.sample_rate, self.model_rate, h, self.max_block)
        self.up = Resampler(self.model_rate, self.sample_rate, h, self.down.max_out)
        m = self.down.max_out
        if getattr(model, "max_block", m) < m:
            raise ResampleError(f"model built for blocks of {model.max_block}, the resampler needs {m}")
        self.mx = np.zeros(m, np.float32)
        self.my = np.zeros(m, np.float32)

    @property
    def latency_s(self):
        return self.latency / self.sample_rate

    @property
    def starved(self):
        return self.up.starved + self.down.starved

    def _process_block(self, x, y, n):
        m = self.down.process(x, n, self.mx)
        if m:
            self.model.process(self.mx, self.my, m)
        self.up.process(self.my, m, y, n)

    def reset(self):
        self.model.reset()
        self.down.reset()
        self.up.reset()

    @property
    def prewarm_samples(self):
        return self.model.prewarm_samples

    def prewarm(self):
        """The model's own prewarm at its rate (the resamplers start from silence anyway)."""
        self.model.prewarm()


def wrap(model, sample_rate, max_block):
    """`model` itself when it runs at sample_rate, else a ResampledModel around it."""
    if int(model.sample_rate) == int(sample_rate):
        return model
    return ResampledModel(model, sample_rate, max_block)


def model_block(max_block, chain_rate, model_rate):
    """The block size to build a model with so the resampler can feed it whole blocks."""
    if int(chain_rate) == int(model_rate):
        return int(max_block)
    g = math.gcd(int(chain_rate), int(model_rate))
    return int(max_block) * (int(model_rate) // g) // (int(chain_rate) // g) + 2

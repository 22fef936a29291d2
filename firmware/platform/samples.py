"""ALSA sample formats <-> float32: the conversion of one period, compiled, allocation-free."""
import numpy as np
from numba import njit


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


@njit(cache=True)
def encode_pair(left, right, raw, n, channels, width, bits):
    """float32 left and right -> integer PCM on channels 0 and 1 (left again on any others)."""
    top = (1 << (bits - 1)) - 1
    for i in range(n):
        for c in range(channels):
            s = right[i] if c == 1 else left[i]
            if s > 1.0:
                s = 1.0
            elif s < -1.0:
                s = -1.0
            v = np.int64(round(s * top))
            o = (i * channels + c) * width
            for b in range(width):
                raw[o + b] = (v >> (8 * b)) & 0xFF

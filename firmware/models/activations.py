"""Activations used by the kernels, as element-wise njit loops that LLVM vectorises.

`math.tanh` inside njit is a scalar libm call per element; a rational approximation in
the style of Eigen's float tanh (clamp, odd polynomial / even polynomial) vectorises and
stays within ~2e-7 of the exact value, so it is what "Tanh" means here. NAM's cruder
"Fasttanh" is reproduced exactly for models trained with it.
"""
import numpy as np

from firmware.models._jit import inline, kernel
from firmware.models._simd import splat, vmax, vmin, where_positive

# Activation ids shared by the model file loader and the kernels.
IDENTITY, TANH, FASTTANH, HARDTANH, RELU, LEAKYRELU, SIGMOID, SILU, SOFTSIGN, HARDSWISH, \
    LEAKYHARDTANH, PRELU = range(12)

_NAMES = {
    "identity": IDENTITY, "linear": IDENTITY, "tanh": TANH, "fasttanh": FASTTANH,
    "hardtanh": HARDTANH, "relu": RELU, "leakyrelu": LEAKYRELU, "sigmoid": SIGMOID,
    "silu": SILU, "swish": SILU, "softsign": SOFTSIGN, "hardswish": HARDSWISH,
    "leakyhardtanh": LEAKYHARDTANH, "prelu": PRELU,
}
NAMES = {v: k for k, v in _NAMES.items()}


def activation_id(name):
    """Id of an activation by its (case-insensitive) name; KeyError names the unknown one."""
    key = str(name).replace("_", "").lower()
    if key not in _NAMES:
        raise KeyError(f"unsupported activation {name!r} (known: {sorted(set(_NAMES))})")
    return _NAMES[key]


@inline
def tanh(x):
    # Eigen's generic_fast_tanh_float coefficients: max error ~2e-7 over the float range.
    if x > 7.90531110763549805:
        x = np.float32(7.90531110763549805)
    elif x < -7.90531110763549805:
        x = np.float32(-7.90531110763549805)
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    p = x * p
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return p / q


@inline
def sigmoid(x):
    return np.float32(0.5) + np.float32(0.5) * tanh(np.float32(0.5) * x)


@inline
def fast_tanh(x):
    # NeuralAmpModelerCore's fast_tanh, bit for bit in float32.
    ax = abs(x)
    x2 = x * x
    num = x * (np.float32(2.45550750702956) + np.float32(2.45550750702956) * ax
               + (np.float32(0.893229853513558) + np.float32(0.821226666969744) * ax) * x2)
    den = np.float32(2.44506634652299) + (np.float32(2.44506634652299) + x2) * abs(
        x + np.float32(0.814642734961073) * x * ax)
    return num / den


@kernel
def apply_row(row, n, kind, p0, p1, p2, p3):
    """Apply activation `kind` in place to row[:n]. p0..p3: its parameters (slopes, bounds)."""
    if kind == IDENTITY:
        return
    if kind == TANH:
        for t in range(n):
            row[t] = tanh(row[t])
    elif kind == FASTTANH:
        for t in range(n):
            row[t] = fast_tanh(row[t])
    elif kind == HARDTANH:
        for t in range(n):
            row[t] = min(max(row[t], np.float32(-1.0)), np.float32(1.0))
    elif kind == RELU:
        for t in range(n):
            row[t] = max(row[t], np.float32(0.0))
    elif kind == LEAKYRELU or kind == PRELU:
        slope = np.float32(p0)
        for t in range(n):
            v = row[t]
            row[t] = v if v > 0 else v * slope
    elif kind == SIGMOID:
        for t in range(n):
            row[t] = sigmoid(row[t])
    elif kind == SILU:
        for t in range(n):
            v = row[t]
            row[t] = v * sigmoid(v)
    elif kind == SOFTSIGN:
        for t in range(n):
            v = row[t]
            row[t] = v / (np.float32(1.0) + abs(v))
    elif kind == HARDSWISH:
        for t in range(n):
            v = row[t]
            row[t] = v * min(max(v + np.float32(3.0), np.float32(0.0)), np.float32(6.0)) / np.float32(6.0)
    elif kind == LEAKYHARDTANH:
        lo = np.float32(p0); hi = np.float32(p1); slo = np.float32(p2); shi = np.float32(p3)
        for t in range(n):
            v = row[t]
            if v < lo:
                row[t] = (v - lo) * slo + lo
            elif v > hi:
                row[t] = (v - hi) * shi + hi


# --- The same activations on f32x8 vectors, for the register tiles (_gemm.tile8) -----------
# Vectorised in registers, these run in the pass that computes their input instead of a
# pass of their own over a stored row. Kinds without a vector form take apply_row.
VECTOR_KINDS = (IDENTITY, TANH, HARDTANH, RELU, LEAKYRELU, SIGMOID, PRELU)


@inline
def vtanh(x):
    # tanh() above, lane-wise, same coefficients and order.
    lim = splat(np.float32(7.90531110763549805))
    x = vmin(vmax(x, splat(np.float32(-7.90531110763549805))), lim)
    x2 = x * x
    p = x2 * splat(np.float32(-2.76076847742355e-16)) + splat(np.float32(2.00018790482477e-13))
    p = x2 * p + splat(np.float32(-8.60467152213735e-11))
    p = x2 * p + splat(np.float32(5.12229709037114e-08))
    p = x2 * p + splat(np.float32(1.48572235717979e-05))
    p = x2 * p + splat(np.float32(6.37261928875436e-04))
    p = x2 * p + splat(np.float32(4.89352455891786e-03))
    p = x * p
    q = x2 * splat(np.float32(1.19825839466702e-06)) + splat(np.float32(1.18534705686654e-04))
    q = x2 * q + splat(np.float32(2.26843463243900e-03))
    q = x2 * q + splat(np.float32(4.89352518554385e-03))
    return p / q


@inline
def vapply(v, kind, slope):
    """Activation `kind` (one of VECTOR_KINDS) on a vector; slope: (P/Leaky)ReLU's for this row."""
    if kind == TANH:
        return vtanh(v)
    if kind == LEAKYRELU or kind == PRELU:
        return where_positive(v, v * splat(slope))
    if kind == RELU:
        return vmax(v, splat(np.float32(0.0)))
    if kind == HARDTANH:
        return vmin(vmax(v, splat(np.float32(-1.0))), splat(np.float32(1.0)))
    if kind == SIGMOID:
        half = splat(np.float32(0.5))
        return half + half * vtanh(half * v)
    return v

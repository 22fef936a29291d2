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
def pre_block(x, src, xa, gate, n, params, state, coef):
    """Drive (smoothed input gain) on `src` (the input after the rig's pre-model blocks, or x
    itself) into xa; the noise gate's gain, detected on the raw input x, into gate (applied
    after the model)."""
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
        xa[i] = src[i] * g
        v = abs(x[i])
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
def ring_write_block(x, out, out_r, n, ring_in, ring_out, ring_out_r, pos, stereo):
    """A block's input and output (and, stereo, its right output) into their rings from
    absolute position pos: the audio thread's one call for the tuner and the recorder."""
    mask = len(ring_in) - 1
    for i in range(n):
        k = (pos + i) & mask
        ring_in[k] = x[i]
        ring_out[k] = out[i]
        if stereo:
            ring_out_r[k] = out_r[i]


@njit(cache=True)
def send_block(out, out_r, n, ring_send, pos, end):
    """A capture's signal instead of the block's output, on both channels: frame pos + i is
    ring_send[(pos + i) % ring] while below end (what the sender has written so far),
    silence beyond. The capture checks what was sent in the output ring afterwards."""
    mask = len(ring_send) - 1
    for i in range(n):
        k = pos + i
        v = ring_send[k & mask] if k < end else np.float32(0.0)
        out[i] = v
        out_r[i] = v


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


@njit(inline="always")
def _toward(v, target, step):
    """One sample of a linear ramp of v toward target."""
    if v < target:
        return min(target, v + step)
    if v > target:
        return max(target, v - step)
    return v


@njit(inline="always")
def _limiter_envelope(v, env, release):
    """One sample of the limiter's envelope: instant attack, exponential release."""
    env *= release
    return v if v > env else env


@njit(cache=True, fastmath={"contract"})
def final_block(wet, dry, out, n, params, state, coef):
    """Output level, bypass crossfade, mute ramp, then the limiter that keeps |out| under
    the ceiling (instant attack, no look-ahead, exponential release). Returns 1 when the
    limiter had to act (clip LED), 2 when a non-finite sample had to be silenced."""
    lg, tl = state[S_LEVEL_GAIN], params[P_LEVEL_GAIN]
    b, tb = state[S_BYPASS], params[P_BYPASS]
    m, tm = state[S_MUTE], params[P_MUTE]
    a, ramp = coef[C_SMOOTH], coef[C_RAMP]
    env, relc, ceil = state[S_LIM_ENV], coef[C_LIM_RELEASE], coef[C_CEILING]
    flags = 0
    for i in range(n):
        lg += (tl - lg) * a
        b = _toward(b, tb, ramp)
        m = _toward(m, tm, ramp)
        s = (wet[i] * lg * (1.0 - b) + dry[i] * b) * (1.0 - m)
        if not np.isfinite(s):
            s = 0.0
            flags |= 2
        env = _limiter_envelope(abs(s), env, relc)
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


@njit(cache=True, fastmath={"contract"})
def final_block_stereo(wet, wet_r, dry, out, out_r, n, params, state, coef):
    """final_block for two channels (audio.stereo_out): the same level, bypass (to the mono
    dry guitar) and mute on both, and one limiter linked across them (its gain from the
    louder channel), so a wide reverb never shifts the image as it limits."""
    lg, tl = state[S_LEVEL_GAIN], params[P_LEVEL_GAIN]
    b, tb = state[S_BYPASS], params[P_BYPASS]
    m, tm = state[S_MUTE], params[P_MUTE]
    a, ramp = coef[C_SMOOTH], coef[C_RAMP]
    env, relc, ceil = state[S_LIM_ENV], coef[C_LIM_RELEASE], coef[C_CEILING]
    flags = 0
    for i in range(n):
        lg += (tl - lg) * a
        b = _toward(b, tb, ramp)
        m = _toward(m, tm, ramp)
        d = dry[i] * b
        s = (wet[i] * lg * (1.0 - b) + d) * (1.0 - m)
        r = (wet_r[i] * lg * (1.0 - b) + d) * (1.0 - m)
        if not np.isfinite(s):
            s = 0.0
            flags |= 2
        if not np.isfinite(r):
            r = 0.0
            flags |= 2
        env = _limiter_envelope(max(abs(s), abs(r)), env, relc)
        if env > ceil:
            g = ceil / env
            s *= g
            r *= g
            flags |= 1
        out[i] = s
        out_r[i] = r
    if not np.isfinite(env):
        env = 0.0
    state[S_LEVEL_GAIN] = lg
    state[S_BYPASS] = b
    state[S_MUTE] = m
    state[S_LIM_ENV] = env
    return flags

"""WaveNet as NeuralAmpModelerCore defines it (classic "A1" presets and the 0.6/0.7 additions).

One compiled kernel serves every WaveNet: the layer structure travels as integer tables
and all weights as one flat float32 array, so a new model file of any size, depth or
dilation pattern reuses the cached machine code instead of compiling again.

Per layer array (C channels, bottleneck B, Z = B or 2B when gated/blended):

    h = rechannel @ x                         (array 0: x is the input; later: previous h)
    head = 0 (array 0) or previous array's head output
    for each layer:  z = conv_dilated(h) + bias + mixin @ condition
                     a = act(z)  |  act(z[:B]) * sec(z[B:])  |  blend
                     head += a  (or head1x1 @ a + b)
                     h = h + layer1x1 @ a + b  (or h when layer1x1 is inactive)
    head_out = causal conv of head (kernel head_kernel_size) + optional bias
    output = head_scale * head_out of the last array
    post-stack head (optional): for each of its convs, output = conv(act(output))

FiLM (optional, per layer and slot, NAM 0.7): `x = x * scale + shift` with (scale, shift)
= 1x1 conv of the condition, at eight places in a layer (see FILM_SLOTS). A layer without
FiLM takes the same path as before: its per-layer cost is one integer test.

Each layer's input is kept in a ring, channel-major `[C, capacity]` rows of one history
array; when the write position nears the end, the last `span` frames move to the front,
so every dilated tap is one contiguous slice and no index wraps inside the inner loop.
"""
import numpy as np
from numba import njit

from firmware.models import activations as act
from firmware.models import registry
from firmware.models._gemm import conv_acc, fill_rows, gemm_acc, matmul_acc, tile1, tile4, tile8
from firmware.models._jit import OPTIONS, inline, kernel
from firmware.models._simd import load, splat, store
from firmware.models.base import Cost, Model, ModelConfigError, pack_weights, positive_int, require

ARCHITECTURE = "WaveNet"

# Layer table columns.
(L_C, L_B, L_Z, L_K, L_DIL, L_GATING, L_ACT, L_SEC, L_COND, L_CONV_W, L_CONV_B, L_MIX_W,
 L_1X1_W, L_1X1_B, L_HH_OUT, L_HH_W, L_HH_B, L_RING, L_FILM, L_FRING, L_ACT_SLOPES, L_SEC_SLOPES,
 L_FT) = range(23)
# L_ACT_SLOPES / L_SEC_SLOPES: offset in W of a per-channel PReLU's slopes (one per row), or -1
# when the activation's parameters in LF serve every row.
# FiLM slot j of a layer: columns L_FT + 3j + (F_W, F_B, F_SHIFT): weight offset, bias offset,
# shift (1) or scale only (0).
F_W, F_B, F_SHIFT = range(3)
# L_FAST: 1 when the layer takes the fused register-tiled path (_fused_z, _fused_out), which
# reads the conv and 1x1 weights transposed, (in, tap, out), from L_CONV_WT and L_1X1_WT.
L_FAST, L_CONV_WT, L_1X1_WT = L_FT + 3 * 8, L_FT + 3 * 8 + 1, L_FT + 3 * 8 + 2
L_NCOLS = L_1X1_WT + 1
# Array table columns.
(A_FIRST, A_NLAYERS, A_IN, A_C, A_HIN, A_HOUT, A_HK, A_HDIL, A_RECH_W, A_HEAD_W, A_HEAD_B,
 A_HRING, A_NCOLS) = range(13)
# Ring table columns: first row in the history array, rows, history span in frames.
R_ROW, R_ROWS, R_SPAN = range(3)

# Post-stack head table columns: in and out channels, kernel, ring, weight, bias, activation,
# the row of LF holding the activation's parameters, per-channel PReLU slopes in W (or -1).
P_IN, P_OUT, P_K, P_RING, P_W, P_B, P_ACT, P_LF, P_SLOPES, P_NCOLS = range(10)

GATING = {"none": 0, "gated": 1, "blended": 2}
# NAM's FiLM slots, in its weight order; bit i of a layer's L_FILM flags is slot i.
FILM_SLOTS = ("conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
              "activation_pre_film", "activation_post_film", "layer1x1_post_film", "head1x1_post_film")
(FILM_CONV_PRE, FILM_CONV_POST, FILM_MIX_PRE, FILM_MIX_POST, FILM_ACT_PRE, FILM_ACT_POST,
 FILM_1X1_POST, FILM_HEAD1X1_POST) = (1 << i for i in range(8))


# --- The fused layer: the common case in two register-tiled passes --------------------------
# A layer without FiLM or gating, with one condition channel, layer1x1 on, no head1x1 and a
# vectorisable activation (every A1 and A2 preset) runs here: pass 1 computes bias + mixin +
# dilated conv for 8 rows x 16 frames in registers, applies the activation there, stores
# the result once and adds it to the head rows; pass 2 is the 1x1 with the residual and its
# bias as the tile's starting value, stored straight into the next layer's ring. Frames
# come 16 at a time, so the block runs on nn = n rounded up to 16 (see wavenet_block).
@inline
def _z_start(W, bc, wm, r, c0, c1):
    bias = splat(W[bc + r])
    m = splat(W[wm + r])
    return bias + m * c0, bias + m * c1


@inline
def _z_store(z, r, t, a, b):
    store(z, r, t, a)
    store(z, r, t + 8, b)


@inline
def _fused_z(li, C, B, K, d, W, LT, LF, hist, row, p, cond, z, hrow, ph, nn):
    """z[:B] = act(bias + mixin * cond + dilated conv), and the head rows += z[:B].

    The activation and the head sum run in a loop of their own over the tile's rows, still
    on the vectors just stored (in L1): inlined once instead of once per row and vector,
    the kernel compiles in a fifth of the time at the same speed."""
    wc = LT[li, L_CONV_WT]
    bc = LT[li, L_CONV_B]
    wm = LT[li, L_MIX_W]
    kind = LT[li, L_ACT]
    sl = LT[li, L_ACT_SLOPES]
    for t in range(0, nn, 16):
        c0 = load(cond, 0, t)
        c1 = load(cond, 0, t + 8)
        col = p + t
        r = 0
        while r + 8 <= B:
            a0, b0 = _z_start(W, bc, wm, r, c0, c1)
            a1, b1 = _z_start(W, bc, wm, r + 1, c0, c1)
            a2, b2 = _z_start(W, bc, wm, r + 2, c0, c1)
            a3, b3 = _z_start(W, bc, wm, r + 3, c0, c1)
            a4, b4 = _z_start(W, bc, wm, r + 4, c0, c1)
            a5, b5 = _z_start(W, bc, wm, r + 5, c0, c1)
            a6, b6 = _z_start(W, bc, wm, r + 6, c0, c1)
            a7, b7 = _z_start(W, bc, wm, r + 7, c0, c1)
            acc = tile8((a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7),
                        W, wc + r, B, K, hist, row, C, col, d)
            _z_store(z, r, t, acc[0], acc[8])
            _z_store(z, r + 1, t, acc[1], acc[9])
            _z_store(z, r + 2, t, acc[2], acc[10])
            _z_store(z, r + 3, t, acc[3], acc[11])
            _z_store(z, r + 4, t, acc[4], acc[12])
            _z_store(z, r + 5, t, acc[5], acc[13])
            _z_store(z, r + 6, t, acc[6], acc[14])
            _z_store(z, r + 7, t, acc[7], acc[15])
            r += 8
        while r + 4 <= B:
            a0, b0 = _z_start(W, bc, wm, r, c0, c1)
            a1, b1 = _z_start(W, bc, wm, r + 1, c0, c1)
            a2, b2 = _z_start(W, bc, wm, r + 2, c0, c1)
            a3, b3 = _z_start(W, bc, wm, r + 3, c0, c1)
            acc = tile4((a0, a1, a2, a3, b0, b1, b2, b3), W, wc + r, B, K, hist, row, C, col, d)
            _z_store(z, r, t, acc[0], acc[4])
            _z_store(z, r + 1, t, acc[1], acc[5])
            _z_store(z, r + 2, t, acc[2], acc[6])
            _z_store(z, r + 3, t, acc[3], acc[7])
            r += 4
        while r < B:
            a0, b0 = _z_start(W, bc, wm, r, c0, c1)
            a0, b0 = tile1(a0, b0, W, wc + r, B, K, hist, row, C, col, d)
            _z_store(z, r, t, a0, b0)
            r += 1
        for r in range(B):
            slope = LF[li, 0] if sl < 0 else W[sl + r]
            a = act.vapply(load(z, r, t), kind, slope)
            b = act.vapply(load(z, r, t + 8), kind, slope)
            _z_store(z, r, t, a, b)
            store(hist, hrow + r, ph + t, load(hist, hrow + r, ph + t) + a)
            store(hist, hrow + r, ph + t + 8, load(hist, hrow + r, ph + t + 8) + b)


@inline
def _out_start(hist, row, p, W, b1, r, t):
    bias = splat(W[b1 + r] if b1 >= 0 else np.float32(0.0))
    return load(hist, row + r, p + t) + bias, load(hist, row + r, p + t + 8) + bias


@inline
def _fused_out(li, C, B, W, LT, hist, row, p, z, dst, drow0, q, nn):
    """dst rows = the layer's input + layer1x1 bias + layer1x1 @ z[:B] (the residual path)."""
    w1 = LT[li, L_1X1_WT]
    b1 = LT[li, L_1X1_B]
    for t in range(0, nn, 16):
        r = 0
        while r + 8 <= C:
            a0, b0 = _out_start(hist, row, p, W, b1, r, t)
            a1, b1_ = _out_start(hist, row, p, W, b1, r + 1, t)
            a2, b2 = _out_start(hist, row, p, W, b1, r + 2, t)
            a3, b3 = _out_start(hist, row, p, W, b1, r + 3, t)
            a4, b4 = _out_start(hist, row, p, W, b1, r + 4, t)
            a5, b5 = _out_start(hist, row, p, W, b1, r + 5, t)
            a6, b6 = _out_start(hist, row, p, W, b1, r + 6, t)
            a7, b7 = _out_start(hist, row, p, W, b1, r + 7, t)
            acc = tile8((a0, a1, a2, a3, a4, a5, a6, a7, b0, b1_, b2, b3, b4, b5, b6, b7),
                        W, w1 + r, C, 1, z, 0, B, t, 0)
            store(dst, drow0 + r, q + t, acc[0])
            store(dst, drow0 + r, q + t + 8, acc[8])
            store(dst, drow0 + r + 1, q + t, acc[1])
            store(dst, drow0 + r + 1, q + t + 8, acc[9])
            store(dst, drow0 + r + 2, q + t, acc[2])
            store(dst, drow0 + r + 2, q + t + 8, acc[10])
            store(dst, drow0 + r + 3, q + t, acc[3])
            store(dst, drow0 + r + 3, q + t + 8, acc[11])
            store(dst, drow0 + r + 4, q + t, acc[4])
            store(dst, drow0 + r + 4, q + t + 8, acc[12])
            store(dst, drow0 + r + 5, q + t, acc[5])
            store(dst, drow0 + r + 5, q + t + 8, acc[13])
            store(dst, drow0 + r + 6, q + t, acc[6])
            store(dst, drow0 + r + 6, q + t + 8, acc[14])
            store(dst, drow0 + r + 7, q + t, acc[7])
            store(dst, drow0 + r + 7, q + t + 8, acc[15])
            r += 8
        while r + 4 <= C:
            a0, b0 = _out_start(hist, row, p, W, b1, r, t)
            a1, b1_ = _out_start(hist, row, p, W, b1, r + 1, t)
            a2, b2 = _out_start(hist, row, p, W, b1, r + 2, t)
            a3, b3 = _out_start(hist, row, p, W, b1, r + 3, t)
            acc = tile4((a0, a1, a2, a3, b0, b1_, b2, b3), W, w1 + r, C, 1, z, 0, B, t, 0)
            store(dst, drow0 + r, q + t, acc[0])
            store(dst, drow0 + r, q + t + 8, acc[4])
            store(dst, drow0 + r + 1, q + t, acc[1])
            store(dst, drow0 + r + 1, q + t + 8, acc[5])
            store(dst, drow0 + r + 2, q + t, acc[2])
            store(dst, drow0 + r + 2, q + t + 8, acc[6])
            store(dst, drow0 + r + 3, q + t, acc[3])
            store(dst, drow0 + r + 3, q + t + 8, acc[7])
            r += 4
        while r < C:
            a0, b0 = _out_start(hist, row, p, W, b1, r, t)
            a0, b0 = tile1(a0, b0, W, w1 + r, C, 1, z, 0, B, t, 0)
            store(dst, drow0 + r, q + t, a0)
            store(dst, drow0 + r, q + t + 8, b0)
            r += 1


@kernel
def film(src, s0, sc0, dst, d0, dc0, D, W, woff, boff, shift, cond, nc, fbuf, n):
    """dst[d0+r, dc0:dc0+n] = src[s0+r, sc0:sc0+n] * scale[r] + shift[r] for r < D, where
    (scale; shift) = W @ cond + b, W (D or 2D, nc) at woff; src and dst may be the same rows."""
    rows = 2 * D if shift else D
    fill_rows(fbuf, 0, 0, rows, W, boff, n)
    gemm_acc(fbuf, 0, 0, rows, W, woff, nc, 1, cond, 0, 0, nc, n)
    for r in range(D):
        x = src[s0 + r, sc0:sc0 + n]
        y = dst[d0 + r, dc0:dc0 + n]
        sc = fbuf[r, :n]
        if shift:
            sh = fbuf[D + r, :n]
            for t in range(n):
                y[t] = x[t] * sc[t] + sh[t]
        else:
            for t in range(n):
                y[t] = x[t] * sc[t]


@kernel
def film_layer(li, first, nl, C, hrow, ph, cond, W, LT, LF, RT, hist, pos, z, ybuf, tmp, scratch, n):
    """One layer of wavenet_block with its FiLM slots (Core's Layer::Process order).

    It repeats the plain layer's steps (mixin, activation, skip, residual) rather than
    sharing functions with wavenet_block: moving those steps into functions, inlined by
    Numba or not, cost the plain path 5-30% (nano 110 -> 75x real time, measured), as
    each call passes a dozen array structs.

    scratch: four stacked buffers of equal height: the mixin's output, FiLM's scale and
    shift, the modulated condition, and a 1x1's output."""
    R = scratch.shape[0] // 4
    zm = scratch[0:R]
    fbuf = scratch[R:2 * R]
    cbuf = scratch[2 * R:3 * R]
    lbuf = scratch[3 * R:4 * R]
    B = LT[li, L_B]
    Z = LT[li, L_Z]
    K = LT[li, L_K]
    d = LT[li, L_DIL]
    row = RT[LT[li, L_RING], R_ROW]
    p = pos[LT[li, L_RING]]

    # z = bias + input mixin of the condition + dilated causal conv of h.
    nc = LT[li, L_COND]
    flags = LT[li, L_FILM]
    if (flags & FILM_CONV_PRE) != 0:
        # The conv sees the FiLM-modulated input, kept in a ring of its own.
        frow = RT[LT[li, L_FRING], R_ROW]
        fp = pos[LT[li, L_FRING]]
        film(hist, row, p, hist, frow, fp, C, W, LT[li, L_FT], LT[li, L_FT + 1], LT[li, L_FT + 2],
             cond, nc, fbuf, n)
        row = frow
        p = fp
    if (flags & (FILM_CONV_POST | FILM_MIX_PRE | FILM_MIX_POST)) != 0:
        fill_rows(z, 0, 0, Z, W, LT[li, L_CONV_B], n)
        conv_acc(z, 0, 0, Z, W, LT[li, L_CONV_W], C, K, hist, row, p, d, n)
        if (flags & FILM_CONV_POST) != 0:
            film(z, 0, 0, z, 0, 0, Z, W, LT[li, L_FT + 3], LT[li, L_FT + 4], LT[li, L_FT + 5], cond, nc, fbuf, n)
        fill_rows(zm, 0, 0, Z, W, -1, n)
        if (flags & FILM_MIX_PRE) != 0:
            film(cond, 0, 0, cbuf, 0, 0, nc, W, LT[li, L_FT + 6], LT[li, L_FT + 7], LT[li, L_FT + 8],
                 cond, nc, fbuf, n)
            gemm_acc(zm, 0, 0, Z, W, LT[li, L_MIX_W], nc, 1, cbuf, 0, 0, nc, n)
        else:
            gemm_acc(zm, 0, 0, Z, W, LT[li, L_MIX_W], nc, 1, cond, 0, 0, nc, n)
        if (flags & FILM_MIX_POST) != 0:
            film(zm, 0, 0, zm, 0, 0, Z, W, LT[li, L_FT + 9], LT[li, L_FT + 10], LT[li, L_FT + 11], cond, nc,
                 fbuf, n)
        for r in range(Z):
            zr = z[r, :n]
            mr = zm[r, :n]
            for t in range(n):
                zr[t] += mr[t]
    elif nc == 1:
        # One condition channel (the usual case): bias and mixin in a single pass.
        c0 = cond[0, :n]
        for r in range(Z):
            zr = z[r, :n]
            bias = W[LT[li, L_CONV_B] + r]
            m = W[LT[li, L_MIX_W] + r]
            for t in range(n):
                zr[t] = bias + m * c0[t]
    else:
        fill_rows(z, 0, 0, Z, W, LT[li, L_CONV_B], n)
        gemm_acc(z, 0, 0, Z, W, LT[li, L_MIX_W], nc, 1, cond, 0, 0, nc, n)
    if (flags & (FILM_CONV_POST | FILM_MIX_PRE | FILM_MIX_POST)) == 0:
        conv_acc(z, 0, 0, Z, W, LT[li, L_CONV_W], C, K, hist, row, p, d, n)
    # The residual takes the layer's own input, not the FiLM-modulated one.
    row = RT[LT[li, L_RING], R_ROW]
    p = pos[LT[li, L_RING]]
    if (flags & FILM_ACT_PRE) != 0:
        film(z, 0, 0, z, 0, 0, Z, W, LT[li, L_FT + 12], LT[li, L_FT + 13], LT[li, L_FT + 14], cond, nc, fbuf, n)

    # Activation (plain, gated or blended); the result is z[:B].
    gating = LT[li, L_GATING]
    for r in range(B):
        if gating == 2:
            for t in range(n):
                tmp[t] = z[r, t]
        s0 = LF[li, 0] if LT[li, L_ACT_SLOPES] < 0 else W[LT[li, L_ACT_SLOPES] + r]
        act.apply_row(z[r], n, LT[li, L_ACT], s0, LF[li, 1], LF[li, 2], LF[li, 3])
        if gating != 0:
            g = z[B + r]
            s4 = LF[li, 4] if LT[li, L_SEC_SLOPES] < 0 else W[LT[li, L_SEC_SLOPES] + r]
            act.apply_row(g, n, LT[li, L_SEC], s4, LF[li, 5], LF[li, 6], LF[li, 7])
            zr = z[r]
            if gating == 1:
                for t in range(n):
                    zr[t] = zr[t] * g[t]
            else:
                for t in range(n):
                    zr[t] = g[t] * zr[t] + (np.float32(1.0) - g[t]) * tmp[t]

    if (flags & FILM_ACT_POST) != 0:
        film(z, 0, 0, z, 0, 0, B, W, LT[li, L_FT + 15], LT[li, L_FT + 16], LT[li, L_FT + 17], cond, nc, fbuf, n)

    # Skip path into the head accumulator.
    hh = LT[li, L_HH_OUT]
    if hh > 0 and (flags & FILM_HEAD1X1_POST) != 0:
        fill_rows(lbuf, 0, 0, hh, W, LT[li, L_HH_B], n)
        matmul_acc(lbuf, 0, 0, hh, W, LT[li, L_HH_W], z, 0, 0, B, n)
        film(lbuf, 0, 0, lbuf, 0, 0, hh, W, LT[li, L_FT + 21], LT[li, L_FT + 22], LT[li, L_FT + 23], cond, nc,
             fbuf, n)
        for r in range(hh):
            acc = hist[hrow + r, ph:ph + n]
            lr = lbuf[r, :n]
            for t in range(n):
                acc[t] += lr[t]
    elif hh > 0:
        if LT[li, L_HH_B] >= 0:
            for r in range(hh):
                bias = W[LT[li, L_HH_B] + r]
                acc = hist[hrow + r, ph:ph + n]
                for t in range(n):
                    acc[t] += bias
        matmul_acc(hist, hrow, ph, hh, W, LT[li, L_HH_W], z, 0, 0, B, n)
    else:
        for r in range(B):
            acc = hist[hrow + r, ph:ph + n]
            zr = z[r, :n]
            for t in range(n):
                acc[t] += zr[t]

    # Residual path: the next layer's ring, or ybuf after the array's last layer.
    if li == first + nl - 1:
        dst = ybuf
        drow0 = 0
        q = 0
    else:
        dst = hist
        drow0 = RT[LT[li + 1, L_RING], R_ROW]
        q = pos[LT[li + 1, L_RING]]
    b1 = LT[li, L_1X1_B]
    if (flags & FILM_1X1_POST) != 0:
        fill_rows(lbuf, 0, 0, C, W, b1, n)
        matmul_acc(lbuf, 0, 0, C, W, LT[li, L_1X1_W], z, 0, 0, B, n)
        film(lbuf, 0, 0, lbuf, 0, 0, C, W, LT[li, L_FT + 18], LT[li, L_FT + 19], LT[li, L_FT + 20], cond, nc,
             fbuf, n)
        for r in range(C):
            src = hist[row + r, p:p + n]
            drow = dst[drow0 + r, q:q + n]
            lr = lbuf[r, :n]
            for t in range(n):
                drow[t] = src[t] + lr[t]
        return
    for r in range(C):
        src = hist[row + r, p:p + n]
        drow = dst[drow0 + r, q:q + n]
        bias = W[b1 + r] if b1 >= 0 else np.float32(0.0)
        for t in range(n):
            drow[t] = src[t] + bias
    if LT[li, L_1X1_W] >= 0:
        matmul_acc(dst, drow0, q, C, W, LT[li, L_1X1_W], z, 0, 0, B, n)


# Without Numba's reference counting (_nrt=False): the arrays handed to the inlined tile
# functions were incref'd and decref'd inside the hot loops (a call that spills every vector
# register); the kernel allocates nothing, so there is nothing to count. Its callees copy
# with loops, not slice assignment (which may allocate a temporary).
@njit(_nrt=False, **OPTIONS)
def wavenet_block(x, cond, y, n, W, AT, LT, LF, RT, PT, hist, pos, z, ybuf, headout, tmp, scratch, head_scale):
    """Run one block of n frames. x: (in, >=nn) input; cond: (cond, >=nn); y: (out, >=nn),
    nn = n rounded up to 16: every step computes nn frames (the register tiles take 16 at
    a time); the frames past n are computed from whatever follows the input, touch no
    earlier frame (every step is causal) and are overwritten by the next block.

    hist: every ring stacked as rows of one (rows, capacity) array, so a ring is a row
    offset and no view has to be built per layer. PT: the post-stack head (no rows: none).
    scratch: used by FiLM layers only. Few arguments: each costs time on every call.
    """
    cap = hist.shape[1]
    nn = (n + 15) // 16 * 16
    # Make room in every ring so this block's frames land in one contiguous run.
    for j in range(RT.shape[0]):
        if pos[j] + nn > cap:
            span = RT[j, R_SPAN]
            p = pos[j]
            for r in range(RT[j, R_ROW], RT[j, R_ROW] + RT[j, R_ROWS]):
                row = hist[r]
                for t in range(span):
                    row[t] = row[p - span + t]
            pos[j] = span

    for a in range(AT.shape[0]):
        C = AT[a, A_C]
        hin = AT[a, A_HIN]
        hrow = RT[AT[a, A_HRING], R_ROW]
        ph = pos[AT[a, A_HRING]]
        first = AT[a, A_FIRST]
        nl = AT[a, A_NLAYERS]

        # Head accumulator for this block starts at zero or at the previous array's head.
        if a == 0:
            fill_rows(hist, hrow, ph, hin, W, -1, nn)
        else:
            for r in range(hin):
                for t in range(nn):
                    hist[hrow + r, ph + t] = headout[r, t]

        # Rechannel into the first layer's ring.
        row0 = RT[LT[first, L_RING], R_ROW]
        p0 = pos[LT[first, L_RING]]
        fill_rows(hist, row0, p0, C, W, -1, nn)
        if a == 0:
            gemm_acc(hist, row0, p0, C, W, AT[a, A_RECH_W], AT[a, A_IN], 1, x, 0, 0, AT[a, A_IN], nn)
        else:
            gemm_acc(hist, row0, p0, C, W, AT[a, A_RECH_W], AT[a, A_IN], 1, ybuf, 0, 0, AT[a, A_IN], nn)

        for li in range(first, first + nl):
            if LT[li, L_FILM] != 0:
                # Layers with FiLM take their own path, so the others pay nothing for it.
                film_layer(li, first, nl, C, hrow, ph, cond, W, LT, LF, RT, hist, pos, z, ybuf, tmp, scratch, nn)
                continue
            B = LT[li, L_B]
            Z = LT[li, L_Z]
            K = LT[li, L_K]
            d = LT[li, L_DIL]
            row = RT[LT[li, L_RING], R_ROW]
            p = pos[LT[li, L_RING]]
            if LT[li, L_FAST] != 0:
                _fused_z(li, C, B, K, d, W, LT, LF, hist, row, p, cond, z, hrow, ph, nn)
                if li == first + nl - 1:
                    _fused_out(li, C, B, W, LT, hist, row, p, z, ybuf, 0, 0, nn)
                else:
                    nxt = LT[li + 1, L_RING]
                    _fused_out(li, C, B, W, LT, hist, row, p, z, hist, RT[nxt, R_ROW], pos[nxt], nn)
                continue

            # z = bias + input mixin of the condition + dilated causal conv of h.
            nc = LT[li, L_COND]
            if nc == 1:
                # One condition channel (the usual case): bias and mixin in a single pass.
                c0 = cond[0, :nn]
                for r in range(Z):
                    zr = z[r, :nn]
                    bias = W[LT[li, L_CONV_B] + r]
                    m = W[LT[li, L_MIX_W] + r]
                    for t in range(nn):
                        zr[t] = bias + m * c0[t]
            else:
                fill_rows(z, 0, 0, Z, W, LT[li, L_CONV_B], nn)
                gemm_acc(z, 0, 0, Z, W, LT[li, L_MIX_W], nc, 1, cond, 0, 0, nc, nn)
            conv_acc(z, 0, 0, Z, W, LT[li, L_CONV_W], C, K, hist, row, p, d, nn)

            # Activation (plain, gated or blended); the result is z[:B].
            gating = LT[li, L_GATING]
            for r in range(B):
                if gating == 2:
                    for t in range(nn):
                        tmp[t] = z[r, t]
                s0 = LF[li, 0] if LT[li, L_ACT_SLOPES] < 0 else W[LT[li, L_ACT_SLOPES] + r]
                act.apply_row(z[r], nn, LT[li, L_ACT], s0, LF[li, 1], LF[li, 2], LF[li, 3])
                if gating != 0:
                    g = z[B + r]
                    s4 = LF[li, 4] if LT[li, L_SEC_SLOPES] < 0 else W[LT[li, L_SEC_SLOPES] + r]
                    act.apply_row(g, nn, LT[li, L_SEC], s4, LF[li, 5], LF[li, 6], LF[li, 7])
                    zr = z[r]
                    if gating == 1:
                        for t in range(nn):
                            zr[t] = zr[t] * g[t]
                    else:
                        for t in range(nn):
                            zr[t] = g[t] * zr[t] + (np.float32(1.0) - g[t]) * tmp[t]

            # Skip path into the head accumulator.
            hh = LT[li, L_HH_OUT]
            if hh > 0:
                if LT[li, L_HH_B] >= 0:
                    for r in range(hh):
                        bias = W[LT[li, L_HH_B] + r]
                        acc = hist[hrow + r, ph:ph + nn]
                        for t in range(nn):
                            acc[t] += bias
                matmul_acc(hist, hrow, ph, hh, W, LT[li, L_HH_W], z, 0, 0, B, nn)
            else:
                for r in range(B):
                    acc = hist[hrow + r, ph:ph + nn]
                    zr = z[r, :nn]
                    for t in range(nn):
                        acc[t] += zr[t]

            # Residual path: the next layer's ring, or ybuf after the array's last layer.
            if li == first + nl - 1:
                dst = ybuf
                drow0 = 0
                q = 0
            else:
                dst = hist
                drow0 = RT[LT[li + 1, L_RING], R_ROW]
                q = pos[LT[li + 1, L_RING]]
            b1 = LT[li, L_1X1_B]
            for r in range(C):
                src = hist[row + r, p:p + nn]
                drow = dst[drow0 + r, q:q + nn]
                bias = W[b1 + r] if b1 >= 0 else np.float32(0.0)
                for t in range(nn):
                    drow[t] = src[t] + bias
            if LT[li, L_1X1_W] >= 0:
                matmul_acc(dst, drow0, q, C, W, LT[li, L_1X1_W], z, 0, 0, B, nn)

        # Head rechannel: a causal conv over the accumulated head (kernel >= 1).
        hout = AT[a, A_HOUT]
        fill_rows(headout, 0, 0, hout, W, AT[a, A_HEAD_B], nn)
        conv_acc(headout, 0, 0, hout, W, AT[a, A_HEAD_W], hin, AT[a, A_HK], hist, hrow, ph, AT[a, A_HDIL], nn)

    last_out = AT[AT.shape[0] - 1, A_HOUT]
    npost = PT.shape[0]
    if npost == 0:
        for r in range(last_out):
            yr = y[r, :n]
            hr = headout[r, :n]
            for t in range(n):
                yr[t] = head_scale * hr[t]
    else:
        # Post-stack head: each conv's input is the activated output before it, kept in a ring.
        prow = RT[PT[0, P_RING], R_ROW]
        pp = pos[PT[0, P_RING]]
        for r in range(last_out):
            dr = hist[prow + r, pp:pp + nn]
            hr = headout[r, :nn]
            for t in range(nn):
                dr[t] = head_scale * hr[t]
            lf = PT[0, P_LF]
            s0 = LF[lf, 0] if PT[0, P_SLOPES] < 0 else W[PT[0, P_SLOPES] + r]
            act.apply_row(dr, n, PT[0, P_ACT], s0, LF[lf, 1], LF[lf, 2], LF[lf, 3])
        for i in range(npost):
            srow = RT[PT[i, P_RING], R_ROW]
            sp = pos[PT[i, P_RING]]
            cout = PT[i, P_OUT]
            if i == npost - 1:
                fill_rows(y, 0, 0, cout, W, PT[i, P_B], nn)
                conv_acc(y, 0, 0, cout, W, PT[i, P_W], PT[i, P_IN], PT[i, P_K], hist, srow, sp, 1, nn)
            else:
                drow = RT[PT[i + 1, P_RING], R_ROW]
                dp = pos[PT[i + 1, P_RING]]
                fill_rows(hist, drow, dp, cout, W, PT[i, P_B], nn)
                conv_acc(hist, drow, dp, cout, W, PT[i, P_W], PT[i, P_IN], PT[i, P_K], hist, srow, sp, 1, nn)
                lf = PT[i + 1, P_LF]
                for r in range(cout):
                    s0 = LF[lf, 0] if PT[i + 1, P_SLOPES] < 0 else W[PT[i + 1, P_SLOPES] + r]
                    act.apply_row(hist[drow + r, dp:dp + nn], nn, PT[i + 1, P_ACT], s0, LF[lf, 1],
                                  LF[lf, 2], LF[lf, 3])

    for j in range(RT.shape[0]):
        pos[j] += n


@kernel
def wavenet_mono(inp, out, n, x, y, W, AT, LT, LF, RT, PT, hist, pos, z, ybuf, headout, tmp, scratch, head_scale):
    """The usual case, mono in and out with the input as the condition, in one call: the
    copies in and out cost less here than as NumPy slicing in Python (~2 us a block)."""
    x[0, :n] = inp[:n]
    wavenet_block(x, x, y, n, W, AT, LT, LF, RT, PT, hist, pos, z, ybuf, headout, tmp, scratch, head_scale)
    out[:n] = y[0, :n]


def _frames(max_block):
    """Columns of a per-block buffer: max_block rounded up to whole 16-frame tiles."""
    return -(-int(max_block) // 16) * 16


def _alias_safe_row_length(n):
    """A row length >= n whose byte stride is not close to a multiple of 4 KiB.

    Rows a multiple of 4 KiB apart make the loads of one output row and the stores of
    the next look alike to the CPU ("4K aliasing"): the 1x1 convolution into the history
    ran at 3 GMAC/s instead of 12 with 2048-float rows.
    """
    n = -(-n // 16) * 16
    while not 256 <= (n * 4) % 4096 <= 3840:
        n += 16
    return n


def _activation_spec(spec, where):
    """(id, 4 float params) from a NAM-style activation name or object."""
    if spec is None:
        raise ModelConfigError(f"missing activation at '{where}'")
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ModelConfigError(f"bad activation at '{where}': {spec!r}")
    try:
        kind = act.activation_id(spec["type"])
    except KeyError as e:
        raise ModelConfigError(f"{where}: {e.args[0]}") from None
    params = [0.0, 0.0, 0.0, 0.0]
    if kind == act.LEAKYRELU:
        params[0] = float(spec.get("negative_slope", 0.01))
    elif kind == act.PRELU:
        # One slope for every channel, or one per channel (NAM's "negative_slopes"): the
        # first stands in here; activation_slopes gives the rest.
        params[0] = float(_prelu_slopes(spec, where)[0])
    elif kind == act.LEAKYHARDTANH:
        params = [float(spec.get("min_val", -1.0)), float(spec.get("max_val", 1.0)),
                  float(spec.get("min_slope", 0.01)), float(spec.get("max_slope", 0.01))]
    return kind, params


def _prelu_slopes(spec, where):
    # As Core reads it: "negative_slope" wins over "negative_slopes"; neither means 0.01.
    if "negative_slope" in spec:
        value = spec["negative_slope"]
    else:
        value = spec.get("negative_slopes", 0.01)
    try:
        slopes = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise ModelConfigError(f"{where}: PReLU slopes must be numbers, got {value!r}") from None
    if slopes.ndim != 1 or slopes.size == 0 or not np.all(np.isfinite(slopes)):
        raise ModelConfigError(f"{where}: PReLU slopes must be a non-empty list of finite numbers")
    return slopes


def activation_slopes(spec, channels, where):
    """The per-channel slopes of a PReLU with more than one distinct slope, as float32
    (checked to be one per channel), or None when `spec`'s parameters serve every channel."""
    if isinstance(spec, str) or not isinstance(spec, dict) or act.activation_id(spec.get("type")) != act.PRELU:
        return None
    slopes = _prelu_slopes(spec, where)
    if np.all(slopes == slopes[0]):
        return None
    if slopes.size != channels:
        raise ModelConfigError(f"{where}: PReLU has {slopes.size} slopes for {channels} channels")
    return slopes.astype(np.float32)


def _arrays(config):
    arrays = require(config, "layer_arrays", "config")
    if not isinstance(arrays, list) or not arrays:
        raise ModelConfigError("'config.layer_arrays' must be a non-empty list")
    return arrays


def weight_shapes(config):
    """Every weight array this config needs, in file order: {name: shape}."""
    shapes = {}
    prev_head = None
    prev_channels = None
    for a, arr in enumerate(_arrays(config)):
        w = f"config.layer_arrays[{a}]"
        n_in = positive_int(require(arr, "input_size", w), w + ".input_size")
        n_cond = positive_int(require(arr, "condition_size", w), w + ".condition_size")
        C = positive_int(require(arr, "channels", w), w + ".channels")
        B = positive_int(arr.get("bottleneck", C), w + ".bottleneck")
        head_size = positive_int(require(arr, "head_size", w), w + ".head_size")
        hk = positive_int(arr.get("head_kernel_size", 1), w + ".head_kernel_size")
        head1x1 = arr.get("head1x1")
        hin = positive_int(head1x1, w + ".head1x1") if head1x1 else B
        layer1x1 = bool(arr.get("layer1x1", True))
        if not layer1x1 and B != C:
            raise ModelConfigError(f"{w}: layer1x1 inactive needs bottleneck == channels")
        if a > 0 and n_in != prev_channels:
            raise ModelConfigError(f"{w}.input_size ({n_in}) != channels of the previous array ({prev_channels})")
        if a > 0 and hin != prev_head:
            raise ModelConfigError(f"{w}: head input ({hin}) != head_size of the previous array ({prev_head})")
        if a == 0 and n_in != 1:
            raise ModelConfigError(f"{w}.input_size must be 1 (mono audio), got {n_in}")
        layers = require(arr, "layers", w)
        if not isinstance(layers, list) or not layers:
            raise ModelConfigError(f"'{w}.layers' must be a non-empty list")
        p = f"arrays/{a}/"
        shapes[p + "rechannel/weight"] = (C, n_in, 1)
        for i, layer in enumerate(layers):
            lw = f"{w}.layers[{i}]"
            K = positive_int(require(layer, "kernel_size", lw), lw + ".kernel_size")
            positive_int(require(layer, "dilation", lw), lw + ".dilation")
            gating = layer.get("gating", "none")
            if gating not in GATING:
                raise ModelConfigError(f"{lw}.gating must be one of {sorted(GATING)}, got {gating!r}")
            _activation_spec(layer.get("activation"), lw + ".activation")
            activation_slopes(layer.get("activation"), B, lw + ".activation")
            if gating != "none":
                _activation_spec(layer.get("secondary_activation") or "Sigmoid", lw + ".secondary_activation")
                activation_slopes(layer.get("secondary_activation"), B, lw + ".secondary_activation")
            Z = 2 * B if gating != "none" else B
            q = f"{p}layers/{i}/"
            shapes[q + "conv/weight"] = (Z, C, K)
            shapes[q + "conv/bias"] = (Z,)
            shapes[q + "mixin/weight"] = (Z, n_cond, 1)
            if layer1x1:
                shapes[q + "layer1x1/weight"] = (C, B, 1)
                shapes[q + "layer1x1/bias"] = (C,)
            if head1x1:
                shapes[q + "head1x1/weight"] = (hin, B, 1)
                shapes[q + "head1x1/bias"] = (hin,)
            dims = {"conv_pre_film": C, "conv_post_film": Z, "input_mixin_pre_film": n_cond,
                    "input_mixin_post_film": Z, "activation_pre_film": Z, "activation_post_film": B,
                    "layer1x1_post_film": C, "head1x1_post_film": hin}
            for slot, spec in _films(layer, lw).items():
                if slot == "layer1x1_post_film" and not layer1x1:
                    raise ModelConfigError(f"{lw}.film.{slot} needs layer1x1")
                if slot == "head1x1_post_film" and not head1x1:
                    raise ModelConfigError(f"{lw}.film.{slot} needs head1x1")
                rows = dims[slot] * (2 if spec.get("shift", True) else 1)
                shapes[f"{q}film/{slot}/weight"] = (rows, n_cond, 1)
                shapes[f"{q}film/{slot}/bias"] = (rows,)
        shapes[p + "head/weight"] = (head_size, hin, hk)
        if arr.get("head_bias", False):
            shapes[p + "head/bias"] = (head_size,)
        prev_head, prev_channels = head_size, C
    post = config.get("post_head")
    if post:
        cin = prev_head
        for i, (cout, k) in enumerate(_post_head_layers(post, prev_head)):
            # The head's one activation comes before each of its convs, on cin channels.
            activation_slopes(post["activation"], cin, f"config.post_head.activation (before conv {i})")
            shapes[f"post_head/{i}/weight"] = (cout, cin, k)
            shapes[f"post_head/{i}/bias"] = (cout,)
            cin = cout
    return shapes


def _films(layer, where):
    """{slot: {"shift": bool}} of a layer's active FiLM slots, checked."""
    films = layer.get("film") or {}
    if not isinstance(films, dict):
        raise ModelConfigError(f"'{where}.film' must be an object")
    for slot, spec in films.items():
        if slot not in FILM_SLOTS:
            raise ModelConfigError(f"'{where}.film.{slot}' is not a FiLM slot (known: {', '.join(FILM_SLOTS)})")
        if not isinstance(spec, dict):
            raise ModelConfigError(f"'{where}.film.{slot}' must be an object")
    return {slot: films[slot] for slot in FILM_SLOTS if slot in films}


def _post_head_layers(post, in_channels):
    """[(out_channels, kernel_size)] of the post-stack head's convs, checked."""
    w = "config.post_head"
    if not isinstance(post, dict):
        raise ModelConfigError(f"'{w}' must be an object")
    kernels = require(post, "kernel_sizes", w)
    if not isinstance(kernels, list) or not kernels:
        raise ModelConfigError(f"'{w}.kernel_sizes' must be a non-empty list")
    channels = positive_int(require(post, "channels", w), w + ".channels")
    out = positive_int(require(post, "out_channels", w), w + ".out_channels")
    _activation_spec(require(post, "activation", w), w + ".activation")
    return [(out if i == len(kernels) - 1 else channels, positive_int(k, f"{w}.kernel_sizes[{i}]"))
            for i, k in enumerate(kernels)]


def receptive_field(config):
    """NAM's prewarm length: 1 + sum over arrays of (dilations x (kernel - 1)) + head kernel - 1,
    + (kernel - 1) of each post-stack head conv."""
    rf = 1
    for arr in _arrays(config):
        for layer in arr["layers"]:
            rf += layer["dilation"] * (layer["kernel_size"] - 1)
        rf += (arr.get("head_kernel_size", 1) - 1) * arr.get("head_dilation", 1)
    if config.get("post_head"):
        rf += sum(k - 1 for k in config["post_head"]["kernel_sizes"])
    return rf


class WaveNet(Model):
    architecture = ARCHITECTURE

    def __init__(self, config, weights, sample_rate=48000, max_block=2048, condition_model=None):
        super().__init__(config, weights, sample_rate, max_block)
        shapes = weight_shapes(config)
        arrays = _arrays(config)
        self.head_scale = np.float32(config.get("head_scale", 1.0))
        self._condition_model = condition_model

        # Per-channel PReLU slopes travel in W beside the weights, one per row.
        slopes = {}
        for a, arr in enumerate(arrays):
            B = arr.get("bottleneck", arr["channels"])
            for i, layer in enumerate(arr["layers"]):
                q = f"arrays/{a}/layers/{i}/"
                for key in ("activation", "secondary_activation"):
                    if key == "activation" or layer.get("gating", "none") != "none":
                        found = activation_slopes(layer.get(key), B, q + key)
                        if found is not None:
                            slopes[q + key + "/slopes"] = found
        post = config.get("post_head")
        if post:
            cin = arrays[-1]["head_size"]
            for i, (cout, _) in enumerate(_post_head_layers(post, cin)):
                found = activation_slopes(post["activation"], cin, "config.post_head.activation")
                if found is not None:
                    slopes[f"post_head/{i}/activation/slopes"] = found
                cin = cout
        self._W, offsets = pack_weights(dict(shapes, **{k: v.shape for k, v in slopes.items()}),
                                        dict(weights, **slopes))

        transposed = []  # the fused layers' weights, laid out for the register tiles
        n_layers = sum(len(a["layers"]) for a in arrays)
        LT = np.full((n_layers, L_NCOLS), -1, np.int64)
        LF = np.zeros((n_layers, 8), np.float32)
        AT = np.full((len(arrays), A_NCOLS), -1, np.int64)
        rings = []  # (rows, span)
        maxz = maxc = maxh = maxf = maxcond = 1
        li = 0
        for a, arr in enumerate(arrays):
            C = arr["channels"]
            B = arr.get("bottleneck", C)
            head1x1 = arr.get("head1x1")
            hin = head1x1 if head1x1 else B
            p = f"arrays/{a}/"
            AT[a, A_FIRST] = li
            AT[a, A_NLAYERS] = len(arr["layers"])
            AT[a, A_IN] = arr["input_size"]
            AT[a, A_C] = C
            AT[a, A_HIN] = hin
            AT[a, A_HOUT] = arr["head_size"]
            AT[a, A_HK] = arr.get("head_kernel_size", 1)
            AT[a, A_HDIL] = arr.get("head_dilation", 1)
            AT[a, A_RECH_W] = offsets[p + "rechannel/weight"]
            AT[a, A_HEAD_W] = offsets[p + "head/weight"]
            AT[a, A_HEAD_B] = offsets.get(p + "head/bias", -1)
            for i, layer in enumerate(arr["layers"]):
                q = f"{p}layers/{i}/"
                gating = GATING[layer.get("gating", "none")]
                Z = 2 * B if gating else B
                kind, params = _activation_spec(layer["activation"], q)
                LT[li, L_C], LT[li, L_B], LT[li, L_Z] = C, B, Z
                LT[li, L_K], LT[li, L_DIL] = layer["kernel_size"], layer["dilation"]
                LT[li, L_GATING], LT[li, L_ACT] = gating, kind
                LF[li, :4] = params
                if gating:
                    sec, sparams = _activation_spec(layer.get("secondary_activation") or "Sigmoid", q)
                    LT[li, L_SEC] = sec
                    LF[li, 4:] = sparams
                LT[li, L_COND] = arr["condition_size"]
                LT[li, L_CONV_W] = offsets[q + "conv/weight"]
                LT[li, L_CONV_B] = offsets[q + "conv/bias"]
                LT[li, L_MIX_W] = offsets[q + "mixin/weight"]
                LT[li, L_1X1_W] = offsets.get(q + "layer1x1/weight", -1)
                LT[li, L_1X1_B] = offsets.get(q + "layer1x1/bias", -1)
                LT[li, L_HH_OUT] = head1x1 or 0
                LT[li, L_HH_W] = offsets.get(q + "head1x1/weight", -1)
                LT[li, L_HH_B] = offsets.get(q + "head1x1/bias", -1)
                LT[li, L_ACT_SLOPES] = offsets.get(q + "activation/slopes", -1)
                LT[li, L_SEC_SLOPES] = offsets.get(q + "secondary_activation/slopes", -1)
                LT[li, L_RING] = len(rings)
                span = layer["dilation"] * (layer["kernel_size"] - 1)
                rings.append((C, span))
                flags = 0
                for slot, spec in _films(layer, q).items():
                    j = FILM_SLOTS.index(slot)
                    flags |= 1 << j
                    col = L_FT + 3 * j
                    LT[li, col + F_W] = offsets[f"{q}film/{slot}/weight"]
                    LT[li, col + F_B] = offsets[f"{q}film/{slot}/bias"]
                    LT[li, col + F_SHIFT] = int(bool(spec.get("shift", True)))
                    maxf = max(maxf, shapes[f"{q}film/{slot}/bias"][0])
                LT[li, L_FILM] = flags
                LT[li, L_FAST] = int(flags == 0 and gating == 0 and arr["condition_size"] == 1
                                     and LT[li, L_1X1_W] >= 0 and not head1x1 and kind in act.VECTOR_KINDS)
                if LT[li, L_FAST]:
                    LT[li, L_CONV_WT] = len(self._W) + sum(e.size for e in transposed)
                    transposed.append(np.asarray(weights[q + "conv/weight"], np.float32).transpose(1, 2, 0).ravel())
                    LT[li, L_1X1_WT] = len(self._W) + sum(e.size for e in transposed)
                    transposed.append(np.asarray(weights[q + "layer1x1/weight"], np.float32)[:, :, 0].T.ravel())
                if flags & FILM_CONV_PRE:
                    LT[li, L_FRING] = len(rings)
                    rings.append((C, span))
                maxz = max(maxz, Z)
                maxcond = max(maxcond, arr["condition_size"])
                li += 1
            AT[a, A_HRING] = len(rings)
            rings.append((hin, (AT[a, A_HK] - 1) * AT[a, A_HDIL]))
            maxc = max(maxc, C)
            maxh = max(maxh, hin, arr["head_size"])

        if transposed:
            self._W = np.concatenate([self._W] + transposed).astype(np.float32)
        # Post-stack head: one ring per conv, holding its (activated) input.
        post = config.get("post_head")
        post_layers = _post_head_layers(post, arrays[-1]["head_size"]) if post else []
        PT = np.full((len(post_layers), P_NCOLS), -1, np.int64)
        if post_layers:
            LF = np.concatenate([LF, np.zeros((len(post_layers), 8), np.float32)])
        cin = arrays[-1]["head_size"]
        for i, (cout, k) in enumerate(post_layers):
            kind, params = _activation_spec(post["activation"], "config.post_head.activation")
            PT[i] = (cin, cout, k, len(rings), offsets[f"post_head/{i}/weight"], offsets[f"post_head/{i}/bias"], kind,
                     n_layers + i, offsets.get(f"post_head/{i}/activation/slopes", -1))
            LF[n_layers + i, :4] = params
            rings.append((cin, k - 1))
            cin = cout

        # One history array for all rings: capacity = the longest span + room for several
        # blocks, so the copy that makes room happens rarely.
        RT = np.zeros((len(rings), 3), np.int64)
        row = 0
        for j, (rows, span) in enumerate(rings):
            RT[j] = (row, rows, span)
            row += rows
        longest = int(RT[:, R_SPAN].max())
        m = _frames(self.max_block)
        capacity = _alias_safe_row_length(longest + max(longest, 4 * m))
        self._hist = np.zeros((row, capacity), np.float32)
        self._pos = RT[:, R_SPAN].copy()
        self._AT, self._LT, self._LF, self._RT = AT, LT, LF, RT
        self._PT = PT
        film_used = bool(np.any(LT[:, L_FILM]))
        # FiLM scratch (a single column when no layer has FiLM).
        height = max(maxz, maxf, maxcond, maxc, maxh)
        self._scratch = np.zeros((4 * height, m if film_used else 1), np.float32)
        self._z = np.zeros((maxz, m), np.float32)
        self._ybuf = np.zeros((maxc, m), np.float32)
        self._headout = np.zeros((maxh, m), np.float32)
        self._tmp = np.zeros(m, np.float32)
        self._x = np.zeros((1, m), np.float32)
        self.out_channels = int(post_layers[-1][0] if post_layers else arrays[-1]["head_size"])
        self._y = np.zeros((self.out_channels, m), np.float32)
        self._cond_size = int(arrays[0]["condition_size"])
        if condition_model is not None:
            if getattr(condition_model, "out_channels", 1) != self._cond_size:
                raise ModelConfigError(
                    f"condition_dsp gives {getattr(condition_model, 'out_channels', 1)} channels, "
                    f"layers expect condition_size {self._cond_size}")
        elif self._cond_size != 1:
            raise ModelConfigError(f"condition_size {self._cond_size} needs a condition_dsp")
        self._cond = self._x if condition_model is None else np.zeros((self._cond_size, m), np.float32)
        self._xin = np.zeros((1, m), np.float32)      # process_multi's input, padded to whole tiles
        self._rf = receptive_field(config)

    @property
    def prewarm_samples(self):
        extra = self._condition_model.prewarm_samples if self._condition_model is not None else 0
        return self._rf + extra

    def reset(self):
        self._hist[:] = 0.0
        self._pos[:] = self._RT[:, R_SPAN]
        if self._condition_model is not None:
            self._condition_model.reset()

    def process_multi(self, x, y, n):
        """x: (1, >=n) input, y: (out_channels, >=n) output; n <= max_block."""
        xin = self._xin
        xin[:, :n] = x[:, :n]
        if self._condition_model is not None:
            self._condition_model.process_multi(xin, self._cond, n)
            cond = self._cond
        else:
            cond = xin
        wavenet_block(xin, cond, self._y, n, self._W, self._AT, self._LT, self._LF, self._RT, self._PT, self._hist,
                      self._pos, self._z, self._ybuf, self._headout, self._tmp, self._scratch, self.head_scale)
        y[:, :n] = self._y[:, :n]

    def _process_block(self, input, output, n):
        if self._condition_model is None:
            wavenet_mono(input, output, n, self._x, self._y, self._W, self._AT, self._LT, self._LF, self._RT,
                         self._PT, self._hist, self._pos, self._z, self._ybuf, self._headout, self._tmp,
                         self._scratch, self.head_scale)
            return
        self._x[0, :n] = input[:n]
        self.process_multi(self._x, self._y, n)
        output[:n] = self._y[0, :n]


def cost(config, max_block=2048, sample_rate=48000):
    """The memory and per-sample work this config implies (see base.Cost), computed the
    way __init__ sizes its buffers but from the numbers alone, so a file that claims a
    2^31 dilation or 10^5 channels is refused before anything is allocated."""
    arrays = _arrays(config)
    weights = work = layers = 0
    prewarm = 1
    rings = []                                   # (rows, span) as __init__ makes them
    maxz = maxc = maxh = maxf = 1
    film_used = False
    widest = deepest = ("config.layer_arrays[0].channels", 0)
    longest, longest_span = ("config.layer_arrays[0].layers[0].dilation", 0), -1
    for a, arr in enumerate(arrays):
        w = f"config.layer_arrays[{a}]"
        if not isinstance(arr, dict):
            raise ModelConfigError(f"'{w}' must be an object")
        n_in = positive_int(require(arr, "input_size", w), w + ".input_size")
        nc = positive_int(require(arr, "condition_size", w), w + ".condition_size")
        C = positive_int(require(arr, "channels", w), w + ".channels")
        B = positive_int(arr.get("bottleneck", C), w + ".bottleneck")
        hout = positive_int(require(arr, "head_size", w), w + ".head_size")
        hk = positive_int(arr.get("head_kernel_size", 1), w + ".head_kernel_size")
        hdil = positive_int(arr.get("head_dilation", 1), w + ".head_dilation")
        hin = positive_int(arr["head1x1"], w + ".head1x1") if arr.get("head1x1") else B
        layer_list = require(arr, "layers", w)
        if not isinstance(layer_list, list):
            raise ModelConfigError(f"'{w}.layers' must be a list")
        weights += C * n_in + hout * hin * hk + hout
        work += C * n_in + hout * hin * hk
        widest = max(widest, (w + ".channels", C), (w + ".bottleneck", B), (w + ".head1x1", hin),
                     (w + ".head_size", hout), key=lambda f: f[1])
        for i, layer in enumerate(layer_list):
            lw = f"{w}.layers[{i}]"
            if not isinstance(layer, dict):
                raise ModelConfigError(f"'{lw}' must be an object")
            K = positive_int(require(layer, "kernel_size", lw), lw + ".kernel_size")
            d = positive_int(require(layer, "dilation", lw), lw + ".dilation")
            Z = B if layer.get("gating", "none") == "none" else 2 * B
            per = Z * C * K + Z + Z * nc + (C * B + C if arr.get("layer1x1", True) else 0)
            per += hin * B + hin if arr.get("head1x1") else 0
            films = layer.get("film") or {}
            for slot in films if isinstance(films, dict) else ():
                rows = 2 * max(C, Z, nc, hin)
                per += rows * nc + rows
                maxf = max(maxf, rows)
                film_used = True
            weights += per
            work += per + Z                      # + one activation per z row
            span = d * (K - 1)
            prewarm += span
            rings.append((C, span))
            if isinstance(films, dict) and "conv_pre_film" in films:
                rings.append((C, span))
            if span > longest_span:
                longest, longest_span = (lw + ".dilation", d), span
            deepest = (w + ".layers", layers + i + 1)
            maxz = max(maxz, Z)
        layers += len(layer_list)
        rings.append((hin, (hk - 1) * hdil))
        prewarm += (hk - 1) * hdil
        if (hk - 1) * hdil > longest_span:
            longest, longest_span = (w + ".head_kernel_size", hk), (hk - 1) * hdil
        maxc, maxh = max(maxc, C), max(maxh, hin, hout)
    post = config.get("post_head")
    if post:
        cin = require(arrays[-1], "head_size", "config.layer_arrays[-1]")
        for i, (cout, k) in enumerate(_post_head_layers(post, cin)):
            weights += cout * cin * k + cout
            work += cout * cin * k + cout
            rings.append((cin, k - 1))
            prewarm += k - 1
            if k - 1 > longest_span:
                longest, longest_span = (f"config.post_head.kernel_sizes[{i}]", k), k - 1
            widest = max(widest, ("config.post_head.channels", cout), key=lambda f: f[1])
            cin = cout
            layers += 1
            deepest = ("config.post_head.kernel_sizes", layers)
    rows = sum(r for r, _ in rings)
    span = max(s for _, s in rings)
    m = _frames(max_block)
    capacity = span + max(span, 4 * m) + 1024               # _alias_safe_row_length adds < 1024
    history = rows * capacity
    height = max(maxz, maxf, maxc, maxh)
    buffers = (maxz + maxc + maxh + 4) * m + 4 * height * (m if film_used else 1)
    memory = 4 * (2 * weights + history + buffers) + 8 * (45 * layers + 16 * len(arrays) + 3 * len(rings))
    drives_memory = longest if history * 4 > weights else widest
    return Cost(memory, work, prewarm, layers,
                {"memory": drives_memory, "work": widest, "prewarm": longest, "layers": deepest})


registry.register(ARCHITECTURE, WaveNet, weight_shapes, cost)

"""The WaveNet kernels: one compiled kernel serves every WaveNet.

The layer structure travels as integer tables (their columns are defined here, beside the
code that reads them: a change to a column then changes this file, and Numba's cache,
which tracks only the file a kernel is in, compiles again) and all weights as one flat
float32 array, so a new model file of any size, depth or dilation pattern reuses the
cached machine code instead of compiling again. `model.py` fills the tables.

Each layer's input is kept in a ring, channel-major `[C, capacity]` rows of one history
array; when the write position nears the end, the last `span` frames move to the front,
so every dilated tap is one contiguous slice and no index wraps inside the inner loop.
"""
import numpy as np
from numba import njit

from firmware.models import activations as act
from firmware.models._gemm import conv_acc, fill_rows, gemm_acc, matmul_acc, tile1, tile4, tile8
from firmware.models._jit import OPTIONS, inline, kernel
from firmware.models._simd import load, splat, store

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
# Bit i of a layer's L_FILM flags is FiLM slot i, in NAM's weight order (params.FILM_SLOTS).
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


@kernel
def wavenet_state_mono(inp, out, n, s):
    """wavenet_mono on a WaveNetState: the one call a block makes from Python."""
    wavenet_mono(inp, out, n, s.x, s.y, s.W, s.AT, s.LT, s.LF, s.RT, s.PT, s.hist, s.pos, s.z, s.ybuf, s.headout,
                 s.tmp, s.scratch, s.head_scale)

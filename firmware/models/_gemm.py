"""The one inner loop every kernel spends its time in: rows of out += W @ src, frames innermost.

Eight output rows per pass, each a 1-D view, and the source taken as a slice first: LLVM then
sees unit-stride loops with no negative-index wrap and vectorises them (16 GMAC/s on the
dev machine's core, against ~7 for the naive 2-D indexing of the same arithmetic).
"""
from firmware.models._jit import inline, kernel
from firmware.models._simd import bcast, load


@kernel
def gemm_acc(out, o0, oc0, nrows, W, woff, w_ostride, w_istride, src, s0, c0, nin, n):
    """out[o0+r, oc0:oc0+n] += sum_i W[woff + r*w_ostride + i*w_istride] * src[s0+i, c0:c0+n]."""
    oe = oc0 + n
    r = 0
    while r + 8 <= nrows:
        y0 = out[o0 + r, oc0:oe]; y1 = out[o0 + r + 1, oc0:oe]
        y2 = out[o0 + r + 2, oc0:oe]; y3 = out[o0 + r + 3, oc0:oe]
        y4 = out[o0 + r + 4, oc0:oe]; y5 = out[o0 + r + 5, oc0:oe]
        y6 = out[o0 + r + 6, oc0:oe]; y7 = out[o0 + r + 7, oc0:oe]
        base = woff + r * w_ostride
        for i in range(nin):
            x = src[s0 + i, c0:c0 + n]
            b = base + i * w_istride
            w0 = W[b]; w1 = W[b + w_ostride]; w2 = W[b + 2 * w_ostride]; w3 = W[b + 3 * w_ostride]
            w4 = W[b + 4 * w_ostride]; w5 = W[b + 5 * w_ostride]; w6 = W[b + 6 * w_ostride]
            w7 = W[b + 7 * w_ostride]
            for t in range(n):
                v = x[t]
                y0[t] += w0 * v; y1[t] += w1 * v; y2[t] += w2 * v; y3[t] += w3 * v
                y4[t] += w4 * v; y5[t] += w5 * v; y6[t] += w6 * v; y7[t] += w7 * v
        r += 8
    while r + 4 <= nrows:
        y0 = out[o0 + r, oc0:oe]; y1 = out[o0 + r + 1, oc0:oe]
        y2 = out[o0 + r + 2, oc0:oe]; y3 = out[o0 + r + 3, oc0:oe]
        base = woff + r * w_ostride
        for i in range(nin):
            x = src[s0 + i, c0:c0 + n]
            b = base + i * w_istride
            w0 = W[b]; w1 = W[b + w_ostride]; w2 = W[b + 2 * w_ostride]; w3 = W[b + 3 * w_ostride]
            for t in range(n):
                v = x[t]
                y0[t] += w0 * v; y1[t] += w1 * v; y2[t] += w2 * v; y3[t] += w3 * v
        r += 4
    while r < nrows:
        y0 = out[o0 + r, oc0:oe]
        base = woff + r * w_ostride
        for i in range(nin):
            x = src[s0 + i, c0:c0 + n]
            w0 = W[base + i * w_istride]
            for t in range(n):
                y0[t] += w0 * x[t]
        r += 1


@kernel
def fill_rows(out, o0, oc0, nrows, W, boff, n):
    """out[o0 + r, oc0:oc0+n] = W[boff + r] (a bias), or 0 when boff < 0."""
    for r in range(nrows):
        y = out[o0 + r, oc0:oc0 + n]
        v = W[boff + r] if boff >= 0 else 0.0
        for t in range(n):
            y[t] = v


@kernel
def gemm3_acc(out, o0, oc0, nrows, W, wa, wb, wc, w_ostride, w_istride, src, sa, sb, sc, s_istride,
              ca, cb, cc, nin, n):
    """Three terms at once: out[o0+r, oc0:oc0+n] += sum over (w, s, c) in ((wa, sa, ca), (wb, sb, cb),
    (wc, sc, cc)) of sum_i W[w + r*w_ostride + i*w_istride] * src[s + i*s_istride, c:c+n].

    The three terms are a kernel-3 convolution's taps (same rows, shifted columns) or three
    input channels of a 1x1 (adjacent rows): each output row is loaded and stored once per
    three products instead of once per product, ~20 GMAC/s against ~12-16.
    """
    oe = oc0 + n
    r = 0
    while r + 8 <= nrows:
        y0 = out[o0 + r, oc0:oe]; y1 = out[o0 + r + 1, oc0:oe]
        y2 = out[o0 + r + 2, oc0:oe]; y3 = out[o0 + r + 3, oc0:oe]
        y4 = out[o0 + r + 4, oc0:oe]; y5 = out[o0 + r + 5, oc0:oe]
        y6 = out[o0 + r + 6, oc0:oe]; y7 = out[o0 + r + 7, oc0:oe]
        s = w_ostride
        for i in range(nin):
            ri = i * s_istride
            xa = src[sa + ri, ca:ca + n]; xb = src[sb + ri, cb:cb + n]; xc = src[sc + ri, cc:cc + n]
            ba = wa + r * s + i * w_istride
            bb = wb + r * s + i * w_istride
            bc = wc + r * s + i * w_istride
            a0 = W[ba]; a1 = W[ba + s]; a2 = W[ba + 2 * s]; a3 = W[ba + 3 * s]
            a4 = W[ba + 4 * s]; a5 = W[ba + 5 * s]; a6 = W[ba + 6 * s]; a7 = W[ba + 7 * s]
            b0 = W[bb]; b1 = W[bb + s]; b2 = W[bb + 2 * s]; b3 = W[bb + 3 * s]
            b4 = W[bb + 4 * s]; b5 = W[bb + 5 * s]; b6 = W[bb + 6 * s]; b7 = W[bb + 7 * s]
            c0 = W[bc]; c1 = W[bc + s]; c2 = W[bc + 2 * s]; c3 = W[bc + 3 * s]
            c4 = W[bc + 4 * s]; c5 = W[bc + 5 * s]; c6 = W[bc + 6 * s]; c7 = W[bc + 7 * s]
            for t in range(n):
                va = xa[t]; vb = xb[t]; vc = xc[t]
                y0[t] += a0 * va + b0 * vb + c0 * vc
                y1[t] += a1 * va + b1 * vb + c1 * vc
                y2[t] += a2 * va + b2 * vb + c2 * vc
                y3[t] += a3 * va + b3 * vb + c3 * vc
                y4[t] += a4 * va + b4 * vb + c4 * vc
                y5[t] += a5 * va + b5 * vb + c5 * vc
                y6[t] += a6 * va + b6 * vb + c6 * vc
                y7[t] += a7 * va + b7 * vb + c7 * vc
        r += 8
    while r + 4 <= nrows:
        y0 = out[o0 + r, oc0:oe]; y1 = out[o0 + r + 1, oc0:oe]
        y2 = out[o0 + r + 2, oc0:oe]; y3 = out[o0 + r + 3, oc0:oe]
        s = w_ostride
        for i in range(nin):
            ri = i * s_istride
            xa = src[sa + ri, ca:ca + n]; xb = src[sb + ri, cb:cb + n]; xc = src[sc + ri, cc:cc + n]
            ba = wa + r * s + i * w_istride
            bb = wb + r * s + i * w_istride
            bc = wc + r * s + i * w_istride
            a0 = W[ba]; a1 = W[ba + s]; a2 = W[ba + 2 * s]; a3 = W[ba + 3 * s]
            b0 = W[bb]; b1 = W[bb + s]; b2 = W[bb + 2 * s]; b3 = W[bb + 3 * s]
            c0 = W[bc]; c1 = W[bc + s]; c2 = W[bc + 2 * s]; c3 = W[bc + 3 * s]
            for t in range(n):
                va = xa[t]; vb = xb[t]; vc = xc[t]
                y0[t] += a0 * va + b0 * vb + c0 * vc
                y1[t] += a1 * va + b1 * vb + c1 * vc
                y2[t] += a2 * va + b2 * vb + c2 * vc
                y3[t] += a3 * va + b3 * vb + c3 * vc
        r += 4
    while r < nrows:
        y0 = out[o0 + r, oc0:oe]
        for i in range(nin):
            ri = i * s_istride
            xa = src[sa + ri, ca:ca + n]; xb = src[sb + ri, cb:cb + n]; xc = src[sc + ri, cc:cc + n]
            off = r * w_ostride + i * w_istride
            a0 = W[wa + off]; b0 = W[wb + off]; c0 = W[wc + off]
            for t in range(n):
                y0[t] += a0 * xa[t] + b0 * xb[t] + c0 * xc[t]
        r += 1


@kernel
def conv_acc(out, o0, oc0, nrows, W, woff, nin, K, src, s0, c_end, dilation, n):
    """Causal dilated convolution: out[o0+r, oc0:oc0+n] += sum_k W[r, i, k] * src[i, t - (K-1-k)*d],
    W stored (out, in, K) at woff; src rows s0.., `c_end` the column of the block's first frame."""
    ostride = nin * K
    k = 0
    while k + 3 <= K:
        c = c_end - (K - 1 - k) * dilation
        gemm3_acc(out, o0, oc0, nrows, W, woff + k, woff + k + 1, woff + k + 2, ostride, K,
                  src, s0, s0, s0, 1, c, c + dilation, c + 2 * dilation, nin, n)
        k += 3
    while k < K:
        gemm_acc(out, o0, oc0, nrows, W, woff + k, ostride, K, src, s0, c_end - (K - 1 - k) * dilation, nin, n)
        k += 1


@kernel
def matmul_acc(out, o0, oc0, nrows, W, woff, src, s0, c0, nin, n):
    """out[o0+r, oc0:oc0+n] += sum_i W[woff + r*nin + i] * src[s0+i, c0:c0+n] (a 1x1 convolution)."""
    groups = nin // 3
    if groups > 0:
        gemm3_acc(out, o0, oc0, nrows, W, woff, woff + 1, woff + 2, nin, 3, src, s0, s0 + 1, s0 + 2, 3,
                  c0, c0, c0, groups, n)
    rest = 3 * groups
    if rest < nin:
        gemm_acc(out, o0, oc0, nrows, W, woff + rest, nin, 1, src, s0 + rest, c0, nin - rest, n)


# --- Register tiles: rows x 16 frames kept in f32x8 registers over a whole reduction --------
# out[r+j, t:t+16] = init + sum over i < nin, k < K of W[wb + (i*K + k)*zs + j] * src[s0+i, c-(K-1-k)*d + (t:t+16)]
# with the weights stored transposed (input, tap, output row), so the rows' weights for one
# input and tap are adjacent (one base address, constant offsets). The caller passes the
# accumulators in (holding their initial values) and gets them back; inlined, LLVM keeps
# them in registers: each source vector loaded once serves every row of the tile and each
# weight broadcast serves 16 frames (~2x the GMAC/s of gemm3_acc here).
@inline
def tile8(acc, W, wb, zs, K, src, s0, nin, c, d):
    a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7 = acc
    for i in range(nin):
        w = wb + i * K * zs
        for k in range(K):
            col = c - (K - 1 - k) * d
            x0 = load(src, s0 + i, col)
            x1 = load(src, s0 + i, col + 8)
            v = bcast(W, w); a0 = a0 + v * x0; b0 = b0 + v * x1
            v = bcast(W, w + 1); a1 = a1 + v * x0; b1 = b1 + v * x1
            v = bcast(W, w + 2); a2 = a2 + v * x0; b2 = b2 + v * x1
            v = bcast(W, w + 3); a3 = a3 + v * x0; b3 = b3 + v * x1
            v = bcast(W, w + 4); a4 = a4 + v * x0; b4 = b4 + v * x1
            v = bcast(W, w + 5); a5 = a5 + v * x0; b5 = b5 + v * x1
            v = bcast(W, w + 6); a6 = a6 + v * x0; b6 = b6 + v * x1
            v = bcast(W, w + 7); a7 = a7 + v * x0; b7 = b7 + v * x1
            w += zs
    return (a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7)


@inline
def tile4(acc, W, wb, zs, K, src, s0, nin, c, d):
    a0, a1, a2, a3, b0, b1, b2, b3 = acc
    for i in range(nin):
        w = wb + i * K * zs
        for k in range(K):
            col = c - (K - 1 - k) * d
            x0 = load(src, s0 + i, col)
            x1 = load(src, s0 + i, col + 8)
            v = bcast(W, w); a0 = a0 + v * x0; b0 = b0 + v * x1
            v = bcast(W, w + 1); a1 = a1 + v * x0; b1 = b1 + v * x1
            v = bcast(W, w + 2); a2 = a2 + v * x0; b2 = b2 + v * x1
            v = bcast(W, w + 3); a3 = a3 + v * x0; b3 = b3 + v * x1
            w += zs
    return (a0, a1, a2, a3, b0, b1, b2, b3)


@inline
def tile1(a0, b0, W, wb, zs, K, src, s0, nin, c, d):
    for i in range(nin):
        w = wb + i * K * zs
        for k in range(K):
            col = c - (K - 1 - k) * d
            v = bcast(W, w)
            a0 = a0 + v * load(src, s0 + i, col)
            b0 = b0 + v * load(src, s0 + i, col + 8)
            w += zs
    return a0, b0

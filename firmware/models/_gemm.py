"""The one inner loop every kernel spends its time in: rows of out += W @ src, frames innermost.

Eight output rows per pass, each a 1-D view, and the source taken as a slice first: LLVM then
sees unit-stride loops with no negative-index wrap and vectorises them (16 GMAC/s on the
dev machine's core, against ~7 for the naive 2-D indexing of the same arithmetic).
"""
from ._jit import kernel


@kernel
def gemm_acc(out, o0, oc0, nrows, W, woff, w_ostride, w_istride, src, c0, nin, n):
    """out[o0+r, oc0:oc0+n] += sum_i W[woff + r*w_ostride + i*w_istride] * src[i, c0:c0+n]."""
    oe = oc0 + n
    r = 0
    while r + 8 <= nrows:
        y0 = out[o0 + r, oc0:oe]; y1 = out[o0 + r + 1, oc0:oe]
        y2 = out[o0 + r + 2, oc0:oe]; y3 = out[o0 + r + 3, oc0:oe]
        y4 = out[o0 + r + 4, oc0:oe]; y5 = out[o0 + r + 5, oc0:oe]
        y6 = out[o0 + r + 6, oc0:oe]; y7 = out[o0 + r + 7, oc0:oe]
        base = woff + r * w_ostride
        for i in range(nin):
            x = src[i, c0:c0 + n]
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
            x = src[i, c0:c0 + n]
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
            x = src[i, c0:c0 + n]
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

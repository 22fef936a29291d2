"""GRU as PyTorch defines it (GuitarML, and AIDA-X's Keras GRU once converted).

Gate order r, z, n; the recurrent bias of n stays inside the reset product:

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h = (1 - z) * n + z * h

Input-side and recurrent-side sums are kept apart (two 3H vectors) for that reason.
Knobs, skip and gains behave as in `lstm.py`.
"""
import numpy as np

from ._jit import kernel
from .activations import sigmoid, tanh
from .lstm import LSTM, weight_shapes as _lstm_shapes

ARCHITECTURE = "GRU"


def weight_shapes(config):
    return _lstm_shapes(config, gates=3)


@kernel
def gru_block(x, y, n, WT, BI, BH, h, knobs, n_knobs, head_w, head_b, skip, in_gain, out_gain, acc, beff):
    """WT: (L, rows, 3H) transposed [W_ih; W_hh]; BI/BH: (L, 3H) input/recurrent biases."""
    L = h.shape[0]
    H = h.shape[1]
    G = 3 * H
    gi = acc[:G]
    gh = acc[G:2 * G]
    for q in range(G):
        beff[q] = BI[0, q]
    for k in range(n_knobs):
        wk = WT[0, 1 + k]
        kv = knobs[k]
        for q in range(G):
            beff[q] += wk[q] * kv
    for t in range(n):
        v = x[t] * in_gain
        for layer in range(L):
            W = WT[layer]
            if layer == 0:
                w0 = W[0]
                for q in range(G):
                    gi[q] = beff[q] + w0[q] * v
                rec = 1 + n_knobs
            else:
                b = BI[layer]
                for q in range(G):
                    gi[q] = b[q]
                below = h[layer - 1]
                for j in range(H):
                    wj = W[j]
                    hj = below[j]
                    for q in range(G):
                        gi[q] += wj[q] * hj
                rec = H
            hl = h[layer]
            bh = BH[layer]
            for q in range(G):
                gh[q] = bh[q]
            for j in range(H):
                wj = W[rec + j]
                hj = hl[j]
                for q in range(G):
                    gh[q] += wj[q] * hj
            for j in range(H):
                r = sigmoid(gi[j] + gh[j])
                z = sigmoid(gi[H + j] + gh[H + j])
                nn = tanh(gi[2 * H + j] + r * gh[2 * H + j])
                hl[j] = (np.float32(1.0) - z) * nn + z * hl[j]
        top = h[L - 1]
        s = head_b
        for j in range(H):
            s += head_w[j] * top[j]
        y[t] = out_gain * (s + skip * v)


class GRU(LSTM):
    architecture = ARCHITECTURE
    gates = 3

    def _set_biases(self, weights, L, G):
        self._BI = np.stack([np.asarray(weights[f"layers/{i}/bias_ih"], np.float32) for i in range(L)])
        self._BH = np.stack([np.asarray(weights[f"layers/{i}/bias_hh"], np.float32) for i in range(L)])

    def _process_block(self, input, output, n):
        gru_block(input, output, n, self._WT, self._BI, self._BH, self._h, self.knobs, self.num_knobs,
                  self._head_w, self._head_b, self._skip, self._in_gain, self._out_gain,
                  self._gates, self._beff)

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

from firmware.models import registry
from firmware.models._jit import inline, kernel
from firmware.models._state import new_recurrent_state
from firmware.models.activations import sigmoid, tanh
from firmware.models.lstm import LSTM, axpy_rows
from firmware.models.lstm import cost as _lstm_cost
from firmware.models.lstm import weight_shapes as _lstm_shapes

ARCHITECTURE = "GRU"


def weight_shapes(config):
    return _lstm_shapes(config, gates=3)


def cost(config, max_block=2048, sample_rate=48000):
    """As lstm.cost, with three gates."""
    return _lstm_cost(config, max_block, sample_rate, gates=3)


@inline
def gru_update(gi, gh, h, H):
    """Input-side and recurrent-side gate sums (r, z, n) -> new h, in place."""
    for j in range(H):
        r = sigmoid(gi[j] + gh[j])
        z = sigmoid(gi[H + j] + gh[H + j])
        nn = tanh(gi[2 * H + j] + r * gh[2 * H + j])
        h[j] = (np.float32(1.0) - z) * nn + z * h[j]


@kernel
def _single_layer(x, y, n, W, bi, bh, rec, h, head_w, head_b, skip, in_gain, out_gain, gi, gh):
    """The one-layer case on plain 1-D state (see lstm._single_layer for why)."""
    H = h.shape[0]
    G = 3 * H
    w0 = W[0]
    for t in range(n):
        v = x[t] * in_gain
        for q in range(G):
            gi[q] = bi[q] + w0[q] * v
            gh[q] = bh[q]
        axpy_rows(gh, W, rec, h, H, G)
        gru_update(gi, gh, h, H)
        s = head_b
        for j in range(H):
            s += head_w[j] * h[j]
        y[t] = out_gain * (s + skip * v)


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
    if L == 1:
        _single_layer(x, y, n, WT[0], beff[:G], BH[0], 1 + n_knobs, h[0], head_w, head_b, skip, in_gain,
                      out_gain, gi, gh)
        return
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
                axpy_rows(gi, W, 0, h[layer - 1], H, G)
                rec = H
            hl = h[layer]
            bh = BH[layer]
            for q in range(G):
                gh[q] = bh[q]
            axpy_rows(gh, W, rec, hl, H, G)
            gru_update(gi, gh, hl, H)
        top = h[L - 1]
        s = head_b
        for j in range(H):
            s += head_w[j] * top[j]
        y[t] = out_gain * (s + skip * v)


@kernel
def gru_state_block(x, y, n, s):
    """gru_block on a RecurrentState (B: the input-side biases, B2: the recurrent ones)."""
    gru_block(x, y, n, s.WT, s.B, s.B2, s.h, s.knobs, s.n_knobs, s.head_w, s.head_b, s.skip, s.in_gain,
              s.out_gain, s.gates, s.beff)


class GRU(LSTM):
    architecture = ARCHITECTURE
    gates = 3
    _block_kernel = staticmethod(gru_state_block)

    def _make_state(self):
        return new_recurrent_state(self._WT, self._BI, self._BH, self._h, self._c, self.knobs, self.num_knobs,
                              self._head_w, self._head_b, self._skip, self._in_gain, self._out_gain, self._gates,
                              self._beff)

    def _set_biases(self, weights, L, G):
        self._BI = np.stack([np.asarray(weights[f"layers/{i}/bias_ih"], np.float32) for i in range(L)])
        self._BH = np.stack([np.asarray(weights[f"layers/{i}/bias_hh"], np.float32) for i in range(L)])



registry.register(ARCHITECTURE, GRU, weight_shapes, cost)

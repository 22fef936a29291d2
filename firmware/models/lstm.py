"""LSTM as GuitarML, AIDA-X and NAM play it: stacked nn.LSTM layers, a linear head, optional skip.

PyTorch gate order i, f, g, o. The input vector is [audio, knob1, knob2]: knobs are
constant over a block, so their contribution is folded into the first layer's bias once
per block and each sample costs one column for the audio plus the recurrent matrix.
Weights are kept transposed, `(inputs + H, 4H)`, so a gate update is a run of 4H-long
AXPYs that LLVM vectorises.

    gates = b + W_ih @ [x, knobs] + W_hh @ h
    c = sigmoid(f) * c + sigmoid(i) * tanh(g);  h = sigmoid(o) * tanh(c)
    y = output_gain * (head_w . h + head_b + skip * x'),  x' = input_gain * x
"""
import numpy as np
from numba import njit

from firmware.models import registry
from firmware.models._jit import OPTIONS, inline, kernel
from firmware.models._simd import hsum, load, load1, splat, store1
from firmware.models._state import STATE_BYTES, any_layout, bind, new_recurrent_state
from firmware.models.activations import sigmoid, tanh, vtanh
from firmware.models.base import Cost, Model, ModelConfigError, positive_int, require

ARCHITECTURE = "LSTM"
MAX_KNOBS = 2


def _dims(config):
    n_in = positive_int(require(config, "input_size", "config"), "config.input_size")
    H = positive_int(require(config, "hidden_size", "config"), "config.hidden_size")
    L = positive_int(config.get("num_layers", 1), "config.num_layers")
    if n_in > 1 + MAX_KNOBS:
        raise ModelConfigError(f"config.input_size {n_in}: at most {MAX_KNOBS} knob inputs are supported")
    return n_in, H, L


def weight_shapes(config, gates=4):
    n_in, H, L = _dims(config)
    shapes = {}
    for layer in range(L):
        p = f"layers/{layer}/"
        shapes[p + "weight_ih"] = (gates * H, n_in if layer == 0 else H)
        shapes[p + "weight_hh"] = (gates * H, H)
        if gates == 4:
            shapes[p + "bias"] = (gates * H,)
        else:
            shapes[p + "bias_ih"] = (gates * H,)
            shapes[p + "bias_hh"] = (gates * H,)
        if config.get("initial_state", False):
            shapes[p + "h0"] = (H,)
            if gates == 4:
                shapes[p + "c0"] = (H,)
    shapes["head/weight"] = (1, H)
    shapes["head/bias"] = (1,)
    return shapes


@inline
def axpy_rows(acc, W, row0, v, m, G):
    """acc[:G] += sum_j W[row0 + j, :G] * v[j] for j < m, four rows per pass.

    Four rows per pass load and store the accumulator a quarter as often; that, not the
    multiply-adds, is what bounds a recurrent step (LSTM-40: 550 -> 300 ns per sample).
    """
    j = 0
    while j + 4 <= m:
        wa = W[row0 + j]; wb = W[row0 + j + 1]; wc = W[row0 + j + 2]; wd = W[row0 + j + 3]
        a = v[j]; b = v[j + 1]; c = v[j + 2]; d = v[j + 3]
        for q in range(G):
            acc[q] += wa[q] * a + wb[q] * b + wc[q] * c + wd[q] * d
        j += 4
    while j < m:
        w = W[row0 + j]
        a = v[j]
        for q in range(G):
            acc[q] += w[q] * a
        j += 1


@inline
def lstm_update(gates, h, c, H):
    """The gates (i, f, g, o: pre-activation) -> new c and h, in place."""
    for j in range(H):
        ig = sigmoid(gates[j])
        fg = sigmoid(gates[H + j])
        gg = tanh(gates[2 * H + j])
        og = sigmoid(gates[3 * H + j])
        cj = fg * c[j] + ig * gg
        c[j] = cj
        h[j] = og * tanh(cj)


@inline
def lstm_cell(gates, W, rec, below, v, h, c, G):
    """One time step of one layer, in place on h and c.

    W: (rows, 4H) transposed weights whose row 0 is the audio input (first layer: `below`
    is empty and `v` the sample) or whose rows 0..H-1 take the layer below's h; rows
    rec.. are the recurrent weights. `gates` arrives holding the bias.
    """
    H = h.shape[0]
    if below.shape[0] == 0:
        w0 = W[0]
        for q in range(G):
            gates[q] += w0[q] * v
    else:
        axpy_rows(gates, W, 0, below, below.shape[0], G)
    axpy_rows(gates, W, rec, h, H, G)
    lstm_update(gates, h, c, H)


@kernel
def _single_layer(x, y, n, W, b, rec, h, c, head_w, head_b, skip, in_gain, out_gain, g):
    """The one-layer case (nearly every GuitarML, AIDA-X and NAM LSTM) on plain 1-D state:
    LLVM keeps it tighter than the general stacked loop (LSTM-16: ~100x -> ~140x RT)."""
    H = h.shape[0]
    G = 4 * H
    w0 = W[0]
    for t in range(n):
        v = x[t] * in_gain
        for q in range(G):
            g[q] = b[q] + w0[q] * v
        axpy_rows(g, W, rec, h, H, G)
        lstm_update(g, h, c, H)
        acc = head_b
        for j in range(H):
            acc += head_w[j] * h[j]
        y[t] = out_gain * (acc + skip * v)


@inline
def _gates_v8(g, W, b, rec, h, vv, q):
    """g[q:q+64] = b + W[0] * v + sum_j W[rec + j] * h[j]: eight f32x8 accumulators that
    stay in registers over the whole recurrent sum (one load of each weight vector, no
    load or store of the accumulator per term)."""
    a0 = load1(b, q) + load(W, 0, q) * vv; a1 = load1(b, q + 8) + load(W, 0, q + 8) * vv
    a2 = load1(b, q + 16) + load(W, 0, q + 16) * vv; a3 = load1(b, q + 24) + load(W, 0, q + 24) * vv
    a4 = load1(b, q + 32) + load(W, 0, q + 32) * vv; a5 = load1(b, q + 40) + load(W, 0, q + 40) * vv
    a6 = load1(b, q + 48) + load(W, 0, q + 48) * vv; a7 = load1(b, q + 56) + load(W, 0, q + 56) * vv
    for j in range(h.shape[0]):
        hj = splat(h[j])
        r = rec + j
        a0 = a0 + load(W, r, q) * hj; a1 = a1 + load(W, r, q + 8) * hj
        a2 = a2 + load(W, r, q + 16) * hj; a3 = a3 + load(W, r, q + 24) * hj
        a4 = a4 + load(W, r, q + 32) * hj; a5 = a5 + load(W, r, q + 40) * hj
        a6 = a6 + load(W, r, q + 48) * hj; a7 = a7 + load(W, r, q + 56) * hj
    store1(g, q, a0); store1(g, q + 8, a1); store1(g, q + 16, a2); store1(g, q + 24, a3)
    store1(g, q + 32, a4); store1(g, q + 40, a5); store1(g, q + 48, a6); store1(g, q + 56, a7)


@inline
def _gates_v4(g, W, b, rec, h, vv, q):
    """As _gates_v8 for 32 gates, the recurrent sum split over even and odd units (two
    accumulators per vector): four alone would wait on the FMA latency every unit."""
    a0 = load1(b, q) + load(W, 0, q) * vv; a1 = load1(b, q + 8) + load(W, 0, q + 8) * vv
    a2 = load1(b, q + 16) + load(W, 0, q + 16) * vv; a3 = load1(b, q + 24) + load(W, 0, q + 24) * vv
    zero = splat(np.float32(0.0))
    e0 = zero; e1 = zero; e2 = zero; e3 = zero
    H = h.shape[0]
    j = 0
    while j + 2 <= H:
        hj = splat(h[j])
        he = splat(h[j + 1])
        r = rec + j
        a0 = a0 + load(W, r, q) * hj; a1 = a1 + load(W, r, q + 8) * hj
        a2 = a2 + load(W, r, q + 16) * hj; a3 = a3 + load(W, r, q + 24) * hj
        e0 = e0 + load(W, r + 1, q) * he; e1 = e1 + load(W, r + 1, q + 8) * he
        e2 = e2 + load(W, r + 1, q + 16) * he; e3 = e3 + load(W, r + 1, q + 24) * he
        j += 2
    if j < H:
        hj = splat(h[j])
        r = rec + j
        a0 = a0 + load(W, r, q) * hj; a1 = a1 + load(W, r, q + 8) * hj
        a2 = a2 + load(W, r, q + 16) * hj; a3 = a3 + load(W, r, q + 24) * hj
    store1(g, q, a0 + e0); store1(g, q + 8, a1 + e1); store1(g, q + 16, a2 + e2); store1(g, q + 24, a3 + e3)


@inline
def _gates_v1(g, W, b, rec, h, vv, q):
    """As _gates_v8 for one vector of 8 gates."""
    a0 = load1(b, q) + load(W, 0, q) * vv
    for j in range(h.shape[0]):
        a0 = a0 + load(W, rec + j, q) * splat(h[j])
    store1(g, q, a0)


@inline
def _vsigmoid(x):
    half = splat(np.float32(0.5))
    return half + half * vtanh(half * x)


# _nrt=False: no reference counting of the arrays handed to the inlined helpers inside the
# per-sample loop (each count is a call that spills the vector registers); nothing here
# allocates (see wavenet.wavenet_block).
@njit(_nrt=False, **OPTIONS)
def _single_layer_v8(x, y, n, W, b, rec, h, c, head_w, head_b, skip, in_gain, out_gain, g):
    """_single_layer with explicit 8-lane vectors, for 4H a multiple of 8 (H even): the gate
    sums in registers, the cell update and the head 8 units at a time."""
    H = h.shape[0]
    G = 4 * H
    for t in range(n):
        v = x[t] * in_gain
        vv = splat(v)
        q = 0
        while q + 64 <= G:
            _gates_v8(g, W, b, rec, h, vv, q)
            q += 64
        while q + 32 <= G:
            _gates_v4(g, W, b, rec, h, vv, q)
            q += 32
        while q < G:
            _gates_v1(g, W, b, rec, h, vv, q)
            q += 8
        acc = splat(np.float32(0.0))
        j = 0
        while j + 8 <= H:
            ig = _vsigmoid(load1(g, j))
            fg = _vsigmoid(load1(g, H + j))
            gg = vtanh(load1(g, 2 * H + j))
            og = _vsigmoid(load1(g, 3 * H + j))
            cj = fg * load1(c, j) + ig * gg
            store1(c, j, cj)
            hj = og * vtanh(cj)
            store1(h, j, hj)
            acc = acc + load1(head_w, j) * hj
            j += 8
        s = head_b + hsum(acc)
        while j < H:
            ig = sigmoid(g[j])
            fg = sigmoid(g[H + j])
            gg = tanh(g[2 * H + j])
            og = sigmoid(g[3 * H + j])
            cj = fg * c[j] + ig * gg
            c[j] = cj
            h[j] = og * tanh(cj)
            s += head_w[j] * h[j]
            j += 1
        y[t] = out_gain * (s + skip * v)


@njit(_nrt=False, **OPTIONS)
def lstm_block(x, y, n, WT, B, h, c, knobs, n_knobs, head_w, head_b, skip, in_gain, out_gain, gates, beff):
    """WT: (L, 1 + n_knobs + H or H + H, 4H) transposed weights, zero-padded; B: (L, 4H)."""
    L = h.shape[0]
    H = h.shape[1]
    G = 4 * H
    # Layer 0's bias with the (block-constant) knobs folded in.
    b0 = beff[:G]
    for q in range(G):
        b0[q] = B[0, q]
    for k in range(n_knobs):
        wk = WT[0, 1 + k]
        kv = knobs[k]
        for q in range(G):
            b0[q] += wk[q] * kv
    g = gates[:G]
    if L == 1 and H % 2 == 0:
        _single_layer_v8(x, y, n, WT[0], b0, 1 + n_knobs, h[0], c[0], head_w, head_b, skip, in_gain, out_gain, g)
        return
    if L == 1:
        _single_layer(x, y, n, WT[0], b0, 1 + n_knobs, h[0], c[0], head_w, head_b, skip, in_gain, out_gain, g)
        return
    none = h[0, :0]
    top = h[L - 1]
    for t in range(n):
        v = x[t] * in_gain
        for layer in range(L):
            if layer == 0:
                for q in range(G):
                    g[q] = b0[q]
                lstm_cell(g, WT[0], 1 + n_knobs, none, v, h[0], c[0], G)
            else:
                for q in range(G):
                    g[q] = B[layer, q]
                lstm_cell(g, WT[layer], H, h[layer - 1], v, h[layer], c[layer], G)
        acc = head_b
        for j in range(H):
            acc += head_w[j] * top[j]
        y[t] = out_gain * (acc + skip * v)


@kernel
def lstm_state_block(x, y, n, s):
    """lstm_block on a RecurrentState: the one call a block makes from Python."""
    lstm_block(x, y, n, s.WT, s.B, s.h, s.c, s.knobs, s.n_knobs, s.head_w, s.head_b, s.skip, s.in_gain,
               s.out_gain, s.gates, s.beff)


class LSTM(Model):
    architecture = ARCHITECTURE
    gates = 4

    def __init__(self, config, weights, sample_rate=48000, max_block=2048):
        super().__init__(config, weights, sample_rate, max_block)
        n_in, H, L = _dims(config)
        shapes = weight_shapes(config, self.gates)
        for name, shape in shapes.items():
            if tuple(np.shape(weights[name])) != tuple(shape):
                raise ModelConfigError(f"weight '{name}' has shape {np.shape(weights[name])}, expected {shape}")
        G = self.gates * H
        self.num_knobs = n_in - 1
        self.hidden_size, self.num_layers = H, L
        rows = max(n_in, H) + H
        self._WT = np.zeros((L, rows, G), np.float32)
        for layer in range(L):
            p = f"layers/{layer}/"
            w_ih = np.asarray(weights[p + "weight_ih"], np.float32)
            w_hh = np.asarray(weights[p + "weight_hh"], np.float32)
            self._WT[layer, :w_ih.shape[1]] = w_ih.T
            self._WT[layer, w_ih.shape[1]:w_ih.shape[1] + H] = w_hh.T
        self._set_biases(weights, L, G)
        self._h0 = np.zeros((L, H), np.float32)
        self._c0 = np.zeros((L, H), np.float32)
        if config.get("initial_state", False):
            for layer in range(L):
                self._h0[layer] = weights[f"layers/{layer}/h0"]
                if self.gates == 4:
                    self._c0[layer] = weights[f"layers/{layer}/c0"]
        self._h = self._h0.copy()
        self._c = self._c0.copy()
        self._head_w = np.ascontiguousarray(np.asarray(weights["head/weight"], np.float32).reshape(-1))
        self._head_b = np.float32(np.asarray(weights["head/bias"]).reshape(-1)[0])
        self._skip = np.float32(1.0 if config.get("skip", False) else 0.0)
        self._in_gain = np.float32(config.get("input_gain", 1.0))
        self._out_gain = np.float32(config.get("output_gain", 1.0))
        self._gates = np.zeros(2 * G, np.float32)
        self._beff = np.zeros(2 * G, np.float32)
        # NAM prewarms recurrent models with half a second of silence.
        self._prewarm = int(0.5 * self.sample_rate)
        self._state = self._make_state()
        # bound for arrays of any layout: a strided view given to an entry compiled for
        # contiguous ones would be read as if contiguous
        self._run = bind(self._block_kernel, any_layout(), any_layout(), 0, self._state)

    _block_kernel = staticmethod(lstm_state_block)

    def _make_state(self):
        return new_recurrent_state(self._WT, self._B, self._B, self._h, self._c, self.knobs, self.num_knobs,
                              self._head_w, self._head_b, self._skip, self._in_gain, self._out_gain, self._gates,
                              self._beff)

    def _set_biases(self, weights, L, G):
        self._B = np.stack([np.asarray(weights[f"layers/{i}/bias"], np.float32) for i in range(L)])

    @property
    def prewarm_samples(self):
        return self._prewarm

    def reset(self):
        self._h[:] = self._h0
        self._c[:] = self._c0

    def _process_block(self, input, output, n):
        self._run(input, output, n, self._state)


def cost(config, max_block=2048, sample_rate=48000, gates=4):
    """The memory and per-sample work this config implies (see base.Cost), from its numbers
    alone: a file that claims a billion layers is refused before anything is allocated."""
    n_in, H, L = _dims(config)
    G = gates * H
    per_layer_first = G * (n_in + H) + 2 * G
    per_layer = G * (2 * H) + 2 * G
    weights = per_layer_first + (L - 1) * per_layer + H + 1 + 4 * L * H
    packed = L * (max(n_in, H) + H) * G + 2 * L * G          # WT, biases, as __init__ lays them out
    memory = 4 * (weights + packed + 4 * L * H + 4 * G) + STATE_BYTES
    work = per_layer_first + (L - 1) * per_layer + 5 * L * H + H
    rate = int(sample_rate)
    widest = ("config.hidden_size", H)
    return Cost(memory, work, int(0.5 * rate), L,
                {"memory": widest if L == 1 else ("config.num_layers", L), "work": widest,
                 "prewarm": ("sample_rate", rate), "layers": ("config.num_layers", L)})


registry.register(ARCHITECTURE, LSTM, weight_shapes, cost)

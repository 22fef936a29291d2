"""NAM's ConvNet as NeuralAmpModelerCore plays it (`NAM/convnet.cpp`).

A stack of causal kernel-2 dilated convolutions, each followed by an activation, then a
1x1 head to one channel:

    h_0 = x                                     (1 channel)
    h_i = act(W_i[:, :, 0] @ h_{i-1}[t - d_i] + W_i[:, :, 1] @ h_{i-1}[t] + b_i)
    y   = head_w @ h_L + head_b

NAM's batchnorm (eval mode: running statistics) is an affine map per channel after the
conv; the importer folds it into W_i and b_i, so the kernel never sees it. Each layer's
input lives in a ring (channel-major rows of one history array, as in the WaveNet kernel)
long enough for its dilation, and the block is computed layer by layer.

Prewarm (Core's): 1 + sum of dilations samples of silence.
"""
import numpy as np

from firmware.models import activations as act
from firmware.models import registry
from firmware.models._gemm import conv_acc, fill_rows
from firmware.models._jit import kernel
from firmware.models.base import Cost, Model, ModelConfigError, pack_weights, positive_int, require
from firmware.models.wavenet.params import _activation_spec, _alias_safe_row_length, activation_slopes

ARCHITECTURE = "ConvNet"
KERNEL_SIZE = 2  # Core: "HACK 2 kernel"

# Layer table columns: input channels, output channels, dilation, first history row,
# weight offset, bias offset.
C_IN, C_OUT, C_DIL, C_ROW, C_W, C_B, C_NCOLS = range(7)


def _dilations(config):
    dilations = require(config, "dilations", "config")
    if not isinstance(dilations, list) or not dilations:
        raise ModelConfigError("'config.dilations' must be a non-empty list")
    return [positive_int(d, f"config.dilations[{i}]") for i, d in enumerate(dilations)]


def weight_shapes(config):
    """Every weight array this config needs, in order: {name: shape}."""
    C = positive_int(require(config, "channels", "config"), "config.channels")
    _activation_spec(require(config, "activation", "config"), "config.activation")
    activation_slopes(config["activation"], C, "config.activation")
    shapes = {}
    for i, _ in enumerate(_dilations(config)):
        shapes[f"layers/{i}/weight"] = (C, 1 if i == 0 else C, KERNEL_SIZE)
        shapes[f"layers/{i}/bias"] = (C,)
    shapes["head/weight"] = (1, C)
    shapes["head/bias"] = (1,)
    return shapes


def receptive_field(config):
    return 1 + sum(_dilations(config))


@kernel
def convnet_block(x, y, n, W, LT, hist, pos, span, out, kind, p0, p1, p2, p3, slopes, head_w, head_b):
    """One block of n frames. hist: the layers' input rings stacked as rows; pos[0]: where
    this block's first frame goes (the same for every ring); span: the longest dilation;
    slopes: a per-channel PReLU's slopes (empty: p0 serves every channel)."""
    cap = hist.shape[1]
    p = pos[0]
    if p + n > cap:
        for r in range(hist.shape[0]):
            row = hist[r]
            for t in range(span):
                row[t] = row[p - span + t]
        p = span
    inp = hist[LT[0, C_ROW], p:p + n]
    for t in range(n):
        inp[t] = x[t]
    L = LT.shape[0]
    for i in range(L):
        cout = LT[i, C_OUT]
        if i < L - 1:
            dst = hist
            d0 = LT[i + 1, C_ROW]
            dc = p
        else:
            dst = out
            d0 = 0
            dc = 0
        fill_rows(dst, d0, dc, cout, W, LT[i, C_B], n)
        conv_acc(dst, d0, dc, cout, W, LT[i, C_W], LT[i, C_IN], 2, hist, LT[i, C_ROW], p, LT[i, C_DIL], n)
        for r in range(cout):
            s0 = p0 if slopes.shape[0] == 0 else slopes[r]
            act.apply_row(dst[d0 + r, dc:dc + n], n, kind, s0, p1, p2, p3)
    for t in range(n):
        y[t] = head_b
    for r in range(LT[L - 1, C_OUT]):
        w = head_w[r]
        src = out[r, :n]
        for t in range(n):
            y[t] += w * src[t]
    pos[0] = p + n


class ConvNet(Model):
    architecture = ARCHITECTURE

    def __init__(self, config, weights, sample_rate=48000, max_block=2048):
        super().__init__(config, weights, sample_rate, max_block)
        shapes = weight_shapes(config)
        dilations = _dilations(config)
        C = int(config["channels"])
        self._W, offsets = pack_weights(shapes, weights, skip=("head/",))
        self._head_w = np.ascontiguousarray(weights["head/weight"], np.float32).reshape(-1)
        self._head_b = np.float32(np.asarray(weights["head/bias"]).reshape(-1)[0])
        if self._head_w.size != C:
            raise ModelConfigError(f"weight 'head/weight' has {self._head_w.size} values, expected {C}")
        LT = np.zeros((len(dilations), C_NCOLS), np.int64)
        row = 0
        for i, d in enumerate(dilations):
            cin = 1 if i == 0 else C
            LT[i] = (cin, C, d, row, offsets[f"layers/{i}/weight"], offsets[f"layers/{i}/bias"])
            row += cin
        self._LT = LT
        self._span = max(dilations)
        capacity = _alias_safe_row_length(self._span + max(self._span, 4 * self.max_block))
        self._hist = np.zeros((row, capacity), np.float32)
        self._pos = np.array([self._span], np.int64)
        self._out = np.zeros((C, self.max_block), np.float32)
        kind, params = _activation_spec(config["activation"], "config.activation")
        self._act = (kind, *(np.float32(v) for v in params))
        found = activation_slopes(config["activation"], C, "config.activation")
        self._slopes = np.zeros(0, np.float32) if found is None else found
        self._rf = receptive_field(config)

    @property
    def prewarm_samples(self):
        return self._rf

    def reset(self):
        self._hist[:] = 0.0
        self._pos[0] = self._span

    def _process_block(self, input, output, n):
        convnet_block(input, output, n, self._W, self._LT, self._hist, self._pos, self._span, self._out,
                      *self._act, self._slopes, self._head_w, self._head_b)


def cost(config, max_block=2048, sample_rate=48000):
    """The memory and per-sample work this config implies (see base.Cost), from its numbers alone."""
    C = positive_int(require(config, "channels", "config"), "config.channels")
    dilations = _dilations(config)
    L = len(dilations)
    weights = C * KERNEL_SIZE + C + (L - 1) * (C * C * KERNEL_SIZE + C) + C + 1
    rows = 1 + (L - 1) * C
    span = max(dilations)
    history = rows * (span + max(span, 4 * max_block) + 1024)
    memory = 4 * (2 * weights + history + C * max_block) + 8 * C_NCOLS * L
    work = weights + L * C
    i = dilations.index(span)
    longest = (f"config.dilations[{i}]", span)
    widest = ("config.channels", C)
    return Cost(memory, work, 1 + sum(dilations), L,
                {"memory": longest if history > weights else widest, "work": widest,
                 "prewarm": longest, "layers": ("config.dilations", L)})


registry.register(ARCHITECTURE, ConvNet, weight_shapes, cost)

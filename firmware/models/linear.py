"""Linear (FIR) model: y[t] = bias + sum_k taps[k] * x[t - k].

`taps[0]` multiplies the newest sample, as NeuralAmpModelerCore plays NAM's Linear
models (the NAM trainer's own PyTorch order is reversed: a known bug the importer undoes).
"""
import numpy as np

from firmware.models import registry
from firmware.models._jit import kernel
from firmware.models.base import Cost, Model, positive_int, require

ARCHITECTURE = "Linear"


def weight_shapes(config):
    n = positive_int(require(config, "receptive_field", "config"), "config.receptive_field")
    shapes = {"taps": (n,)}
    if config.get("bias", False):
        shapes["bias"] = (1,)
    return shapes


@kernel
def linear_block(x, y, n, taps, bias, hist, pos):
    """hist: input history ring [cap]; pos[0]: where this block's first sample goes."""
    N = taps.shape[0]
    span = N - 1
    cap = hist.shape[0]
    p = pos[0]
    if p + n > cap:
        for t in range(span):
            hist[t] = hist[p - span + t]
        p = span
    hist[p:p + n] = x[:n]
    for t in range(n):
        y[t] = bias
    for k in range(N):
        w = taps[k]
        src = hist[p - k:p - k + n]
        for t in range(n):
            y[t] += w * src[t]
    pos[0] = p + n


class Linear(Model):
    architecture = ARCHITECTURE

    def __init__(self, config, weights, sample_rate=48000, max_block=2048):
        super().__init__(config, weights, sample_rate, max_block)
        self._taps = np.ascontiguousarray(weights["taps"], np.float32).reshape(-1)
        self._bias = np.float32(np.asarray(weights["bias"]).reshape(-1)[0]) if "bias" in weights else np.float32(0)
        span = len(self._taps) - 1
        self._span = span
        self._hist = np.zeros(span + max(span, 4 * self.max_block), np.float32)
        self._pos = np.array([span], np.int64)

    @property
    def prewarm_samples(self):
        return len(self._taps)

    def reset(self):
        self._hist[:] = 0.0
        self._pos[0] = self._span

    def _process_block(self, input, output, n):
        linear_block(input, output, n, self._taps, self._bias, self._hist, self._pos)


def cost(config, max_block=2048, sample_rate=48000):
    """The memory and per-sample work this config implies (see base.Cost), from its numbers alone."""
    n = positive_int(require(config, "receptive_field", "config"), "config.receptive_field")
    span = n - 1
    memory = 4 * (2 * n + span + max(span, 4 * max_block))
    field = ("config.receptive_field", n)
    return Cost(memory, n, n, 1, {"memory": field, "work": field, "prewarm": field, "layers": field})


registry.register(ARCHITECTURE, Linear, weight_shapes, cost)

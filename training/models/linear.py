"""Linear (FIR) model in PyTorch: y[t] = bias + sum_k taps[k] * x[t - k].

`taps[0]` multiplies the newest sample, the order NeuralAmpModelerCore plays and our
model file stores (NAM's own trainer keeps the reverse).
"""
import copy

import torch
from torch import nn
from torch.nn import functional as F

ARCHITECTURE = "Linear"


class Linear(nn.Module):
    """(B, T) -> (B, T - receptive_field + 1)."""

    architecture = ARCHITECTURE

    def __init__(self, config):
        super().__init__()
        self.config = copy.deepcopy(config)
        self.receptive_field = int(config["receptive_field"])
        self.taps = nn.Parameter(torch.zeros(self.receptive_field))
        self.taps.data[0] = 1.0  # start as the identity
        self.bias = nn.Parameter(torch.zeros(1)) if config.get("bias", False) else None

    def forward(self, x):
        if x.ndim == 3:
            x = x[:, 0]
        # conv1d correlates, so the newest-first taps are flipped into oldest-first order.
        return F.conv1d(x[:, None], self.taps.flip(0)[None, None], self.bias)[:, 0]

    def weights(self):
        out = {"taps": self.taps}
        if self.bias is not None:
            out["bias"] = self.bias
        return out

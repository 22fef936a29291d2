"""NAM's ConvNet in PyTorch, taking exactly the firmware's ConvNet config.

Written from NAM's trainer (`nam/models/conv_net.py`): per dilation a kernel-2 causal
Conv1d (with bias, or without one and followed by BatchNorm1d when `batchnorm`), an
activation, then a 1x1 head to one channel. Valid convolutions: (B, T) ->
(B, T - receptive_field + 1), receptive_field = 1 + sum(dilations).

Config: `{"channels", "dilations", "activation", "batchnorm"?}`. The model file holds no
batchnorm: `weights()` folds it (running statistics, as NAM plays it in eval mode) into
each conv's weight and bias, the names `firmware.models.convnet.weight_shapes` gives.
"""
import copy

import torch
from torch import nn

from .activations import activation

ARCHITECTURE = "ConvNet"


class ConvNet(nn.Module):
    architecture = ARCHITECTURE

    def __init__(self, config):
        super().__init__()
        self.config = copy.deepcopy(config)
        channels = int(config["channels"])
        self.batchnorm = bool(config.get("batchnorm", False))
        self.receptive_field = 1 + sum(int(d) for d in config["dilations"])
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList() if self.batchnorm else None
        cin = 1
        for d in config["dilations"]:
            self.convs.append(nn.Conv1d(cin, channels, 2, dilation=int(d), bias=not self.batchnorm))
            if self.batchnorm:
                self.norms.append(nn.BatchNorm1d(channels))
            cin = channels
        self.activation = activation(config["activation"])
        self.head = nn.Conv1d(channels, 1, 1)

    def forward(self, x):
        if x.ndim == 2:
            x = x[:, None, :]
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.batchnorm:
                x = self.norms[i](x)
            x = self.activation(x)
        return self.head(x)[:, 0]

    def weights(self):
        """{file weight name: tensor}, batchnorm folded in with its running statistics."""
        out = {}
        for i, conv in enumerate(self.convs):
            weight, bias = conv.weight, conv.bias
            if self.batchnorm:
                bn = self.norms[i]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                weight = weight * scale[:, None, None]
                bias = bn.bias - scale * bn.running_mean
            out[f"layers/{i}/weight"] = weight
            out[f"layers/{i}/bias"] = bias
        out["head/weight"] = self.head.weight[:, :, 0]
        out["head/bias"] = self.head.bias
        return out

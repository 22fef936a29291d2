"""The activations a WaveNet config may name, as PyTorch modules.

Specs follow NAM: a name ("Tanh"), or an object with parameters
(`{"type": "LeakyReLU", "negative_slope": 0.01}`). Names are case-insensitive, as the
firmware's loader reads them. Every activation here is fixed (no trainable slope), so a
config fully describes it and the weight file needs nothing extra.
"""
import torch
from torch import nn


class FastTanh(nn.Module):
    """NeuralAmpModelerCore's rational tanh approximation, for models trained with it."""

    def forward(self, x):
        ax = x.abs()
        x2 = x * x
        num = x * (2.45550750702956 + 2.45550750702956 * ax + (0.893229853513558 + 0.821226666969744 * ax) * x2)
        den = 2.44506634652299 + (2.44506634652299 + x2) * (x + 0.814642734961073 * x * ax).abs()
        return num / den


class LeakyHardtanh(nn.Module):
    """Hardtanh whose flat parts keep a small slope, so gradients never vanish outside."""

    def __init__(self, min_val=-1.0, max_val=1.0, min_slope=0.01, max_slope=0.01):
        super().__init__()
        self.min_val, self.max_val = float(min_val), float(max_val)
        self.min_slope, self.max_slope = float(min_slope), float(max_slope)

    def forward(self, x):
        below = (x - self.min_val) * self.min_slope + self.min_val
        above = (x - self.max_val) * self.max_slope + self.max_val
        return torch.where(x < self.min_val, below, torch.where(x > self.max_val, above, x))


def _leaky_relu(spec):
    return nn.LeakyReLU(float(spec.get("negative_slope", 0.01)))


def _leaky_hardtanh(spec):
    return LeakyHardtanh(spec.get("min_val", -1.0), spec.get("max_val", 1.0),
                         spec.get("min_slope", 0.01), spec.get("max_slope", 0.01))


_FACTORIES = {
    "identity": lambda spec: nn.Identity(),
    "linear": lambda spec: nn.Identity(),
    "tanh": lambda spec: nn.Tanh(),
    "fasttanh": lambda spec: FastTanh(),
    "hardtanh": lambda spec: nn.Hardtanh(),
    "relu": lambda spec: nn.ReLU(),
    "leakyrelu": _leaky_relu,
    "sigmoid": lambda spec: nn.Sigmoid(),
    "silu": lambda spec: nn.SiLU(),
    "swish": lambda spec: nn.SiLU(),
    "softsign": lambda spec: nn.Softsign(),
    "hardswish": lambda spec: nn.Hardswish(),
    "leakyhardtanh": _leaky_hardtanh,
}
NAMES = tuple(sorted(_FACTORIES))


def activation(spec):
    """An nn.Module for a NAM activation spec (name or {"type": ..., params})."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"bad activation spec {spec!r}: expected a name or {{'type': name, ...}}")
    key = str(spec["type"]).replace("_", "").lower()
    if key not in _FACTORIES:
        raise ValueError(f"unsupported activation {spec['type']!r} (known: {', '.join(NAMES)})")
    return _FACTORIES[key](spec)

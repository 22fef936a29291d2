"""NAM-style WaveNet in PyTorch, taking exactly the firmware's WaveNet config.

Written from NAM's definitions (trainer `nam/models/wavenet.py`, NeuralAmpModelerCore
0.7), not from the Numba kernel. Every convolution is "valid": a sequence of length T
comes out shorter by the convolution's span, and all sequences are aligned on their LAST
sample (time runs to the right), so trimming a tensor to its last n frames lines it up
with any other. The model maps (B, T) to (B, T - receptive_field + 1), as NAM trains.

Config (see `firmware/models/wavenet/`): `{"layer_arrays": [array, ...], "head_scale": s}`,
each array `{input_size, condition_size, channels, bottleneck?, head_size,
head_kernel_size?, head_dilation?, head_bias?, layer1x1?, head1x1?, layers: [{kernel_size,
dilation, activation, gating?, secondary_activation?, film?}, ...]}`, optional `post_head`
`{channels, out_channels, activation, kernel_sizes}`. The condition is the raw input
(condition_size 1).

FiLM (`layer.film = {slot: {"shift": bool}}`, NAM 0.7): `x * scale + shift`, (scale; shift)
a 1x1 conv of the condition, at the slots NeuralAmpModelerCore's Layer::Process applies
(every slot listed is applied; the importer drops what Core ignores). The post-stack head
follows `head_scale`: per conv, activation then conv.

`receptive_field` is the firmware's (its prewarm length): the sum of every conv's span,
which over-counts when more than one array has a head kernel > 1, so the first outputs
may ignore the first inputs; the output length is T - receptive_field + 1 regardless. As in
NAM, the last layer's layer1x1 feeds nothing (its residual goes nowhere) and gets no gradient.

Module names mirror the model file's weight names ("arrays.0.layers.3.conv.weight" is
"arrays/0/layers/3/conv/weight"), and every nn.Conv1d already has the file's (out, in, k)
shape, so export is a rename.
"""
import copy
import re

import torch
from torch import nn

from firmware.models.wavenet import FILM_SLOTS
from firmware.models.wavenet import receptive_field as _receptive_field

from .activations import activation

ARCHITECTURE = "WaveNet"

# NAM trainer's "A1" presets: all kernel 3, Tanh, not gated, head_scale 0.02.
_A1_SECOND_ARRAY_DILATIONS = [128, 256, 512] + [2 ** i for i in range(10)]
_PRESETS = {
    # name: (channels of array 0, channels of array 1, dilations 0, dilations 1, weight count)
    "standard": (16, 8, [2 ** i for i in range(10)], [2 ** i for i in range(10)], 13_802),
    "lite": (12, 6, [2 ** i for i in range(7)], _A1_SECOND_ARRAY_DILATIONS, 6_554),
    "feather": (8, 4, [2 ** i for i in range(7)], _A1_SECOND_ARRAY_DILATIONS, 3_026),
    "nano": (4, 2, [2 ** i for i in range(7)], _A1_SECOND_ARRAY_DILATIONS, 842),
}
PRESETS = tuple(_PRESETS)
# Weights NAM's .nam file holds for each preset (these counts include the trailing head_scale).
PRESET_WEIGHT_COUNTS = {name: spec[-1] for name, spec in _PRESETS.items()}


def preset_config(name):
    """Our WaveNet config for NAM's standard, lite, feather or nano preset."""
    if name not in _PRESETS:
        raise KeyError(f"unknown WaveNet preset {name!r} (known: {', '.join(PRESETS)})")
    first, second, dilations0, dilations1, _ = _PRESETS[name]

    def array(input_size, channels, head_size, dilations, head_bias):
        return {
            "input_size": input_size, "condition_size": 1, "channels": channels, "bottleneck": channels,
            "head_size": head_size, "head_kernel_size": 1, "head_bias": head_bias,
            "layer1x1": True, "head1x1": None,
            "layers": [{"kernel_size": 3, "dilation": d, "activation": "Tanh", "gating": "none"}
                       for d in dilations],
        }

    return {"layer_arrays": [array(1, first, second, dilations0, False), array(first, second, 1, dilations1, True)],
            "head_scale": 0.02}


def _last(x, n):
    """The last n frames of x (B, C, L): right-aligned trimming."""
    return x[..., x.shape[-1] - n:]


class _FiLM(nn.Module):
    """x * scale + shift, (scale; shift) = 1x1 conv of the condition (right-aligned)."""

    def __init__(self, condition_size, dim, shift):
        super().__init__()
        self.shift = bool(shift)
        self.dim = dim
        self.film = nn.Conv1d(condition_size, (2 if self.shift else 1) * dim, 1)

    def forward(self, x, condition):
        ss = self.film(_last(condition, x.shape[-1]))
        if self.shift:
            return x * ss[:, :self.dim] + ss[:, self.dim:]
        return x * ss


class _Layer(nn.Module):
    """Dilated conv + condition mixin, activation (plain, gated or blended), residual and skip."""

    def __init__(self, spec, channels, bottleneck, condition_size, head1x1_channels, layer1x1):
        super().__init__()
        self.gating = spec.get("gating", "none")
        if self.gating not in ("none", "gated", "blended"):
            raise ValueError(f"gating must be none, gated or blended, got {self.gating!r}")
        self.bottleneck = bottleneck
        mixed = bottleneck if self.gating == "none" else 2 * bottleneck
        self.conv = nn.Conv1d(channels, mixed, spec["kernel_size"], dilation=spec["dilation"])
        self.mixin = nn.Conv1d(condition_size, mixed, 1, bias=False)
        self.activation = activation(spec["activation"])
        if self.gating != "none":
            self.secondary = activation(spec.get("secondary_activation") or "Sigmoid")
        self.layer1x1 = nn.Conv1d(bottleneck, channels, 1) if layer1x1 else None
        self.head1x1 = nn.Conv1d(bottleneck, head1x1_channels, 1) if head1x1_channels else None
        dims = {"conv_pre_film": channels, "conv_post_film": mixed, "input_mixin_pre_film": condition_size,
                "input_mixin_post_film": mixed, "activation_pre_film": mixed, "activation_post_film": bottleneck,
                "layer1x1_post_film": channels, "head1x1_post_film": head1x1_channels or bottleneck}
        films = spec.get("film") or {}
        unknown = set(films) - set(FILM_SLOTS)
        if unknown:
            raise ValueError(f"unknown FiLM slot(s) {sorted(unknown)}")
        self.film = nn.ModuleDict({slot: _FiLM(condition_size, dims[slot], films[slot].get("shift", True))
                                   for slot in FILM_SLOTS if slot in films})

    def forward(self, h, condition):
        """h: (B, C, L) -> (residual (B, C, L'), skip term (B, head in, L')), L' = L - span."""
        film = self.film

        def modulate(slot, x):
            return film[slot](x, condition) if slot in film else x

        z = self.conv(modulate("conv_pre_film", h))
        n = z.shape[-1]
        z = modulate("conv_post_film", z)
        mix = self.mixin(_last(modulate("input_mixin_pre_film", condition), n))
        z = modulate("activation_pre_film", z + modulate("input_mixin_post_film", mix))
        if self.gating == "none":
            a = self.activation(z)
        else:
            primary, secondary = z[:, :self.bottleneck], self.secondary(z[:, self.bottleneck:])
            if self.gating == "gated":
                a = self.activation(primary) * secondary
            else:  # blended: the secondary output weighs activated against raw
                a = secondary * self.activation(primary) + (1 - secondary) * primary
        a = modulate("activation_post_film", a)
        skip = modulate("head1x1_post_film", self.head1x1(a)) if self.head1x1 is not None else a
        residual = _last(h, n)
        if self.layer1x1 is not None:
            residual = residual + modulate("layer1x1_post_film", self.layer1x1(a))
        return residual, skip


class _LayerArray(nn.Module):
    def __init__(self, spec):
        super().__init__()
        channels = spec["channels"]
        bottleneck = spec.get("bottleneck", channels)
        head1x1 = spec.get("head1x1") or 0
        layer1x1 = bool(spec.get("layer1x1", True))
        if not layer1x1 and bottleneck != channels:
            raise ValueError("layer1x1 inactive needs bottleneck == channels")
        self.rechannel = nn.Conv1d(spec["input_size"], channels, 1, bias=False)
        self.layers = nn.ModuleList(
            _Layer(layer, channels, bottleneck, spec["condition_size"], head1x1, layer1x1)
            for layer in spec["layers"])
        self.head = nn.Conv1d(head1x1 or bottleneck, spec["head_size"], spec.get("head_kernel_size", 1),
                              dilation=spec.get("head_dilation", 1), bias=bool(spec.get("head_bias", False)))

    def forward(self, x, condition, head_in):
        """-> (residual stream for the next array, this array's head output), both right-aligned."""
        h = self.rechannel(x)
        acc = head_in
        for layer in self.layers:
            h, skip = layer(h, condition)
            if acc is None:
                acc = skip
            else:
                n = min(acc.shape[-1], skip.shape[-1])
                acc = _last(acc, n) + _last(skip, n)
        return h, self.head(acc)


class WaveNet(nn.Module):
    """(B, T) or (B, 1, T) -> (B, T - receptive_field + 1)."""

    architecture = ARCHITECTURE

    def __init__(self, config):
        super().__init__()
        if config.get("condition_dsp"):
            raise ValueError("condition_dsp WaveNets are not supported for training")
        arrays = config["layer_arrays"]
        if arrays[0]["input_size"] != 1 or any(a["condition_size"] != 1 for a in arrays):
            raise ValueError("input_size of the first array and every condition_size must be 1 (mono audio)")
        out = config["post_head"]["out_channels"] if config.get("post_head") else arrays[-1]["head_size"]
        if out != 1:
            raise ValueError("the model's output must have 1 channel (mono)")
        self.config = copy.deepcopy(config)
        self.head_scale = float(config.get("head_scale", 1.0))
        self.receptive_field = _receptive_field(config)
        self.arrays = nn.ModuleList(_LayerArray(spec) for spec in arrays)
        post = config.get("post_head")
        self.post_head = None
        if post:
            kernels = post["kernel_sizes"]
            blocks, cin = [], arrays[-1]["head_size"]
            for i, k in enumerate(kernels):
                cout = post["out_channels"] if i == len(kernels) - 1 else post["channels"]
                blocks += [activation(post["activation"]), nn.Conv1d(cin, cout, k)]
                cin = cout
            self.post_head = nn.Sequential(*blocks)

    def forward(self, x):
        if x.ndim == 2:
            x = x[:, None, :]
        out_length = x.shape[-1] - self.receptive_field + 1
        if out_length < 1:
            raise ValueError(f"input of {x.shape[-1]} samples is shorter than the receptive field "
                             f"({self.receptive_field})")
        y, head = x, None
        for array in self.arrays:
            y, head = array(y, x, head)
        head = self.head_scale * head
        if self.post_head is not None:
            head = self.post_head(head)
        return _last(head[:, 0], out_length)

    def weights(self):
        """{file weight name: tensor}: the state dict under the model file's names."""
        out = {}
        for name, tensor in self.state_dict().items():
            name = name.replace(".", "/")
            if name.startswith("post_head/"):  # Sequential index 2i + 1 is conv i
                _, index, kind = name.split("/")
                name = f"post_head/{int(index) // 2}/{kind}"
            out[re.sub(r"/film/(\w+)/film/", r"/film/\1/", name)] = tensor
        return out

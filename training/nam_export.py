"""Writing a trained module as a .nam file that NAM's players load (format 0.5.4; 0.7.0 for A2).

A packed A2 model becomes a `SlimmableContainer` (0.7.0) of its widths, each a WaveNet in
0.7's layout, as NAM 0.13 exports it. Classic WaveNets ("A1": one kernel size and activation per array, plain or gated, no
bottleneck, head kernel 1) and single-input LSTMs without skip or gains are what .nam 0.5
can hold; anything else gets a clear refusal rather than a file that plays differently.
"""
import json
import os
from datetime import datetime, timezone

import numpy as np

NAM_VERSION = "0.5.4"
NAM_VERSION_07 = "0.7.0"             # what NAM 0.13 writes for its packed A2 models


class NamExportError(ValueError):
    """A model that the .nam format cannot hold exactly."""


def _flat(tensor):
    return tensor.detach().cpu().numpy().astype(np.float64).ravel().tolist()


def _wavenet(module):
    layers, weights = [], []
    for spec, array in zip(module.config["layer_arrays"], module.arrays):
        kinds = {(layer["kernel_size"], json.dumps(layer["activation"]), layer.get("gating", "none"))
                 for layer in spec["layers"]}
        if (len(kinds) != 1 or spec.get("bottleneck", spec["channels"]) != spec["channels"]
                or not spec.get("layer1x1", True) or spec.get("head1x1") or spec.get("head_kernel_size", 1) != 1):
            raise NamExportError("only classic WaveNets (one kernel size, activation and gating per array, "
                                 "no bottleneck or head convolution) can be written as .nam 0.5")
        kernel, activation, gating = kinds.pop()
        if gating not in ("none", "gated"):
            raise NamExportError(f"gating {gating!r} needs .nam 0.7, which this exporter does not write")
        layers.append({"input_size": spec["input_size"], "condition_size": spec["condition_size"],
                       "head_size": spec["head_size"], "channels": spec["channels"], "kernel_size": kernel,
                       "dilations": [layer["dilation"] for layer in spec["layers"]],
                       "activation": json.loads(activation), "gated": gating == "gated",
                       "head_bias": bool(spec.get("head_bias", False))})
        weights += _flat(array.rechannel.weight)
        for layer in array.layers:
            weights += _flat(layer.conv.weight) + _flat(layer.conv.bias) + _flat(layer.mixin.weight)
            weights += _flat(layer.layer1x1.weight) + _flat(layer.layer1x1.bias)
        weights += _flat(array.head.weight)
        if array.head.bias is not None:
            weights += _flat(array.head.bias)
    weights.append(float(module.head_scale))          # Core reads head_scale from the weights' end
    return {"layers": layers, "head": None, "head_scale": float(module.head_scale)}, weights


def _wavenet_07(module):
    """A WaveNet in .nam 0.7's layout (per-layer kernel sizes and activations, a head
    convolution): what NAM 0.13 writes for its A2 widths. No FiLM, gating or post-head."""
    config = module.config
    if config.get("post_head") or config.get("condition_dsp"):
        raise NamExportError("this exporter writes .nam 0.7 WaveNets without a post-stack head or condition_dsp")
    layers, weights = [], []
    for spec, array in zip(config["layer_arrays"], module.arrays):
        if (any(layer.get("gating", "none") != "none" or layer.get("film") for layer in spec["layers"])
                or spec.get("head1x1") or not spec.get("layer1x1", True)
                or spec.get("bottleneck", spec["channels"]) != spec["channels"]):
            raise NamExportError("only plain (ungated, no FiLM, no bottleneck) WaveNets are written as .nam 0.7")
        n = len(spec["layers"])
        off = {"active": False, "shift": True, "groups": 1}
        layers.append({
            "input_size": spec["input_size"], "condition_size": spec["condition_size"],
            "head": {"out_channels": spec["head_size"], "kernel_size": spec.get("head_kernel_size", 1),
                     "bias": bool(spec.get("head_bias", False))},
            "channels": spec["channels"], "kernel_sizes": [layer["kernel_size"] for layer in spec["layers"]],
            "dilations": [layer["dilation"] for layer in spec["layers"]],
            "activation": [layer["activation"] for layer in spec["layers"]],
            "bottleneck": spec["channels"], "head1x1": {"active": False, "out_channels": 1, "groups": 1},
            "layer1x1": {"active": True, "groups": 1}, "groups_input": 1, "groups_input_mixin": 1,
            **{slot: dict(off) for slot in ("conv_pre_film", "conv_post_film", "input_mixin_pre_film",
                                            "input_mixin_post_film", "activation_pre_film", "activation_post_film",
                                            "layer1x1_post_film", "head1x1_post_film")},
            "gating_mode": ["none"] * n, "secondary_activation": [None] * n, "slimmable": None})
        weights += _flat(array.rechannel.weight)
        for layer in array.layers:
            weights += _flat(layer.conv.weight) + _flat(layer.conv.bias) + _flat(layer.mixin.weight)
            weights += _flat(layer.layer1x1.weight) + _flat(layer.layer1x1.bias)
        weights += _flat(array.head.weight)
        if array.head.bias is not None:
            weights += _flat(array.head.bias)
    weights.append(float(module.head_scale))          # Core reads head_scale from the weights' end
    return {"layers": layers, "head": None, "head_scale": float(module.head_scale)}, weights


def _slimmable(module, sample_rate, metadata):
    """NAM 0.13's packed export: a SlimmableContainer of whole WaveNets, narrowest first."""
    submodels = []
    for max_value, sub in zip(module.max_values, module.submodels):
        config, weights = _wavenet_07(sub)
        submodels.append({"max_value": max_value,
                          "model": {"version": NAM_VERSION_07, "architecture": "WaveNet", "config": config,
                                    "weights": weights, "sample_rate": int(sample_rate),
                                    "metadata": dict(metadata)}})
    return {"submodels": submodels}


def _lstm(module):
    if module.num_knobs or module.skip or module.input_gain != 1.0 or module.output_gain != 1.0:
        raise NamExportError("a .nam LSTM has one input and no skip or gains: train it with --nam "
                             "from the start, without --skip and without knobs")
    hidden, weights = module.hidden_size, []
    for layer in range(module.num_layers):
        w_ih = getattr(module.rnn, f"weight_ih_l{layer}")
        w_hh = getattr(module.rnn, f"weight_hh_l{layer}")
        weights += np.concatenate([w_ih.detach().cpu().numpy(), w_hh.detach().cpu().numpy()], axis=1).astype(
            np.float64).ravel().tolist()
        weights += _flat(getattr(module.rnn, f"bias_ih_l{layer}") + getattr(module.rnn, f"bias_hh_l{layer}"))
        for name in ("h0", "c0"):
            state = getattr(module, name, None)
            weights += _flat(state[layer]) if state is not None else [0.0] * hidden
    weights += _flat(module.head.weight) + _flat(module.head.bias)
    return {"input_size": 1, "hidden_size": hidden, "num_layers": module.num_layers}, weights


def to_nam(module, sample_rate=48000, metadata=None):
    """The .nam document (a dict) of a trained WaveNet or LSTM module."""
    meta = {"date": _nam_date()}
    meta.update(metadata or {})
    version = NAM_VERSION
    if module.architecture == "SlimmableContainer":
        config, weights, version = _slimmable(module, sample_rate, meta), [], NAM_VERSION_07
    elif module.architecture == "WaveNet":
        config, weights = _wavenet(module)
    elif module.architecture == "LSTM":
        config, weights = _lstm(module)
    else:
        raise NamExportError(f"NAM has no {module.architecture} architecture; use WaveNet or LSTM for --nam")
    return {"version": version, "architecture": module.architecture, "config": config,
            "weights": weights, "sample_rate": int(sample_rate), "metadata": meta}


def _nam_date():
    now = datetime.now(timezone.utc)
    return {"year": now.year, "month": now.month, "day": now.day, "hour": now.hour,
            "minute": now.minute, "second": now.second}


def save_nam(module, path, sample_rate=48000, metadata=None):
    document = to_nam(module, sample_rate, metadata)
    tmp = os.fspath(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(document, f)
    os.replace(tmp, path)
    return document

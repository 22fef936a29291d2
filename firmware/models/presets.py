"""NAM's standard WaveNet presets (the trainer's "A1" family) as our WaveNet configs."""

_A1_TAIL = [128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
_A1 = {
    # name: (channels of array 1, channels of array 2, dilations 1, dilations 2)
    "standard": (16, 8, [2 ** i for i in range(10)], [2 ** i for i in range(10)]),
    "lite": (12, 6, [2 ** i for i in range(7)], _A1_TAIL),
    "feather": (8, 4, [2 ** i for i in range(7)], _A1_TAIL),
    "nano": (4, 2, [2 ** i for i in range(7)], _A1_TAIL),
}
WAVENET_PRESETS = tuple(_A1)


def wavenet_preset(name, activation="Tanh", gated=False):
    """Config of NAM preset `name` (kernel 3, Tanh, not gated, head_scale 0.02)."""
    if name not in _A1:
        raise KeyError(f"unknown WaveNet preset {name!r} (known: {', '.join(_A1)})")
    c1, c2, d1, d2 = _A1[name]

    def array(input_size, channels, head_size, dilations, head_bias):
        return {
            "input_size": input_size, "condition_size": 1, "channels": channels, "bottleneck": channels,
            "head_size": head_size, "head_kernel_size": 1, "head_bias": head_bias,
            "layer1x1": True, "head1x1": None,
            "layers": [{"kernel_size": 3, "dilation": d, "activation": {"type": activation},
                        "gating": "gated" if gated else "none"} for d in dilations],
        }

    return {"layer_arrays": [array(1, c1, c2, d1, False), array(c1, c2, 1, d2, True)], "head_scale": 0.02}


def recurrent_config(hidden_size, num_layers=1, knobs=0, skip=False):
    return {"input_size": 1 + knobs, "hidden_size": hidden_size, "num_layers": num_layers, "skip": skip}

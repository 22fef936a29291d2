"""WaveNet as NeuralAmpModelerCore defines it (classic "A1" presets and the 0.6/0.7 additions).

Per layer array (C channels, bottleneck B, Z = B or 2B when gated/blended):

    h = rechannel @ x                         (array 0: x is the input; later: previous h)
    head = 0 (array 0) or previous array's head output
    for each layer:  z = conv_dilated(h) + bias + mixin @ condition
                     a = act(z)  |  act(z[:B]) * sec(z[B:])  |  blend
                     head += a  (or head1x1 @ a + b)
                     h = h + layer1x1 @ a + b  (or h when layer1x1 is inactive)
    head_out = causal conv of head (kernel head_kernel_size) + optional bias
    output = head_scale * head_out of the last array
    post-stack head (optional): for each of its convs, output = conv(act(output))

FiLM (optional, per layer and slot, NAM 0.7): `x = x * scale + shift` with (scale, shift)
= 1x1 conv of the condition, at eight places in a layer (see FILM_SLOTS). A layer without
FiLM takes the same path as before: its per-layer cost is one integer test.

As NAM Core's `NAM/wavenet/`, in three parts:

- `params`: the config as numbers (checks, activation specs, weight shapes, receptive
  field, cost); nothing allocated, nothing compiled.
- `kernel`: the compiled kernels and the layout of the integer tables they read.
- `model`: the `WaveNet` Model, which fills those tables and buffers from a config.
"""
from firmware.models import registry
from firmware.models.wavenet.kernel import wavenet_block, wavenet_mono, wavenet_state_mono
from firmware.models.wavenet.model import WaveNet
from firmware.models.wavenet.params import (
    ARCHITECTURE,
    FILM_SLOTS,
    GATING,
    activation_slopes,
    cost,
    receptive_field,
    weight_shapes,
)

__all__ = ["ARCHITECTURE", "FILM_SLOTS", "GATING", "WaveNet", "activation_slopes", "cost", "receptive_field",
           "wavenet_block", "wavenet_mono", "wavenet_state_mono", "weight_shapes"]

registry.register(ARCHITECTURE, WaveNet, weight_shapes, cost)

"""NAM's packed WaveNet ("A2"): several widths of one WaveNet, trained together.

Written from neural-amp-modeler 0.13's `PackedWaveNet` and `PackedLightningModule`: the
widths share nothing but the batch. NAM packs them into one wide network whose off-diagonal
blocks a mask keeps at zero, which is the same as separate networks; here they are separate
WaveNets. Each training step feeds every width the same batch and sums their losses; each
width keeps its own best validation state (NAM's PackedBestCheckpoint); the export is a
`SlimmableContainer` whose widths get `max_value` (i + 1) / n, the last 1.0.

`forward` is the widest model's output (what NAM's plugin and the pedal play by default);
`forward_all` gives every width's, for the training loss.
"""
import copy

from torch import nn

from .wavenet import WaveNet

ARCHITECTURE = "SlimmableContainer"

A2_WIDTHS = (3, 8)
# One layer array of 23 layers: the dilation pattern twice, a kernel-15 pair, the pattern again.
_A2_PATTERN = [1, 3, 7, 17, 41, 101, 239]
A2_DILATIONS = _A2_PATTERN * 2 + [1, 13] + _A2_PATTERN
A2_KERNELS = [6] * 14 + [15, 15] + [6] * 7
A2_HEAD_KERNEL = 16
A2_HEAD_SCALE = 0.01


def a2_config(channels):
    """Our WaveNet config of one A2 width (NAM 0.13's config_model_packed.json)."""
    layers = [{"kernel_size": k, "dilation": d, "activation": {"type": "LeakyReLU", "negative_slope": 0.01},
               "gating": "none"} for k, d in zip(A2_KERNELS, A2_DILATIONS)]
    array = {"input_size": 1, "condition_size": 1, "channels": channels, "bottleneck": channels, "head_size": 1,
             "head_kernel_size": A2_HEAD_KERNEL, "head_bias": True, "layer1x1": True, "head1x1": None,
             "layers": layers}
    return {"layer_arrays": [array], "head_scale": A2_HEAD_SCALE}


def a2_packed_config(widths=A2_WIDTHS):
    return {"submodels": [{"max_value": (i + 1) / len(widths) if i < len(widths) - 1 else 1.0,
                           "config": a2_config(c)} for i, c in enumerate(widths)]}


class PackedWaveNet(nn.Module):
    """(B, T) -> (B, T - receptive_field + 1) of the widest model; `forward_all` -> every width's."""

    architecture = ARCHITECTURE

    def __init__(self, config):
        super().__init__()
        self.config = copy.deepcopy(config)
        subs = config["submodels"]
        if not subs:
            raise ValueError("a packed model needs at least one submodel")
        self.max_values = [float(s["max_value"]) for s in subs]
        if self.max_values != sorted(self.max_values) or self.max_values[-1] != 1.0:
            raise ValueError("submodel max_values must rise to 1.0 (the widest last)")
        self.submodels = nn.ModuleList(WaveNet(s["config"]) for s in subs)
        fields = {m.receptive_field for m in self.submodels}
        if len(fields) != 1:
            raise ValueError("the widths of a packed model must share one receptive field")
        self.receptive_field = fields.pop()

    @property
    def widths(self):
        return [m.config["layer_arrays"][0]["channels"] for m in self.submodels]

    def forward(self, x):
        return self.submodels[-1](x)

    def forward_all(self, x):
        return [m(x) for m in self.submodels]

    def submodel(self, index=-1):
        return self.submodels[index]

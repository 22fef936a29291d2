"""PyTorch implementations of the architectures the pedal plays, and their export.

Independent of the Numba kernels (written from NAM's and PyTorch's definitions), so the
kernel tests compare two implementations rather than one with itself. The stable API:

    build_torch_model(architecture, config) -> nn.Module
        architecture "WaveNet", "LSTM", "GRU", "Linear" or "ConvNet"; config exactly as the model file
        holds it (see firmware/models/*.py). The module has `.architecture`, `.config` and
        `.weights()`. Fresh modules use PyTorch's default initialisation.
        - WaveNet, Linear, ConvNet: (B, T) -> (B, T - module.receptive_field + 1), valid convolution.
        - SlimmableContainer (NAM's packed "A2"): several WaveNet widths; forward is the
          widest, `forward_all` every width's (see packed.py). Not a model-file
          architecture: `to_modelfile` writes one width.
          Train on segments of receptive_field - 1 + n samples to predict the last n.
        - LSTM, GRU: (B, T) or (B, T, 1 + knobs) -> (B, T); `forward(x, state=None,
          return_state=False)` carries state for truncated backprop.

    preset_config(name) -> config
        NAM's WaveNet presets: "standard", "lite", "feather", "nano" (see PRESETS).

    state_dict_to_weights(module) -> {name: float32 ndarray}
        Exactly the names and shapes of `firmware.models.weight_shapes(architecture, config)`.

    to_modelfile(module, sample_rate=48000, metadata=None, knobs=None, verify=True)
        -> firmware.models.modelfile.ModelFile, ready to `.save(path)`.
        `knobs`: one {"name", "min", "max", "default"} per knob input (defaults to
        "knob1".., 0..1, 0.5). The reference pair is computed by THIS PyTorch forward, the
        way the pedal plays the file (`prewarm=True`): WaveNet/Linear see receptive_field - 1
        samples of silence before the reference input (what a prewarmed stream gives);
        LSTM/GRU start from their initial state, run 0.5 s of silence with the knobs at their
        defaults (the firmware's prewarm), then the reference input. With `verify`, the
        firmware kernel must reproduce that pair (ModelFile.verify) before it is returned,
        so a file that would not load on the pedal is never written.
"""
import copy

import numpy as np
import torch

from firmware.models import modelfile as _modelfile
from firmware.models import weight_shapes as _weight_shapes

from .convnet import ConvNet
from .linear import Linear
from .packed import PackedWaveNet, a2_config, a2_packed_config
from .recurrent import GRU, LSTM, Recurrent
from .wavenet import PRESET_WEIGHT_COUNTS, PRESETS, WaveNet, preset_config

_CLASSES = {"WaveNet": WaveNet, "LSTM": LSTM, "GRU": GRU, "Linear": Linear, "ConvNet": ConvNet,
            "SlimmableContainer": PackedWaveNet}
ARCHITECTURES = tuple(_CLASSES)
# The firmware prewarms recurrent models with this much silence (NAM's half second).
RECURRENT_PREWARM_SECONDS = 0.5


def build_torch_model(architecture, config):
    """A trainable nn.Module for a model-file architecture and config."""
    if architecture not in _CLASSES:
        raise ValueError(f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
    return _CLASSES[architecture](config)


def state_dict_to_weights(module):
    """The module's weights under the model file's names, as float32 arrays of its shapes."""
    expected = _weight_shapes(module.architecture, module.config)
    weights = {name: t.detach().cpu().numpy().astype(np.float32) for name, t in module.weights().items()}
    if set(weights) != set(expected):
        raise ValueError(f"weight names do not match the {module.architecture} config: "
                         f"missing {sorted(set(expected) - set(weights))}, extra {sorted(set(weights) - set(expected))}")
    for name, shape in expected.items():
        if weights[name].shape != tuple(shape):
            raise ValueError(f"weight {name!r} has shape {weights[name].shape}, the config needs {tuple(shape)}")
    return {name: np.ascontiguousarray(weights[name]) for name in expected}


def _default_knobs(count):
    return [{"name": f"knob{i + 1}", "min": 0.0, "max": 1.0, "default": 0.5} for i in range(count)]


@torch.no_grad()
def reference_output(module, reference_input, knob_values=(), sample_rate=48000):
    """What a prewarmed streaming player gives for `reference_input`, by the torch forward."""
    device = next(module.parameters()).device
    x = torch.as_tensor(np.asarray(reference_input, np.float32), device=device)
    n = len(x)
    if isinstance(module, Recurrent):
        silence = x.new_zeros(int(RECURRENT_PREWARM_SECONDS * sample_rate))
        audio = torch.cat([silence, x])
        columns = [audio] + [torch.full_like(audio, float(v)) for v in knob_values]
        y = module(torch.stack(columns, dim=-1)[None])
    else:
        y = module(torch.cat([x.new_zeros(module.receptive_field - 1), x])[None])
    return y[0, -n:].cpu().numpy().astype(np.float32)


def to_modelfile(module, sample_rate=48000, metadata=None, knobs=None, verify=True, submodel=None):
    """A ModelFile of the module, with a reference pair computed by the torch forward.

    A packed model (SlimmableContainer) gives one of its widths: `submodel` (an index), by
    default the widest, which is what the pedal plays."""
    if module.architecture == "SlimmableContainer":
        module = module.submodel(-1 if submodel is None else submodel)
    num_knobs = getattr(module, "num_knobs", 0)
    knobs = _default_knobs(num_knobs) if knobs is None else [dict(k) for k in knobs]
    if len(knobs) != num_knobs:
        raise ValueError(f"{len(knobs)} knob description(s) for a model with {num_knobs} knob input(s)")
    knob_values = [float(k.get("default", 0.5)) for k in knobs]
    was_training = module.training
    module.eval()
    try:
        mf = _modelfile.ModelFile(
            architecture=module.architecture, config=copy.deepcopy(module.config), weights=state_dict_to_weights(module),
            sample_rate=int(sample_rate), metadata=dict(metadata or {}), knobs=knobs, prewarm=True)
        reference_input = _modelfile.default_reference_input(sample_rate)
        mf.with_reference(reference_input, reference_output(module, reference_input, knob_values, sample_rate),
                          knobs=knob_values)
    finally:
        module.train(was_training)
    if verify:
        try:
            mf.verify()
        except _modelfile.ModelFileError:
            if not isinstance(module, Recurrent):
                raise
            _reference_from_the_kernel(mf)
    return mf


# A recurrent model that never settles in silence (a slow wobble after the prewarm) carries
# float32 rounding along its state: two float32 players of the same weights then differ by
# more than the format's 1e-4 (seen: torch 8.9e-5 and the pedal's kernel 2.8e-4 from float64
# torch, on an LSTM-16 of a British lead). A wrong export (a gate out of place, a transposed
# matrix) is off by the signal itself, not by a fraction of a percent of its peak.
RECURRENT_EXPORT_AGREEMENT = 1e-2       # of the reference output's peak


def _reference_from_the_kernel(mf):
    """The pedal's own output becomes the file's reference pair, once it agrees with the
    torch forward within RECURRENT_EXPORT_AGREEMENT of the peak; the file then checks
    its integrity on every load as any other. Raises ModelFileError when it does not agree."""
    got = mf.run_reference()
    torch_output = mf.reference_output
    peak = float(np.max(np.abs(torch_output))) if len(torch_output) else 0.0
    err = float(np.max(np.abs(got - torch_output))) if len(got) else 0.0
    if not (np.all(np.isfinite(got)) and err <= RECURRENT_EXPORT_AGREEMENT * max(peak, 1e-3)):
        raise _modelfile.ModelFileError(
            mf.path, f"the pedal's kernel and the torch model disagree (max error {err:.3g}, peak {peak:.3g}): "
            "the export is wrong")
    mf.with_reference(mf.reference_input, got, knobs=mf.reference_knobs)
    mf.metadata["reference"] = {"made_by": "the pedal's kernel", "torch_max_error": err}


__all__ = ["ARCHITECTURES", "PRESETS", "PRESET_WEIGHT_COUNTS", "PackedWaveNet", "a2_config", "a2_packed_config",
           "build_torch_model", "preset_config",
           "reference_output", "state_dict_to_weights", "to_modelfile"]

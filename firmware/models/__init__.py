"""The architectures the pedal plays, one module each, behind one `build()`."""
from . import convnet, gru, linear, lstm, wavenet
from .base import Model, ModelConfigError

_MODULES = {m.ARCHITECTURE: m for m in (wavenet, lstm, gru, linear, convnet)}
_CLASSES = {"WaveNet": wavenet.WaveNet, "LSTM": lstm.LSTM, "GRU": gru.GRU, "Linear": linear.Linear,
            "ConvNet": convnet.ConvNet}
ARCHITECTURES = tuple(_MODULES)
CONDITION_PREFIX = "condition_dsp/"


def _module(architecture):
    if architecture not in _MODULES:
        raise ModelConfigError(f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
    return _MODULES[architecture]


def weight_shapes(architecture, config):
    """{name: shape} of every weight array, including a nested condition model's (prefixed)."""
    shapes = dict(_module(architecture).weight_shapes(config))
    nested = config.get("condition_dsp") if isinstance(config, dict) else None
    if nested:
        for name, shape in weight_shapes(nested["architecture"], nested["config"]).items():
            shapes[CONDITION_PREFIX + name] = shape
    return shapes


def build(architecture, config, weights, sample_rate=48000, max_block=2048):
    """A ready-to-run Model. `weights` maps names from `weight_shapes` to arrays."""
    _module(architecture)
    nested = config.get("condition_dsp")
    if nested:
        if architecture != "WaveNet":
            raise ModelConfigError("condition_dsp is only defined for WaveNet")
        inner = {k[len(CONDITION_PREFIX):]: v for k, v in weights.items() if k.startswith(CONDITION_PREFIX)}
        cond = build(nested["architecture"], nested["config"], inner, sample_rate, max_block)
        if not hasattr(cond, "process_multi"):
            raise ModelConfigError(f"condition_dsp of architecture {nested['architecture']} is not supported")
        return wavenet.WaveNet(config, weights, sample_rate, max_block, condition_model=cond)
    return _CLASSES[architecture](config, weights, sample_rate, max_block)


__all__ = ["ARCHITECTURES", "Model", "ModelConfigError", "build", "weight_shapes"]

"""The architectures the pedal plays, one module each (registered in `registry`), behind
one `build()`. Kernels and models never see a file: `modelfile` and the importers read
files and hand them configs and arrays."""
# Imported for their registration, in the order `ARCHITECTURES` lists them.
from firmware.models import wavenet, lstm, gru, linear, convnet  # noqa: F401, I001
from firmware.models import registry
from firmware.models.base import Cost, Model, ModelConfigError

ARCHITECTURES = registry.names()
CONDITION_PREFIX = "condition_dsp/"


def weight_shapes(architecture, config):
    """{name: shape} of every weight array, including a nested condition model's (prefixed)."""
    shapes = dict(registry.get(architecture).weight_shapes(config))
    nested = config.get("condition_dsp") if isinstance(config, dict) else None
    if nested:
        for name, shape in weight_shapes(nested["architecture"], nested["config"]).items():
            shapes[CONDITION_PREFIX + name] = shape
    return shapes


def cost(architecture, config, max_block=2048, sample_rate=48000, depth=0):
    """base.Cost of a config, a nested condition model's included: numbers only, nothing
    allocated (firmware/core/limits.py checks it before a model file's arrays are read)."""
    if not isinstance(config, dict):
        raise ModelConfigError("'config' must be an object")
    total = registry.get(architecture).cost(config, max_block, sample_rate)
    nested = config.get("condition_dsp")
    if nested:
        if depth >= 1 or not isinstance(nested, dict) or not isinstance(nested.get("config"), dict):
            raise ModelConfigError("'config.condition_dsp' must be one model object (nesting deeper is not supported)")
        inner = cost(nested.get("architecture"), nested["config"], max_block, sample_rate, depth + 1)
        total = Cost(total.memory_bytes + inner.memory_bytes, total.work_per_sample + inner.work_per_sample,
                     total.prewarm_samples + inner.prewarm_samples, total.layers + inner.layers, total.fields)
    return total


def build(architecture, config, weights, sample_rate=48000, max_block=2048):
    """A ready-to-run Model. `weights` maps names from `weight_shapes` to arrays."""
    arch = registry.get(architecture)
    nested = config.get("condition_dsp")
    if nested:
        if architecture != "WaveNet":
            raise ModelConfigError("condition_dsp is only defined for WaveNet")
        inner = {k[len(CONDITION_PREFIX):]: v for k, v in weights.items() if k.startswith(CONDITION_PREFIX)}
        cond = build(nested["architecture"], nested["config"], inner, sample_rate, max_block)
        if not hasattr(cond, "process_multi"):
            raise ModelConfigError(f"condition_dsp of architecture {nested['architecture']} is not supported")
        return arch.model(config, weights, sample_rate, max_block, condition_model=cond)
    return arch.model(config, weights, sample_rate, max_block)


__all__ = ["ARCHITECTURES", "Cost", "Model", "ModelConfigError", "build", "cost", "weight_shapes"]

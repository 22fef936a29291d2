"""A model config's cost (models.cost) checked against `core.limits` before anything is
allocated: a file's numbers are claims to check, not sizes to allocate."""
from firmware import models
from firmware.core.errors import LimitError, ModelFileError
from firmware.core.limits import CHECK_BLOCK, active, size_text


def check_model(path, architecture, config, sample_rate=48000, limits=None):
    """The models.Cost of a config, or a LimitError naming the field that breaks a limit.

    Call it with the config the pedal will build (ours, after an importer's conversion)
    before reading or converting weights. A config that is malformed (wrong types,
    unknown architecture) is a ModelFileError too."""
    lim = limits or active()
    try:
        cost = models.cost(architecture, config, CHECK_BLOCK, sample_rate)
    except (models.ModelConfigError, KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise ModelFileError(path, f"bad config: {e}") from None
    except RecursionError:
        raise ModelFileError(path, "config is nested too deeply") from None

    def refuse(kind, need, limit):
        field, claimed = cost.fields[kind]
        raise LimitError(path, f"'{field}' = {claimed}: the model would need {need}, more than the limit of {limit}")

    if cost.layers > lim.layers:
        refuse("layers", f"{cost.layers} layers", lim.layers)
    if cost.memory_bytes > lim.model_memory_bytes:
        refuse("memory", f"{size_text(cost.memory_bytes)} of memory", size_text(lim.model_memory_bytes))
    if cost.work_per_sample > lim.work_per_sample:
        refuse("work", f"{cost.work_per_sample:,} multiply-adds a sample", f"{lim.work_per_sample:,}")
    if cost.prewarm_samples > lim.prewarm_samples:
        refuse("prewarm", f"a prewarm (receptive field) of {cost.prewarm_samples:,} samples",
               f"{lim.prewarm_samples:,}")
    one_pass = cost.work_per_sample * (cost.prewarm_samples + int(sample_rate) + 2048)
    if one_pass > lim.convert_work:
        field, claimed = cost.fields["work"]
        raise LimitError(path, f"'{field}' = {claimed}: checking the model would take {one_pass:.2g} multiply-adds "
                               f"a pass ({cost.work_per_sample:,} a sample), more than the limit of "
                               f"{lim.convert_work:.2g}")
    return cost

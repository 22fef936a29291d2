"""NAM's LSTM, Linear and ConvNet: one flat weight list, cut in file order into the
pedal's named arrays (see the file order of each below, as Core reads it)."""
import numpy as np

from firmware.core import limits
from firmware.importers._common import field, integer
from firmware.models import ModelConfigError, budget, convnet, modelfile
from firmware.models.wavenet.params import _activation_spec


def split(flat, shapes, path, where, extra=0):
    """Cut the flat weight list into named arrays, in file order; `extra` trailing floats stay."""
    need = sum(int(np.prod(s)) for s in shapes.values()) + extra
    if flat.size != need:
        raise modelfile.ModelFileError(
            path, f"'{where}weights' has {flat.size} values, the config needs {need}")
    weights, offset = {}, 0
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        weights[name] = flat[offset:offset + n].reshape(shape).copy()
        offset += n
    return weights


# --- LSTM -------------------------------------------------------------------------------
def convert_lstm(config, flat, path, where):
    """(config, weights) of a NAM LSTM."""
    w = where + "config"
    n_in = integer(field(config, "input_size", path, w), path, w + ".input_size")
    if n_in != 1:
        raise modelfile.ModelFileError(path, f"'{w}.input_size' must be 1 for a NAM LSTM, got {n_in}")
    H = integer(field(config, "hidden_size", path, w), path, w + ".hidden_size")
    L = integer(config.get("num_layers", 1), path, w + ".num_layers")
    cfg = {"input_size": n_in, "hidden_size": H, "num_layers": L, "initial_state": True}
    budget.check_model(path, "LSTM", cfg)
    # File order per layer: W = [W_ih | W_hh] (4H, in + H), b (4H), h0 (H), c0 (H); then head w (H), b (1).
    file_shapes = {}
    for layer in range(L):
        p = f"layers/{layer}/"
        file_shapes[p + "weight"] = (4 * H, (n_in if layer == 0 else H) + H)
        file_shapes[p + "bias"] = (4 * H,)
        file_shapes[p + "h0"] = (H,)
        file_shapes[p + "c0"] = (H,)
    file_shapes["head/weight"] = (1, H)
    file_shapes["head/bias"] = (1,)
    raw = split(flat, file_shapes, path, where)
    weights = {}
    for layer in range(L):
        p = f"layers/{layer}/"
        W = raw.pop(p + "weight")
        n = W.shape[1] - H
        weights[p + "weight_ih"] = np.ascontiguousarray(W[:, :n])
        weights[p + "weight_hh"] = np.ascontiguousarray(W[:, n:])
    weights.update(raw)
    return cfg, weights


# --- Linear -----------------------------------------------------------------------------
def convert_linear(config, flat, path, where):
    """(config, weights) of a NAM Linear (an FIR filter)."""
    w = where + "config"
    n = integer(field(config, "receptive_field", path, w), path, w + ".receptive_field")
    bias = bool(config.get("bias", False))
    cfg = {"receptive_field": n, "bias": bias}
    budget.check_model(path, "Linear", cfg)
    shapes = {"taps": (n,)}
    if bias:
        shapes["bias"] = (1,)
    return cfg, split(flat, shapes, path, where)


# --- ConvNet ----------------------------------------------------------------------------
def convert_convnet(config, flat, path, where):
    """(config, weights) of a NAM ConvNet, a batchnorm folded into its conv."""
    w = where + "config"
    C = integer(field(config, "channels", path, w), path, w + ".channels")
    dilations = field(config, "dilations", path, w, list)
    if not dilations:
        raise modelfile.ModelFileError(path, f"'{w}.dilations' is empty")
    limits.check_count(path, w + ".dilations", len(dilations))
    dilations = [integer(d, path, f"{w}.dilations[{i}]") for i, d in enumerate(dilations)]
    batchnorm = bool(field(config, "batchnorm", path, w, bool)) if "batchnorm" in config else False
    activation = field(config, "activation", path, w)
    try:
        _activation_spec(activation, w + ".activation")
    except ModelConfigError as e:
        raise modelfile.ModelFileError(path, str(e)) from None
    cfg = {"channels": C, "dilations": dilations, "activation": activation}
    budget.check_model(path, "ConvNet", cfg)
    # File order per block: conv weight (C, in, 2), its bias unless batchnorm, else the
    # batchnorm's running mean, running var, weight, bias (C each) and eps; then the head.
    shapes = {}
    for i in range(len(dilations)):
        p = f"layers/{i}/"
        shapes[p + "weight"] = (C, 1 if i == 0 else C, convnet.KERNEL_SIZE)
        if batchnorm:
            for name in ("running_mean", "running_var", "bn_weight", "bn_bias"):
                shapes[p + name] = (C,)
            shapes[p + "eps"] = (1,)
        else:
            shapes[p + "bias"] = (C,)
    shapes["head/weight"] = (1, C)
    shapes["head/bias"] = (1,)
    raw = split(flat, shapes, path, where)
    if batchnorm:
        for i in range(len(dilations)):
            p = f"layers/{i}/"
            # Core: scale = weight / sqrt(eps + var), loc = bias - scale * mean, after a bias-free conv.
            var = raw.pop(p + "running_var").astype(np.float64)
            eps = float(raw.pop(p + "eps")[0])
            if np.any(eps + var <= 0):
                raise modelfile.ModelFileError(path, f"'{where}weights': batchnorm {i} has a variance + eps <= 0")
            scale = raw.pop(p + "bn_weight").astype(np.float64) / np.sqrt(eps + var)
            loc = raw.pop(p + "bn_bias") - scale * raw.pop(p + "running_mean")
            raw[p + "weight"] = (raw[p + "weight"] * scale[:, None, None]).astype(np.float32)
            raw[p + "bias"] = loc.astype(np.float32)
    cfg_shapes = convnet.weight_shapes(cfg)
    return cfg, {name: raw[name] for name in cfg_shapes}

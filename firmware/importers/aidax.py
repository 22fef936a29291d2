"""AIDA-X model files (`.json`/`.aidax`: RTNeural's Keras layout) as aidadsp-lv2 plays them.

    {"in_shape": [null, null, in], "in_skip": 0|1, "in_gain": dB, "out_gain": dB,
     "layers": [{"type": "lstm"|"gru", "shape": [null, null, H],
                 "weights": [kernel (in x GH), recurrent (H x GH), bias]}, ...,
                {"type": "dense", "weights": [(H x 1), (1)]}],
     "metadata": {"samplerate": ..., "name": ...},
     "input_batch": [2048 floats], "output_batch": [2048 floats]}

Keras gate order is i, f, c, o for the LSTM (PyTorch's) and z, r, h for the GRU (PyTorch:
r, z, n), whose bias is (2, 3H): input bias, then recurrent bias (`reset_after`). The
player computes `y = out_gain * (net(in_gain * x) + in_skip * in_gain * x)` with the
knob inputs at 0 when it checks the file's own `input_batch` -> `output_batch` pair, from
zero state; the importer makes that pair the file's reference and refuses a file that
does not reproduce it.
"""
import numpy as np

from firmware.core import limits
from firmware.core.units import db_to_gain
from firmware.importers import registry
from firmware.importers._common import array, field, integer, metadata, sample_rate
from firmware.models import budget, modelfile
from firmware.models import lstm as lstm_model

FORMAT = "aidax"
DEFAULT_SAMPLE_RATE = 48000
GATES = {"lstm": 4, "gru": 3}
LINEAR_ACTIVATIONS = ("", "linear", None)
MAX_GAIN_DB = 60.0   # in_gain/out_gain: beyond it a file could overflow the model (+1e308 dB)


def looks_like(doc):
    return isinstance(doc, dict) and "in_shape" in doc and "layers" in doc


def convert(doc, path, rate=None, verify=True):
    """A ModelFile of a parsed AIDA-X file with its own reference pair (checked unless
    `verify` is false); a file without one gets none."""
    in_shape = field(doc, "in_shape", path, "", list)
    if not in_shape:
        raise modelfile.ModelFileError(path, "field 'in_shape' is empty")
    n_in = integer(in_shape[-1], path, "in_shape[-1]")
    if n_in > 1 + lstm_model.MAX_KNOBS:
        raise modelfile.ModelFileError(
            path, f"'in_shape' has {n_in} inputs: at most {lstm_model.MAX_KNOBS} knob inputs are supported")
    layers = field(doc, "layers", path, "", list)
    if len(layers) < 2 or not all(isinstance(layer, dict) for layer in layers):
        raise modelfile.ModelFileError(path, "'layers' must list recurrent layers followed by one dense layer")
    *recurrent, dense = layers
    limits.check_count(path, "layers", len(recurrent))

    kinds = {str(layer.get("type", "")).lower() for layer in recurrent}
    if len(kinds) != 1 or not kinds <= set(GATES):
        got = ", ".join(repr(layer.get("type")) for layer in layers)
        raise modelfile.ModelFileError(
            path, f"'layers' are {got}: supported is a stack of one kind of lstm or gru layers, then one dense")
    kind = kinds.pop()
    H = None
    weights = {}
    for i, layer in enumerate(recurrent):
        w = f"layers[{i}]"
        shape = field(layer, "shape", path, w, list)
        h = integer(shape[-1] if shape else None, path, w + ".shape[-1]")
        if H is not None and h != H:
            raise modelfile.ModelFileError(path, f"'{w}.shape' has {h} units, the layers before have {H}")
        H = h
        rows_in = n_in if i == 0 else H
        weights.update(_recurrent(layer, kind, i, rows_in, H, path, w))

    w = f"layers[{len(recurrent)}]"
    if str(dense.get("type", "")).lower() != "dense":
        raise modelfile.ModelFileError(path, f"'{w}.type' is {dense.get('type')!r}: the last layer must be dense")
    if dense.get("activation") not in LINEAR_ACTIVATIONS:
        raise modelfile.ModelFileError(
            path, f"'{w}.activation' is {dense.get('activation')!r}: only a linear output layer is supported")
    dw = field(dense, "weights", path, w, list)
    if len(dw) != 2:
        raise modelfile.ModelFileError(path, f"'{w}.weights' must hold a kernel and a bias")
    weights["head/weight"] = array(dw[0], path, w + ".weights[0]", (H, 1)).T.copy()
    weights["head/bias"] = array(dw[1], path, w + ".weights[1]", (1,))

    skip = integer(doc.get("in_skip", 0), path, "in_skip", minimum=0)
    if skip > 1:
        raise modelfile.ModelFileError(path, f"'in_skip' is {skip}: only 0 or 1 is supported")
    config = {"input_size": n_in, "hidden_size": H, "num_layers": len(recurrent), "skip": bool(skip),
              "input_gain": _gain(doc, "in_gain", path), "output_gain": _gain(doc, "out_gain", path)}
    budget.check_model(path, kind.upper(), config)

    meta_in = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    if rate is None:
        found = meta_in.get("samplerate", doc.get("samplerate"))
        rate = DEFAULT_SAMPLE_RATE if found is None else sample_rate(found, path, "metadata.samplerate")
    meta = metadata({k: v for k, v in meta_in.items() if k != "samplerate"}, path, FORMAT, unit_type=kind.upper())
    # aidadsp-lv2's knobs (PARAM1, PARAM2) start at 0, and it checks the reference pair there.
    knobs = [{"name": f"param{i + 1}", "min": 0.0, "max": 1.0, "default": 0.0} for i in range(n_in - 1)]
    mf = modelfile.ModelFile(architecture=kind.upper(), config=config, weights=weights, sample_rate=rate,
                             metadata=meta, knobs=knobs, prewarm=False, path=path)

    if doc.get("input_batch") is None or doc.get("output_batch") is None:
        return mf
    x = array(doc["input_batch"], path, "input_batch")
    y = array(doc["output_batch"], path, "output_batch")
    if x.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise modelfile.ModelFileError(path, "'input_batch' and 'output_batch' must be equal-length lists of numbers")
    mf.with_reference(x, y, knobs=[0.0] * (n_in - 1))
    if verify:
        mf.verify()
    return mf


def _gain(doc, key, path):
    value = doc.get(key, 0.0)
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) <= MAX_GAIN_DB:
        raise modelfile.ModelFileError(path, f"field '{key}' must be a number of dB within +-{MAX_GAIN_DB:g}, "
                                             f"got {value!r}")
    return db_to_gain(float(value), floor_db=-90.0)  # AIDA-X: -90 dB and below is silence


def _recurrent(layer, kind, index, rows_in, H, path, w):
    """Our weights of one Keras LSTM/GRU layer: transposed, gates in PyTorch order."""
    lw = field(layer, "weights", path, w, list)
    if len(lw) != 3:
        raise modelfile.ModelFileError(path, f"'{w}.weights' must hold kernel, recurrent kernel and bias")
    G = GATES[kind] * H
    kernel = array(lw[0], path, w + ".weights[0]", (rows_in, G))
    recurrent = array(lw[1], path, w + ".weights[1]", (H, G))
    p = f"layers/{index}/"
    if kind == "lstm":
        bias = array(lw[2], path, w + ".weights[2]", (G,))
        return {p + "weight_ih": kernel.T.copy(), p + "weight_hh": recurrent.T.copy(), p + "bias": bias}
    bias = array(lw[2], path, w + ".weights[2]")
    if bias.shape != (2, G):
        raise modelfile.ModelFileError(
            path, f"'{w}.weights[2]' has shape {bias.shape}, expected {(2, G)}: only GRUs with reset_after "
                  "(separate input and recurrent biases, as PyTorch and RTNeural use) are supported")
    order = np.concatenate([np.arange(H, 2 * H), np.arange(0, H), np.arange(2 * H, 3 * H)])  # z,r,h -> r,z,n
    return {p + "weight_ih": kernel.T[order].copy(), p + "weight_hh": recurrent.T[order].copy(),
            p + "bias_ih": bias[0][order].copy(), p + "bias_hh": bias[1][order].copy()}


registry.register(FORMAT, looks_like, convert, options={"sample_rate": "rate", "verify": "verify"},
                  refusals={"submodel": "--submodel is only meaningful for a slimmable NAM file"})

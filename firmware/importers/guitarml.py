"""GuitarML JSON (NeuralPi, Proteus; Automated-GuitarAmpModelling / CoreAudioML exports).

    {"model_data": {"model": "SimpleRNN", "unit_type": "LSTM"|"GRU", "input_size": 1..3,
                    "hidden_size": H, "num_layers": L, "skip": 0|1, "output_size": 1, "bias_fl": ...},
     "state_dict": {"rec.weight_ih_l0": [G*H][in], "rec.weight_hh_l0": [G*H][H],
                    "rec.bias_ih_l0": [G*H], "rec.bias_hh_l0": [G*H], "lin.weight": [1][H], "lin.bias": [1]}}

PyTorch `nn.LSTM`/`nn.GRU` + `nn.Linear`, zero initial state, no prewarm;
`y = lin(h) + x` when `skip` is 1. An `input_size` of 2 or 3 means knobs: the inputs are
`[audio, knob1(, knob2)]`, each knob 0..1. The files carry no sample rate: GuitarML's
players run at 44.1 kHz, so that is the default.
"""
import logging

import numpy as np

from firmware.importers import registry
from firmware.importers._common import array, field, integer, metadata, sample_rate
from firmware.models import budget, modelfile
from firmware.models import lstm as lstm_model

FORMAT = "guitarml"
DEFAULT_SAMPLE_RATE = 44100
KNOB_NAMES = ("gain", "master")  # NeuralPi's names; Proteus calls its one knob "drive"
GATES = {"LSTM": 4, "GRU": 3}
log = logging.getLogger(__name__)


def looks_like(doc):
    return isinstance(doc, dict) and "model_data" in doc and "state_dict" in doc


def convert(doc, path, rate=None):
    """A ModelFile of a parsed GuitarML file (no reference pair: `save` makes one);
    `rate` overrides the sample rate."""
    md = field(doc, "model_data", path, "", dict)
    sd = field(doc, "state_dict", path, "", dict)

    model = md.get("model", "SimpleRNN")
    if model != "SimpleRNN":
        raise modelfile.ModelFileError(path, f"'model_data.model' is {model!r}: only SimpleRNN (LSTM/GRU) is supported")
    unit = field(md, "unit_type", path, "model_data", str).upper()
    if unit not in GATES:
        raise modelfile.ModelFileError(path, f"'model_data.unit_type' is {unit!r}: only LSTM and GRU are supported")
    n_in = integer(field(md, "input_size", path, "model_data"), path, "model_data.input_size")
    if n_in > 1 + lstm_model.MAX_KNOBS:
        raise modelfile.ModelFileError(
            path, f"'model_data.input_size' is {n_in}: at most {lstm_model.MAX_KNOBS} knob inputs are supported")
    H = integer(field(md, "hidden_size", path, "model_data"), path, "model_data.hidden_size")
    L = integer(md.get("num_layers", 1), path, "model_data.num_layers")
    out = integer(md.get("output_size", 1), path, "model_data.output_size")
    if out != 1:
        raise modelfile.ModelFileError(path, f"'model_data.output_size' is {out}: only mono output is supported")
    skip = integer(md.get("skip", 0), path, "model_data.skip", minimum=0)
    if skip > 1:
        raise modelfile.ModelFileError(path, f"'model_data.skip' is {skip}: only 0 or 1 (the audio input) is supported")

    budget.check_model(path, unit, {"input_size": n_in, "hidden_size": H, "num_layers": L})
    G = GATES[unit] * H
    weights = {}
    for layer in range(L):
        rows_in = n_in if layer == 0 else H
        p = f"layers/{layer}/"
        w_ih = array(field(sd, f"rec.weight_ih_l{layer}", path, "state_dict"), path,
                     f"state_dict.rec.weight_ih_l{layer}", (G, rows_in))
        w_hh = array(field(sd, f"rec.weight_hh_l{layer}", path, "state_dict"), path,
                     f"state_dict.rec.weight_hh_l{layer}", (G, H))
        b_ih, b_hh = (_optional(sd, f"rec.{name}_l{layer}", path, (G,)) for name in ("bias_ih", "bias_hh"))
        weights[p + "weight_ih"], weights[p + "weight_hh"] = w_ih, w_hh
        if unit == "LSTM":
            weights[p + "bias"] = b_ih + b_hh
        else:  # GRU: b_hn must stay inside the reset product, so the two biases stay apart
            weights[p + "bias_ih"], weights[p + "bias_hh"] = b_ih, b_hh
    weights["head/weight"] = array(field(sd, "lin.weight", path, "state_dict"), path, "state_dict.lin.weight", (1, H))
    weights["head/bias"] = _optional(sd, "lin.bias", path, (1,))

    if rate is None:
        found = md.get("sample_rate", doc.get("samplerate", doc.get("sample_rate")))
        if found is None:
            log.warning("%s: no sample rate in the file; assuming %d Hz (GuitarML's players run at it)",
                        path, DEFAULT_SAMPLE_RATE)
            rate = DEFAULT_SAMPLE_RATE
        else:
            rate = sample_rate(found, path, "sample_rate")
    knobs = [{"name": KNOB_NAMES[i], "min": 0.0, "max": 1.0, "default": 0.5} for i in range(n_in - 1)]
    meta = metadata(None, path, FORMAT, unit_type=unit)
    config = {"input_size": n_in, "hidden_size": H, "num_layers": L, "skip": bool(skip)}
    return modelfile.ModelFile(architecture=unit, config=config, weights=weights, sample_rate=rate,
                               metadata=meta, knobs=knobs, prewarm=False, path=path)


def _optional(sd, key, path, shape):
    """A bias that a model trained with `bias_fl: false` leaves out: zeros."""
    if key not in sd:
        return np.zeros(shape, np.float32)
    return array(sd[key], path, f"state_dict.{key}", shape)


registry.register(FORMAT, looks_like, convert, options={"sample_rate": "rate"},
                  refusals={"submodel": "--submodel is only meaningful for a slimmable NAM file"})

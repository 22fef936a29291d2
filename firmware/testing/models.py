"""Small, fast model files for the pedal's tests and demos (random but well-behaved)."""
import numpy as np

from firmware.models import modelfile


def make_model(arch="LSTM", seed=0, hidden=8, gain=1.0, name=None, loudness=None, knobs=0, taps=32, skip=False,
               sample_rate=48000):
    """A Linear or LSTM ModelFile. Linear: `taps` random decaying taps summing to `gain` in
    magnitude, or a sequence: exactly those taps (`[1.0]` is unity). LSTM: `hidden` units,
    `knobs` conditioning inputs, the input added to the output with `skip`."""
    rng = np.random.default_rng(seed)
    meta = {"name": name or f"{arch.lower()}-{seed}"}
    if loudness is not None:
        meta["loudness"] = float(loudness)
    if arch == "Linear":
        if np.isscalar(taps):
            t = rng.standard_normal(taps) * np.exp(-np.arange(taps) / 4.0)
            t = gain * t / np.sum(np.abs(t))
        else:
            t = np.asarray(taps, np.float64)
        return modelfile.ModelFile("Linear", {"receptive_field": len(t), "bias": False},
                                   {"taps": t.astype(np.float32)}, sample_rate, metadata=meta)
    if arch != "LSTM":
        raise ValueError(arch)
    H = hidden
    config = {"input_size": 1 + knobs, "hidden_size": H, "num_layers": 1}
    if skip:
        config["skip"] = True
    w = {
        "layers/0/weight_ih": (rng.standard_normal((4 * H, 1 + knobs)) * 2.0).astype(np.float32),
        "layers/0/weight_hh": (rng.standard_normal((4 * H, H)) * 0.3 / np.sqrt(H)).astype(np.float32),
        "layers/0/bias": (rng.standard_normal(4 * H) * 0.1).astype(np.float32),
        "head/weight": (rng.standard_normal((1, H)) * gain / np.sqrt(H)).astype(np.float32),
        "head/bias": np.zeros(1, np.float32),
    }
    kn = [{"name": f"knob{i + 1}", "min": 0.0, "max": 1.0, "default": 0.5} for i in range(knobs)]
    return modelfile.ModelFile("LSTM", config, w, sample_rate, metadata=meta, knobs=kn)


def write_model(path, **kw):
    return make_model(**kw).save(path)

"""Small, fast model files for the pedal's tests and demos (random but well-behaved)."""
import numpy as np

from firmware.models import modelfile


def make_model(arch="LSTM", seed=0, hidden=8, gain=1.0, name=None, loudness=None, knobs=0, taps=32):
    rng = np.random.default_rng(seed)
    meta = {"name": name or f"{arch.lower()}-{seed}"}
    if loudness is not None:
        meta["loudness"] = float(loudness)
    if arch == "Linear":
        t = rng.standard_normal(taps) * np.exp(-np.arange(taps) / 4.0)
        t = gain * t / np.sum(np.abs(t))
        return modelfile.ModelFile("Linear", {"receptive_field": taps, "bias": False},
                                   {"taps": t.astype(np.float32)}, metadata=meta)
    if arch != "LSTM":
        raise ValueError(arch)
    H = hidden
    config = {"input_size": 1 + knobs, "hidden_size": H, "num_layers": 1}
    w = {
        "layers/0/weight_ih": (rng.standard_normal((4 * H, 1 + knobs)) * 2.0).astype(np.float32),
        "layers/0/weight_hh": (rng.standard_normal((4 * H, H)) * 0.3 / np.sqrt(H)).astype(np.float32),
        "layers/0/bias": (rng.standard_normal(4 * H) * 0.1).astype(np.float32),
        "head/weight": (rng.standard_normal((1, H)) * gain / np.sqrt(H)).astype(np.float32),
        "head/bias": np.zeros(1, np.float32),
    }
    kn = [{"name": f"knob{i + 1}", "min": 0.0, "max": 1.0, "default": 0.5} for i in range(knobs)]
    return modelfile.ModelFile("LSTM", config, w, metadata=meta, knobs=kn)


def write_model(path, **kw):
    return make_model(**kw).save(path)


def local_pedal(cfg, cache_dir, io=None):
    """The pedal's three parts in this process, linked as `simulate` links them (no audio
    device unless `io` is given): (pedal, engine, librarian link). The first scan is done."""
    from firmware.engine.engine import Engine
    from firmware.librarian.librarian import Librarian
    from firmware.pedal.links import LocalEngine, LocalLibrarian
    from firmware.pedal.pedal import Pedal
    m = cfg["models"]
    engine = Engine(cfg, io=io)
    librarian = LocalLibrarian(Librarian(m["directory"], cache_dir, cfg["audio"]["rate"], m.get("ir_max_ms", 500),
                                         m["poll_s"], m.get("ir") or ""))
    pedal = Pedal(cfg, LocalEngine(engine), librarian, state_path="")
    librarian.poll(0.0)
    return pedal, engine, librarian


def small_pedal(folder, names="ABC", overrides=None):
    """A library of small LSTMs named `names` (a.npz, b.npz...) in folder/models and the
    pedal in this process with its first model playing: (pedal, engine, cfg)."""
    import os

    from firmware.core.config import load_config
    models = os.path.join(folder, "models")
    os.makedirs(models, exist_ok=True)
    for i, name in enumerate(names):
        write_model(os.path.join(models, f"{name.lower()}.npz"), arch="LSTM", seed=i, name=name)
    cfg = load_config(overrides={"models": {"directory": models}, **(overrides or {})})
    pedal, engine, _ = local_pedal(cfg, os.path.join(folder, "cache"))
    pedal.restore()
    return pedal, engine, cfg

"""The pedal's three parts in one process, for the tests and the benchmarks."""
import os

from firmware.core.config import load_config
from firmware.engine.engine import Engine
from firmware.librarian.librarian import Librarian
from firmware.pedal.links import LocalEngine, LocalLibrarian
from firmware.pedal.pedal import Pedal
from firmware.testing.models import write_model


def local_pedal(cfg, cache_dir, io=None):
    """The pedal's three parts in this process, linked as `simulate` links them (no audio
    device unless `io` is given): (pedal, engine, librarian link). The first scan is done."""
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
    models = os.path.join(folder, "models")
    os.makedirs(models, exist_ok=True)
    for i, name in enumerate(names):
        write_model(os.path.join(models, f"{name.lower()}.npz"), arch="LSTM", seed=i, name=name)
    cfg = load_config(overrides={"models": {"directory": models}, **(overrides or {})})
    pedal, engine, _ = local_pedal(cfg, os.path.join(folder, "cache"))
    pedal.restore()
    return pedal, engine, cfg

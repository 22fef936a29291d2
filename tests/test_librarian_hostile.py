"""Every hostile file (hostile.py) dropped into the pedal's models folder: the
librarian (its own process, memory-capped, as the pedal runs it) plays or refuses each,
in one line, in bounded time and memory, and the pedal keeps playing its model."""
import logging
import os
import shutil
import time

import numpy as np
import pytest
from hostile import hostile_cases

from firmware.core.config import load_config
from firmware.dsp.chain import ToneChain
from firmware.importers.loader import load as load_model
from firmware.pedal.links import LibrarianProcess
from firmware.testing.models import write_model

SR = 48000


def vm_hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory):
    """The files that must play, the worst of the rest, and every fifth other one (the
    whole set runs through the command line in test_hostile_files.py; here time is the pedal's)."""
    d = tmp_path_factory.mktemp("hostile")
    models = d / "models"
    models.mkdir()
    worst = ("billion", "2e31", "2e63", "nested", "huge", "member", "1e5", "1e6", "1e9")
    picked = []
    for i, c in enumerate(hostile_cases(d / "all")):
        if c.expect == "play" or any(w in c.name for w in worst) or i % 5 == 0:
            dest = models / os.path.basename(c.path)
            shutil.copy(c.path, dest)
            picked.append(type(c)(c.name, str(dest), c.expect))
    write_model(models / "000_good.npz", arch="LSTM", seed=1, gain=0.5, name="Good")
    return models, picked


def test_the_librarian_plays_or_refuses_every_hostile_file(hostile_folder, tmp_path, caplog):
    models, cases = hostile_folder
    cfg = load_config(overrides={"models": {"directory": str(models), "poll_s": 0.1, "convert_timeout_s": 20.0,
                                            "convert_memory_mb": 1024}})
    lp = LibrarianProcess(cfg, tmp_path / "cache")
    seen, rejected, library, working = {}, {}, None, {}
    slowest = 0.0
    start = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="firmware.pedal.links"):
            while time.monotonic() - start < 300:
                lp.supervise()
                for ev in lp.events():
                    now = time.monotonic()
                    if ev["ev"] == "working":
                        working[ev["path"]] = now
                    elif ev["ev"] == "rejected":
                        rejected[ev["path"]] = ev["error"]
                    elif ev["ev"] == "library":
                        library = {e["path"]: e for e in ev["entries"]}
                    for p in list(working):
                        if p in rejected or (library and p in library):
                            slowest = max(slowest, now - working.pop(p))
                files = {c.path for c in cases}
                done = {p for p in files if p in rejected or (library and p in library)}
                done |= {p for p, _ in lp.skipped}
                if done == files and library is not None:
                    break
                time.sleep(0.05)
            peak = vm_hwm_mb(lp.proc.pid) if lp.proc else 0.0
    finally:
        lp.close()
    missing = [os.path.basename(c.path) for c in cases
               if c.path not in rejected and c.path not in (library or {}) and c.path not in {p for p, _ in lp.skipped}]
    assert not missing, f"never played nor refused: {missing}"
    for c in cases:
        if c.expect == "play":
            assert c.path in library, f"{c.name} should play: {rejected.get(c.path)}"
        elif c.expect == "refuse":
            assert c.path not in library, f"{c.name} should be refused"
            why = rejected.get(c.path) or next((m for m in caplog.messages if os.path.basename(c.path) in m), None)
            assert why and "\n" not in why, f"{c.name}: no one-line reason"
    assert os.path.join(str(models), "000_good.npz") in library
    assert slowest < 5.0, f"a file took {slowest:.1f} s"
    assert peak < 900, f"the librarian's resident memory peaked at {peak:.0f} MB"


def test_the_pedal_keeps_playing_through_a_folder_of_hostile_files(hostile_folder, tmp_path):
    from firmware.tools.simulate import Simulator
    models, _ = hostile_folder
    d = tmp_path / "models"
    shutil.copytree(models, d)
    t = np.arange(SR // 2) / SR
    x = (0.3 * np.sin(2 * np.pi * 110 * t) * np.exp(-t * 3)).astype(np.float32)
    sim = Simulator(d)
    y = sim.run(x)
    assert sim.engine.chain.current.name == "Good"
    ref = np.zeros_like(x)
    ToneChain(SR, 64, model=load_model(d / "000_good.npz")).process(x, ref, len(x))
    assert np.max(np.abs(ref)) > 0.02 and np.max(np.abs(y - ref)) < 1e-6
    assert sim.engine.chain.faults == 0

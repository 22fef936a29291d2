"""The trainer comparison's scoring (scripts/compare_nam_trainer.py) on cases whose answer is
known: a model is scored at the recording's level as a player hears it, and one that plays at
another level shows it (best-fitting gain, ESR at that gain) for either trainer alike."""
import importlib.util

import numpy as np
import pytest
from helpers import REPO, guitar_like

from firmware.testing.models import make_model


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("compare_nam_trainer", REPO / "scripts" / "compare_nam_trainer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_model_that_plays_the_recording_scores_zero(harness):
    x = guitar_like(48000).astype(np.float32)
    s = harness.score(make_model("Linear", taps=[1.0]), x, x)
    assert s["esr"] < 1e-10 and s["best_gain"] == pytest.approx(1.0) and harness.level_warning("m", s) is None


def test_a_model_at_half_the_level_is_scored_as_heard_and_flagged(harness):
    # right in shape, 6 dB quiet: heard, the ESR is (1 - 0.5)^2 = 0.25; at the best gain it is 0
    x = guitar_like(48000).astype(np.float32)
    s = harness.score(make_model("Linear", taps=[0.5]), x, x)
    assert s["esr"] == pytest.approx(0.25, rel=1e-4)
    assert s["best_gain"] == pytest.approx(2.0, rel=1e-4) and s["esr_at_best_gain"] < 1e-10
    assert "+6.0 dB" in harness.level_warning("nam", s) or "-6.0 dB" in harness.level_warning("nam", s)


def test_a_third_party_capture_as_the_amp_is_its_own_player(harness, corpus):
    # --circuit model:FILE: the amp is a community model played by the pedal's kernels; the
    # corpus' expected output was rendered by the file's own player (GuitarML's TS9 here)
    import soundfile as sf
    x, _ = sf.read(corpus / "audio" / "nam_core_input.wav", dtype="float32")
    expected, _ = sf.read(corpus / "expected" / "TS9_FullD.wav", dtype="float32")
    name = f"model:{corpus / 'guitarml' / 'TS9_FullD.json'}"
    y = harness.make_circuit(name, 1.0)(x)
    assert len(y) == len(x) and np.max(np.abs(y - expected)) < 1e-5
    assert harness.circuit_tag(name) == "model-TS9_FullD"
    with pytest.raises(SystemExit, match="model:FILE"):
        harness.make_circuit("fuzz", 1.0)

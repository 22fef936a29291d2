"""A model's loudness: measured on import where its file states none, so the pedal levels it;
a stated one checked against what the model plays (issue 11: no file sets the pedal's level)."""
import logging
import math

import numpy as np
import pytest
from helpers import guitarml_lstm_doc, write_json

from firmware.dsp.chain import DEFAULTS, model_gains
from firmware.importers import loudness
from firmware.models import modelfile
from firmware.testing.models import make_model


def _linear(gain):
    return make_model("Linear", taps=[gain])


def test_standard_input_is_deterministic_and_at_minus_20_dbfs_rms():
    x = loudness.standard_input(48000)
    assert np.array_equal(x, loudness.standard_input(48000))
    assert len(x) == 48000
    assert math.isclose(10 * np.log10(np.mean(x.astype(np.float64) ** 2)), -20.0, abs_tol=0.05)


def test_loudness_of_a_gain_follows_the_gain():
    assert math.isclose(loudness.measure(_linear(1.0)), -20.0, abs_tol=0.05)
    assert math.isclose(loudness.measure(_linear(0.1)), -40.0, abs_tol=0.05)


def test_stated_loudness_wins_and_a_measurement_is_remembered():
    mf = _linear(2.0)
    mf.metadata["loudness"] = -7.5
    assert loudness.loudness_db(mf) == -7.5
    unstated = _linear(2.0)
    first = loudness.loudness_db(unstated)
    assert math.isclose(first, -20.0 + 20 * np.log10(2.0), abs_tol=0.05)
    unstated.weights["taps"][:] = 100.0           # a second call must not measure again
    assert loudness.loudness_db(unstated) == first


def test_guitarml_import_fills_in_loudness(tmp_path):
    from firmware import importers
    path = write_json(tmp_path / "tiny.json", guitarml_lstm_doc(hidden=4, seed=5))
    mf = importers.import_file(path, sample_rate=48000)
    assert mf.metadata["loudness_measured_by"] == "tubeless"
    assert math.isclose(mf.metadata["loudness"], loudness.measure(mf), abs_tol=0.01)


def test_a_stated_loudness_far_quieter_than_the_model_plays_is_overruled(caplog):
    mf = make_model("LSTM", hidden=4)
    measured = loudness.measure(mf)
    mf.metadata["loudness"] = measured - 30          # would be +30 dB of gain too much
    with caplog.at_level(logging.WARNING):
        used = loudness.settle(mf)
    assert abs(used - measured) < 0.01 and "plays" in caplog.text
    _, out_gain = model_gains(mf, DEFAULTS)
    assert abs(20 * math.log10(out_gain) - (DEFAULTS["target_loudness_db"] - measured)) < 0.02


@pytest.mark.parametrize("claim", [-200, -1e308, 1e308, float("nan"), "loud", True])
def test_an_implausible_loudness_is_measured_instead(claim):
    mf = make_model("LSTM", hidden=4)
    mf.metadata["loudness"] = claim
    assert abs(loudness.settle(mf) - loudness.measure(mf)) < 0.01


def test_a_plausible_claim_close_to_the_measurement_is_kept():
    mf = make_model("LSTM", hidden=4)
    stated = loudness.measure(mf) - 5
    mf.metadata["loudness"] = stated
    assert loudness.settle(mf) == stated


def test_gains_from_a_loaded_file_are_bounded(tmp_path, caplog):
    """-200 dB of loudness would be +182 dB of gain; from a file it is ignored (and warned)."""
    mf = make_model("LSTM", hidden=4, loudness=-200.0)
    mf.metadata["input_level_dbu"] = -500.0
    path = mf.save(tmp_path / "m.npz")
    with caplog.at_level(logging.WARNING):
        loaded = modelfile.load(path)
    assert "loudness" not in loaded.metadata and "input_level_dbu" not in loaded.metadata
    assert "outside" in caplog.text
    in_gain, out_gain = model_gains(loaded, DEFAULTS)
    assert in_gain == 1.0 and out_gain == 1.0

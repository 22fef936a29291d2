"""Models whose file states no loudness get one measured on import, so the pedal levels them."""
import math

import numpy as np

from firmware.importers import loudness
from firmware.models.modelfile import ModelFile
from firmware.models.random import random_weights


def _linear(gain):
    return ModelFile("Linear", {"receptive_field": 1, "bias": False},
                     {"taps": np.array([gain], np.float32)}, sample_rate=48000)


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
    import json

    from firmware import importers
    config = {"input_size": 1, "hidden_size": 4, "num_layers": 1}
    w = random_weights("LSTM", config, seed=5)
    doc = {"model_data": {"model": "SimpleRNN", "input_size": 1, "skip": 1, "output_size": 1,
                          "unit_type": "LSTM", "num_layers": 1, "hidden_size": 4, "bias_fl": True},
           "state_dict": {"rec.weight_ih_l0": w["layers/0/weight_ih"].tolist(),
                          "rec.weight_hh_l0": w["layers/0/weight_hh"].tolist(),
                          "rec.bias_ih_l0": w["layers/0/bias"].tolist(),
                          "rec.bias_hh_l0": [0.0] * 16,
                          "lin.weight": w["head/weight"].tolist(), "lin.bias": w["head/bias"].tolist()}}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    mf = importers.import_file(path, sample_rate=48000)
    assert mf.metadata["loudness_measured_by"] == "tubeless"
    assert math.isclose(mf.metadata["loudness"], loudness.measure(mf), abs_tol=0.01)

"""What a model file cannot loosen (issue 11): the work and memory limits (the field named),
its own check's tolerance, and NaN or Inf out of a model (refused, or silenced, by name).
The loudness a file states is checked in test_loudness.py, a cab IR's level in
test_cabinet_ir.py."""
import logging

import numpy as np
import pytest
from helpers import tone

from firmware.core import limits
from firmware.models import budget, modelfile, presets
from firmware.models.modelfile import ModelFileError
from firmware.models.random import random_weights
from firmware.testing.models import make_model


def test_a_file_cannot_loosen_its_own_check(tmp_path):
    mf = make_model("LSTM", hidden=4).with_reference()
    mf.tolerance = 1e30
    mf.reference_output = mf.reference_output + 0.5      # a tampered reference
    path = tmp_path / "m.npz"
    mf.save(path)
    with pytest.raises(ModelFileError, match="does not reproduce"):
        modelfile.load(path)
    assert modelfile.load(path, verify=False).tolerance == modelfile.DEFAULT_TOLERANCE


def test_a_tighter_tolerance_is_kept(tmp_path):
    mf = make_model("LSTM", hidden=4).with_reference()
    mf.tolerance = 1e-6
    assert modelfile.load(mf.save(tmp_path / "m.npz")).tolerance == 1e-6


def test_nan_from_a_model_is_refused_by_its_name_and_nothing_is_written(tmp_path):
    mf = make_model("Linear", taps=np.full(8, 3e38))
    mf.path = "amp.nam"
    with pytest.raises(ModelFileError, match=r"^amp.nam: .*NaN or Inf"):
        mf.save(tmp_path / "out.npz")
    assert list(tmp_path.iterdir()) == []


def test_limits_are_configurable_and_name_the_field():
    config = presets.wavenet_preset("standard")
    assert budget.check_model("a.nam", "WaveNet", config).work_per_sample == 14040
    with pytest.raises(limits.LimitError, match=r"a.nam: 'config.layer_arrays\[0\].channels' = 16: .* multiply-adds"):
        budget.check_model("a.nam", "WaveNet", config, limits=limits.Limits(work_per_sample=10000))
    with pytest.raises(ValueError, match="unknown limit"):
        limits.Limits.from_mapping({"no_such_limit": 1})


def test_cost_is_an_upper_bound_of_what_a_model_allocates():
    import tracemalloc
    for arch, config in (("WaveNet", presets.wavenet_preset("standard")), ("LSTM", presets.recurrent_config(40)),
                         ("ConvNet", {"channels": 8, "dilations": [1, 2, 4, 512], "activation": "Tanh"}),
                         ("Linear", {"receptive_field": 4096, "bias": True})):
        weights = random_weights(arch, config)
        from firmware import models
        # once before: a build binds its block kernel (models._state), and the first one in a
        # process loads it from the cache, which is Numba's memory, not the model's
        models.build(arch, config, weights, 48000, limits.CHECK_BLOCK)
        tracemalloc.start()
        models.build(arch, config, weights, 48000, limits.CHECK_BLOCK)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        stated = models.cost(arch, config, limits.CHECK_BLOCK).memory_bytes
        actual = peak + sum(w.nbytes for w in weights.values())
        assert actual <= stated <= 2 * actual + 2 ** 20, (arch, actual, stated)


def test_nan_in_a_render_through_the_chain_is_logged_by_the_model(tmp_path, caplog, capsys):
    """Finite on the standard input and the reference (|x| <= 1), Inf once the drive pot
    pushes the input past 1: the chain plays silence there, and render says so."""
    import soundfile as sf

    from firmware.tools.cli import main
    mf = make_model("Linear", taps=[3.3e38], name="hot")
    path = mf.save(tmp_path / "hot.npz")
    sf.write(tmp_path / "di.wav", tone(4800, 196.0, 0.9), 48000)
    with caplog.at_level(logging.WARNING):
        assert main(["render", str(path), str(tmp_path / "di.wav"), str(tmp_path / "y.wav"), "--drive", "1"]) == 0
    assert any("hot.npz: the model produced NaN/Inf" in r.getMessage() for r in caplog.records)
    y, _ = sf.read(tmp_path / "y.wav")
    assert np.all(np.isfinite(y))
    sf.write(tmp_path / "hot.wav", tone(4800, 196.0, 1.5), 48000, subtype="FLOAT")
    caplog.clear()
    assert main(["render", str(path), str(tmp_path / "hot.wav"), str(tmp_path / "y2.wav"), "--model-only"]) == 2
    assert not (tmp_path / "y2.wav").exists()
    assert "hot.npz: the model produced NaN/Inf" in capsys.readouterr().err

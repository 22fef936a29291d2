"""Levels no file can set (issue 11): the cabinet IR keeps a guitar amp's loudness, a
model's stated loudness is checked against what it plays, and a file cannot loosen its
own integrity check."""
import logging
import math

import numpy as np
import pytest
from scipy.signal import fftconvolve

import firmware
from firmware.core import limits
from firmware.dsp.chain import DEFAULTS, load_ir, model_gains
from firmware.importers import loudness
from firmware.models import budget, modelfile, presets
from firmware.models.modelfile import ModelFile, ModelFileError
from firmware.models.random import random_weights


def _db(x):
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


def _lstm(loudness_db=None, seed=0):
    config = presets.recurrent_config(4)
    meta = {"name": "t"} if loudness_db is None else {"name": "t", "loudness": loudness_db}
    return ModelFile("LSTM", config, random_weights("LSTM", config, seed=seed), 48000, metadata=meta)


@pytest.fixture(scope="module")
def amp_outputs(shared_dir):
    """What a cab follows: real amp models' output for the standard input, driven as on a pedal."""
    from firmware import importers
    x = 3 * loudness.standard_input(48000)
    return [importers.import_file(shared_dir / rel).build(4096).render(x).astype(np.float64)
            for rel in ("corpus/nam/wavenet_a1_standard.nam", "corpus/aidax/tw40_british_lead_deerinkstudios.json")]


@pytest.mark.parametrize("ir_name", ["corpus/irs/V30-P1-opus87-deerinkstudios.wav",
                                     "corpus/irs/V30-P2-audix-i5-deerinkstudios.wav", None])
def test_the_cab_keeps_an_amps_loudness_within_1_db(shared_dir, amp_outputs, ir_name):
    from pathlib import Path
    path = shared_dir / ir_name if ir_name else Path(firmware.DATA_DIR) / "default_cab.wav"
    ir = load_ir(path, 48000)
    for y in amp_outputs:
        change = _db(fftconvolve(y, ir)[:len(y)]) - _db(y)
        assert abs(change) <= 1.0, f"{path.name}: {change:+.2f} dB"
    x = loudness.standard_input(48000).astype(np.float64)          # the DI itself: close too
    assert abs(_db(fftconvolve(x, ir)[:len(x)]) - _db(x)) <= 1.7


def test_an_ir_with_no_energy_where_the_guitar_lives_is_not_blown_up(tmp_path):
    import soundfile as sf
    t = np.arange(4800) / 48000
    sf.write(tmp_path / "hiss.wav", 0.5 * np.sin(2 * np.pi * 15000 * t) * np.exp(-t * 50), 48000)
    ir = load_ir(tmp_path / "hiss.wav", 48000)
    peak = np.max(np.abs(np.fft.rfft(ir, 1 << 16)))
    assert 20 * math.log10(peak) <= 24.0 + 1e-6


def test_a_stated_loudness_far_quieter_than_the_model_plays_is_overruled(caplog):
    mf = _lstm()
    measured = loudness.measure(mf)
    mf.metadata["loudness"] = measured - 30          # would be +30 dB of gain too much
    with caplog.at_level(logging.WARNING):
        used = loudness.settle(mf)
    assert abs(used - measured) < 0.01 and "plays" in caplog.text
    _, out_gain = model_gains(mf, DEFAULTS)
    assert abs(20 * math.log10(out_gain) - (DEFAULTS["target_loudness_db"] - measured)) < 0.02


@pytest.mark.parametrize("claim", [-200, -1e308, 1e308, float("nan"), "loud", True])
def test_an_implausible_loudness_is_measured_instead(claim):
    mf = _lstm()
    mf.metadata["loudness"] = claim
    assert abs(loudness.settle(mf) - loudness.measure(mf)) < 0.01


def test_a_plausible_claim_close_to_the_measurement_is_kept():
    mf = _lstm()
    stated = loudness.measure(mf) - 5
    mf.metadata["loudness"] = stated
    assert loudness.settle(mf) == stated


def test_gains_from_a_loaded_file_are_bounded(tmp_path, caplog):
    """-200 dB of loudness would be +182 dB of gain; from a file it is ignored (and warned)."""
    mf = _lstm(loudness_db=-200.0)
    mf.metadata["input_level_dbu"] = -500.0
    path = mf.save(tmp_path / "m.npz")
    with caplog.at_level(logging.WARNING):
        loaded = modelfile.load(path)
    assert "loudness" not in loaded.metadata and "input_level_dbu" not in loaded.metadata
    assert "outside" in caplog.text
    in_gain, out_gain = model_gains(loaded, DEFAULTS)
    assert in_gain == 1.0 and out_gain == 1.0


def test_a_file_cannot_loosen_its_own_check(tmp_path):
    mf = _lstm().with_reference()
    mf.tolerance = 1e30
    mf.reference_output = mf.reference_output + 0.5      # a tampered reference
    path = tmp_path / "m.npz"
    mf.save(path)
    with pytest.raises(ModelFileError, match="does not reproduce"):
        modelfile.load(path)
    assert modelfile.load(path, verify=False).tolerance == modelfile.DEFAULT_TOLERANCE


def test_a_tighter_tolerance_is_kept(tmp_path):
    mf = _lstm().with_reference()
    mf.tolerance = 1e-6
    assert modelfile.load(mf.save(tmp_path / "m.npz")).tolerance == 1e-6


def test_nan_from_a_model_is_refused_by_its_name_and_nothing_is_written(tmp_path):
    config = {"receptive_field": 8, "bias": False}
    mf = ModelFile("Linear", config, {"taps": np.full(8, 3e38, np.float32)}, 48000, path="amp.nam")
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
        tracemalloc.start()
        from firmware import models
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
    mf = ModelFile("Linear", {"receptive_field": 1, "bias": False}, {"taps": np.full(1, 3.3e38, np.float32)}, 48000,
                   metadata={"name": "hot"})
    path = mf.save(tmp_path / "hot.npz")
    t = np.arange(4800) / 48000
    sf.write(tmp_path / "di.wav", (0.9 * np.sin(2 * np.pi * 196 * t)).astype(np.float32), 48000)
    with caplog.at_level(logging.WARNING):
        assert main(["render", str(path), str(tmp_path / "di.wav"), str(tmp_path / "y.wav"), "--drive", "1"]) == 0
    assert any("hot.npz: the model produced NaN/Inf" in r.getMessage() for r in caplog.records)
    y, _ = sf.read(tmp_path / "y.wav")
    assert np.all(np.isfinite(y))
    sf.write(tmp_path / "hot.wav", (1.5 * np.sin(2 * np.pi * 196 * t)).astype(np.float32), 48000, subtype="FLOAT")
    caplog.clear()
    assert main(["render", str(path), str(tmp_path / "hot.wav"), str(tmp_path / "y2.wav"), "--model-only"]) == 2
    assert not (tmp_path / "y2.wav").exists()
    assert "hot.npz: the model produced NaN/Inf" in capsys.readouterr().err

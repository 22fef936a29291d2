"""`tubeless render`: a model (or the whole chain) over a WAV file, at any block size and bit
depth, and one clear line for what it cannot do."""
import logging

import numpy as np
import pytest
import soundfile as sf
from helpers import guitarml_lstm_doc, write_json

from firmware.testing.models import make_model
from firmware.tools.cli import main

SR = 48000


@pytest.fixture
def lstm_file(tmp_path):
    mf = make_model("LSTM", hidden=6, knobs=1, skip=True, seed=11, name="test lstm", loudness=-20.0)
    path = tmp_path / "amp.npz"
    mf.save(path)
    return path, mf


def _guitar(seconds=0.25, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (0.4 * np.sin(2 * np.pi * 196 * t) * np.exp(-3 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_render_model_only_matches_the_model_at_any_block_and_bit_depth(tmp_path, lstm_file):
    path, mf = lstm_file
    x = _guitar()
    wav = tmp_path / "di.wav"
    sf.write(wav, x, SR, subtype="PCM_24")
    x24, _ = sf.read(wav, dtype="float32")
    model = mf.build(max_block=64)
    model.set_knob(0, 0.5)
    expected = model.render(x24, block=64, prewarm=True)
    for block in ("64", "17", "4096"):
        out = tmp_path / f"out{block}.wav"
        assert main(["render", str(path), str(wav), str(out), "--model-only", "--block", block]) == 0
        y, rate = sf.read(out, dtype="float32")
        assert rate == SR and len(y) == len(x)
        assert np.max(np.abs(y - expected)) < 1e-6


def test_render_knob_changes_a_conditioned_model(tmp_path, lstm_file):
    path, _ = lstm_file
    wav = tmp_path / "di.wav"
    sf.write(wav, _guitar(), SR)
    outs = []
    for knob in ("0.0", "1.0"):
        out = tmp_path / f"k{knob}.wav"
        assert main(["render", str(path), str(wav), str(out), "--model-only", "--knob", knob]) == 0
        outs.append(sf.read(out)[0])
    assert np.max(np.abs(outs[0] - outs[1])) > 1e-3


def test_render_stereo_uses_the_first_channel_with_a_warning(tmp_path, lstm_file, caplog):
    path, _ = lstm_file
    x = _guitar()
    stereo, mono = tmp_path / "st.wav", tmp_path / "mono.wav"
    sf.write(stereo, np.stack([x, -0.5 * x], axis=1), SR)
    sf.write(mono, x, SR)
    with caplog.at_level(logging.WARNING):
        assert main(["render", str(path), str(stereo), str(tmp_path / "a.wav"), "--model-only"]) == 0
    assert any("2 channels: using the first" in r.getMessage() for r in caplog.records)
    assert main(["render", str(path), str(mono), str(tmp_path / "b.wav"), "--model-only"]) == 0
    assert np.array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])


def test_render_refuses_a_wrong_rate_and_a_broken_model_with_one_clear_line(tmp_path, lstm_file, capsys):
    path, _ = lstm_file
    wav44 = tmp_path / "di44.wav"
    sf.write(wav44, _guitar(), 44100)
    out = tmp_path / "never.wav"
    assert main(["render", str(path), str(wav44), str(out), "--model-only"]) == 2
    err = capsys.readouterr().err
    assert "44100" in err and "48000" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()

    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:1000])
    wav = tmp_path / "di.wav"
    sf.write(wav, _guitar(), SR)
    assert main(["render", str(broken), str(wav), str(out), "--model-only"]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "truncated" in err
    assert not out.exists()


def test_render_through_the_chain_stays_under_the_ceiling(tmp_path, lstm_file):
    path, _ = lstm_file
    wav = tmp_path / "di.wav"
    sf.write(wav, 2.0 * _guitar(), SR)
    out = tmp_path / "chain.wav"
    assert main(["render", str(path), str(wav), str(out), "--drive", "1.0", "--level", "1.0"]) == 0
    y = sf.read(out)[0]
    assert 0.1 < np.max(np.abs(y)) <= 10 ** (-0.1 / 20) + 1e-6


# --- render's options: what does not fit is an error, not ignored -----------------------------
def test_render_sample_rate_plays_a_guitarml_file_at_the_input_rate(tmp_path, capsys):
    """GuitarML players run a file at the device's rate, sample for sample: --sample-rate
    says which; without it, a 48 kHz input with --model-only is refused with the way out."""
    from firmware.importers import import_file
    path = write_json(tmp_path / "amp.json", guitarml_lstm_doc(seed=5))   # the format states no rate
    wav = tmp_path / "di48.wav"
    x = _guitar()
    sf.write(wav, x, SR, subtype="FLOAT")
    out = tmp_path / "out.wav"
    assert main(["render", str(path), str(wav), str(out), "--model-only"]) == 2
    err = capsys.readouterr().err
    assert "44100" in err and "--sample-rate" in err and len(err.strip().splitlines()) == 1
    assert main(["render", str(path), str(wav), str(out), "--model-only", "--sample-rate", "48000"]) == 0
    y, rate = sf.read(out, dtype="float32")
    mf = import_file(path, sample_rate=SR)
    expected = mf.build(max_block=64).render(x, block=64, prewarm=mf.prewarm)
    assert rate == SR and np.max(np.abs(y - expected)) < 1e-6


@pytest.mark.parametrize("extra, message", [
    (["--model-only", "--ir", "cab.wav"], "--ir: not with --model-only"),
    (["--model-only", "--drive", "0.7"], "--drive: not with --model-only"),
    (["--drive", "7"], "--drive 7 is out of range"),
    (["--level", "-0.1"], "--level -0.1 is out of range"),
    (["--knob", "1.5"], "--knob 1.5 is out of range"),
    (["--sample-rate", "48000"], "--sample-rate: for a model file being imported"),
])
def test_render_refuses_options_it_would_ignore(tmp_path, lstm_file, capsys, extra, message):
    path, _ = lstm_file
    wav = tmp_path / "di.wav"
    sf.write(wav, _guitar(), SR)
    out = tmp_path / "never.wav"
    assert main(["render", str(path), str(wav), str(out)] + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()

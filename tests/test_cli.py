"""The `tubeless` commands a user types: render, bench --json, demo (what `make run` does)."""
import json
import logging

import numpy as np
import pytest
import soundfile as sf

from firmware import bench
from firmware.cli import main
from firmware.modelfile import ModelFile
from firmware.models import presets

SR = 48000


@pytest.fixture
def lstm_file(tmp_path):
    config = presets.recurrent_config(6, knobs=1, skip=True)
    mf = ModelFile("LSTM", config, bench.random_weights("LSTM", config, seed=11), sample_rate=SR,
                   metadata={"name": "test lstm", "loudness": -20.0},
                   knobs=[{"name": "drive", "min": 0.0, "max": 1.0, "default": 0.5}])
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


def test_bench_json_lists_every_requested_cell(capsys):
    assert main(["bench", "--json", "--only", "nano", "LSTM-12", "--seconds", "0.2", "--repeats", "1",
                 "--blocks", "32", "64", "--no-jit", "--no-torch"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["block"]) for r in rows] == [
        ("WaveNet nano", 32), ("WaveNet nano", 64), ("LSTM-12", 32), ("LSTM-12", 64)]
    assert all(r["rtf"] > 0 and r["torch_rtf"] is None and set(r) == {"model", "block", "rtf", "torch_rtf"}
               for r in rows)


def test_demo_simulates_the_bundled_model_into_a_file(tmp_path, capsys):
    out = tmp_path / "demo.wav"
    assert main(["demo", "--simulate", "--output", str(out), "--workdir", str(tmp_path / "work")]) == 0
    assert str(out) in capsys.readouterr().out
    y, rate = sf.read(out)
    x, _ = sf.read(bench_data("demo_di.wav"))
    assert rate == SR and len(y) == len(x)                     # sample-aligned with the clip
    assert np.max(np.abs(y)) <= 10 ** (-0.1 / 20) + 1e-6 and np.sqrt(np.mean(y ** 2)) > 0.01


def bench_data(name):
    from firmware.demo import bundled
    return bundled(name)

"""The `tubeless` commands a user types: render, bench --json, demo (what `make run` does)."""
import json
import logging

import numpy as np
import pytest
import soundfile as sf

from firmware.models import presets
from firmware.models.modelfile import ModelFile
from firmware.models.random import random_weights
from firmware.tools.cli import main

SR = 48000


@pytest.fixture
def lstm_file(tmp_path):
    config = presets.recurrent_config(6, knobs=1, skip=True)
    mf = ModelFile("LSTM", config, random_weights("LSTM", config, seed=11), sample_rate=SR,
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
    from firmware.tools.demo import bundled
    return bundled(name)


# --- render's options: what does not fit is an error, not ignored -----------------------------
def _guitarml_json(tmp_path, H=4, seed=5):
    """A small GuitarML LSTM file (the format states no sample rate)."""
    rng = np.random.default_rng(seed)
    sd = {"rec.weight_ih_l0": rng.standard_normal((4 * H, 1)).tolist(),
          "rec.weight_hh_l0": (0.5 * rng.standard_normal((4 * H, H))).tolist(),
          "rec.bias_ih_l0": rng.standard_normal(4 * H).tolist(), "rec.bias_hh_l0": rng.standard_normal(4 * H).tolist(),
          "lin.weight": rng.standard_normal((1, H)).tolist(), "lin.bias": [0.1]}
    doc = {"model_data": {"model": "SimpleRNN", "unit_type": "LSTM", "input_size": 1, "hidden_size": H,
                          "num_layers": 1, "skip": 1, "output_size": 1}, "state_dict": sd}
    path = tmp_path / "amp.json"
    path.write_text(json.dumps(doc))
    return path


def test_render_sample_rate_plays_a_guitarml_file_at_the_input_rate(tmp_path, capsys):
    """GuitarML players run a file at the device's rate, sample for sample: --sample-rate
    says which; without it, a 48 kHz input with --model-only is refused with the way out."""
    from firmware.importers import import_file
    path = _guitarml_json(tmp_path)
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


# --- import: a batch goes on past one file's trouble ---------------------------------------------
def test_import_batch_gives_clashing_names_distinct_outputs_and_says_so(tmp_path, capsys):
    from firmware.models import modelfile
    nam_src = tmp_path / "amp.nam"
    nam_src.write_text((_nam_data("wavenet_gated.nam")).read_text())
    json_src = _guitarml_json(tmp_path)            # amp.json: the same stem
    other = tmp_path / "lead.nam"
    other.write_text((_nam_data("linear.nam")).read_text())
    assert main(["import", str(nam_src), str(json_src), str(other)]) == 0
    captured = capsys.readouterr()
    assert "written as amp-nam.npz" in captured.err and "written as amp-json.npz" in captured.err
    assert modelfile.load(tmp_path / "amp-nam.npz").architecture == "WaveNet"
    assert modelfile.load(tmp_path / "amp-json.npz").metadata["source"]["format"] == "guitarml"
    assert (tmp_path / "lead.npz").exists() and not (tmp_path / "amp.npz").exists()
    # What import says of each file is its self-check, named as such (not a conformance result).
    assert "self-check of the saved file" in captured.out and "reference reproduced" not in captured.out

    # Again without --force: every output exists; each is reported and the batch goes on.
    assert main(["import", str(nam_src), str(json_src), str(other)]) == 1
    err = capsys.readouterr().err
    assert err.count("exists (use --force to overwrite); skipped") == 3 and "3 of 3 files not imported" in err
    # With --force each is rewritten to its own output: nothing overwrites another.
    assert main(["import", "--force", str(nam_src), str(json_src), str(other)]) == 0
    assert modelfile.load(tmp_path / "amp-nam.npz").architecture == "WaveNet"
    assert modelfile.load(tmp_path / "amp-json.npz").metadata["source"]["format"] == "guitarml"


def test_import_lists_the_widths_of_a_slimmable_wavenet(tmp_path, capsys):
    src = _nam_data("core/slimmable_wavenet.nam")
    dst = tmp_path / "slim.npz"
    assert main(["import", str(src), "-o", str(dst), "--submodel", "1"]) == 0
    out = capsys.readouterr().out
    assert "sizes (--submodel N): 0: 1 channel, 1: 2 channels [imported], 2: 3 channels" in out
    from firmware.importers import submodel_sizes
    from firmware.models import modelfile
    mf = modelfile.load(dst)
    assert mf.config["layer_arrays"][0]["channels"] == 2
    assert submodel_sizes(mf.metadata) == (["1 channel", "2 channels", "3 channels"], 1)
    assert main(["import", str(src), "-o", str(tmp_path / "x.npz"), "--submodel", "3"]) == 2
    assert "submodel 3 does not exist" in capsys.readouterr().err


def _nam_data(name):
    from pathlib import Path
    return Path(__file__).resolve().parent / "data" / "nam" / name


def test_bench_has_a_row_per_width_of_a_slimmable_wavenet(capsys):
    assert main(["bench", "--json", "--only", "slimmable", "--seconds", "0.1", "--repeats", "1",
                 "--blocks", "64", "--no-jit", "--no-torch"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == [f"WaveNet standard slimmable, width {i} ({c} ch)"
                                          for i, c in enumerate(("4/2", "8/4", "12/6", "16/8"))]
    assert all(r["rtf"] > 0 for r in rows)

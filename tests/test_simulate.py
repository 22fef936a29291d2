"""The pedal loop end to end: real alsa-lib (file PCMs), real gpiozero (mock pins, a mock
MCP3008), real threads; `tubeless simulate` is the harness."""
import logging
import os

import numpy as np
import pytest
from helpers import max_step, tone

pytest.importorskip("alsaaudio")

from firmware.dsp.chain import ToneChain  # noqa: E402
from firmware.importers.loader import load as load_model  # noqa: E402
from firmware.testing.models import write_model  # noqa: E402
from firmware.tools.simulate import SimulationError, Simulator, parse_events  # noqa: E402

SR = 48000
pytestmark = pytest.mark.usefixtures("mock_pins")


def signal(seconds, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    notes = 0.45 * np.sin(2 * np.pi * 110 * t) * np.exp(-3 * (t % 0.5))
    return (notes + 0.002 * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


def models_dir(tmp_path, n=2):
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a_lstm.npz", arch="LSTM", seed=1, gain=0.6, name="A")
    if n > 1:
        write_model(d / "b_linear.npz", arch="Linear", seed=2, gain=-0.8, name="B")
    return d


def test_parse_events():
    ev = parse_events("1.2:drive=0.8, 0.5:next,2:bypass,3.0:prev")
    assert [(e.time, e.action, e.value) for e in ev] == [(0.5, "next", None), (1.2, "drive", 0.8),
                                                        (2.0, "bypass", None), (3.0, "prev", None)]
    for bad in ("x:next", "1:jump", "1:drive", "1:next=2", "1:level=3"):
        with pytest.raises(SimulationError):
            parse_events(bad)


def test_simulation_is_sample_aligned_and_agrees_with_the_chain(tmp_path):
    d = models_dir(tmp_path, n=1)
    x = signal(0.5)
    y = Simulator(d).run(x)
    assert len(y) == len(x)
    chain = ToneChain(SR, 64, model=load_model(d / "a_lstm.npz"))
    ref = np.zeros_like(x)
    chain.process(x, ref, len(x))
    assert np.max(np.abs(ref)) > 0.05
    assert np.max(np.abs(y - ref)) < 1e-6      # same chain, no delay, only S32 rounding


def test_footswitch_switches_within_50ms_without_click(tmp_path):
    d = models_dir(tmp_path)
    x = signal(1.2)
    sim = Simulator(d, events="0.3:next,0.8:prev")
    y = sim.run(x)
    assert len(sim.switch_frames) == 2
    steady = max(max_step(y[1000:int(0.3 * SR)]), max_step(y[int(0.4 * SR):int(0.8 * SR)]))
    for start, end in sim.switch_frames:
        assert end is not None
        assert (end - start) / SR <= 0.050, f"switch took {(end - start) / SR * 1000:.1f} ms"
        assert max_step(y[start - 1:end + 1]) <= 1.1 * steady
        # no gap: the output keeps its level through the switch
        seg = y[start:end]
        assert np.sqrt(np.mean(seg ** 2)) > 0.2 * np.sqrt(np.mean(y[start - 2400:start] ** 2))
    assert sim.engine.chain.current.name == "A"
    assert sim.engine.io.xruns == 0


def test_level_and_drive_pots_move_smoothly(tmp_path):
    d = models_dir(tmp_path, n=1)
    x = tone(int(0.8 * SR), 220.0, 0.2)
    sim = Simulator(d, events="0.3:level=1.0,0.5:drive=0.9")
    y = sim.run(x)
    rms = lambda a, b: np.sqrt(np.mean(y[int(a * SR):int(b * SR)] ** 2))   # noqa: E731
    assert 20 * np.log10(rms(0.4, 0.5) / rms(0.1, 0.3)) == pytest.approx(6.0, abs=0.3)
    assert sim.pedal.pots["drive"] == pytest.approx(0.9, abs=0.011)
    # the steps in the output are the tone's own, not zipper steps from the pots
    assert max_step(y[int(0.3 * SR) - 64:int(0.35 * SR)]) <= 1.05 * max_step(y[int(0.4 * SR):int(0.5 * SR)])


def test_bypass_plays_the_dry_input(tmp_path):
    d = models_dir(tmp_path, n=1)
    x = signal(0.6)
    sim = Simulator(d, events="0.2:bypass")
    y = sim.run(x)
    after = int(0.2 * SR) + 64 + 480 + 10        # one block + the 10 ms ramp
    assert np.max(np.abs(y[after:] - x[after:])) < 1e-6
    assert max_step(y[int(0.2 * SR) - 64:after]) <= 1.1 * max(max_step(x), max_step(y[:int(0.2 * SR)]))
    assert sim.engine.chain.bypassed


def test_nan_model_is_silenced_and_the_pedal_falls_back(tmp_path, caplog, monkeypatch):
    """Model B's output turns to NaN after a few blocks (a diverging RNN): the engine
    silences it, the control side logs it and falls back to A, the last good model."""
    from firmware.engine import engine as engine_mod
    d = models_dir(tmp_path)
    real_make_slot = engine_mod.chain_mod.make_slot

    def make_slot(mf, *a, **kw):
        slot = real_make_slot(mf, *a, **kw)
        if mf.name == "B":
            real, count = slot.model.process, [0]

            def process(x, y, n):
                real(x, y, n)
                count[0] += 1
                if count[0] > 10:
                    y[:n] = np.nan
            slot.model.process = process
        return slot

    monkeypatch.setattr(engine_mod.chain_mod, "make_slot", make_slot)
    x = signal(1.0)
    with caplog.at_level(logging.INFO):
        sim = Simulator(d, events="0.2:next")
        y = sim.run(x)
    assert np.all(np.isfinite(y))
    assert sim.engine.chain.faults >= 1
    assert any("produced NaN/Inf" in r.getMessage() for r in caplog.records)
    assert sim.engine.chain.current.name == "A"          # back on the last good model
    chain = ToneChain(SR, 64, model=load_model(d / "a_lstm.npz"))
    ref = np.zeros_like(x)
    chain.process(x, ref, len(x))
    tail = slice(len(x) - SR // 5, len(x))
    assert np.sqrt(np.mean(y[tail] ** 2)) == pytest.approx(np.sqrt(np.mean(ref[tail] ** 2)), rel=0.2)  # playing it
    assert np.max(np.abs(y)) <= 10 ** (-0.1 / 20) + 1e-6


def test_models_added_removed_and_half_copied_while_playing(tmp_path, caplog):
    d = models_dir(tmp_path)
    src = tmp_path / "c_new.npz"
    write_model(src, arch="LSTM", seed=5, gain=0.4, name="C")
    data = src.read_bytes()
    steps = {}

    def on_block(sim, frame):
        t = frame / SR
        if t >= 0.1 and "tmp" not in steps:          # rsync's temp name: ignored
            (d / ".c_new.npz.Xy12ab").write_bytes(data[: len(data) // 2])
            (d / "c_new.npz").write_bytes(data[: len(data) // 3])   # scp: a partial copy
            steps["tmp"] = frame
        if t >= 0.6 and "done" not in steps:
            (d / ".c_new.npz.Xy12ab").unlink()
            (d / "c_new.npz").write_bytes(data)
            steps["done"] = frame
        if t >= 0.7 and "rm" not in steps:
            os.unlink(d / "b_linear.npz")
            steps["rm"] = frame
        if t >= 1.2 and "corrupt" not in steps:
            (d / "zz_corrupt.npz").write_bytes(b"PK\x03\x04 not a model")
            steps["corrupt"] = frame

    x = signal(1.6)
    with caplog.at_level(logging.INFO, logger="firmware"):
        sim = Simulator(d, overrides={"models": {"poll_s": 0.05}}, on_block=on_block)
        y = sim.run(x)
    names = [e["name"] for e in sim.pedal.entries]
    assert names == ["A", "C"]
    msgs = [r.getMessage() for r in caplog.records]
    assert not any(".c_new.npz.Xy12ab" in m for m in msgs)
    assert sum("zz_corrupt.npz" in m for m in msgs) == 1          # one clear line
    assert any("model added: c_new.npz" in m for m in msgs)
    assert any("model removed: b_linear.npz" in m for m in msgs)
    # the sound went on undisturbed: same as the chain alone with model A
    chain = ToneChain(SR, 64, model=load_model(d / "a_lstm.npz"))
    ref = np.zeros_like(x)
    chain.process(x, ref, len(x))
    assert np.max(np.abs(y - ref)) < 1e-6
    assert sim.engine.io.xruns == 0


def test_state_is_restored_on_start(tmp_path):
    d = models_dir(tmp_path)
    state = tmp_path / "state.json"
    x = signal(0.4)
    sim = Simulator(d, events="0.1:next,0.2:bypass", state_path=str(state))
    sim.run(x)
    assert state.exists()
    sim2 = Simulator(d, state_path=str(state))
    y = sim2.run(x)
    assert sim2.engine.chain.current.name == "B"
    assert sim2.engine.chain.bypassed
    assert np.max(np.abs(y - x)) < 1e-6                  # bypassed from the first sample


def test_simulate_cli(tmp_path):
    sf = pytest.importorskip("soundfile")
    from firmware.tools import cli
    d = models_dir(tmp_path)
    x = signal(0.5)
    sf.write(tmp_path / "in.wav", x, SR, subtype="PCM_24")
    rc = cli.main(["simulate", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--models", str(d),
                   "--events", "0.2:next"])
    assert rc == 0
    y, sr = sf.read(tmp_path / "out.wav", dtype="float32")
    assert sr == SR and len(y) == len(x)
    sf.write(tmp_path / "in44.wav", x, 44100)
    assert cli.main(["simulate", str(tmp_path / "in44.wav"), str(tmp_path / "o.wav"), "--models", str(d)]) == 2
    assert cli.main(["models", "--models", str(d)]) == 0


def test_the_playing_model_is_reloaded_when_its_file_is_replaced(tmp_path, caplog):
    d = models_dir(tmp_path)
    replacement = tmp_path / "a_new.npz"
    write_model(replacement, arch="LSTM", seed=9, gain=0.2, name="A2")
    steps = {}

    def on_block(sim, frame):
        if frame / SR >= 0.2 and "swap" not in steps:
            os.replace(replacement, d / "a_lstm.npz")       # how `make deploy` lands a file
            steps["swap"] = frame

    x = signal(1.0)
    with caplog.at_level(logging.INFO, logger="firmware.pedal"):
        sim = Simulator(d, overrides={"models": {"poll_s": 0.05}}, on_block=on_block)
        y = sim.run(x)
    assert any("a_lstm.npz changed on disk: reloading" in r.getMessage() for r in caplog.records)
    assert sim.engine.chain.current.name == "A2"
    assert sim.engine.io.xruns == 0
    steady = np.max(np.abs(np.diff(y[: steps["swap"]])))
    assert np.max(np.abs(np.diff(y))) < 2 * steady + 1e-3       # crossfaded, no click


def test_paced_and_unpaced_simulations_play_the_same(tmp_path):
    """The control side runs on the audio's clock: pacing the loop in real time (as a pedal
    is paced) changes nothing in what it plays, switches and library changes included."""
    d = models_dir(tmp_path)
    x = signal(0.6)
    events = "0.1:next,0.25:drive=0.8,0.3:prev,0.45:bypass"
    y0 = Simulator(d, events=events).run(x)
    y1 = Simulator(d, events=events, pace=1.0).run(x)
    assert np.max(np.abs(y0 - x)) > 0.05          # it played the models, not the dry input
    assert np.array_equal(y0, y1)


def test_events_that_cannot_happen_are_errors(tmp_path):
    from firmware.tools import cli
    for bad, why in (("nan:next", "number of seconds"), ("inf:next", "number of seconds"),
                     ("1:drive=nan", "0..1"), ("1:drive=7", "0..1")):
        with pytest.raises(SimulationError, match=why):
            parse_events(bad)
    d = models_dir(tmp_path, n=1)
    with pytest.raises(SimulationError, match="after the end of the input"):
        Simulator(d, events="2.0:next").run(signal(0.5))
    sf = pytest.importorskip("soundfile")
    sf.write(tmp_path / "in.wav", signal(0.2), SR)
    for ev in ("-1:next", "9:next"):                # a negative time reaches the check, not argparse
        assert cli.main(["simulate", str(tmp_path / "in.wav"), str(tmp_path / "o.wav"), "--models", str(d),
                         "--events", ev]) == 2
    assert not (tmp_path / "o.wav").exists()


def test_an_input_of_no_frames_is_a_user_error_and_writes_nothing(tmp_path, capsys):
    sf = pytest.importorskip("soundfile")
    from firmware.tools import cli
    d = models_dir(tmp_path, n=1)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    assert cli.main(["simulate", str(tmp_path / "empty.wav"), str(tmp_path / "o.wav"), "--models", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no samples" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()
    with pytest.raises(SimulationError, match="no samples"):
        Simulator(d).run(np.zeros(0, np.float32))

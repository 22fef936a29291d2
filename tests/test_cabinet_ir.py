"""Cabinet IRs: a model's own IR (NAME.wav beside NAME.npz) wins over the global one;
switching models crossfades the IR change too; an IR keeps a guitar amp's loudness (issue
11: no file sets the pedal's level)."""
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import max_step, process_in_blocks, tone
from scipy.signal import fftconvolve

import firmware
from firmware.dsp.chain import ToneChain, load_ir, make_slot
from firmware.importers import loudness
from firmware.importers.library import ModelLibrary
from firmware.testing.models import make_model, write_model

sf = pytest.importorskip("soundfile")

SR = 48000
B = 64


def cab(seed, n=2400, polarity=1.0):
    """A cab-like IR: a decaying, coloured burst, unit energy (as load_ir makes it)."""
    rng = np.random.default_rng(seed)
    ir = rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 8))
    ir[0] += 2.0 * polarity
    return ir / np.sqrt(np.sum(ir * ir))


def write_ir(path, ir):
    sf.write(path, ir / np.max(np.abs(ir)), SR, subtype="FLOAT")


def unity():
    return make_model("Linear", taps=[1.0], name="unity")


def guitar_tone(n, a):
    """A 110 Hz tone faded in over 25 ms (no click at the start)."""
    return tone(n, 110.0, a, fade_in_s=0.025)


def test_library_pairs_name_wav_with_the_model_and_never_plays_a_wav(tmp_path, caplog):
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "amp.npz", arch="Linear", seed=1, name="Amp")
    write_model(d / "other.npz", arch="Linear", seed=2, name="Other")
    write_ir(d / "amp.wav", cab(1))
    write_ir(d / "lonely.wav", cab(2))
    lib = ModelLibrary(d)
    with caplog.at_level(logging.INFO, logger="firmware.importers.library"):
        lib.scan(settle=False)
    by_name = {e.name: e for e in lib.entries()}
    assert sorted(by_name) == ["Amp", "Other"]                  # no WAV became a model
    assert by_name["Amp"].ir_path == str(d / "amp.wav")
    assert by_name["Other"].ir_path is None
    assert not any("skipped" in r.getMessage() for r in caplog.records)
    # an IR that arrives later is picked up (the model's entry is reloaded with it)
    write_ir(d / "other.wav", cab(3))
    lib.scan(settle=False)
    assert lib.get(str(d / "other.npz")).ir_path == str(d / "other.wav")
    (d / "amp.wav").unlink()
    lib.scan(settle=False)
    assert lib.get(str(d / "amp.npz")).ir_path is None


def test_slot_ir_wins_over_the_global_one(tmp_path):
    own, glob = cab(1), cab(2)
    x = guitar_tone(SR // 4, 0.1)
    # the slot's IR with some other global IR == that IR as the global one
    y = process_in_blocks(ToneChain(SR, B, ir=glob, model=make_slot(unity(), B, ir=own)), x)
    ref = process_in_blocks(ToneChain(SR, B, ir=own, model=unity()), x)
    other = process_in_blocks(ToneChain(SR, B, ir=glob, model=unity()), x)
    assert 0.02 < np.max(np.abs(ref)) < 0.8          # below the limiter
    assert np.max(np.abs(y - ref)) < 1e-6
    assert np.max(np.abs(y - other)) > 0.01
    # and the IR is really convolved: unity model through `own` (no DC blocker, gate open)
    direct = np.convolve(x.astype(np.float64), own)[:len(x)]
    y2 = process_in_blocks(ToneChain(SR, B, model=make_slot(unity(), B, ir=own), dc_hz=0.001), x)
    assert np.max(np.abs(y2 - direct)) < 1e-3 * np.max(np.abs(direct))


def test_switch_between_models_with_different_irs_has_no_click():
    x = guitar_tone(SR // 2, 0.1)
    a = make_slot(unity(), B, ir=cab(1))
    b = make_slot(unity(), B, ir=-cab(1))           # the same cab, inverted: the hardest case
    at = 100 * B
    chain = ToneChain(SR, B, model=a)
    y = process_in_blocks(chain, x, switch={at: b})
    done = chain.last_switch_done
    assert chain.current is b and done - at <= 0.050 * SR
    assert np.max(np.abs(y)) < 0.8
    steady = max(max_step(y[2000:at]), max_step(y[done + 3000:]))
    assert max_step(y[at - 1:done + 2400]) <= 1.1 * steady
    # without the crossfade (IR swapped at once) the same switch is a big step
    hard = ToneChain(SR, B, model=make_slot(unity(), B, ir=cab(1)), fade_ms=0.001)
    yh = process_in_blocks(hard, x, switch={at: make_slot(unity(), B, ir=-cab(1))})
    assert max_step(yh[at - 1:at + 200]) > 3 * steady


def _play_changing_the_global_ir(chain, x, at, new_ir):
    """x through chain in blocks of B; at sample `at` the global IR becomes new_ir (a
    Convolver, or None) as the engine changes it, request_ir; chain: None -> set at once."""
    from firmware.dsp.convolver import Convolver
    y = np.empty_like(x)
    for s in range(0, len(x), B):
        if s == at:
            conv = Convolver(new_ir, block=B) if new_ir is not None else None
            if chain.fade_samples > 1:
                chain.request_ir(conv)
            else:
                chain.convolver = conv             # what the engine did before: one store
        chain.process(x[s:s + B], y[s:s + B], min(B, len(x) - s))
    return y


def test_a_new_global_ir_crossfades_in_and_then_plays_alone():
    """The page's or a preset's new global IR while a model plays through the old one (the
    same cab inverted: the hardest case): no step beyond the signal's own, done within the
    switch's fade, then exactly what the new IR alone gives; the same to no IR at all."""
    x = guitar_tone(SR, 0.1)
    at = 100 * B
    chain = ToneChain(SR, B, ir=cab(1), model=unity())
    y = _play_changing_the_global_ir(chain, x, at, -cab(1))
    assert chain.ir_swap is None and chain.convolver.length == len(cab(1))
    assert [type(r).__name__ for r in chain.retired] == ["IRCrossfade"]   # the old IR: freed off the audio thread
    steady = max(max_step(y[2000:at]), max_step(y[at + 3000:]))
    assert max_step(y[at - 1:at + 3000]) <= 1.1 * steady
    only_new = ToneChain(SR, B, ir=-cab(1), model=unity())
    y_new = np.empty_like(x)
    only_new.process(x, y_new, len(x))
    late = at + SR // 2                                     # past the fade, the IR and the DC blocker's memory
    assert np.max(np.abs(y[late:] - y_new[late:])) < 1e-4
    # the engine's old single store: the same change is a big step
    hard = ToneChain(SR, B, ir=cab(1), model=unity(), fade_ms=0.001)
    assert max_step(_play_changing_the_global_ir(hard, x, at, -cab(1))[at - 1:at + 200]) > 3 * steady
    # to no IR, and from none
    for before, after in ((cab(1), None), (None, cab(2))):
        chain = ToneChain(SR, B, ir=before, model=unity())
        y = _play_changing_the_global_ir(chain, x, at, after)
        assert chain.ir_swap is None and (chain.convolver is None) == (after is None)
        assert max_step(y[at - 1:at + 3000]) <= 1.1 * max(max_step(y[2000:at]), max_step(y[at + 3000:]))


def test_a_global_ir_back_in_use_starts_from_silence():
    # A (global IR) -> B (own IR, silent model) -> C (global IR, silent model): when C fades
    # in, the global IR must not replay what A fed it before B (its tail is still long).
    silent = make_model("Linear", taps=4, gain=0.0, name="silent")
    x = guitar_tone(SR // 2, 0.1)
    ys = []
    for then in (None, make_slot(silent, B)):
        chain = ToneChain(SR, B, ir=cab(5, n=24000), model=unity())
        switch = {60 * B: make_slot(silent, B, ir=cab(6))}
        if then is not None:
            switch[200 * B] = then
        ys.append(process_in_blocks(chain, x, switch=switch))
    assert chain.current is then
    assert np.max(np.abs(ys[1][: 60 * B])) > 0.02
    # C adds nothing to B's silence (only the DC blocker's own decay, the same in both)
    assert np.max(np.abs(ys[1] - ys[0])) < 1e-7


def test_simulate_plays_the_models_own_ir_and_switches_cleanly(tmp_path, mock_pins):
    pytest.importorskip("alsaaudio")
    from firmware.importers.loader import load as load_model
    from firmware.tools.simulate import Simulator
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a.npz", arch="LSTM", seed=1, gain=0.6, name="A")
    write_model(d / "b.npz", arch="LSTM", seed=1, gain=0.6, name="B")   # same model, other cab
    write_ir(d / "a.wav", cab(1))
    write_ir(d / "b.wav", -cab(1))
    x = guitar_tone(int(0.6 * SR), 0.3)
    sim = Simulator(d, events="0.3:next")
    y = sim.run(x)
    ref = np.zeros_like(x)
    ToneChain(SR, B, model=make_slot(load_model(d / "a.npz"), B, ir=load_ir(d / "a.wav", SR))).process(
        x, ref, len(x))
    start = sim.switch_frames[0][0]
    assert np.max(np.abs(ref)) > 0.02
    assert np.max(np.abs(y[:start] - ref[:start])) < 1e-5        # A's own cab, not none
    end = sim.switch_frames[0][1]
    assert sim.engine.chain.current.name == "B"
    assert end - start <= 0.050 * SR
    steady = max(max_step(y[2000:start]), max_step(y[end + 3000:]))
    assert max_step(y[start - 1:end + 2400]) <= 1.1 * steady
    # after the switch it is B's (inverted) cab: the output flips sign (once the DC
    # blocker has settled on the flipped model offset)
    tail = slice(len(x) - 2400, len(x))
    assert np.max(np.abs(y[tail] + ref[tail])) < 0.05 * np.max(np.abs(ref[tail]))


def test_models_command_shows_the_paired_ir(tmp_path, capsys):
    from firmware.tools import cli
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "amp.npz", arch="Linear", seed=1, name="Amp")
    write_ir(d / "amp.wav", cab(1))
    assert cli.main(["models", "--models", str(d)]) == 0
    out = capsys.readouterr().out
    assert "Amp" in out and "IR amp.wav" in out and out.count("\n") == 1


# --- the level an IR leaves (the cab follows an amp model) ------------------------------------
def _db(x):
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


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
    path = shared_dir / ir_name if ir_name else Path(firmware.DATA_DIR) / "default_cab.wav"
    ir = load_ir(path, 48000)
    for y in amp_outputs:
        change = _db(fftconvolve(y, ir)[:len(y)]) - _db(y)
        assert abs(change) <= 1.0, f"{path.name}: {change:+.2f} dB"
    x = loudness.standard_input(48000).astype(np.float64)          # the DI itself: close too
    assert abs(_db(fftconvolve(x, ir)[:len(x)]) - _db(x)) <= 1.7


def test_an_ir_with_no_energy_where_the_guitar_lives_is_not_blown_up(tmp_path):
    t = np.arange(4800) / 48000
    sf.write(tmp_path / "hiss.wav", 0.5 * np.sin(2 * np.pi * 15000 * t) * np.exp(-t * 50), 48000)
    ir = load_ir(tmp_path / "hiss.wav", 48000)
    peak = np.max(np.abs(np.fft.rfft(ir, 1 << 16)))
    assert 20 * math.log10(peak) <= 24.0 + 1e-6

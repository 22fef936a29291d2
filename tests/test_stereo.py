"""audio.stereo_out: the same mono rig up to the delay, then a wide delay and reverb, left on
output channel 0 and right on 1; mono (the default) is what it was."""
import numpy as np
import pytest
from helpers import BLOCK, SR, guitar_like, run_tubeless, tone

from firmware.core import audiofile
from firmware.dsp.chain import ToneChain
from firmware.testing.models import make_model, write_model


def chains(**settings):
    # a memoryless amp model: what is left after the input stops is the delay's and the reverb's
    kw = dict(model=make_model("Linear", seed=2, taps=8), normalize=False, calibrate_input=False, **settings)
    return ToneChain(SR, BLOCK, **kw), ToneChain(SR, BLOCK, stereo_out=True, **kw)


def play(mono, wide, x, blocks_on=()):
    for c in (mono, wide):
        for b in blocks_on:
            c.rig.set_on(b, True)
        c.rig.settle()
    y = np.empty_like(x)
    mono.process(x, y, len(x))
    left, right = np.empty_like(x), np.empty_like(x)
    wide.process_stereo(x, left, right, len(x))
    return y, left, right


def burst(seconds=2.0):
    x = np.zeros(int(seconds * SR), np.float32)
    x[:SR // 4] = guitar_like(SR // 4) * 0.3
    return x


def test_without_delay_or_reverb_both_channels_are_the_mono_output():
    mono, wide = chains()
    y, left, right = play(mono, wide, guitar_like(SR // 2) * 0.3, ("tonestack", "boost"))
    assert np.array_equal(left, y) and np.array_equal(right, y)


def test_the_left_channel_is_the_mono_rig_and_the_right_a_wide_twin():
    mono, wide = chains()
    x = burst()
    y, left, right = play(mono, wide, x, ("delay", "reverb"))
    np.testing.assert_array_equal(left, y)                  # the left is what mono plays
    tail = slice(SR // 4 + 4800, len(x))                     # the reverb's and the delay's tails alone
    corr = np.corrcoef(left[tail], right[tail])[0, 1]
    assert abs(corr) < 0.5, corr                              # decorrelated: wide
    assert np.sqrt(np.mean(right[tail] ** 2)) == pytest.approx(np.sqrt(np.mean(left[tail] ** 2)), rel=0.5)


def test_the_wide_delay_repeats_later_on_the_right():
    mono, wide = chains()
    for c in (mono, wide):
        c.rig.set("delay.time_ms", 250)
        c.rig.set("delay.feedback", 0.0)
        c.rig.set("delay.mix", 1.0)
    x = np.zeros(SR, np.float32)
    x[100] = 0.5
    _, left, right = play(mono, wide, x, ("delay",))
    model_part = slice(0, 100 + int(0.2 * SR))

    def echo_at(y):
        seg = np.abs(y[100 + int(0.2 * SR):])
        return 100 + int(0.2 * SR) + int(np.argmax(seg))

    el, er = echo_at(left), echo_at(right)
    assert er - el == pytest.approx(0.02 * 0.25 * SR, abs=2)           # 2 % of 250 ms later
    assert np.array_equal(left[model_part], right[model_part])          # the dry part is the same


def test_the_limiter_is_linked_across_the_channels():
    mono, wide = chains(level=1.0)
    x = tone(SR // 2, 200.0, a=0.9)
    for c in (mono, wide):
        c.set_drive(1.0, immediate=True)
    _, left, right = play(mono, wide, x, ("reverb",))
    ceiling = 10 ** (-0.1 / 20)
    assert max(np.max(np.abs(left)), np.max(np.abs(right))) <= ceiling + 1e-6


def test_render_stereo_writes_two_channels(tmp_path):
    amp = tmp_path / "amp.npz"
    write_model(amp, arch="LSTM", seed=1)
    audiofile.write(tmp_path / "in.wav", burst(1.0), SR)
    out = run_tubeless("render", str(amp), str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--stereo",
                       "--set", "reverb=on")
    assert out.returncode == 0, out.stderr
    import soundfile as sf
    y, _ = sf.read(tmp_path / "out.wav", always_2d=True)
    assert y.shape[1] == 2 and not np.allclose(y[:, 0], y[:, 1])


def test_simulate_plays_left_and_right_on_channels_0_and_1(tmp_path):
    from firmware.tools.simulate import simulate_file
    models = tmp_path / "models"
    models.mkdir()
    make_model("Linear", seed=2, taps=8).save(models / "amp.npz")
    audiofile.write(tmp_path / "in.wav", burst(1.0), SR)
    _, y = simulate_file(tmp_path / "in.wav", tmp_path / "out.wav", str(models),
                         overrides={"audio": {"stereo_out": True}}, settings=[("reverb", True)])
    assert y.shape == (SR, 2)
    tail = slice(SR // 4 + 4800, SR)
    assert abs(np.corrcoef(y[tail, 0], y[tail, 1])[0, 1]) < 0.5
    _, mono = simulate_file(tmp_path / "in.wav", tmp_path / "mono.wav", str(models), settings=[("reverb", True)])
    assert mono.ndim == 1
    np.testing.assert_allclose(y[:, 0], mono, atol=1e-6)          # the left is the mono pedal's


def test_stereo_needs_two_channels(tmp_path):
    from firmware.core.config import load_config
    from firmware.core.errors import ConfigError
    from firmware.engine.engine import Engine
    with pytest.raises(ConfigError, match="stereo_out needs audio.channels"):
        Engine(load_config(overrides={"audio": {"stereo_out": True, "channels": 1}}))

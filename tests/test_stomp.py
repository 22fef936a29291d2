"""The drive slot: a second captured model (a pedal) played before the amp model, at its own
gain, switched and swapped click-free, loaded by the pedal like the amp's models."""
import os

import numpy as np
import pytest
from helpers import BLOCK, REPO, SR, max_step, process_in_blocks, run_tubeless, tone

from firmware.core import audiofile
from firmware.dsp.blocks.stomp import Stomp
from firmware.dsp.chain import Slot, ToneChain, make_slot, make_stomp_slot
from firmware.ipc import shared as sh
from firmware.testing.models import make_model, write_model


def gain_model(gain, name="pedal", **kw):
    """A capture of a clean pedal: one tap of `gain` (exactly that gain at every frequency)."""
    return make_model("Linear", taps=[gain], name=name, **kw)


def stomp_with(slot, on=True):
    b = Stomp(SR, BLOCK)
    b.set_on(on)
    b.set_capture(slot)
    b.settle()
    return b


class NaNModel:
    """A model that breaks: NaN from its first sample."""
    num_knobs = 0

    def process(self, x, y, n):
        y[:n] = np.nan


# --- the block -----------------------------------------------------------------------------
def test_a_capture_plays_at_its_own_gain_with_trim_and_level():
    x = tone(SR // 4, 440.0, a=0.1)
    for gain, trim, level in ((1.0, 0.0, 0.0), (2.0, 0.0, 0.0), (1.0, 6.0, 0.0), (2.0, 0.0, -6.0)):
        b = stomp_with(make_stomp_slot(gain_model(gain), BLOCK, sample_rate=SR))
        b.set("trim_db", trim)
        b.set("level_db", level)
        b.settle()
        y = process_in_blocks(b, x)
        expected = gain * 10 ** ((trim + level) / 20)
        np.testing.assert_allclose(y, x * expected, rtol=1e-5, atol=1e-7)


def test_a_capture_is_not_levelled_to_the_amps_loudness():
    # the amp slot levels a model to the pedal's target loudness; a pedal capture of a
    # unity pedal that says it is loud (-6 dB) must still play at unity
    loud = gain_model(1.0, loudness=-6.0)
    assert make_slot(loud, BLOCK).out_gain == pytest.approx(10 ** (-12 / 20))
    stomp = make_stomp_slot(loud, BLOCK)
    assert stomp.out_gain == 1.0 and stomp.in_gain == 1.0


def test_its_input_is_calibrated_and_its_output_converted_back():
    # a capture recorded at +6 dBu for 0 dBFS on a +12 dBu interface: 6 dB more into the
    # model, 6 dB less out, so a unity pedal stays unity
    mf = gain_model(1.0)
    mf.metadata["input_level_dbu"] = 6.0
    slot = make_stomp_slot(mf, BLOCK, {"interface_input_dbu": 12.0})
    assert slot.in_gain == pytest.approx(10 ** (6 / 20)) and slot.in_gain * slot.out_gain == pytest.approx(1.0)
    x = tone(SR // 8, 330.0, a=0.1)
    np.testing.assert_allclose(process_in_blocks(stomp_with(slot), x), x, rtol=1e-5, atol=1e-7)


def test_switching_it_on_and_off_and_swapping_captures_is_click_free():
    x = tone(SR, 330.0, a=0.2, fade_in_s=0.05)
    a = make_stomp_slot(gain_model(2.0, "A"), BLOCK)
    c = make_stomp_slot(gain_model(0.5, "C"), BLOCK)
    b = stomp_with(a, on=False)
    y = np.empty_like(x)
    for i, s in enumerate(range(0, len(x), BLOCK)):
        if i == 150:
            b.set_on(True)
        elif i == 300:
            b.request(c)
        elif i == 450:
            b.request(None)
        elif i == 600:
            b.request(a)
        elif i == 700:
            b.set_on(False)
        b.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
    steady = max(max_step(y[-SR // 8:]), max_step(x[SR // 8:]) * 2.0)     # the loudest steady part
    assert max_step(y) < 1.2 * steady
    seg = lambda i: slice(i * BLOCK - 20 * BLOCK, i * BLOCK)              # noqa: E731 - the blocks before event i
    assert np.allclose(y[seg(150)], x[seg(150)])                          # off: dry
    assert np.allclose(y[seg(300)], 2.0 * x[seg(300)], atol=1e-6)         # A
    assert np.allclose(y[seg(450)], 0.5 * x[seg(450)], atol=1e-6)         # C
    assert np.allclose(y[seg(600)], x[seg(600)], atol=1e-6)               # none: dry
    assert np.allclose(y[seg(700)], 2.0 * x[seg(700)], atol=1e-6)         # A again
    assert b.retired and all(s in (a, c) for s in b.retired)              # for the command thread to free


def test_a_capture_set_while_it_is_off_is_there_when_it_comes_on():
    b = Stomp(SR, BLOCK)
    x = tone(SR // 4, 220.0, a=0.1)
    y = process_in_blocks(b, x)
    assert np.array_equal(y, x)
    b.request(make_stomp_slot(gain_model(2.0), BLOCK))
    y = process_in_blocks(b, x)
    assert np.array_equal(y, x) and b.current is not None     # off: still dry, no fade wasted
    b.set_on(True)
    y = process_in_blocks(b, x)
    assert np.allclose(y[SR // 8:], 2.0 * x[SR // 8:], atol=1e-6)


def test_a_capture_that_produces_nan_plays_the_guitar_dry_and_is_counted():
    b = stomp_with(Slot(NaNModel()))
    x = tone(SR // 8, 220.0, a=0.1)
    y = process_in_blocks(b, x)
    assert np.all(np.isfinite(y)) and b.faults == 1 and b.current.faulted
    assert np.allclose(y[BLOCK:], x[BLOCK:])


def test_a_conditioned_capture_follows_the_stomps_knob():
    mf = make_model("LSTM", seed=4, knobs=1, name="TS")
    x = tone(SR // 8, 220.0, a=0.3)
    outs = []
    for knob in (0.0, 1.0):
        b = stomp_with(make_stomp_slot(mf, BLOCK))
        b.set("knob", knob)
        outs.append(process_in_blocks(b, x))
    ref = mf.build(max_block=BLOCK)
    ref.reset()
    ref.prewarm()                     # as a slot's model starts
    ref.knobs[0] = 1.0
    assert not np.allclose(outs[0], outs[1])
    np.testing.assert_allclose(outs[1], process_in_blocks(ref, x), atol=1e-6)


def test_the_stomp_plays_before_the_amp_model():
    # amp: a pure delay of 5 samples; pedal: x2. In series: 2 x, 5 samples later, at the chain's gains
    amp = make_model("Linear", taps=[0, 0, 0, 0, 0, 1.0])
    x = tone(SR // 4, 300.0, a=0.05)

    def play(with_stomp):
        c = ToneChain(SR, BLOCK, model=amp, normalize=False, calibrate_input=False)
        c.set_drive(0.5, immediate=True)
        if with_stomp:
            c.rig.blocks["stomp"].set_capture(make_stomp_slot(gain_model(2.0), BLOCK))
            c.rig.set_on("stomp", True)
            c.rig.settle()
        return process_in_blocks(c, x)

    plain, stomped = play(False), play(True)
    np.testing.assert_allclose(stomped[SR // 8:], 2.0 * plain[SR // 8:], rtol=1e-4, atol=1e-6)


# --- the pedal -------------------------------------------------------------------------------
def test_ctl_stomp_loads_a_library_model_into_the_drive_slot(small_pedal):
    pedal, engine, _ = small_pedal()
    amp_slots = dict(pedal.slots)
    reply = pedal.handle({"cmd": "stomp", "name": "B"})
    assert reply["ok"] and reply["stomp"] == {"name": "B", "file": "b.npz"}
    pedal.tick()
    engine.sync()
    stomp = engine.stomp
    assert stomp.on and pedal.params.rig.is_on("stomp")
    assert (stomp.pending or stomp.current).name == "B"
    assert pedal.slots == amp_slots                                  # the amp's slots untouched
    assert pedal.state["stomp"] == "b.npz" and pedal.state["rig"]["stomp"] is True
    # the audio picks it up; status says what plays
    x = np.zeros(BLOCK, np.float32)
    engine.chain.x[:] = x
    engine.chain.process_block(BLOCK)
    engine.sync()
    assert engine.shared.counters[sh.STOMP_SLOT] == pedal.stomp_ref.id
    assert pedal.status()["stomp"] == {"name": "B", "file": "b.npz", "status": "playing"}
    # none empties it; the old slot is dropped once it no longer plays
    old = pedal.stomp_ref.id
    assert pedal.handle({"cmd": "stomp", "name": "none"})["ok"]
    for _ in range(int(0.1 * SR) // BLOCK):      # the fade in of B, then out to none
        engine.chain.process_block(BLOCK)
    engine.sync()
    assert old not in engine.slots and stomp.current is None and pedal.status()["stomp"] is None
    assert not pedal.handle({"cmd": "stomp", "name": "nope"})["ok"]


def test_a_missing_or_changed_capture(small_pedal, tmp_path, caplog):
    pedal, engine, cfg = small_pedal()
    assert pedal.handle({"cmd": "stomp", "name": "C"})["ok"]
    first = pedal.stomp_ref
    folder = cfg["models"]["directory"]
    write_model(os.path.join(folder, "c.npz"), arch="LSTM", seed=9, name="C")   # changed on disk
    os.utime(os.path.join(folder, "c.npz"), (1e9, 1e9))
    pedal.librarian.librarian.look(settle=False)
    pedal.tick()
    assert pedal.stomp_ref is not first and pedal.stomp_ref.stamp != first.stamp
    os.remove(os.path.join(folder, "c.npz"))                                      # removed
    pedal.librarian.librarian.look(settle=False)
    pedal.tick()
    assert pedal.stomp_ref is None and "removed" in caplog.text


def test_the_stomp_is_restored_from_the_state_file(small_pedal):
    pedal, engine, _ = small_pedal()
    pedal.state.update({"model": "a.npz", "stomp": "c.npz", "rig": {"stomp": True}})
    pedal.restore()
    assert pedal.stomp_ref is not None and pedal.stomp_ref.name == "C"
    assert engine.stomp.on


def test_a_stomp_that_cannot_be_built_empties_the_slot(small_pedal, caplog):
    pedal, engine, _ = small_pedal()
    assert pedal.handle({"cmd": "stomp", "name": "A"})["ok"]
    ref = pedal.stomp_ref
    pedal._on_slot_event({"ev": "load_failed", "slot": ref.id, "error": "broken"})
    assert pedal.stomp_ref is None and pedal.stomp_error == "broken" and "cannot be built" in caplog.text
    assert pedal.current_path is not None                           # the amp plays on


# --- render ----------------------------------------------------------------------------------
def test_render_stomp_plays_the_capture_before_the_model(tmp_path):
    amp = tmp_path / "amp.npz"
    write_model(amp, arch="LSTM", seed=1, name="amp")
    pedal = tmp_path / "ts.npz"
    gain_model(2.0, "TS").save(pedal)
    x = tone(SR // 2, 220.0, a=0.05)
    audiofile.write(tmp_path / "in.wav", x, SR)
    for args in ((amp, tmp_path / "in.wav", tmp_path / "stomp.wav", "--stomp", pedal),
                 (amp, tmp_path / "in2.wav", tmp_path / "twice.wav")):
        if args[1].name == "in2.wav":
            audiofile.write(args[1], 2.0 * x, SR)
        out = run_tubeless("render", *map(str, args))
        assert out.returncode == 0, out.stderr
    a, _ = audiofile.read_mono(tmp_path / "stomp.wav")
    b, _ = audiofile.read_mono(tmp_path / "twice.wav")
    np.testing.assert_allclose(a, b, atol=1e-5)
    out = run_tubeless("render", str(amp), str(tmp_path / "in.wav"), str(tmp_path / "x.wav"), "--stomp",
                       str(pedal), "--model-only")
    assert out.returncode != 0 and "--stomp" in out.stderr and out.stderr.count("\n") == 1


def test_the_warm_up_compiles_the_stomps_kernels():
    import subprocess
    import sys
    code = ("import numba, numpy as np\n"
            "from firmware.dsp.warm import warm\n"
            "from firmware.dsp.blocks import stomp as m\n"
            "from firmware.dsp.chain import Slot\n"
            "from firmware.models.random import random_weights\n"
            "from firmware import models\n"
            "from firmware.models import presets\n"
            "warm()\n"
            "ds = [f for f in vars(m).values() if isinstance(f, numba.core.registry.CPUDispatcher)]\n"
            "before = [len(d.overloads) for d in ds]\n"
            "cfg = presets.recurrent_config(8)\n"
            "b = m.Stomp(48000, 64); b.set_on(True)\n"
            "x = np.random.default_rng(0).standard_normal(64).astype(np.float32); y = np.empty_like(x)\n"
            "for g in (1.0, 3.0, 1.0):\n"
            "    b.request(Slot(models.build('LSTM', cfg, random_weights('LSTM', cfg), 48000, 64), in_gain=g, out_gain=1/g))\n"
            "    for k in range(30): b.process(x, y, 64); b.process(y, y, 64)\n"
            "b.set_on(False)\n"
            "for k in range(30): b.process(x, y, 64)\n"
            "print('NEW', [d.__name__ for d, n in zip(ds, before) if len(d.overloads) != n])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    assert "NEW []" in out.stdout, out.stdout


def test_simulate_stomp_event_puts_a_capture_before_the_amp(tmp_path):
    from firmware.tools.simulate import parse_events, simulate_file
    models = tmp_path / "models"
    models.mkdir()
    make_model("Linear", taps=[0, 1.0], name="amp").save(models / "amp.npz")
    gain_model(2.0, "TS").save(models / "ts.npz")
    assert [(e.action, e.value) for e in parse_events("1:stomp=ts,2:stomp=off")] == [("stomp_capture", "ts"),
                                                                                     ("stomp", False)]
    x = tone(SR, 220.0, a=0.02)
    audiofile.write(tmp_path / "in.wav", x, SR)
    simulate_file(tmp_path / "in.wav", tmp_path / "out.wav", str(models), events="0.25:stomp=ts,0.75:stomp=none")
    y, _ = audiofile.read_mono(tmp_path / "out.wav")
    level = lambda a, b: np.sqrt(np.mean(y[int(a * SR):int(b * SR)] ** 2))      # noqa: E731
    assert level(0.45, 0.7) == pytest.approx(2.0 * level(0.05, 0.2), rel=0.02)   # +6 dB while it plays
    assert level(0.9, 1.0) == pytest.approx(level(0.05, 0.2), rel=0.02)


def test_a_third_footswitch_switches_the_stomp_and_taps_the_tempo(small_pedal, mock_pins):
    import time

    from firmware.pedal.controls import GpioControls
    from firmware.testing.mockhw import MockMCP3008
    pedal, engine, cfg = small_pedal(overrides={"controls": {"footswitch3": 13}})
    c = cfg["controls"]
    adc = MockMCP3008(c["adc_spi_port"], c["adc_spi_device"])
    controls = GpioControls(pedal, c)
    try:
        pin = mock_pins.pin(13)
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()                       # short: the stomp on
        assert pedal.wait_submitted(1)
        pedal.tick()
        assert engine.stomp.on
        for k in range(3):                     # held: taps
            pin.drive_low()
            time.sleep(c["hold_time"] + 0.15)
            pin.drive_high()
            time.sleep(0.02)
        assert pedal.wait_submitted(4)
        pedal.tick()
        assert pedal._taps and len(pedal._taps) == 3
    finally:
        controls.close()
        adc.close()


def test_a_bad_footswitch_action_is_a_one_line_config_error(small_pedal):
    from firmware.core.errors import ConfigError
    with pytest.raises(ConfigError, match=r"controls.footswitch3_press: 'flanger' is not tap, record, none or a rig block"):
        small_pedal(overrides={"controls": {"footswitch3_press": "flanger"}})

"""Footswitches (gpiozero mock pins), the keyboard and the pots all reach the pedal through
the same control messages as `tubeless ctl`, executed in order by the control side."""
import os
import time

import pytest

from firmware.ipc.messages import MessageError, check_control
from firmware.pedal.controls import GpioControls, KeyboardControls


def test_keyboard_keys_are_control_messages(small_pedal):
    pedal, engine, _ = small_pedal()
    r, w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as stream:
        KeyboardControls(pedal, stream=stream)
        os.write(w, b"nnpbmx")              # x: not a key
        assert pedal.wait_submitted(5, timeout=10)
        os.close(w)
        time.sleep(0.1)
        assert [pedal.queue.get_nowait().msg["cmd"] for _ in range(5)] == ["next", "next", "prev", "bypass", "mute"]
        assert pedal.queue.empty()


def test_footswitches_and_pots_through_the_same_actions(small_pedal, mock_pins):
    from firmware.testing.mockhw import MockMCP3008
    pedal, engine, cfg = small_pedal()
    c = cfg["controls"]
    adc = MockMCP3008(c["adc_spi_port"], c["adc_spi_device"])
    controls = GpioControls(pedal, c)
    try:
        pin = mock_pins.pin(c["footswitch1"])
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()                     # short press: next
        assert pedal.wait_submitted(1)
        pedal.tick()
        assert engine.chain.current.name == "B"      # no audio running: played at once
        pin = mock_pins.pin(c["footswitch2"])
        pin.drive_low()
        time.sleep(c["hold_time"] + 0.3)     # held: mute
        pin.drive_high()
        assert pedal.wait_submitted(2)
        pedal.tick()
        assert pedal.params.muted and not pedal.params.bypassed
        adc.set(c["pot_level"], 0.25)
        for _ in range(50):
            controls.poll_pots()
            pedal.tick()
        assert pedal.pots["level"] == pytest.approx(0.25, abs=0.011)
    finally:
        controls.close()
        adc.close()


def test_control_messages_are_checked():
    assert check_control({"cmd": "bypass", "on": "off"}) == {"cmd": "bypass", "on": False}
    assert check_control({"cmd": "set", "param": "gate", "value": "-60"})["value"] == -60.0
    for bad, why in (({"cmd": "jump"}, "unknown command"), ({"cmd": "set", "param": "tone", "value": 1}, "unknown control"),
                     ({"cmd": "set", "param": "level", "value": "loud"}, "not a number"),
                     ({"cmd": "mute", "on": "maybe"}, "on/off"), ({"cmd": "select"}, "needs a model")):
        with pytest.raises(MessageError, match=why):
            check_control(bad)


def test_a_model_that_cannot_be_built_is_skipped_by_next_and_prev(small_pedal, caplog, monkeypatch):
    """B loads in the librarian but the engine cannot build it: next goes past it to C,
    prev from C goes past it to A, with one log line naming the file."""
    import logging

    from firmware.engine import engine as engine_mod
    pedal, engine, _ = small_pedal()
    real = engine_mod.chain_mod.make_slot

    def make_slot(mf, *a, **kw):
        if mf.name == "B":
            raise ValueError("no room for it")
        return real(mf, *a, **kw)
    monkeypatch.setattr(engine_mod.chain_mod, "make_slot", make_slot)
    for p in list(pedal.slots.values()):       # forget the neighbours already built
        pedal._drop(p)
    with caplog.at_level(logging.ERROR, logger="firmware.pedal"):
        pedal.submit({"cmd": "next"})
        pedal.tick()
        pedal.tick()
        assert os.path.basename(pedal.current_path) == "c.npz"
        pedal.submit({"cmd": "prev"})
        pedal.tick()
        assert os.path.basename(pedal.current_path) == "a.npz"
    lines = [r.getMessage() for r in caplog.records if "b.npz" in r.getMessage()]
    assert len(lines) == 1 and "cannot be built: no room for it" in lines[0]


def test_a_pot_takes_over_again_only_when_turned_to_the_value_set_elsewhere(small_pedal):
    """The page (or MIDI, or ctl) sets the level to 0.3 while the pot sits at 0.8: the pot's
    small wobbles change nothing; once turned past 0.3 it leads again, without a jump."""
    pedal, engine, _ = small_pedal()

    def pot(v):
        pedal.set_pot("level", v)
        pedal.tick()
        return pedal.pots["level"]

    assert pot(0.8) == 0.8
    pedal.submit({"cmd": "set", "param": "level", "value": 0.3})
    pedal.tick()
    assert pedal.pots["level"] == 0.3
    assert pot(0.78) == 0.3 and pot(0.6) == 0.3        # held: the pot is far from 0.3
    assert pot(0.25) == 0.25                           # passed 0.3 on its way down: it leads
    assert pot(0.4) == 0.4


def test_the_engine_frees_a_dropped_slot_once_it_stops_playing(small_pedal):
    """A drop that arrives while its slot still plays (the pedal's view of the engine is a
    moment old) is kept until the slot is done, never forgotten: no slot leaks."""
    pedal, engine, _ = small_pedal(names="ABCDEF")
    playing = engine.chain.current.id
    engine.handle({"op": "drop", "slot": playing})
    assert playing in engine.slots                      # still playing: kept
    pedal.submit({"cmd": "next"})
    pedal.tick()
    engine.sync()
    assert playing not in engine.slots                  # replaced: freed
    loaded = 0
    for _ in range(20):                                 # stomping through six models: the engine
        pedal.submit({"cmd": "next"})                   # holds only what plays and its neighbours
        pedal.tick()
        pedal.tick()
        engine.sync()
        loaded = max(loaded, len(engine.slots))
    assert loaded <= 4 and len(engine.slots) <= 3

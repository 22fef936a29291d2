"""MIDI: Program Change and Control Change through the [midi] mapping to the pedal's control
messages; continuous controls smoothed like the pots; controllers through the control
channel; the real ALSA sequencer where the kernel has one (skipped without /dev/snd/seq)."""
import logging
import os
import time

import pytest

from firmware.core.config import load_config
from firmware.core.errors import UserError
from firmware.pedal.controls import Pot
from firmware.pedal.midi import MidiConfigError, MidiInput, MidiMap, MidiValue, from_alsa


def cc(control, value, channel=1):
    return {"type": "cc", "channel": channel, "control": control, "value": value}


def program(n, channel=1):
    return {"type": "program", "channel": channel, "program": n}


def mapping(**over):
    return MidiMap(load_config(overrides={"midi": over})["midi"])


def test_program_change_selects_the_model_by_number_base_and_offset():
    m = mapping()
    assert m.map(program(0)) == [("submit", {"cmd": "select", "name": "1"})]      # shown as 1 on most controllers
    assert m.map(program(4)) == [("submit", {"cmd": "select", "name": "5"})]
    m = mapping(program_base=1)
    assert m.map(program(0)) == [] and m.map(program(1)) == [("submit", {"cmd": "select", "name": "1"})]
    m = mapping(program_offset=10)
    assert m.map(program(9)) == [] and m.map(program(12)) == [("submit", {"cmd": "select", "name": "3"})]


def test_channel_filter_omni_by_default():
    assert all(mapping().map(program(2, ch)) for ch in range(1, 17))
    m = mapping(channel=5)
    assert m.map(program(2, 4)) == [] and m.map(cc(102, 127, 6)) == []
    assert m.map(program(2, 5)) and m.map(cc(102, 127, 5)) == [("submit", {"cmd": "next"})]


def test_switches_momentary_and_latching():
    m = mapping()                           # momentary: the press counts, the release does not
    assert m.map(cc(102, 127)) == [("submit", {"cmd": "next"})] and m.map(cc(102, 0)) == []
    assert m.map(cc(103, 100)) == [("submit", {"cmd": "prev"})]
    assert m.map(cc(104, 127)) == [("submit", {"cmd": "bypass"})] and m.map(cc(104, 0)) == []
    assert m.map(cc(105, 127)) == [("submit", {"cmd": "mute"})]
    assert m.map(cc(106, 64)) == [("submit", {"cmd": "tuner"})] and m.map(cc(106, 63)) == []
    m = mapping(switch_mode="latching")    # every message a press; the value is the state
    assert m.map(cc(104, 127)) == [("submit", {"cmd": "bypass", "on": True})]
    assert m.map(cc(104, 0)) == [("submit", {"cmd": "bypass", "on": False})]
    assert m.map(cc(106, 0)) == [("submit", {"cmd": "tuner", "on": False})]
    assert m.map(cc(102, 0)) == [("submit", {"cmd": "next"})]
    assert mapping().map(cc(64, 127)) == []                        # not mapped


def test_expression_and_volume_pedals_are_continuous():
    m = mapping()
    assert m.map(cc(11, 127)) == [("pot", "drive", 1.0)]
    assert m.map(cc(7, 0)) == [("pot", "level", 0.0)]
    assert m.map(cc(12, 64)) == [("pot", "knob2", 64 / 127)]
    assert m.map(cc(13, 127)) == [("pot", "gate", 1.0)]
    m = mapping(cc_drive=4, cc_level=-1)
    assert m.map(cc(4, 127)) == [("pot", "drive", 1.0)] and m.map(cc(7, 10)) == [] and m.map(cc(11, 10)) == []


def test_the_rig_on_ccs_parameters_over_their_range_and_blocks_as_switches():
    m = mapping(cc_rig={"14": "bass", "15": "delay.time_ms", "80": "delay"}, cc_tap=85)
    assert m.map(cc(14, 127)) == [("submit", {"cmd": "set", "param": "tonestack.bass", "value": 1.0})]
    assert m.map(cc(15, 0)) == [("submit", {"cmd": "set", "param": "delay.time_ms", "value": 20.0})]
    assert m.map(cc(80, 127)) == [("submit", {"cmd": "toggle", "block": "delay"})] and m.map(cc(80, 0)) == []
    assert m.map(cc(85, 127)) == [("submit", {"cmd": "tap"})] and m.map(cc(85, 0)) == []
    m = mapping(cc_rig={"80": "delay"}, switch_mode="latching")
    assert m.map(cc(80, 0)) == [("submit", {"cmd": "toggle", "block": "delay", "on": False})]


def test_bad_rig_mappings_are_refused():
    for table, why in (({"11": "bass"}, "CC 11 is already drive"), ({"200": "bass"}, "not a CC number"),
                       ({"20": "flanger"}, "CC 20: unknown parameter 'flanger'"), ({"x": "bass"}, "not a CC number")):
        with pytest.raises(MidiConfigError, match=why):
            mapping(cc_rig=table)


def test_bad_mappings_are_refused():
    for over, why in (({"cc_next": 11}, "CC 11 is already next"), ({"channel": 17}, "0 \\(omni\\) or 1-16"),
                      ({"program_base": 2}, "0 or 1"), ({"switch_mode": "toggle"}, "momentary or latching"),
                      ({"cc_bypass": 128}, "0-127")):
        with pytest.raises(MidiConfigError, match=why):
            mapping(**over)


def test_alsa_events_are_read_as_messages():
    alsa_midi = pytest.importorskip("alsa_midi")
    assert from_alsa(alsa_midi.ControlChangeEvent(channel=0, param=11, value=90)) == cc(11, 90, 1)
    assert from_alsa(alsa_midi.ProgramChangeEvent(channel=15, value=7)) == program(7, 16)
    assert from_alsa(alsa_midi.NoteOnEvent(note=60, velocity=100, channel=0)) is None


class FakePedal:
    """Records what MIDI submits, and what set_pot would send."""

    def __init__(self, entries=3):
        self.entries = [{}] * entries
        self.sent = []

    def submit(self, msg):
        self.sent.append(msg)

    def set_pot(self, role, v):
        self.sent.append({"cmd": "set", "param": role, "value": v})


def test_continuous_controls_are_smoothed_like_the_pots():
    cfg = load_config()
    pedal = FakePedal()
    midi = MidiInput(pedal, cfg["midi"], cfg["controls"], sequencer=False)
    ref = Pot(MidiValue(), "drive", cfg["controls"]["pot_smoothing"], 0.5 / 127)
    midi.handle(cc(11, 0))
    ref.device.value = 0.0
    sent = []
    for step in range(60):
        if step == 5:                       # the pedal goes to the floor at once
            midi.handle(cc(11, 127))
            ref.device.value = 1.0
        midi.poll_pots()
        v = ref.poll()
        if v is not None:
            sent.append(v)
    got = [m["value"] for m in pedal.sent if m["param"] == "drive"]
    assert got == sent                      # the pots' own smoothing, value for value
    assert got[-1] == 1.0 and 0.0 < got[1] < 0.5     # it glides, and arrives
    assert not midi.moving                  # nothing polled once it has arrived


def test_a_program_outside_the_setlist_is_logged_not_sent(caplog):
    cfg = load_config()
    pedal = FakePedal(entries=3)
    midi = MidiInput(pedal, cfg["midi"], cfg["controls"], sequencer=False)
    with caplog.at_level(logging.INFO, logger="firmware.pedal.midi"):
        midi.handle(program(3))
        midi.handle(program(2))
    assert pedal.sent == [{"cmd": "select", "name": "3"}]
    assert "no model 4 (the setlist has 3)" in caplog.text


def test_controllers_pulled_are_dropped_with_a_log_line(caplog):
    alsa_midi = pytest.importorskip("alsa_midi")
    cfg = load_config()
    midi = MidiInput(FakePedal(), cfg["midi"], cfg["controls"], sequencer=False)
    midi.ports = {(24, 0): "FS-1:FS-1 MIDI 1", (24, 1): "FS-1:FS-1 MIDI 2", (28, 0): "Pedal:Pedal MIDI 1"}
    with caplog.at_level(logging.INFO, logger="firmware.pedal.midi"):
        midi.handle_alsa(alsa_midi.PortExitEvent(addr=(28, 0)))
        midi.handle_alsa(alsa_midi.ClientExitEvent(addr=(24, 0)))
    assert midi.ports == {}
    assert caplog.text.count("is gone") == 3


@pytest.fixture
def midi_pedal(small_pedal):
    """The small pedal with its MIDI input (no sequencer): (pedal, engine)."""
    pedal, engine, cfg = small_pedal()
    pedal.midi = MidiInput(pedal, cfg["midi"], cfg["controls"], sequencer=False).start()
    yield pedal, engine
    pedal.midi.close()


def run_until(pedal, done, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pedal.tick()
        if done():
            return True
        time.sleep(0.01)
    return False


def test_midi_through_the_control_channel_reaches_the_pedal(midi_pedal):
    """`{"cmd": "midi"}` (`tubeless ctl midi`, the web page, the real-time bench's storm)
    goes through the same mapping and smoothing as a controller."""
    pedal, engine = midi_pedal
    r = pedal.handle({"cmd": "midi", "events": [program(2), cc(106, 127), cc(7, 32)]})
    assert r == {"ok": True, "events": 3}
    assert run_until(pedal, lambda: engine.chain.current.name == "C" and pedal.tuning
                     and abs(pedal.pots.get("level", -1) - 32 / 127) < 0.002)
    assert pedal.params.muted                           # the tuner mutes
    pedal.handle({"cmd": "midi", "events": [cc(106, 127)]})
    assert run_until(pedal, lambda: not pedal.tuning and not pedal.params.muted)
    s = pedal.status()["midi"]
    assert s["events"] == 4 and s["actions"] == 4 and s["sequencer"] is False
    r = pedal.handle({"cmd": "midi", "events": [{"type": "cc", "control": 200, "value": 1}]})
    assert not r["ok"] and "control must be a whole number 0..127" in r["error"]


def test_midi_off_says_so(tmp_path):
    from firmware.testing.pedal import local_pedal
    cfg = load_config(overrides={"models": {"directory": str(tmp_path)}})
    p, _, _ = local_pedal(cfg, tmp_path / "cache")
    r = p.handle({"cmd": "midi", "events": [cc(11, 3)]})
    assert not r["ok"] and "MIDI is off" in r["error"]


def test_ctl_midi_words():
    from firmware.ipc.commands import midi_message
    assert midi_message(["cc", "11", "100"]) == {"cmd": "midi", "events": [{"type": "cc", "control": 11, "value": 100}]}
    assert midi_message(["program", "3", "2"])["events"] == [{"type": "program", "program": 3, "channel": 2}]
    for bad in ([], ["cc", "11"], ["note", "60", "1"], ["cc", "a", "b"]):
        with pytest.raises(UserError, match="usage"):
            midi_message(bad)


@pytest.mark.skipif(not os.path.exists("/dev/snd/seq"), reason="no ALSA sequencer (/dev/snd/seq) here")
def test_a_controller_on_the_real_sequencer_is_picked_up_and_dropped(midi_pedal, caplog):
    """A software controller (a sequencer client with an output port) appears after the
    pedal started, sends a Program Change and an expression sweep, and goes away."""
    alsa_midi = pytest.importorskip("alsa_midi")
    pedal, engine = midi_pedal
    pedal.midi.close()
    cfg = load_config()
    with caplog.at_level(logging.INFO, logger="firmware.pedal.midi"):
        pedal.midi = MidiInput(pedal, cfg["midi"], cfg["controls"], sequencer=True).start()
        assert run_until(pedal, lambda: pedal.midi.client is not None)
        ctl = alsa_midi.SequencerClient("test foot controller")
        try:
            port = ctl.create_port("out", caps=alsa_midi.READ_PORT, type=alsa_midi.PortType.MIDI_GENERIC)
            assert run_until(pedal, lambda: (ctl.client_id, port.port_id) in pedal.midi.ports)
            ctl.event_output(alsa_midi.ProgramChangeEvent(channel=0, value=1), port=port)
            ctl.event_output(alsa_midi.ControlChangeEvent(channel=0, param=11, value=127), port=port)
            ctl.drain_output()
            assert run_until(pedal, lambda: engine.chain.current.name == "B" and pedal.pots.get("drive") == 1.0)
        finally:
            ctl.close()
        assert run_until(pedal, lambda: not pedal.midi.ports)
    assert "listening to test foot controller:out" in caplog.text and "is gone" in caplog.text

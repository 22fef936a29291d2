"""Presets on the pedal (firmware.pedal.recall): a recall changes only what differs, the
next preset's model is loaded in advance, tails ring on, a missing model is one line, the
footswitch, MIDI and the control channel pick presets, banks and snapshots, saving, the
state file, files changed under the pedal, and the setlist as it was without presets."""
import logging
import time

import numpy as np
import pytest

from firmware.ipc import shared as sh
from firmware.ipc.commands import check_control
from firmware.presets import format as fmt
from helpers import SR, guitar_like

SOLO = '''\
amp = "b.npz"
[controls]
drive = 0.7
level = 0.6
gate = -70
[rig.delay]
on = true
time_ms = 250
[rig.boost]
on = true
gain_db = 6
'''


def write_preset(pedal, name, text):
    d = pedal.presets.directory
    import os
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{name}.toml"), "w", encoding="utf-8") as f:
        f.write(text)


def ask(pedal, **req):
    return pedal.handle(check_control(req))


def loads(engine, calls):
    """The engine's `load` messages, counted by wrapping its handle()."""
    real = engine.handle

    def handle(msg):
        if msg.get("op") == "load":
            calls.append(msg["name"])
        return real(msg)
    engine.handle = handle


@pytest.fixture
def bank_pedal(small_pedal):
    """Models A, B, C; presets verse (A, reverb), chorus (A, delay, more bass), solo (B, boost):
    the bank Sunday in that order, verse playing."""
    pedal, engine, cfg = small_pedal()
    write_preset(pedal, "verse", 'amp = "a.npz"\n[rig.reverb]\non = true\nmix = 0.3\n')
    write_preset(pedal, "chorus", 'amp = "a.npz"\nunknown_key = "kept"\n[rig.delay]\non = true\n'
                                  '[rig.tonestack]\nbass = 0.8\n[[snapshots]]\nname = "big"\n'
                                  '[snapshots.rig.delay]\nmix = 0.6\n[snapshots.controls]\nlevel = 0.9\n')
    write_preset(pedal, "solo", SOLO)
    import os
    os.makedirs(os.path.join(pedal.presets.directory, "banks"), exist_ok=True)
    with open(os.path.join(pedal.presets.directory, "banks", "Sunday.txt"), "w") as f:
        f.write("verse\nchorus\nsolo\n")
    pedal.poll_presets(force=True)
    assert ask(pedal, cmd="preset", name="verse")["ok"]
    pedal._prepare_neighbours()
    return pedal, engine, cfg


def test_a_preset_on_the_same_amp_reloads_nothing_and_sets_every_parameter(bank_pedal):
    pedal, engine, _ = bank_pedal
    slot = engine.chain.current
    calls = []
    loads(engine, calls)
    reply = ask(pedal, cmd="preset", name="chorus")
    assert reply["ok"] and reply["preset"] == "chorus" and reply["bank"] == "Sunday"
    assert engine.chain.current is slot and calls == []            # the same amp keeps playing
    blocks = engine.chain.rig.blocks
    assert blocks["delay"].on and not blocks["reverb"].on and blocks["tonestack"].get("bass") == 0.8
    assert blocks["reverb"].get("mix") == 0.2                       # not in chorus: the default, not verse's 0.3
    assert pedal.status(brief=True)["preset"] == "chorus"


def test_the_next_presets_model_is_loaded_in_advance_and_plays_at_once(bank_pedal):
    pedal, engine, _ = bank_pedal
    assert ask(pedal, cmd="preset", name="chorus")["ok"]
    pedal._prepare_neighbours()
    b = next(r for r in pedal.slots.values() if r.path.endswith("b.npz"))   # solo's amp, next in the bank
    calls = []
    loads(engine, calls)
    reply = ask(pedal, cmd="next")                                  # footswitch 1's message
    assert reply["ok"] and reply["preset"] == "solo" and reply["selected"]["file"] == "b.npz"
    assert engine.chain.current.id == b.id and calls == []          # played from the slot loaded before
    assert engine.chain.rig.blocks["boost"].get("gain_db") == 6.0 and pedal.params.rig.is_on("boost")
    assert ask(pedal, cmd="prev")["preset"] == "chorus" and ask(pedal, cmd="next")["preset"] == "solo"
    assert ask(pedal, cmd="next")["preset"] == "verse"              # round the bank
    assert pedal.pots["drive"] == 0.5 and pedal._pickup["drive"] == 0.5   # verse has none: the config's


def test_a_missing_model_is_one_line_and_the_rest_plays(bank_pedal, caplog):
    pedal, engine, _ = bank_pedal
    write_preset(pedal, "ghost", 'amp = "Gone.nam"\ndrive_model = "Also gone.nam"\n[rig.delay]\non = true\n')
    pedal.poll_presets(force=True)
    playing = engine.chain.current
    with caplog.at_level(logging.WARNING, logger="firmware.pedal"):
        reply = ask(pedal, cmd="preset", name="ghost")
    assert reply["ok"] and engine.chain.current is playing and engine.chain.rig.blocks["delay"].on
    lines = [r.getMessage() for r in caplog.records]
    assert any("preset ghost: no model Gone.nam in the library: the rest of it plays" in m for m in lines)
    assert any("Also gone.nam" in m for m in lines) and all("\n" not in m for m in lines)


def test_snapshots_change_parameters_only(bank_pedal):
    pedal, engine, _ = bank_pedal
    ask(pedal, cmd="preset", name="chorus")
    slot = engine.chain.current
    reply = ask(pedal, cmd="snapshot", n=1)
    assert reply["ok"] and reply["snapshot"] == 1 and engine.chain.current is slot
    assert engine.chain.rig.blocks["delay"].get("mix") == 0.6 and pedal.pots["level"] == 0.9
    assert engine.chain.rig.blocks["tonestack"].get("bass") == 0.8                 # the preset's, under it
    assert ask(pedal, cmd="snapshot", n="next")["snapshot"] == 0                  # round: its own settings
    assert engine.chain.rig.blocks["delay"].get("mix") == 0.3
    reply = ask(pedal, cmd="snapshot", n=2)
    assert not reply["ok"] and "has 1 snapshot(s), no snapshot 2" in reply["error"]


def test_midi_program_change_picks_preset_n_and_ccs_the_bank_and_snapshot(small_pedal):
    from firmware.pedal.midi import MidiInput
    pedal, engine, cfg = small_pedal(overrides={"midi": {"cc_bank": 20, "cc_snapshot": 21}})
    for i, amp in enumerate("abc"):
        write_preset(pedal, f"p{i + 1}", f'amp = "{amp}.npz"\n[[snapshots]]\n[snapshots.rig.delay]\non = true\n')
    pedal.poll_presets(force=True)
    midi = MidiInput(pedal, cfg["midi"], sequencer=False)
    pedal.midi = midi

    def send(*events):
        count = pedal.submitted
        for e in events:
            midi.handle(e)
        pedal.wait_submitted(count + len(events))
        pedal.tick()
    send({"type": "cc", "channel": 1, "control": 20, "value": 0})          # bank 1 ("all"): p1 plays
    assert (pedal.bank.name, pedal.preset.name) == ("all", "p1")
    send({"type": "program", "channel": 1, "program": 2})                   # program 2: the third preset
    assert pedal.preset.name == "p3" and engine.chain.current.name == "C"
    send({"type": "cc", "channel": 1, "control": 21, "value": 1})
    assert pedal.snapshot == 1 and engine.chain.rig.blocks["delay"].on
    send({"type": "cc", "channel": 1, "control": 20, "value": 1})          # bank 2: the setlist
    assert pedal.bank.name == "setlist" and not pedal.preset_mode
    send({"type": "program", "channel": 1, "program": 1})                   # models again, as before presets
    assert engine.chain.current.name == "B" and pedal.preset is None


def test_without_presets_the_footswitch_and_program_change_play_the_setlist(small_pedal, mock_pins):
    from firmware.pedal.controls import GpioControls
    pedal, engine, cfg = small_pedal()
    assert pedal.bank.is_setlist and pedal.status(brief=True)["bank"] == "setlist"
    controls = GpioControls(pedal, cfg["controls"])
    try:
        pin = mock_pins.pin(cfg["controls"]["footswitch1"])
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()
        assert pedal.wait_submitted(1)
        pedal.tick()
        assert engine.chain.current.name == "B" and pedal.preset is None
    finally:
        controls.close()


def test_footswitch_one_walks_the_bank_and_both_held_save(bank_pedal, mock_pins):
    from firmware.pedal.controls import GpioControls
    pedal, engine, cfg = bank_pedal
    c = dict(cfg["controls"], hold_time=0.1, save_hold_s=0.4)
    controls = GpioControls(pedal, c)
    fs1, fs2 = mock_pins.pin(c["footswitch1"]), mock_pins.pin(c["footswitch2"])
    try:
        fs1.drive_low()
        time.sleep(0.03)
        fs1.drive_high()                                     # short: the next preset
        assert pedal.wait_submitted(1)
        pedal.tick()
        assert pedal.preset.name == "chorus"
        ask(pedal, cmd="set", param="bass", value=0.3)
        count = pedal.submitted
        fs1.drive_low()
        fs2.drive_low()                                      # both held: save, neither's own action
        time.sleep(0.8)
        fs1.drive_high()
        fs2.drive_high()
        time.sleep(0.1)
        assert pedal.wait_submitted(count + 1)
        assert [pedal.queue.get_nowait().msg["cmd"]] == ["save"] and pedal.queue.empty()
        assert ask(pedal, cmd="save")["ok"]
        assert fmt.read(pedal.presets.path_of("chorus")).settings.rig["tonestack"]["bass"] == 0.3
        count = pedal.submitted
        fs1.drive_low()
        time.sleep(0.3)
        fs1.drive_high()                                     # held alone: the previous preset
        assert pedal.wait_submitted(count + 1)
        pedal.tick()
        assert pedal.preset.name == "verse"
    finally:
        controls.close()


def test_the_snapshots_mode_walks_snapshots(bank_pedal, mock_pins):
    from firmware.pedal.controls import GpioControls
    pedal, engine, cfg = bank_pedal
    ask(pedal, cmd="preset", name="chorus")
    controls = GpioControls(pedal, dict(cfg["controls"], footswitch1_mode="snapshots"))
    try:
        pin = mock_pins.pin(cfg["controls"]["footswitch1"])
        pin.drive_low()
        time.sleep(0.03)
        pin.drive_high()
        assert pedal.wait_submitted(1)
        pedal.tick()
        assert (pedal.preset.name, pedal.snapshot) == ("chorus", 1)
    finally:
        controls.close()


def test_save_and_save_as_write_the_sound_and_keep_unknown_keys(bank_pedal):
    pedal, engine, _ = bank_pedal
    ask(pedal, cmd="preset", name="chorus")
    ask(pedal, cmd="set", param="delay.time_ms", value=500)
    ask(pedal, cmd="toggle", block="reverb", on="on")
    assert ask(pedal, cmd="save")["ok"]
    saved = fmt.read(pedal.presets.path_of("chorus"))
    assert saved.settings.rig["delay"]["time_ms"] == 500.0 and saved.settings.rig["reverb"]["on"]
    assert saved.extra == {"unknown_key": "kept"} and saved.snapshots[0].name == "big" and saved.amp == "a.npz"
    ask(pedal, cmd="snapshot", n=1)
    ask(pedal, cmd="set", param="delay.mix", value=0.1)
    assert ask(pedal, cmd="save")["ok"]                     # into the snapshot: what differs from the preset
    saved = fmt.read(pedal.presets.path_of("chorus"))
    assert saved.snapshots[0].settings.rig == {"delay": {"mix": 0.1}} and saved.settings.rig["delay"]["mix"] == 0.3
    ask(pedal, cmd="select", name="C")
    reply = ask(pedal, **{"cmd": "preset-save-as", "name": "outro"})
    assert reply["ok"] and reply["preset"] == "outro"
    assert fmt.read(pedal.presets.path_of("outro")).amp == "c.npz"
    assert pedal.presets.bank("Sunday").presets == ("verse", "chorus", "solo", "outro")
    reply = ask(pedal, **{"cmd": "preset-save-as", "name": "outro"})
    assert not reply["ok"] and "exists" in reply["error"]
    reply = pedal.handle({"cmd": "preset-save-as", "name": "../x"})          # as the socket brings it
    assert not reply["ok"] and "no leading dot, no /" in reply["error"] and not (pedal.presets.path_of("outro")
                                                                                  .endswith("x.toml"))


def test_the_state_file_remembers_bank_preset_and_snapshot(bank_pedal, tmp_path):
    from firmware.pedal.state import load_state, save_state
    pedal, engine, cfg = bank_pedal
    ask(pedal, cmd="preset", name="solo")
    save_state(tmp_path / "state.json", pedal.state)
    state = load_state(tmp_path / "state.json")
    assert (state["bank"], state["preset"], state["snapshot"]) == ("Sunday", "solo", 0)
    from firmware.testing.pedal import local_pedal
    again, engine2, _ = local_pedal(cfg, str(tmp_path / "cache2"))
    again.state = state
    again.restore()
    assert (again.bank.name, again.preset.name) == ("Sunday", "solo") and engine2.chain.current.name == "B"
    assert engine2.chain.rig.blocks["boost"].on and again.pots["drive"] == 0.7


def test_a_changed_preset_is_recalled_again_and_a_broken_one_is_one_line(bank_pedal, caplog):
    pedal, engine, _ = bank_pedal
    ask(pedal, cmd="preset", name="chorus")
    write_preset(pedal, "chorus", 'amp = "a.npz"\n[rig.delay]\non = true\ntime_ms = 777\n')
    assert pedal.poll_presets(force=True)
    assert engine.chain.rig.blocks["delay"].get("time_ms") == 777.0
    with caplog.at_level(logging.WARNING, logger="firmware.presets"):
        write_preset(pedal, "solo", 'amp = "b.npz"\n[rig.delay]\ntime_ms = 1e9\n')
        pedal.poll_presets(force=True)
        pedal.poll_presets(force=True)
    assert [r.getMessage().count("solo.toml") for r in caplog.records] == [1]
    assert pedal.presets.bank("Sunday").presets == ("verse", "chorus")          # the broken one is not played
    assert pedal.preset.name == "chorus" and engine.chain.rig.blocks["delay"].get("time_ms") == 777.0
    listing = ask(pedal, cmd="presets")
    assert listing["errors"][0]["file"] == "solo.toml" and "1e+09 is outside" in listing["errors"][0]["error"]


# --- the audio: tails and render ------------------------------------------------------------
WET = 'amp = "a.npz"\n[rig.delay]\non = true\ntime_ms = 120\nfeedback = 0.6\nmix = 0.6\n'


def simulate(tmp_path, presets, events, preset="wet", seconds=1.0):
    pytest.importorskip("alsaaudio")
    from firmware.testing.models import write_model
    from firmware.tools.simulate import Simulator
    d = tmp_path / "models"
    d.mkdir(exist_ok=True)
    write_model(d / "a.npz", arch="LSTM", seed=1, gain=0.6, name="A")
    p = tmp_path / "presets"
    p.mkdir(exist_ok=True)
    for name, text in presets.items():
        (p / f"{name}.toml").write_text(text)
    x = np.zeros(int(seconds * SR), np.float32)
    x[int(0.05 * SR):int(0.1 * SR)] = 0.5 * guitar_like(int(0.05 * SR))[:int(0.1 * SR) - int(0.05 * SR)]
    sim = Simulator(d, events=events, preset=preset)
    return sim.run(x), sim


def energy(y, a, b):
    return float(np.sum(y[int(a * SR):int(b * SR)].astype(np.float64) ** 2))


@pytest.mark.usefixtures("mock_pins")
def test_delay_tails_ring_on_into_the_next_preset_and_out_when_it_is_off(tmp_path):
    presets = {"wet": WET, "wetter": WET.replace("mix = 0.6", "mix = 0.6\n[rig.reverb]\non = true"),
               "dry": 'amp = "a.npz"\n'}
    stay, _ = simulate(tmp_path, presets, "")
    on, sim = simulate(tmp_path, presets, "0.3:preset=wetter")
    off, _ = simulate(tmp_path, presets, "0.3:preset=dry")
    assert sim.pedal.preset.name == "wetter"
    assert np.array_equal(stay[:int(0.29 * SR)], on[:int(0.29 * SR)])        # the same until the stomp
    echoes = energy(stay, 0.32, 0.7)
    assert echoes > 1e-4                                                      # the input is silent by then
    assert energy(on, 0.32, 0.7) > 0.8 * echoes                               # the repeats go on under the new sound
    assert energy(off, 0.32, 0.7) > 0.3 * echoes                              # off: the trails ring out ...
    assert energy(off, 0.32, 0.7) < energy(stay, 0.32, 0.7)                   # ... with no new repeats fed
    jump = np.max(np.abs(np.diff(on[int(0.29 * SR):int(0.35 * SR)])))
    assert jump < 2.5 * np.max(np.abs(np.diff(stay[int(0.29 * SR):int(0.35 * SR)]))) + 1e-3   # no click


@pytest.mark.usefixtures("mock_pins")
def test_render_preset_plays_what_simulate_preset_plays(tmp_path):
    from firmware.tools.cli import main
    import soundfile as sf
    y_sim, _ = simulate(tmp_path, {"solo": SOLO.replace("b.npz", "a.npz")}, "", preset="solo", seconds=0.5)
    x = np.zeros(int(0.5 * SR), np.float32)
    x[int(0.05 * SR):int(0.1 * SR)] = 0.5 * guitar_like(int(0.05 * SR))[:int(0.1 * SR) - int(0.05 * SR)]
    sf.write(tmp_path / "in.wav", x, SR, subtype="FLOAT")
    assert main(["render", "--preset", str(tmp_path / "presets" / "solo.toml"), str(tmp_path / "in.wav"),
                 str(tmp_path / "out.wav")]) == 0
    y_render, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert main(["render", str(tmp_path / "models" / "a.npz"), str(tmp_path / "in.wav"),
                 str(tmp_path / "plain.wav")]) == 0
    plain, _ = sf.read(tmp_path / "plain.wav", dtype="float32")
    assert np.max(np.abs(y_render - plain)) > 0.01                           # the preset does something
    assert np.max(np.abs(y_sim - y_render)) < 1e-6                            # only S32 rounding between them


@pytest.mark.usefixtures("mock_pins")
def test_render_preset_turns_knob_2_as_simulate_does(tmp_path):
    """A conditioned capture's second knob (the third pot) as the preset sets it."""
    from firmware.testing.models import write_model
    from firmware.tools.cli import main
    import soundfile as sf
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "k.npz", arch="LSTM", seed=3, knobs=2, name="K")
    rendered = {}
    for knob2 in (0.1, 0.9):
        preset = f'amp = "k.npz"\n[controls]\nknob2 = {knob2}\n'
        y_sim, _ = simulate(tmp_path, {"k": preset}, "", preset="k", seconds=0.5)
        x = np.zeros(int(0.5 * SR), np.float32)
        x[int(0.05 * SR):int(0.1 * SR)] = 0.5 * guitar_like(int(0.05 * SR))[:int(0.1 * SR) - int(0.05 * SR)]
        sf.write(tmp_path / "in.wav", x, SR, subtype="FLOAT")
        out = tmp_path / f"out{knob2}.wav"
        assert main(["render", "--preset", str(tmp_path / "presets" / "k.toml"), str(tmp_path / "in.wav"),
                     str(out)]) == 0
        rendered[knob2], _ = sf.read(out, dtype="float32")
        assert np.max(np.abs(y_sim - rendered[knob2])) < 1e-6
    assert np.max(np.abs(rendered[0.1] - rendered[0.9])) > 1e-3              # the knob does something


def test_simulate_takes_preset_and_snapshot_events():
    from firmware.tools.simulate import SimulationError, parse_events
    ev = parse_events("2.0:preset=Solo hot,3.0:snapshot=2,3.5:snapshot=next,4:bank=2")
    assert [(e.action, e.value) for e in ev] == [("preset", "Solo hot"), ("snapshot", 2), ("snapshot", "next"),
                                                  ("bank", "2")]
    for bad, why in (("1:snapshot=9", "'n' must be 0..8"), ("1:preset", "preset takes =NAME")):
        with pytest.raises(SimulationError, match=why):
            parse_events(bad)
    assert sh.NO_SLOT is not None

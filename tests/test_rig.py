"""The rig around the amp model: its parameter table, the boost, and where each block sits in
the tone chain (checked by what the chain plays, against the blocks run on their own)."""
import numpy as np
import pytest
from helpers import BLOCK, REPO, SR, guitar_like, max_step, process_in_blocks, tone

from firmware.core.errors import MessageError
from firmware.dsp import rig
from firmware.dsp.blocks.boost import Boost
from firmware.dsp.blocks.tonestack import ToneStack
from firmware.dsp.chain import ToneChain
from firmware.testing.models import make_model

QUIET = 0.05          # below the limiter's ceiling everywhere: the chain stays linear


def linear_model():
    return make_model("Linear", seed=3, taps=16)


def chain(**settings):
    c = ToneChain(SR, BLOCK, model=linear_model(), normalize=False, calibrate_input=False, **settings)
    c.set_drive(0.5, immediate=True)      # 0 dB
    return c


# --- the table ---------------------------------------------------------------------------
def test_every_parameter_has_one_name_range_and_default():
    names = rig.names()
    assert len(names) == len(set(names))
    for name in names:
        cls, p = rig.resolve(name)
        assert p.lo <= p.default <= p.hi
        assert rig.check(name, p.default) == (name, p.default)
    assert rig.resolve("bass")[1].name == "bass"                 # the tone stack's short names
    with pytest.raises(MessageError, match=r"unknown parameter 'volume'"):
        rig.check("volume", 1)
    with pytest.raises(MessageError, match=r"tonestack.treble: -1 is outside 0..1"):
        rig.check("treble", -1)
    with pytest.raises(MessageError, match=r"boost.gain_db: 30 is outside 0..24 dB"):
        rig.check("boost.gain_db", 30)


def test_the_targets_of_each_block_are_its_own_slice():
    controls = rig.RigControls()
    controls.set("boost.gain_db", 12.0)
    controls.set("bass", 0.9)
    controls.set_on("boost", True)
    assert controls.values()["boost"] == {"on": True, "gain_db": 12.0, "tight_hz": 120.0}
    assert controls.values()["tonestack"]["bass"] == 0.9
    r = rig.Rig(SR, BLOCK, controls.targets)
    assert r.blocks["boost"].get("gain_db") == 12.0 and r.blocks["tonestack"].get("bass") == 0.9


# --- the boost -----------------------------------------------------------------------------
def test_the_boost_is_gain_after_a_tight_highpass():
    b = Boost(SR, BLOCK)
    b.set_on(True)
    b.set("gain_db", 12.0)
    b.set("tight_hz", 200.0)
    b.settle()
    lows = process_in_blocks(b, tone(SR, 50.0, a=0.1))[SR // 2:]
    highs = process_in_blocks(b, tone(SR, 2000.0, a=0.1))[SR // 2:]
    assert np.max(np.abs(highs)) == pytest.approx(0.1 * 10 ** (12 / 20), rel=0.02)     # +12 dB
    assert np.max(np.abs(lows)) < 0.1 * 10 ** (12 / 20) * 10 ** (-20 / 20)           # 2 octaves below: -24 dB


def test_the_boost_switches_without_a_click():
    b = Boost(SR, BLOCK)
    x = tone(SR, 330.0, a=0.2, fade_in_s=0.05)
    y = np.empty_like(x)
    for s in range(0, len(x), BLOCK):
        if s == 200 * BLOCK:
            b.set_on(True)
        b.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
    assert max_step(y) < 1.2 * max_step(y[-SR // 4:])


# --- the blocks in the chain -----------------------------------------------------------------
def test_the_post_tone_stack_is_applied_to_what_the_model_and_ir_play():
    x = (QUIET * guitar_like(SR)).astype(np.float32)
    plain = chain()
    plain.rig.set_on("tonestack", False)
    plain.rig.settle()
    reference = ToneStack(SR, BLOCK)
    reference.set("bass", 0.8)
    reference.set("treble", 0.2)
    reference.settle()
    want = process_in_blocks(reference, process_in_blocks(plain, x))
    shaped = chain()
    shaped.rig.set("bass", 0.8)
    shaped.rig.set("treble", 0.2)
    shaped.rig.settle()
    got = process_in_blocks(shaped, x)
    assert np.max(np.abs(got - want)) < 1e-5
    assert np.max(np.abs(got - process_in_blocks(chain(), x))) > 1e-3     # and it did change the sound


def test_the_pre_tone_stack_and_the_boost_play_into_the_model():
    x = (QUIET * guitar_like(SR)).astype(np.float32)
    pre = ToneStack(SR, BLOCK)
    pre.set("mid", 0.9)
    pre.settle()
    boost = Boost(SR, BLOCK)
    boost.set_on(True)
    boost.settle()
    shaped_input = process_in_blocks(boost, x)
    shaped_input = process_in_blocks(pre, shaped_input)
    plain = chain()
    plain.rig.set_on("tonestack", False)
    plain.rig.settle()
    want = process_in_blocks(plain, shaped_input)
    c = chain(tonestack_position="pre")
    c.rig.set("mid", 0.9)
    c.rig.set_on("boost", True)
    c.rig.settle()
    assert np.max(np.abs(process_in_blocks(c, x) - want)) < 1e-5


def test_bypass_plays_the_dry_guitar_whatever_the_rig_does():
    x = (QUIET * guitar_like(SR // 2)).astype(np.float32)
    c = chain()
    c.rig.set_on("boost", True)
    c.rig.set("bass", 1.0)
    c.rig.settle()
    c.set_bypass(True, immediate=True)
    assert np.max(np.abs(process_in_blocks(c, x) - x)) < 1e-7


def test_the_default_rig_leaves_the_sound_as_it_was():
    # the tone stack is on by default but flat: the chain plays what it played before the rig
    x = (QUIET * guitar_like(SR)).astype(np.float32)
    off = chain()
    off.rig.set_on("tonestack", False)
    off.rig.settle()
    assert np.max(np.abs(process_in_blocks(chain(), x) - process_in_blocks(off, x))) < 1e-6


# --- every block is a control: the pedal, render --set, simulate ---------------------------
def test_set_and_toggle_through_the_pedal_reach_the_engines_blocks(small_pedal):
    from firmware.ipc.commands import check_control
    pedal, engine, _ = small_pedal()
    for req in ({"cmd": "set", "param": "bass", "value": 0.8}, {"cmd": "set", "param": "boost.gain_db", "value": 6},
                {"cmd": "toggle", "block": "boost"}, {"cmd": "toggle", "block": "tonestack", "on": "off"}):
        assert pedal.handle(check_control(req))["ok"]
    blocks = engine.chain.rig.blocks
    assert blocks["tonestack"].get("bass") == 0.8 and not blocks["tonestack"].on
    assert blocks["boost"].get("gain_db") == 6.0 and blocks["boost"].on
    assert pedal.status()["rig"]["boost"] == {"on": True, "gain_db": 6.0, "tight_hz": 120.0}
    assert pedal.state["rig"] == {"tonestack.bass": 0.8, "boost.gain_db": 6.0, "boost": True, "tonestack": False}
    reply = pedal.handle({"cmd": "set", "param": "delay.nope", "value": 1})
    assert not reply["ok"] and reply["error"].count("\n") == 0


def test_the_rig_is_restored_from_the_state_file_and_bad_entries_are_left_out(tmp_path, small_pedal, caplog):
    from firmware.pedal.state import save_state
    pedal, _, cfg = small_pedal()
    state = tmp_path / "state.json"
    save_state(state, {"model": None, "rig": {"treble": 0.9, "boost": True, "tonestack.bass": 7, "flanger": True}})
    pedal.state_path = str(state)
    from firmware.pedal.state import load_state
    pedal.state = load_state(state)
    with caplog.at_level("WARNING", logger="firmware.pedal"):
        pedal.restore()
    assert pedal.params.rig.get("treble") == 0.9 and pedal.params.rig.is_on("boost")
    assert pedal.params.rig.get("bass") == 0.5                              # 7 is out of range: not restored
    assert sum("not restored" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.usefixtures("mock_pins")
def test_render_set_plays_what_simulate_set_plays(tmp_path):
    pytest.importorskip("alsaaudio")
    from firmware.importers.loader import load
    from firmware.testing.models import write_model
    from firmware.tools.render import render_with_chain
    from firmware.tools.rigopts import rig_settings
    from firmware.tools.simulate import Simulator
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a.npz", arch="LSTM", seed=1, gain=0.6, name="A")
    x = (0.4 * guitar_like(SR // 2)).astype(np.float32)
    settings = rig_settings(["bass=0.8", "treble=0.3", "boost=on", "boost.gain_db=6"])
    y_sim = Simulator(d, settings=settings).run(x)
    y_render = render_with_chain(load(d / "a.npz"), x, block=64, sample_rate=SR, rig_settings=settings)
    plain = render_with_chain(load(d / "a.npz"), x, block=64, sample_rate=SR)
    assert np.max(np.abs(y_render - plain)) > 0.01                         # the settings do something
    assert np.max(np.abs(y_sim - y_render)) < 1e-6                          # only S32 rounding between them


@pytest.mark.usefixtures("mock_pins")
def test_simulate_events_turn_knobs_and_switch_blocks(tmp_path):
    pytest.importorskip("alsaaudio")
    from firmware.testing.models import write_model
    from firmware.tools.simulate import SimulationError, Simulator, parse_events
    ev = parse_events("0.1:bass=0.7,0.2:boost=on,0.3:boost.tight_hz=300")
    assert [(e.action, e.value) for e in ev] == [("tonestack.bass", 0.7), ("boost", True), ("boost.tight_hz", 300.0)]
    for bad, why in (("1:bass=2", "tonestack.bass: 2 is outside 0..1"), ("1:boost=maybe", "boost takes on or off"),
                     ("1:flanger=on", "unknown parameter 'flanger'")):
        with pytest.raises(SimulationError, match=why):
            parse_events(bad)
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a.npz", arch="Linear", seed=1, name="A")
    sim = Simulator(d, events="0.1:bass=0.7,0.2:boost=on")
    sim.run((0.1 * guitar_like(SR // 2)).astype(np.float32))
    assert sim.engine.chain.rig.blocks["tonestack"].get("bass") == 0.7
    assert sim.engine.chain.rig.blocks["boost"].on


def test_render_set_errors_are_one_line(tmp_path):
    from helpers import run_tubeless
    x = tmp_path / "x.wav"
    import soundfile as sf
    sf.write(x, np.zeros(4800, np.float32), SR)
    model = tmp_path / "m.npz"
    from firmware.testing.models import write_model
    write_model(model, arch="Linear", seed=1)
    for opt, why in (("bass=3", "tonestack.bass: 3 is outside 0..1"), ("bass", "expected NAME=VALUE"),
                     ("reverb.size=1", "reverb has no parameter 'size'"), ("boost=loud", "boost takes on or off")):
        r = run_tubeless("render", str(model), str(x), str(tmp_path / "y.wav"), "--set", opt)
        assert r.returncode == 2 and why in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = run_tubeless("render", str(model), str(x), str(tmp_path / "y.wav"), "--set", "bass=0.9", "--set", "boost=on")
    assert r.returncode == 0, r.stderr


def test_tap_tempo_sets_the_delay_time_from_the_taps(small_pedal):
    pedal, engine, _ = small_pedal()
    assert "tempo_ms" not in pedal.handle({"cmd": "tap", "at": 10.0})          # one tap: no tempo yet
    reply = pedal.handle({"cmd": "tap", "at": 10.45})
    assert reply["tempo_ms"] == pytest.approx(450.0)
    reply = pedal.handle({"cmd": "tap", "at": 10.95})                           # the mean interval of the taps
    assert reply["tempo_ms"] == pytest.approx(475.0)
    assert engine.chain.rig.blocks["delay"].get("time_ms") == pytest.approx(475.0)
    reply = pedal.handle({"cmd": "tap", "at": 20.0})                            # a pause: a new tempo begins
    assert "tempo_ms" not in reply and pedal.params.rig.get("delay.time_ms") == pytest.approx(475.0)


@pytest.mark.usefixtures("mock_pins")
def test_simulated_taps_use_the_audios_clock(tmp_path):
    pytest.importorskip("alsaaudio")
    from firmware.testing.models import write_model
    from firmware.tools.simulate import Simulator
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a.npz", arch="Linear", seed=1, name="A")
    sim = Simulator(d, events="0.1:tap,0.4:tap,0.7:tap,0.8:delay=on")
    sim.run((0.1 * guitar_like(SR)).astype(np.float32))
    delay = sim.engine.chain.rig.blocks["delay"]
    assert delay.on and delay.get("time_ms") == pytest.approx(300.0, abs=1.5)     # within a period of 64


def test_the_config_sets_the_rig_and_the_state_file_overrides_it(small_pedal):
    pedal, engine, _ = small_pedal(overrides={"rig": {"boost": True, "bass": 0.3, "delay": {"on": True,
                                                                                             "time_ms": 250}}})
    assert pedal.params.rig.is_on("boost") and pedal.params.rig.get("bass") == 0.3
    assert engine.chain.rig.blocks["delay"].on and engine.chain.rig.blocks["delay"].get("time_ms") == 250


@pytest.mark.parametrize("table, why", [({"bass": 2}, "rig: tonestack.bass: 2 is outside 0..1"),
                                        ({"delay": {"on": "yes"}}, "rig.delay.on: must be true or false"),
                                        ({"flanger": True}, "unknown parameter 'flanger'")])
def test_a_bad_rig_config_is_one_line(small_pedal, table, why):
    from firmware.core.errors import ConfigError
    with pytest.raises(ConfigError, match=why):
        small_pedal(overrides={"rig": table})


def test_the_docs_parameter_table_is_the_rigs():
    from firmware.core import docsections
    doc = (REPO / "docs" / "rig.md").read_text(encoding="utf-8")
    assert docsections.section(doc, rig.DOC_BEGIN, rig.DOC_END) == rig.markdown(), \
        "docs/rig.md and the rig's table disagree: run `python -m firmware.dsp.rig docs/rig.md`"
    assert docsections.section(doc.replace("`delay.mix`", "`delay.wet`"), rig.DOC_BEGIN, rig.DOC_END) != rig.markdown()


def test_a_state_file_without_a_rig_takes_the_first_change(tmp_path, small_pedal):
    from firmware.pedal.state import load_state
    pedal, _, _ = small_pedal()
    pedal.state = load_state(tmp_path / "none.json")        # {"rig": None, ...} as a new pedal has it
    for req in ({"cmd": "set", "param": "bass", "value": 0.7}, {"cmd": "toggle", "block": "delay"}, {"cmd": "tap"}):
        assert pedal.handle(req)["ok"], req
    assert pedal.state["rig"] == {"tonestack.bass": 0.7, "delay": True}


def test_the_warm_up_compiles_every_block_of_the_rig():
    # in a fresh process: after warm() (which compiles or loads from the cache), a chain with
    # every block switched on and every knob turned adds no compiled kernel (a compile or a
    # cache load on the audio thread would stall it for seconds)
    import subprocess
    import sys
    code = ("import importlib, pkgutil, numba, numpy as np\n"
            "import firmware.dsp as dsp_pkg, firmware.dsp.blocks as blocks_pkg\n"
            "from firmware.dsp.warm import warm\n"
            "from firmware.dsp import rig\n"
            "from firmware.dsp.chain import ToneChain\n"
            "warm()\n"
            "mods = [importlib.import_module(p.__name__ + '.' + m.name) for p in (dsp_pkg, blocks_pkg)\n"
            "        for m in pkgutil.iter_modules(p.__path__)]\n"
            "ds = {id(f): f for m in mods for f in vars(m).values() if isinstance(f, numba.core.registry.CPUDispatcher)}\n"
            "before = {k: len(d.overloads) for k, d in ds.items()}\n"
            "c = ToneChain(48000, 64, ir=np.r_[1.0, np.zeros(500)])\n"
            "x = np.random.default_rng(0).standard_normal(64).astype(np.float32)\n"
            "y = np.empty_like(x)\n"
            "for b in rig.BLOCKS: c.rig.set_on(b.NAME, True)\n"
            "for k in range(200):\n"
            "    for n in rig.names(): c.rig.set(n, rig.resolve(n)[1].lo if k % 2 else rig.resolve(n)[1].hi)\n"
            "    c.process(x, y, 64)\n"
            "for b in rig.BLOCKS: c.rig.set_on(b.NAME, False)\n"
            "for k in range(100): c.process(x, y, 64)\n"
            "new = [ds[k].__name__ for k in ds if len(ds[k].overloads) != before[k]]\n"
            "print('NEW', new)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    assert "NEW []" in out.stdout, out.stdout

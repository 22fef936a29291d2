"""The control commands' one table (firmware.ipc.commands) and what it drives: the checks,
the pedal's handler per command, `tubeless ctl`'s words and usage, the web page's buttons,
and the command list in docs/processes.md."""
from pathlib import Path

import pytest

from firmware.core.errors import MessageError
from firmware.dsp import rig
from firmware.ipc import commands
from firmware.ipc.commands import COMMANDS, check_control, from_words
from firmware.pedal.handlers import HANDLERS

DOC = Path(__file__).resolve().parent.parent / "docs" / "processes.md"

# `tubeless ctl` words that make a valid request of every command: a new command needs one here
EXAMPLES = {"next": [], "prev": [], "select": ["B"], "bypass": ["on"], "mute": ["off"], "set": ["drive", "0.5"],
            "toggle": ["boost"], "tap": [], "status": [], "models": [], "global_ir": [""], "tuner": ["on"],
            "pitch": [], "record": ["off"], "capture": [], "midi": ["cc", "11", "3"], "stomp": ["A"],
            # presets (in this order: the first makes the preset the others use)
            "presets": [], "preset-save-as": ["Verse"], "snapshot": ["0"], "save": [], "preset": ["1"],
            "preset-rename": ["Verse", "Chorus"], "preset-duplicate": ["Chorus", "Bridge"],
            "bank-set": ["Gig", "Bridge", "Chorus"], "bank": ["setlist"], "preset-delete": ["Chorus"]}
KNOWN_CONTROLS = ("(known: drive, level, knob2, gate, bass, mid, treble, presence or BLOCK.PARAM: "
                  + ", ".join(rig.names()) + ")")


def test_the_docs_command_list_is_the_tables():
    section = commands.doc_section(DOC.read_text(encoding="utf-8"))
    assert section is not None, f"{DOC}: no {commands.DOC_BEGIN!r} ... {commands.DOC_END!r} markers"
    assert section == commands.markdown(), \
        f"{DOC} and the command table disagree: run `python -m firmware.ipc.commands {DOC}`"


def test_a_doc_that_lost_a_row_disagrees():
    # the check above on a case whose answer is known
    text = DOC.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith('| `{"cmd": "pitch"}`'))
    assert commands.doc_section(text.replace(row + "\n", "")) != commands.markdown()


def test_every_command_has_one_handler_and_every_handler_a_command():
    assert set(HANDLERS) == set(COMMANDS)
    assert set(EXAMPLES) == set(COMMANDS)


def test_each_command_through_the_pedal_by_its_handler(small_pedal):
    pedal, _, _ = small_pedal()
    for name, words in EXAMPLES.items():
        reply = pedal.handle(check_control(from_words(name, words)))
        assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool), (name, reply)
        if not reply["ok"]:
            assert name == "midi" and "MIDI is off" in reply["error"]      # no MIDI in this pedal
    assert pedal.current_path.endswith("b.npz") and pedal.params.bypassed and pedal.tuning
    assert pedal.handle({"cmd": "fly"}) == {"ok": False, "error": "unknown command 'fly' (known: "
                                            + ", ".join(COMMANDS) + ")"}


def test_checks_normalise_and_refuse_in_one_line():
    assert check_control({"cmd": "bypass", "on": "OFF", "extra": 1}) == {"cmd": "bypass", "on": False}
    assert check_control({"cmd": "tuner"}) == {"cmd": "tuner"}               # left out: toggle
    assert check_control({"cmd": "select", "name": 3}) == {"cmd": "select", "name": "3"}
    assert check_control({"cmd": "set", "param": "gate", "value": "-60"}) == {"cmd": "set", "param": "gate",
                                                                             "value": -60.0}
    assert check_control({"cmd": "midi", "events": [{"type": "program", "program": 3}]})["events"] == \
        [{"type": "program", "channel": 1, "program": 3}]
    for bad, error in (
            ({"cmd": "set", "param": "gate", "value": 5}, "set gate: 5 is outside -100..0"),
            ({"cmd": "set", "param": "drive", "value": None}, "set drive: None is not a number"),
            ({"cmd": "set", "value": 1}, "set: unknown control None " + KNOWN_CONTROLS),
            ({"cmd": "select", "name": True}, "select: needs a model 'name'"),
            ({"cmd": "global_ir", "file": "../x.wav"},
             "global_ir: 'file' must be a file name in the models folder's irs/, or \"\""),
            ({"cmd": "midi", "events": []}, "midi: 'events' must be a non-empty list"),
            # JSON that is no name at all: refused like any wrong value, not a TypeError
            ({"cmd": ["next"]}, "unknown command ['next'] (known: " + ", ".join(COMMANDS) + ")"),
            ({"cmd": "mute", "on": [1]}, "mute: 'on' must be on/off, got [1]"),
            ({"cmd": "set", "param": {}, "value": 1}, "set: unknown control {} " + KNOWN_CONTROLS),
            ({"cmd": "midi", "events": [{"type": ["cc"]}]},
             "midi: an event must be an object with type cc or program")):
        with pytest.raises(MessageError) as e:
            check_control(bad)
        assert str(e.value) == error


def test_ctl_words_and_usage():
    assert commands.ctl_usage() == (
        "next | prev | select NAME | stomp NAME|none | bypass [on|off] | mute [on|off] | set drive|level|knob2|gate|BLOCK.PARAM VALUE | "
        "toggle BLOCK [on|off] | tap | status | "
        "models [TEXT] | record [on|off] | capture [start [KNOB=V[,KNOB=V]]...|continue|abort] | tuner [on|off] (without: a live line until Ctrl-C) | pitch | midi cc CONTROL VALUE [CHANNEL] | "
        "midi program N [CHANNEL] | preset NAME|N|next|prev | snapshot N|next|prev | bank NAME|N | presets | save | "
        "preset-save-as NAME | preset-rename NAME NEW | preset-delete NAME | preset-duplicate NAME NEW | "
        "bank-set NAME PRESET...")
    assert from_words("set", ["level", "0.3"]) == {"cmd": "set", "param": "level", "value": "0.3"}
    assert from_words("bypass", []) == {"cmd": "bypass"}
    assert from_words("midi", ["program", "3", "2"]) == {"cmd": "midi", "events": [{"type": "program", "program": 3,
                                                                                    "channel": 2}]}
    for name, words, usage in (("select", [], "usage: tubeless ctl select NAME"),
                               ("set", ["drive"], "usage: tubeless ctl set PARAM VALUE"),
                               ("bypass", ["on", "off"], "usage: tubeless ctl bypass ON"),
                               ("status", ["x"], "usage: tubeless ctl status"),
                               ("midi", ["cc", "11"], "usage: tubeless ctl midi cc CONTROL VALUE [CHANNEL] | "
                                                      "midi program N [CHANNEL]")):
        with pytest.raises(MessageError) as e:
            from_words(name, words)
        assert str(e.value) == usage
    with pytest.raises(MessageError, match="unknown command 'fly'"):
        from_words("fly", [])


def test_the_web_pages_buttons_and_requests_come_from_the_table():
    assert commands.PAGE_COMMANDS == ("next", "prev", "stomp", "bypass", "mute", "set", "toggle", "tap", "record", "capture", "tuner",
                                      "preset", "snapshot", "bank", "save", "preset-save-as", "preset-rename",
                                      "preset-delete", "preset-duplicate", "bank-set")
    assert commands.request("select", name="x") == {"cmd": "select", "name": "x"}
    with pytest.raises(TypeError):
        commands.request("select", file="x")          # a name the table does not know
    with pytest.raises(MessageError):
        commands.request("sellect", name="x")


def test_capture_words_and_their_checks():
    assert from_words("capture", []) == {"cmd": "capture"}
    assert from_words("capture", ["start", "gain=2", "gain=8"]) == \
        {"cmd": "capture", "action": "start", "takes": ["gain=2", "gain=8"]}
    assert check_control(from_words("capture", ["abort"])) == {"cmd": "capture", "action": "abort"}
    for bad in ({"cmd": "capture", "action": "explode"}, {"cmd": "capture", "takes": "gain=2"},
                {"cmd": "capture", "takes": ["x"] * 33}, {"cmd": "capture", "dial_max": 0}):
        with pytest.raises(MessageError):
            check_control(bad)

"""Record what you play (issue 25): the DI and the pedal's output as two WAVs, sample-aligned.

- The engine's audio loop leaves its input and output in the shared rings; a recording
  holds exactly those samples from the block it started at, mono and stereo.
- It stops itself, whole and saying why, when the writer falls behind the ring, when the
  card is nearly full and at its longest; it refuses to start without room.
- A kill -9 in the middle leaves both files readable up to the last second.
- `record` (ctl, the page), MIDI cc_record and the footswitches start and stop it.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from firmware.core.errors import ConfigError, RecordError
from firmware.dsp import kernels as dsp
from firmware.ipc import shared as sh
from firmware.pedal import recorder as rec
from firmware.pedal.recorder import Recorder

RATE = 48000
P = 64


def feed(shared, x, out, out_r=None):
    """What the audio thread does per block: the rings, then INPUT_POS."""
    pos = int(shared.counters[sh.INPUT_POS])
    for k in range(0, len(x), P):
        n = min(P, len(x) - k)
        r = out if out_r is None else out_r
        dsp.ring_write_block(x[k:k + n], out[k:k + n], r[k:k + n], n, shared.input, shared.output, shared.output_r,
                             pos + k, out_r is not None)
        shared.counters[sh.INPUT_POS] = pos + k + n


def signal_pair(n, seed=0):
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, n).astype(np.float32)
    return x, np.tanh(3 * x).astype(np.float32)


def read(path):
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == RATE
    return data


def wait_for(cond, timeout=10.0):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_a_recording_holds_what_was_played_from_its_start_sample_for_sample(tmp_path):
    shared = sh.SharedBlock()
    x, y = signal_pair(3 * RATE)
    feed(shared, x[:RATE // 2], y[:RATE // 2])                # before the start: not recorded
    r = Recorder(shared, RATE, str(tmp_path / "rec"), poll_s=0.01, sync_s=0.05)
    name = r.start({"model": "amp.nam"})
    assert r.start() == name and r.recording()                # on again: the same recording
    assert json.loads((tmp_path / "rec" / name / "recording.json").read_text())["finished"] is False
    for k in range(RATE // 2, len(x), RATE // 4):             # played in pieces while it copies
        feed(shared, x[k:k + RATE // 4], y[k:k + RATE // 4])
        time.sleep(0.02)
    summary = r.stop()
    folder = tmp_path / "rec" / name
    di, out = read(folder / "di.wav"), read(folder / "out.wav")
    assert di.shape == out.shape == (len(x) - RATE // 2, 1)
    assert np.array_equal(di[:, 0], x[RATE // 2:]) and np.array_equal(out[:, 0], y[RATE // 2:])
    meta = json.loads((folder / "recording.json").read_text())
    assert meta["frames"] == len(di) and meta["stopped"] is None and meta["model"] == "amp.nam" and meta["finished"]
    assert summary["frames"] == len(di) and not r.recording() and r.status()["name"] == name


def test_stereo_out_records_both_channels(tmp_path):
    shared = sh.SharedBlock()
    x, y = signal_pair(RATE, seed=1)
    right = (-0.5 * y).astype(np.float32)
    r = Recorder(shared, RATE, str(tmp_path), stereo=True, poll_s=0.01)
    name = r.start()
    feed(shared, x, y, right)
    r.stop()
    out = read(tmp_path / name / "out.wav")
    assert out.shape == (RATE, 2) and np.array_equal(out[:, 0], y) and np.array_equal(out[:, 1], right)
    assert np.array_equal(read(tmp_path / name / "di.wav")[:, 0], x)


def test_the_engine_leaves_its_input_and_output_for_the_recorder(small_pedal):
    """The real audio loop (an IO of the test's own instead of ALSA): what the device read
    is di.wav, what was written to it is out.wav, sample for sample."""
    pedal, engine, cfg = small_pedal("A")
    x, _ = signal_pair(RATE // 2, seed=2)
    written = []

    class IO:
        def __init__(self):
            self.k = 0

        def prime(self):
            pass

        def read(self, buf):
            buf[:P] = x[self.k:self.k + P]
            self.k += P
            return P

        def write(self, out, n, out_r=None):
            written.append(out[:n].copy())

    engine.io = IO()
    name = pedal.recorder.start()
    engine.audio_loop(max_frames=len(x))
    pedal.recorder.stop()
    folder = os.path.join(os.path.dirname(cfg["models"]["directory"]), "recordings", name)
    di, out = read(os.path.join(folder, "di.wav")), read(os.path.join(folder, "out.wav"))
    assert np.array_equal(di[:, 0], x)
    assert np.array_equal(out[:, 0], np.concatenate(written)) and np.abs(out).max() > 0.01


def test_a_writer_that_falls_behind_the_ring_stops_the_recording_whole(tmp_path):
    shared = sh.SharedBlock()
    r = Recorder(shared, RATE, str(tmp_path), poll_s=0.05)
    name = r.start()
    x, y = signal_pair(RATE // 4)
    feed(shared, x, y)
    assert wait_for(lambda: r.status().get("seconds", 0) >= 0.2)
    big = np.zeros(sh.INPUT_RING, np.float32)
    feed(shared, big, big)                                    # more than the ring before its next look
    assert wait_for(lambda: not r.recording())
    st = r.status()
    assert "fell behind" in st["stopped"] and st["name"] == name
    di = read(tmp_path / name / "di.wav")
    assert np.array_equal(di[:, 0], x)                        # what came before the gap, whole
    assert json.loads((tmp_path / name / "recording.json").read_text())["stopped"] == st["stopped"]


def test_it_stops_before_the_card_is_full_and_refuses_to_start_without_room(tmp_path, monkeypatch):
    shared = sh.SharedBlock()
    free = {"bytes": 10**12}
    monkeypatch.setattr(rec.shutil, "disk_usage", lambda p: type("U", (), {"free": free["bytes"]})())
    r = Recorder(shared, RATE, str(tmp_path), reserve_mb=100, poll_s=0.01, sync_s=0.05)
    name = r.start()
    x, y = signal_pair(RATE // 4)
    feed(shared, x, y)
    assert wait_for(lambda: r.status().get("seconds", 0) >= 0.2)
    free["bytes"] = 99 * 10**6                               # under the reserve
    assert wait_for(lambda: not r.recording())
    assert "nearly full" in r.status()["stopped"]
    assert read(tmp_path / name / "di.wav").shape[0] == read(tmp_path / name / "out.wav").shape[0] >= RATE // 4
    free["bytes"] = 100 * 10**6 + 30 * r.bytes_per_second     # half a minute of room
    with pytest.raises(RecordError, match=r"^cannot record: \d+ MB free, and 100 MB are kept free"):
        r.start()
    assert sorted(os.listdir(tmp_path)) == [name]            # nothing left behind by the refusal


def test_it_stops_at_its_longest(tmp_path):
    shared = sh.SharedBlock()
    r = Recorder(shared, RATE, str(tmp_path), max_minutes=0.5 / 60, poll_s=0.01)   # half a second
    name = r.start()
    x, y = signal_pair(RATE)
    feed(shared, x, y)
    assert wait_for(lambda: not r.recording())
    assert "longest" in r.status()["stopped"]
    assert read(tmp_path / name / "di.wav").shape[0] == RATE // 2


def test_the_limits_are_checked_with_the_config():
    assert rec.record_limits({"record": {"reserve_mb": 50, "max_minutes": 10}}) == {"reserve_mb": 50.0,
                                                                                    "max_minutes": 10.0}
    for bad in ({"reserve_mb": "lots"}, {"max_minutes": 0}, {"reserve_mb": -1}):
        with pytest.raises(ConfigError, match="record.reserve_mb"):
            rec.record_limits({"record": bad})


KILLED = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from test_recorder import RATE, feed, signal_pair
    from firmware.ipc import shared as sh
    from firmware.pedal.recorder import Recorder
    shared = sh.SharedBlock()
    r = Recorder(shared, RATE, sys.argv[1], poll_s=0.02)
    print(r.start(), flush=True)
    x, y = signal_pair(60 * RATE)
    for k in range(0, len(x), RATE // 10):                  # played in real time
        feed(shared, x[k:k + RATE // 10], y[k:k + RATE // 10])
        time.sleep(0.1)
""")


def test_a_kill_in_the_middle_leaves_both_files_readable_up_to_the_last_second(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path), os.path.dirname(__file__)],
                            stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        name = proc.stdout.readline().strip()
        assert name.startswith("rec-"), name
        time.sleep(2.6)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    x, y = signal_pair(60 * RATE)
    di, out = read(tmp_path / name / "di.wav"), read(tmp_path / name / "out.wav")
    n = min(len(di), len(out))
    assert n >= RATE                                           # at least the first second's sync
    assert np.array_equal(di[:n, 0], x[:n]) and np.array_equal(out[:n, 0], y[:n])


# --- starting and stopping it --------------------------------------------------------------
def test_record_toggles_on_the_pedal_and_shows_in_its_status(small_pedal):
    pedal, engine, cfg = small_pedal("A")
    reply = pedal.handle({"cmd": "record"})
    assert reply["ok"] and reply["record"]["on"] and reply["status"]["record"]["on"]
    name = reply["record"]["name"]
    assert pedal.handle({"cmd": "record", "on": True})["record"]["name"] == name
    reply = pedal.handle({"cmd": "record"})
    assert reply["ok"]
    pedal.recorder.stop()
    st = pedal.status(brief=True)["record"]
    assert st == {"on": False, "name": name, "seconds": 0.0, "stopped": None}
    folder = os.path.join(os.path.dirname(cfg["models"]["directory"]), "recordings", name)
    meta = json.loads(open(os.path.join(folder, "recording.json")).read())
    assert meta["model"] == "a.npz" and meta["preset"] is None
    assert pedal.handle({"cmd": "record", "on": "maybe"})["ok"] is False


def test_a_recording_that_cannot_start_is_one_line(small_pedal, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    pedal, engine, cfg = small_pedal("A", overrides={"record": {"directory": str(blocker / "sub")}})
    reply = pedal.handle({"cmd": "record"})
    assert reply["ok"] is False and reply["error"].startswith("cannot record:") and "\n" not in reply["error"]
    assert str(tmp_path) not in reply["error"]                  # no server path


def test_midi_cc_record_is_a_switch():
    from firmware.core.config import load_config
    from firmware.pedal.midi import MidiMap
    m = MidiMap(load_config(overrides={"midi": {"cc_record": 20}})["midi"])
    assert m.map({"type": "cc", "channel": 1, "control": 20, "value": 127}) == [("submit", {"cmd": "record"})]
    assert m.map({"type": "cc", "channel": 1, "control": 20, "value": 0}) == []
    m = MidiMap(load_config(overrides={"midi": {"cc_record": 20, "switch_mode": "latching"}})["midi"])
    assert m.map({"type": "cc", "channel": 1, "control": 20, "value": 0}) == [("submit", {"cmd": "record",
                                                                                          "on": False})]


def test_footswitches_two_and_three_held_record_and_one_and_two_still_save(small_pedal, mock_pins):
    from firmware.pedal.controls import GpioControls
    pedal, engine, cfg = small_pedal("A")
    c = dict(cfg["controls"], footswitch3=13, footswitch3_press="record", hold_time=0.1, save_hold_s=0.4,
             record_hold_s=0.4)
    controls = GpioControls(pedal, c)
    fs1, fs2, fs3 = (mock_pins.pin(c[k]) for k in ("footswitch1", "footswitch2", "footswitch3"))

    def hold(*pins):
        count = pedal.submitted
        for p in pins:
            p.drive_low()
        time.sleep(0.8)
        for p in pins:
            p.drive_high()
        time.sleep(0.1)
        assert pedal.wait_submitted(count + 1)
        return [pedal.queue.get_nowait().msg["cmd"] for _ in range(pedal.submitted - count)]

    try:
        assert hold(fs2, fs3) == ["record"]                     # neither's own action
        assert hold(fs1, fs2) == ["save"]
        count = pedal.submitted
        fs3.drive_low()
        time.sleep(0.03)
        fs3.drive_high()                                          # footswitch3_press = "record"
        assert pedal.wait_submitted(count + 1) and pedal.queue.get_nowait().msg == {"cmd": "record"}
    finally:
        controls.close()

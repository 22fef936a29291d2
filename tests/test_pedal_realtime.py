"""The real `tubeless run` on a paced device: a JACK dummy server behind ALSA's jack plugin
runs in real time, so a stalled engine sees genuine xruns. The pedal runs as on the Pi: the
engine and the librarian in their own processes, driven through the control socket.
Skips without jackd (make test installs jackd2 and libasound2-plugins when root)."""
import json
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import NAM_DATA, run_tubeless, start_pedal_process, wait_status, write_pedal_config

pytest.importorskip("alsaaudio")
from firmware.tools.rtbench import jack_available  # noqa: E402

if not jack_available():
    pytest.skip("needs jackd and ALSA's jack plugin (apt-get install jackd2 libasound2-plugins)",
                allow_module_level=True)

from firmware.core.config import load_config  # noqa: E402
from firmware.ipc import shared as sh  # noqa: E402
from firmware.pedal.control import request  # noqa: E402
from firmware.testing.models import write_model  # noqa: E402
from firmware.testing.web import stop  # noqa: E402


@pytest.fixture
def pedal_process(jack_device, tmp_path):
    """`tubeless run` with four models of three formats; yields (process, socket, log)."""
    models = tmp_path / "models"
    models.mkdir()
    write_model(models / "a_lstm.npz", arch="LSTM", seed=1, name="A")
    write_model(models / "b_linear.npz", arch="Linear", seed=2, name="B")
    shutil.copy(NAM_DATA / "lstm_2x8.nam", models / "c_lstm.nam")
    shutil.copy(NAM_DATA / "wavenet_blended.nam", models / "d_wavenet.nam")
    cfg = write_pedal_config(tmp_path, models, jack_device)
    proc = start_pedal_process(cfg, tmp_path / "pedal.log")
    sock = tmp_path / "ctl.sock"
    try:
        wait_status(sock, lambda s: s["frames"] > 4800 and s["models"] == 4, timeout=600, proc=proc,
                    log=tmp_path / "pedal.log")
        yield proc, sock, tmp_path / "pedal.log"
    finally:
        stop(proc)


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def test_control_channel_plays_every_format_and_refuses_nonsense(pedal_process):
    proc, sock, _ = pedal_process
    sock = str(sock)
    seen = []
    for _ in range(4):
        r = request(sock, {"cmd": "next"})
        assert r["ok"]
        want = r["selected"]["file"]
        wait_status(sock, lambda s: s["model_file"] == want and s["faults"] == 0, timeout=30)
        seen.append(want)
    assert seen == ["b_linear.npz", "c_lstm.nam", "d_wavenet.nam", "a_lstm.npz"]
    assert request(sock, {"cmd": "select", "name": "c_lstm"})["ok"]
    wait_status(sock, lambda s: s["model_file"] == "c_lstm.nam")
    assert request(sock, {"cmd": "bypass", "on": "on"})["status"]["bypass"] is True
    assert request(sock, {"cmd": "set", "param": "drive", "value": 0.7})["ok"]
    s = request(sock, {"cmd": "status"})["status"]
    assert s["pots"]["drive"] == 0.7 and s["bypass"] and s["faults"] == 0 and s["frames"] > 0
    models = request(sock, {"cmd": "models"})["models"]
    assert [m["file"] for m in models] == ["a_lstm.npz", "b_linear.npz", "c_lstm.nam", "d_wavenet.nam"]
    assert [m["playing"] for m in models] == [False, False, True, False]
    # refusals: one clear line each, and the connection stays usable
    r = request(sock, {"cmd": "explode"})
    assert not r["ok"] and "unknown command 'explode'" in r["error"] and "next" in r["error"]
    r = request(sock, {"cmd": "set", "param": "drive", "value": 7})
    assert not r["ok"] and "outside 0..1" in r["error"]
    r = request(sock, {"cmd": "select", "name": "nope"})
    assert not r["ok"] and "no model 'nope'" in r["error"]
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(sock)
        f = c.makefile("rwb")
        f.write(b"this is not json\n")
        f.flush()
        assert json.loads(f.readline()) == {"ok": False, "error": "not a JSON object"}
        f.write(b'{"cmd": "status"}\n')
        f.flush()
        assert json.loads(f.readline())["ok"]
    # the command line goes through the same channel
    out = run_tubeless("ctl", "--socket", sock, "prev", timeout=60)
    assert out.returncode == 0 and "(b_linear.npz)" in out.stdout
    out = run_tubeless("ctl", "--socket", sock, "fly", timeout=60)
    assert out.returncode == 2 and out.stderr.strip().startswith("tubeless: error: unknown command 'fly'")
    assert proc.poll() is None


def test_the_pedal_is_three_processes_and_the_engine_cannot_parse_model_files(pedal_process):
    proc, sock, _ = pedal_process
    kids = {cmdline(p).split(" -m ")[1].split()[0]: p for p in children(proc.pid) if " -m " in cmdline(p)}
    assert set(kids) == {"firmware.engine", "firmware.librarian"}
    # the engine played the .nam files above, yet it cannot even import the importers
    code = ("from firmware.engine.__main__ import block_model_parsing\nblock_model_parsing()\n"
            "try:\n    import firmware.importers\nexcept ImportError:\n    print('blocked')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "blocked"


def test_a_stalled_audio_thread_xruns_counted_logged_and_recovered(jack_device, tmp_path, caplog):
    """The engine's audio thread sleeps 30 ms three times (~22 periods late each) while the
    device keeps its pace: genuine xruns, counted, logged once per 5 s, and the loop plays on.
    (Stopping the whole engine process would not do: JACK's callback thread stops with it.)"""
    import logging

    from firmware.platform.alsa import AlsaDuplex
    from firmware.testing.pedal import local_pedal
    models = tmp_path / "models"
    models.mkdir()
    write_model(models / "a.npz", arch="LSTM", seed=1)
    status = tmp_path / "status.json"
    cfg = load_config(overrides={
        "audio": {"periods": 3, "realtime": False, "status_file": str(status), "status_every_s": 0.3,
                  "xrun_log_every_s": 5.0},
        "models": {"directory": str(models)}, "controls": {"enabled": False, "keyboard": False},
        "state": {"file": ""}})
    io = AlsaDuplex(jack_device, jack_device, 48000, 2, 64, 3)
    try:
        pedal, engine, _ = local_pedal(cfg, tmp_path / "cache", io=io)
        pedal.restore()
        stalls = []

        def hook(frame):
            if frame >= 24000 and len(stalls) < 3 and frame - (stalls[-1] if stalls else 0) > 4800:
                stalls.append(frame)
                time.sleep(0.03)
        engine.block_hook = hook
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="firmware.pedal.pedal"):
            engine.start(max_frames=48000 * 2)           # two seconds, paced by JACK
            pedal.control_loop()                         # returns when the audio has ended
        elapsed = time.monotonic() - t0
        engine.sync()
    finally:
        io.close()
    c = engine.shared.counters
    assert len(stalls) == 3
    assert io.xruns >= 3 and c[sh.OVERRUNS] + c[sh.UNDERRUNS] == io.xruns   # counted, and shared
    assert c[sh.FRAMES] >= 96000                     # and the loop kept going to the end
    assert elapsed > 1.5                             # really paced
    xrun_lines = [r for r in caplog.records if "xruns" in r.getMessage()]
    assert len(xrun_lines) == 1                      # rate-limited: one line per 5 s
    s = json.loads(status.read_text())
    assert s["xruns"] >= 1 and s["cpu"]["blocks"] > 0 and 0 < s["cpu"]["p50"] <= s["cpu"]["p99"] <= s["cpu"]["max"]
    assert s["late"]["max"] >= 1                     # the stalls show as lateness (in periods)


def test_a_thread_holding_the_gil_on_the_control_side_does_not_stall_the_audio(jack_device, tmp_path):
    """The control side runs in this process; a thread here holds the GIL for 50 ms at a
    time (one long C call: json.loads of a big document), twenty times. Were the audio in
    this process, each would cost ~37 periods of silence."""
    from firmware.pedal.run import run_pedal
    models = tmp_path / "models"
    models.mkdir()
    write_model(models / "a.npz", arch="LSTM", seed=1)
    cfg = load_config(write_pedal_config(tmp_path, models, jack_device, periods=2))
    ready = threading.Event()
    holder = {}

    def started(pedal):
        holder["pedal"] = pedal
        ready.set()

    t = threading.Thread(target=run_pedal, args=(cfg,), kwargs={"ready": started}, daemon=True)
    t.start()
    assert ready.wait(600)
    pedal = holder["pedal"]
    try:
        c = pedal.shared.counters
        deadline = time.monotonic() + 30
        while c[sh.FRAMES] < 48000 and time.monotonic() < deadline:
            time.sleep(0.05)
        def document(items):
            return json.dumps([[i * 0.5, "x" * 8, {"k": i}] for i in range(items)])
        t0 = time.perf_counter()
        json.loads(document(20_000))
        per_item = (time.perf_counter() - t0) / 20_000
        big = document(max(20_000, int(0.05 / per_item)))     # one json.loads: ~50 ms holding the GIL

        def xruns_now():
            return int(c[sh.OVERRUNS] + c[sh.UNDERRUNS])
        # the machine's own xruns over as long a stretch, without the GIL held (the baseline)
        x0 = xruns_now()
        time.sleep(20 * 0.15)
        baseline = xruns_now() - x0
        xruns0, frames0 = xruns_now(), int(c[sh.FRAMES])
        held = []
        t_start = time.perf_counter()
        for _ in range(20):
            t0 = time.perf_counter()
            json.loads(big)                          # holds the GIL throughout
            held.append(time.perf_counter() - t0)
            time.sleep(0.1)
        elapsed = time.perf_counter() - t_start
        xruns = xruns_now() - xruns0
        frames = int(c[sh.FRAMES]) - frames0
    finally:
        pedal.stop()
        t.join(20)
    # the GIL really was held long enough to matter: the device's buffer is 2.7 ms
    assert np.median(held) >= 0.01
    assert frames > 0.8 * 48000 * elapsed            # the audio kept its pace meanwhile
    # coupled to this process's GIL, each hold would cost ~30 periods: 20 xruns at least (64 measured)
    assert xruns - baseline < 15, (f"{xruns} xruns (baseline {baseline}) while the control side held the GIL "
                                   f"20 x {np.median(held) * 1e3:.0f} ms")


def test_tubeless_run_records_what_it_plays(pedal_process, tmp_path):
    """`ctl record` on the real processes: the engine's rings reach the control process's
    recorder through the shared block; the two files are the same length and as long as
    the recording ran (within the recorder's poll)."""
    import soundfile as sf
    proc, sock, _ = pedal_process
    t0 = time.monotonic()
    out = run_tubeless("ctl", "record", "on", "--socket", str(sock))
    assert out.returncode == 0 and out.stdout.startswith("recording rec-"), (out.stdout, out.stderr)
    time.sleep(1.5)
    out = run_tubeless("ctl", "record", "off", "--socket", str(sock))
    took = time.monotonic() - t0             # the recording ran inside this
    assert out.returncode == 0 and out.stdout.startswith("stopped: rec-"), (out.stdout, out.stderr)
    name = out.stdout.split()[1]
    folder = tmp_path / "recordings" / name
    di, out_ = sf.info(str(folder / "di.wav")), sf.info(str(folder / "out.wav"))
    assert di.frames == out_.frames and 1.2 * 48000 < di.frames <= took * 48000
    assert "record:  stopped: " + name in run_tubeless("ctl", "status", "--socket", str(sock)).stdout

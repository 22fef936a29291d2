"""xrun recovery on a paced device: a JACK dummy server behind ALSA's jack plugin runs in
real time, so a stalled loop sees genuine overruns/underruns. Skips without jackd
(CI: apt-get install jackd2 libasound2-plugins)."""
import json
import logging
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

pytest.importorskip("alsaaudio")
if not shutil.which("jackd") or not os.path.exists("/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_jack.so") \
        and not any(os.path.exists(f"/usr/lib/{a}/alsa-lib/libasound_module_pcm_jack.so")
                    for a in ("aarch64-linux-gnu", "arm-linux-gnueabihf")):
    pytest.skip("needs jackd and ALSA's jack plugin (apt-get install jackd2 libasound2-plugins)",
                allow_module_level=True)

from firmware.pedal.audio import AlsaDuplex  # noqa: E402
from firmware.pedal.config import load_config  # noqa: E402
from firmware.pedal.controls import NoControls  # noqa: E402
from firmware.pedal.library import ModelLibrary  # noqa: E402
from firmware.pedal.pedal import Pedal  # noqa: E402
from firmware.pedal.testing import write_model  # noqa: E402

CONF = """
pcm.tubeless_jack_raw {
    type jack
    playback_ports { 0 system:playback_1 1 system:playback_2 }
    capture_ports { 0 system:capture_1 1 system:capture_2 }
}
pcm.tubeless_jack { type plug slave.pcm "tubeless_jack_raw" }
"""


@pytest.fixture
def jack(tmp_path, monkeypatch):
    name = f"tubeless{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    conf = tmp_path / "jack.conf"
    conf.write_text(CONF)
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"/usr/share/alsa/alsa.conf:{conf}")
    proc = subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    if proc.poll() is not None:
        pytest.skip("jackd did not start")
    yield "tubeless_jack"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_stall_causes_xruns_that_are_counted_logged_and_recovered(jack, tmp_path, caplog):
    models = tmp_path / "models"
    models.mkdir()
    write_model(models / "a.npz", arch="LSTM", seed=1)
    status = tmp_path / "status.json"
    cfg = load_config(overrides={
        "audio": {"periods": 3, "realtime": False, "status_file": str(status), "status_every_s": 0.3,
                  "xrun_log_every_s": 5.0},
        "controls": {"enabled": False, "keyboard": False}, "state": {"file": ""}})
    io = AlsaDuplex(jack, jack, 48000, 2, 64, 3)
    try:
        pedal = Pedal(cfg, io=io, library=ModelLibrary(models), state_path="")
        pedal.controls = NoControls(pedal)
        stalls = []

        def hook(frame):
            if frame >= 24000 and len(stalls) < 3 and frame - (stalls[-1] if stalls else 0) > 4800:
                stalls.append(frame)
                time.sleep(0.03)              # a 30 ms stall: ~22 periods late
        pedal.block_hook = hook
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="firmware.pedal.pedal"):
            pedal.run(max_frames=48000 * 2)    # two seconds, paced by JACK
        elapsed = time.monotonic() - t0
    finally:
        io.close()
    assert len(stalls) == 3
    assert io.xruns >= 3                       # each stall overran capture / underran playback
    assert pedal.frames >= 96000               # and the loop kept going to the end
    assert elapsed > 1.5                       # really paced
    xrun_lines = [r for r in caplog.records if "xruns" in r.getMessage()]
    assert 1 <= len(xrun_lines) <= 1           # rate-limited: one line per 5 s
    s = json.loads(status.read_text())
    assert s["xruns"] >= 1 and s["cpu"]["blocks"] > 0 and 0 < s["cpu"]["p50"] <= s["cpu"]["p99"] <= s["cpu"]["max"]

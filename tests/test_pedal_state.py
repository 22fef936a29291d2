"""The state file: atomic save, survives a kill in the middle of a write."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from firmware.pedal.state import DEFAULT_STATE, load_state, save_state

REPO = Path(__file__).resolve().parents[1]


def test_round_trip_and_defaults(tmp_path, caplog):
    p = tmp_path / "s" / "state.json"
    assert load_state(p) == DEFAULT_STATE
    save_state(p, {"model": "a.npz", "bypass": True})
    assert load_state(p)["model"] == "a.npz" and load_state(p)["bypass"] is True
    p.write_text("{broken")
    assert load_state(p) == DEFAULT_STATE
    assert any("unreadable" in r.getMessage() for r in caplog.records)


WRITER = """
import sys
from firmware.pedal.state import save_state
i = 0
pad = "x" * 200000           # a big file: the kill lands inside a write
while True:
    save_state(sys.argv[1], {"model": f"m{i}.npz", "knob2": i, "bypass": bool(i % 2), "pad": pad})
    i += 1
    if i == 3:
        print("ready", flush=True)
"""


def test_state_survives_kill_mid_write(tmp_path):
    p = tmp_path / "state.json"
    save_state(p, {"model": "start.npz"})
    for delay in (0.01, 0.05, 0.13, 0.2, 0.31):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(p)], cwd=REPO, stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open(p) as f:
            data = json.load(f)                    # always a complete, valid file
        assert data["model"].startswith("m") and data["knob2"] == int(data["model"][1:-4])
        assert not any(n.endswith(".tmp") and not n.startswith(".state-") for n in os.listdir(tmp_path))

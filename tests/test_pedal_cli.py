"""What a newcomer meets first: `tubeless run` without a sound card, `tubeless models`."""
import subprocess
import sys

import pytest

from firmware.platform import cards as alsa_cards
from firmware.testing.models import write_model


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "firmware", *args], capture_output=True, text=True, timeout=timeout)


def test_run_without_a_sound_card_says_so_once(tmp_path):
    if alsa_cards.list_cards():
        pytest.skip("this machine has a sound card")
    out = run("run", "--models", str(tmp_path), "--socket", str(tmp_path / "ctl.sock"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tubeless: error: no sound card here")
    assert "simulate" in lines[0] and "ALSA lib" not in out.stderr


def test_models_lists_only_models_and_names_the_option(tmp_path):
    write_model(tmp_path / "b.npz", arch="LSTM", seed=2, name="Bee")
    write_model(tmp_path / "a.npz", arch="Linear", seed=1, name="Ay")
    out = run("models", "--models", str(tmp_path))
    assert out.returncode == 0 and out.stderr == ""
    assert [ln.split()[1] for ln in out.stdout.splitlines()] == ["Ay", "Bee"]
    out = run("models", "--models", str(tmp_path / "nope"))
    assert out.returncode == 2 and "--models DIR" in out.stderr and out.stderr.count("\n") == 1

"""`make fetch-captures HOST=...` against stand-in ssh/scp that run locally: complete capture
folders and finished recordings arrive under their own names, a capture in progress (hidden
partial folder), a recording still going and one already here are left alone, DRYRUN=1 only prints."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# ssh HOST CMD -> sh -c CMD in the 'pedal' home; scp -r HOST:SRC DEST -> cp -r.
FAKE_SSH = """#!/bin/sh
while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
echo "$1" >>"$FAKE_LOG"
shift
cd "$FAKE_HOME" && exec sh -c "$*"
"""
FAKE_SCP = """#!/bin/sh
while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
src=${1#*:}
[ -n "${FAKE_SCP_FAIL:-}" ] && { mkdir -p "$2"; exit 1; }
cd "$FAKE_HOME" && cp -r "$src" "$2"
"""


@pytest.fixture
def pedal(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ssh", FAKE_SSH), ("scp", FAKE_SCP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    home = tmp_path / "pedal-home"
    captures = home / "tubeless-captures"
    for name in ("capture-20261201-2130", "capture-20261201-2145-2"):
        (captures / name).mkdir(parents=True)
        for f in ("di.wav", "di.json", "amp.wav", "capture.json"):
            (captures / name / f).write_text(f"{name}/{f}")
    (captures / ".capture-abc.partial").mkdir()                      # a capture in progress
    for name, finished in (("rec-20261202-2100", "true"), ("rec-20261202-2110", "false")):   # still recording
        (captures / name).mkdir()
        (captures / name / "recording.json").write_text(f'{{\n "name": "{name}",\n "finished": {finished}\n}}')
    local = tmp_path / "here"
    local.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_HOME": str(home),
           "FAKE_LOG": str(tmp_path / "hosts")}
    return captures, local, env


def make(env, cwd, *args):
    return subprocess.run(["make", "-s", "-C", str(ROOT), "fetch-captures", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_complete_captures_arrive_whole(pedal):
    captures, local, env = pedal
    dest = local / "caps"
    r = make(env, local, "HOST=pi@pedal.local", f"DEST={dest}")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["capture-20261201-2130", "capture-20261201-2145-2",
                                                      "rec-20261202-2100"]
    assert (dest / "capture-20261201-2130" / "amp.wav").read_text() == "capture-20261201-2130/amp.wav"
    assert "capture-20261201-2130 -> " in r.stdout
    again = make(env, local, "HOST=pi@pedal.local", f"DEST={dest}")
    assert again.returncode == 0 and again.stdout.count("already here") == 3


def test_dry_run_prints_and_copies_nothing(pedal):
    captures, local, env = pedal
    dest = local / "caps"
    r = make(env, local, "HOST=pedal.local", f"DEST={dest}", "DRYRUN=1")
    assert r.returncode == 0, r.stderr
    assert "scp -r -q pedal.local:tubeless-captures/capture-20261201-2130" in r.stdout
    assert not dest.exists()


def test_a_failed_copy_leaves_nothing_under_a_real_name(pedal):
    captures, local, env = pedal
    dest = local / "caps"
    r = make({**env, "FAKE_SCP_FAIL": "1"}, local, "HOST=pedal.local", f"DEST={dest}")
    assert r.returncode != 0 and "copy failed" in r.stderr
    assert list(dest.iterdir()) == []


def test_usage_without_a_host(pedal):
    _, local, env = pedal
    r = make(env, local)
    assert r.returncode == 2 and "usage: make fetch-captures HOST=" in r.stderr


def test_the_playing_pedals_captures_come_from_their_folder_too(pedal):
    """REMOTE_DIR is a list: the SSH user's own (tubeless capture, pedal stopped) and the
    playing pedal's captures folder (the page's Capture view)."""
    captures, local, env = pedal
    theirs = captures.parent / "pedal-captures" / "capture-20261203-0900"
    theirs.mkdir(parents=True)
    (theirs / "amp.wav").write_text("theirs")
    dest = local / "caps"
    r = make(env, local, "HOST=pi@pedal.local", f"DEST={dest}", "REMOTE_DIR=tubeless-captures pedal-captures")
    assert r.returncode == 0, r.stderr
    assert (dest / "capture-20261203-0900" / "amp.wav").read_text() == "theirs"
    assert (dest / "capture-20261201-2130").is_dir()

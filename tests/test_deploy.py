"""deploy.sh against stand-in ssh/scp that run locally: files land under their own names
only after a checksum on the 'pedal', nothing partial is left, the model list is shown."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "scripts" / "deploy.sh"

# ssh HOST CMD -> sh -c CMD here; `-O exit` (closing the shared connection) succeeds.
FAKE_SSH = """#!/bin/sh
while [ $# -gt 0 ]; do
    case $1 in
        -O) exit 0 ;;
        -o) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
echo "$1" >>"$FAKE_LOG.hosts"
shift
exec sh -c "$*"
"""
# scp SRC HOST:DEST -> cp SRC DEST, or a truncated copy when FAKE_SCP_CORRUPT is set.
FAKE_SCP = """#!/bin/sh
while [ $# -gt 0 ]; do
    case $1 in
        -o) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
dest=${2#*:}
if [ -n "${FAKE_SCP_FAIL_ON:-}" ] && [ "$(basename "$1")" = "$FAKE_SCP_FAIL_ON" ]; then exit 1; fi
if [ -n "${FAKE_SCP_CORRUPT:-}" ]; then head -c 3 "$1" >"$dest"; else cp "$1" "$dest"; fi
"""
FAKE_TUBELESS = """#!/bin/sh
[ "$1" = models ] || exit 64
echo "config: $3"
ls "$FAKE_PEDAL_DIR"
"""


@pytest.fixture
def ssh_pedal(tmp_path):
    """A 'pedal' behind the stand-in ssh/scp: (its models folder, a local folder, the env, the
    log of hosts contacted)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ssh", FAKE_SSH), ("scp", FAKE_SCP), ("tubeless", FAKE_TUBELESS)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    models = tmp_path / "pedal-models"
    models.mkdir()
    (models / "Old.npz").write_bytes(b"already there")
    local = tmp_path / "local"
    local.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REMOTE_DIR": str(models),
           "FAKE_PEDAL_DIR": str(models), "FAKE_LOG": str(tmp_path / "log")}
    return models, local, env, tmp_path / "log.hosts"


def deploy(env, *args):
    return subprocess.run(["sh", str(DEPLOY), *args], capture_output=True, text=True, env=env, timeout=60)


def test_copies_under_final_names_and_lists_models(ssh_pedal):
    models, local, env, hosts = ssh_pedal
    (local / "Plexi Lead.nam").write_bytes(b"nam model " * 100)
    (local / "Plexi Lead.wav").write_bytes(b"RIFF ir")
    proc = deploy(env, "pi@pedal.local", str(local / "Plexi Lead.nam"), str(local / "Plexi Lead.wav"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in models.iterdir()) == ["Old.npz", "Plexi Lead.nam", "Plexi Lead.wav"]
    assert (models / "Plexi Lead.nam").read_bytes() == b"nam model " * 100
    assert "config: /etc/tubeless/config.toml" in proc.stdout
    assert "Plexi Lead.nam" in proc.stdout.split("models on pi@pedal.local:")[1]
    assert set(hosts.read_text().split()) == {"pi@pedal.local"}


def test_damaged_transfer_changes_nothing_on_the_pedal(ssh_pedal):
    models, local, env, _ = ssh_pedal
    (local / "A.npz").write_bytes(b"model bytes")
    proc = deploy({**env, "FAKE_SCP_CORRUPT": "1"}, "pedal.local", str(local / "A.npz"))
    assert proc.returncode != 0
    assert "damaged in transit" in proc.stderr
    assert sorted(p.name for p in models.iterdir()) == ["Old.npz"]   # no partial left either


def test_failed_copy_of_second_file_removes_the_first_temporary(ssh_pedal):
    models, local, env, _ = ssh_pedal
    for name in ("A.npz", "B.npz"):
        (local / name).write_bytes(name.encode())
    proc = deploy({**env, "FAKE_SCP_FAIL_ON": "B.npz"}, "pedal.local", str(local / "A.npz"), str(local / "B.npz"))
    assert proc.returncode != 0 and "copying" in proc.stderr
    assert sorted(p.name for p in models.iterdir()) == ["Old.npz"]


@pytest.mark.parametrize("name, message", [
    ("notes.txt", "not a model"),
    (".hidden.npz", "hidden names"),
])
def test_refuses_bad_files_before_connecting(ssh_pedal, name, message):
    models, local, env, hosts = ssh_pedal
    (local / "Good.npz").write_bytes(b"x")
    (local / name).write_bytes(b"x")
    proc = deploy(env, "pedal.local", str(local / "Good.npz"), str(local / name))
    assert proc.returncode != 0 and message in proc.stderr
    assert not hosts.exists()                      # nothing was even attempted
    assert sorted(p.name for p in models.iterdir()) == ["Old.npz"]


def test_missing_file_and_missing_arguments(ssh_pedal):
    _, local, env, _ = ssh_pedal
    proc = deploy(env, "pedal.local", str(local / "absent.npz"))
    assert proc.returncode == 1 and "no such file" in proc.stderr
    proc = deploy(env, "pedal.local")
    assert proc.returncode == 2 and "Usage:" in proc.stderr


def test_unwritable_models_dir_explains_the_group(ssh_pedal):
    _, local, env, _ = ssh_pedal
    (local / "A.npz").write_bytes(b"x")
    proc = deploy({**env, "REMOTE_DIR": "/nonexistent/models"}, "pedal.local", str(local / "A.npz"))
    assert proc.returncode == 1 and "'tubeless' group" in proc.stderr


def test_presets_go_to_the_presets_folder_beside_the_models(ssh_pedal):
    models, local, env, _ = ssh_pedal
    (local / "Plexi.nam").write_bytes(b"nam model")
    (local / "solo.toml").write_text('amp = "Plexi.nam"\n')
    proc = deploy(env, "pedal.local", str(local / "Plexi.nam"), str(local / "solo.toml"))
    assert proc.returncode == 0, proc.stderr
    presets = models.parent / "presets"
    assert sorted(p.name for p in models.iterdir()) == ["Old.npz", "Plexi.nam"]
    assert [p.name for p in presets.iterdir()] == ["solo.toml"]
    assert (presets / "solo.toml").read_text() == 'amp = "Plexi.nam"\n'

"""The boot services: the pedal's unit (and the web page's, which runs without root) passes
`systemd-analyze verify` with no output at all, and the firmware's sd_notify client talks
the protocol to a socket the test binds."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from firmware.platform import sdnotify

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "tubeless.service"
INSTALLED_EXEC = "/opt/tubeless/venv/bin/tubeless"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze not installed")


def unit_settings(text):
    """{(section, key): [values]} of a unit file; keys may repeat (Environment=)."""
    settings, section = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key.strip()), []).append(value.strip())
    return settings


def analyze_verify(unit_text, tmp_dir, name="tubeless.service"):
    """Write `unit_text` with ExecStart pointing at a stub executable, verify it, and return
    everything systemd-analyze printed. The tool exits 0 on unknown keys and bad values (it
    only warns), so the output is what tells a broken unit apart."""
    stub = Path(tmp_dir) / "tubeless-stub"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = Path(tmp_dir) / name
    unit.write_text(unit_text.replace(INSTALLED_EXEC, str(stub)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


@needs_analyze
def test_unit_verifies_without_any_output(tmp_path):
    rc, output = analyze_verify(UNIT.read_text(), tmp_path)
    assert (rc, output) == (0, "")


@needs_analyze
def test_verify_check_catches_a_misspelled_key(tmp_path):
    # The guard above is only worth something if a typo produces output while rc stays 0.
    broken = UNIT.read_text().replace("WatchdogSec=", "WatchDogSec=")
    rc, output = analyze_verify(broken, tmp_path)
    assert "WatchDogSec" in output


def test_unit_declares_what_the_pedal_relies_on():
    s = unit_settings(UNIT.read_text())
    assert s[("Service", "Type")] == ["notify"]
    assert s[("Service", "NotifyAccess")] == ["main"]
    assert s[("Service", "Restart")] == ["on-failure"]
    assert int(s[("Service", "WatchdogSec")][0]) > 0
    assert int(s[("Service", "LimitRTPRIO")][0]) >= 50
    assert s[("Service", "LimitMEMLOCK")] == ["infinity"]
    assert "sound.target" in s[("Unit", "After")][0].split()
    assert s[("Service", "User")] == ["tubeless"]
    assert set(s[("Service", "SupplementaryGroups")][0].split()) == {"audio", "gpio", "spi"}
    # Numba's cache lives in the directory systemd creates and hands to the service user.
    cache = s[("Service", "CacheDirectory")][0]
    env = dict(e.split("=", 1) for e in s[("Service", "Environment")])
    assert env["NUMBA_CACHE_DIR"].startswith(f"/var/cache/{cache}/")
    # Models arrive over SSH into /var/lib/tubeless: writable despite ProtectSystem=strict.
    assert "/var/lib/tubeless" in s[("Service", "ReadWritePaths")][0].split()
    assert s[("Service", "ExecStart")][0].startswith(INSTALLED_EXEC + " run")
    assert s[("Install", "WantedBy")] == ["multi-user.target"]


def test_web_unit_verifies_and_runs_without_root(tmp_path):
    unit = (ROOT / "systemd" / "tubeless-web.service").read_text()
    lines = dict(ln.split("=", 1) for ln in unit.splitlines() if "=" in ln and not ln.startswith("#"))
    assert lines["User"] == "tubeless-web" and "tubeless" in lines["SupplementaryGroups"].split()
    assert lines["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE" and lines["NoNewPrivileges"] == "yes"
    assert lines["ExecStart"].endswith("tubeless web --config /etc/tubeless/config.toml")
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    (tmp_path / "tubeless.service").write_text("[Service]\nExecStart=/bin/true\n")     # the unit it names
    assert analyze_verify(unit, tmp_path, name="tubeless-web.service") == (0, "")


# ----------------------------------------------------------------------------- sd_notify

@pytest.fixture
def notify_socket(monkeypatch):
    """A datagram socket bound where systemd's would be, with $NOTIFY_SOCKET pointing at it."""
    # AF_UNIX paths are capped at 108 bytes: pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="sdn", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()
    shutil.rmtree(directory)


def received(sock):
    return sock.recv(4096).decode("utf-8").split("\n")


def test_ready_watchdog_status_stopping_reach_the_socket(notify_socket):
    assert sdnotify.status("loading model Plexi.npz")
    assert received(notify_socket) == ["STATUS=loading model Plexi.npz"]
    assert sdnotify.ready("playing Plexi.npz")
    assert received(notify_socket) == ["READY=1", "STATUS=playing Plexi.npz"]
    assert sdnotify.watchdog()
    assert received(notify_socket) == ["WATCHDOG=1"]
    assert sdnotify.stopping()
    assert received(notify_socket) == ["STOPPING=1"]


def test_status_cannot_smuggle_extra_fields(notify_socket):
    sdnotify.status("bad\nREADY=1")
    assert received(notify_socket) == ["STATUS=bad READY=1"]


def test_abstract_namespace_socket(monkeypatch):
    name = f"tubeless-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready()
        assert received(sock) == ["READY=1"]
    finally:
        sock.close()


def test_no_op_without_notify_socket(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready("x") is False
    assert sdnotify.watchdog() is False


def test_unreachable_socket_returns_false_instead_of_raising(monkeypatch, tmp_path):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.watchdog() is False
    assert sdnotify.watchdog() is False   # and keeps going quietly


def test_relative_socket_path_disables_rather_than_crashes(monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/path")
    assert sdnotify.ready() is False
    with pytest.raises(ValueError, match="absolute path"):
        sdnotify.Notifier("relative/path")


def test_malformed_fields_are_refused():
    n = sdnotify.Notifier(None)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        n.notify("READY")
    with pytest.raises(ValueError):
        n.notify()


def test_watchdog_interval_is_half_the_timeout():
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_a_separate_process_reports_through_the_environment(notify_socket):
    # As under systemd: the socket arrives only as $NOTIFY_SOCKET in a fresh process.
    code = "from firmware.platform import sdnotify; sdnotify.ready('up'); sdnotify.watchdog()"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert received(notify_socket) == ["READY=1", "STATUS=up"]
    assert received(notify_socket) == ["WATCHDOG=1"]


# ------------------------------------------------------------- the pedal under a notify socket

ALSA_FILE_PCMS = """
pcm.fxin  { @args [ INFILE ]  @args.INFILE  { type string }
            type file  slave.pcm "null"  file "/dev/null"  infile $INFILE  format "raw" }
"""


def test_tubeless_run_reports_ready_and_pings_the_watchdog(notify_socket, tmp_path):
    """`tubeless run` as systemd starts it: READY=1 with a STATUS once audio runs, then
    WATCHDOG=1 at half of $WATCHDOG_USEC, and an exit on SIGTERM. Audio goes through
    alsa-lib's file plugin (no sound card here), controls are off."""
    import signal

    import numpy as np

    from firmware.testing.models import write_model

    models = tmp_path / "models"
    models.mkdir()
    write_model(str(models / "Tiny.npz"), arch="Linear", taps=8)   # compiles in seconds
    silence = tmp_path / "in.raw"
    silence.write_bytes(np.zeros(48000 * 2 * 60, np.int32).tobytes())   # 60 s, stereo S32
    alsa_conf = tmp_path / "alsa.conf"
    alsa_conf.write_text(ALSA_FILE_PCMS)
    config = tmp_path / "config.toml"
    config.write_text(f"""
[audio]
capture_device = "fxin:INFILE={silence}"
playback_device = "file:FILE={tmp_path / 'out.raw'},FORMAT=raw"
formats = ["S32_LE"]
realtime = false
status_file = "{tmp_path / 'status.json'}"
[models]
directory = "{models}"
[controls]
enabled = false
keyboard = false
[state]
file = "{tmp_path / 'state.json'}"
""")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WATCHDOG_USEC": "1000000",
           "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{alsa_conf}",
           "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache/numba"))}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "firmware", "run", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        notify_socket.settimeout(240)   # JIT warm-up comes before READY=1
        messages = []
        while "WATCHDOG=1" not in messages:
            messages += received(notify_socket)
        proc.send_signal(signal.SIGTERM)    # systemctl stop
        proc.wait(timeout=30)
    except (socket.timeout, subprocess.TimeoutExpired):
        proc.kill()
        raise AssertionError(f"messages so far: {messages}\npedal output:\n{proc.communicate()[0]}")
    ready = messages.index("READY=1")
    assert any(m.startswith("STATUS=playing ") for m in messages[ready:]), messages
    assert messages.index("WATCHDOG=1") > ready     # no pings before the pedal is up

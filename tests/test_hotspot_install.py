"""The hotspot's unit and its install: systemd-analyze verify says nothing about the unit,
which runs apart from the audio (niced, its own slice, below it for CPU and disk);
install.sh --hotspot stages it, off removes it, a dry run lists every change, uninstall
removes the unit, the profile and the settings (the password)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "tubeless-hotspot.service"
SCRIPTS = ROOT / "scripts"


def settings_of(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            k, _, v = line.partition("=")
            out[k] = v
    return out


def run_script(name, *args, env, check=True):
    proc = subprocess.run(["sh", str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_unit_runs_apart_from_the_audio():
    s = settings_of(UNIT.read_text())
    assert int(s["Nice"]) >= 10 and int(s["CPUWeight"]) <= 20 and s["IOSchedulingClass"] == "idle"
    assert s["Slice"] != "system.slice" and s["Slice"].endswith(".slice")
    assert "NetworkManager.service" in s["After"].split()
    assert s["ExecStart"] == "/opt/tubeless/venv/bin/tubeless hotspot watch --web-group tubeless-web"
    assert "User" not in s                                     # root: NetworkManager's profiles
    assert "/etc/NetworkManager/system-connections" in s["ReadWritePaths"].split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_verifies_without_any_output(tmp_path):
    stub = tmp_path / "tubeless"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / "tubeless-hotspot.service"
    unit.write_text(UNIT.read_text().replace("/opt/tubeless/venv/bin/tubeless", str(stub)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, (proc.stdout + proc.stderr).strip()) == (0, "")
    # and the check is worth something: a misspelled key is reported
    unit.write_text(unit.read_text().replace("IOSchedulingClass=", "IOScheduleClass="))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "IOScheduleClass" in proc.stdout + proc.stderr


@pytest.fixture
def staged(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    return root, {"DESTDIR": str(root), "ASSETS_DIR": str(tmp_path), "PREFIX": "/usr/local/lib/tubeless"}


def test_install_stages_the_unit_and_off_removes_it(staged):
    root, env = staged
    out = run_script("install.sh", "--hotspot", "auto", env=env).stdout
    unit = root / "etc/systemd/system/tubeless-hotspot.service"
    assert "ExecStart=/usr/local/lib/tubeless/venv/bin/tubeless hotspot watch" in unit.read_text()
    assert (root / "var/lib/tubeless-hotspot").is_dir() and "hotspot (auto)" in out
    profile = root / "etc/NetworkManager/system-connections/tubeless-hotspot.nmconnection"
    profile.write_text("as the live setup would leave it")
    run_script("install.sh", "--hotspot", "off", env=env)
    assert not unit.exists() and not profile.exists()


def test_no_wifi_means_off_by_default(staged, tmp_path):
    root, env = staged
    net = tmp_path / "net"
    (net / "eth0").mkdir(parents=True)
    run_script("install.sh", env={**env, "SYS_CLASS_NET": str(net)})
    assert not (root / "etc/systemd/system/tubeless-hotspot.service").exists()
    (net / "wlan0/wireless").mkdir(parents=True)
    run_script("install.sh", env={**env, "SYS_CLASS_NET": str(net)})
    assert (root / "etc/systemd/system/tubeless-hotspot.service").exists()


def test_dry_run_lists_every_hotspot_change(tmp_path):
    fresh = {"DESTDIR": "", "PREFIX": str(tmp_path / "opt"), "SYSCONFDIR": str(tmp_path / "etc"),
             "UNITDIR": str(tmp_path / "units"), "STATEDIR": str(tmp_path / "state"), "BINDIR": str(tmp_path / "bin")}
    out = run_script("install.sh", "--dry-run", "--hotspot", "always", env=fresh).stdout
    for step in ("network-manager iw avahi-utils", f"write {tmp_path}/units/tubeless-hotspot.service",
                 "install -d -m 0750 -o root -g tubeless-web /var/lib/tubeless-hotspot",
                 "hotspot --settings-file /var/lib/tubeless-hotspot/hotspot.json setup --mode always",
                 "systemctl enable tubeless-hotspot.service", "systemctl restart tubeless-hotspot.service"):
        assert step in out, step
    assert not (tmp_path / "units").exists()
    out = run_script("uninstall.sh", "--dry-run", env=fresh).stdout
    assert "systemctl disable --now tubeless-hotspot.service" in out


def test_bad_hotspot_mode_is_refused(staged):
    _, env = staged
    proc = run_script("install.sh", "--hotspot", "sometimes", env=env, check=False)
    assert proc.returncode == 2 and "auto, always or off" in proc.stderr


def test_uninstall_removes_unit_profile_and_password(staged):
    root, env = staged
    run_script("install.sh", "--hotspot", "auto", env=env)
    nm = root / "etc/NetworkManager/system-connections"
    (nm / "tubeless-hotspot.nmconnection").write_text("x")
    (nm / "tubeless-known-Home-486f6d65.nmconnection").write_text("x")
    (nm / "preconfigured.nmconnection").write_text("the imager's: not ours")
    (root / "var/lib/tubeless-hotspot/hotspot.json").write_text("{}")
    run_script("uninstall.sh", env=env)
    assert not (root / "etc/systemd/system/tubeless-hotspot.service").exists()
    assert not (nm / "tubeless-hotspot.nmconnection").exists() and not (root / "var/lib/tubeless-hotspot").exists()
    assert (nm / "tubeless-known-Home-486f6d65.nmconnection").exists()      # the player's networks: --purge
    run_script("uninstall.sh", "--purge", env=env)
    assert sorted(p.name for p in nm.iterdir()) == ["preconfigured.nmconnection"]

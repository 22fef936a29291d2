"""install.sh / uninstall.sh / hat-mixer.sh staged into a temporary root (DESTDIR): what
lands where, re-running keeps the user's config and models, uninstall reverses it."""
import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from firmware.core.config import load_config
from firmware.platform import cards as alsa_cards

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
BOOT_BEGIN = "# >>> tubeless: codec HAT (scripts/install.sh) >>>"
ORIGINAL_BOOT_CONFIG = "[all]\ndtparam=audio=on\n"


def run_script(name, *args, env=None, check=True):
    proc = subprocess.run(["sh", str(SCRIPTS / name), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} {args} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


@pytest.fixture
def staging(tmp_path):
    """A root with a Bookworm-style boot partition, and bundled default model + IR."""
    root = tmp_path / "root"
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/config.txt").write_text(ORIGINAL_BOOT_CONFIG)
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "default_model.npz").write_bytes(b"bundled model")
    (assets / "default_cab.wav").write_bytes(b"bundled IR")
    (assets / "di_clip.wav").write_bytes(b"not for the pedal")
    env = {"DESTDIR": str(root), "ASSETS_DIR": str(assets)}
    return root, env


def snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_install_stages_config_models_unit_and_boot_config(staging):
    root, env = staging
    run_script("install.sh", "--hat", "hifiberry-dacplusadcpro", env=env)

    config = root / "etc/tubeless/config.toml"
    # Every default commented out except the card the HAT choice set; the pedal accepts it.
    sections = tomllib.loads((ROOT / "firmware/core/default_config.toml").read_text())
    assert tomllib.loads(config.read_text()) == {
        name: ({"device": "sndrpihifiberry"} if name == "audio" else {}) for name in sections}
    assert load_config(str(config))["audio"]["device"] == "sndrpihifiberry"

    models = root / "var/lib/tubeless/models"
    assert stat.S_IMODE(models.stat().st_mode) == 0o2775
    # The IR goes in under the model's name: the pedal pairs NAME.wav with NAME.npz.
    assert sorted(p.name for p in models.iterdir()) == ["default_model.npz", "default_model.wav"]
    assert (models / "default_model.npz").read_bytes() == b"bundled model"
    assert (models / "default_model.wav").read_bytes() == b"bundled IR"
    assert (root / "var/cache/tubeless/numba").is_dir()

    unit = (root / "etc/systemd/system/tubeless.service").read_text()
    assert unit == (ROOT / "systemd/tubeless.service").read_text()   # default paths: unchanged

    boot = (root / "boot/firmware/config.txt").read_text()
    assert boot.startswith(ORIGINAL_BOOT_CONFIG)
    assert boot[len(ORIGINAL_BOOT_CONFIG):] == (
        f"{BOOT_BEGIN}\ndtparam=spi=on\ndtoverlay=hifiberry-dacplusadcpro\n# <<< tubeless <<<\n")


def test_rerun_upgrades_in_place_and_keeps_the_users_files(staging):
    root, env = staging
    run_script("install.sh", "--hat", "pisound", env=env)
    config = root / "etc/tubeless/config.toml"
    models = root / "var/lib/tubeless/models"
    config.write_text('[audio]\ndevice = "hw:CARD=USB,DEV=0"\n')
    (models / "default_model.npz").write_bytes(b"the user's own edit")
    (models / "Plexi.npz").write_bytes(b"user model")

    out = run_script("install.sh", "--hat", "codec-zero", env=env).stdout
    assert config.read_text() == '[audio]\ndevice = "hw:CARD=USB,DEV=0"\n'
    assert "config.toml.dist" in out
    # The new defaults sit beside the kept config, with the new HAT's card.
    assert tomllib.loads((root / "etc/tubeless/config.toml.dist").read_text())["audio"] == {"device": "Zero"}
    assert (models / "default_model.npz").read_bytes() == b"the user's own edit"
    assert (models / "Plexi.npz").read_bytes() == b"user model"
    boot = (root / "boot/firmware/config.txt").read_text()
    assert boot.count(BOOT_BEGIN) == 1
    assert "dtoverlay=rpi-codeczero" in boot and "dtoverlay=pisound" not in boot

    # A third identical run changes nothing at all.
    before = snapshot(root)
    run_script("install.sh", "--hat", "codec-zero", env=env)
    assert snapshot(root) == before


def test_custom_paths_are_written_into_the_unit(staging):
    root, env = staging
    env = {**env, "PREFIX": "/usr/local/lib/tubeless", "SYSCONFDIR": "/etc/pedal",
           "STATEDIR": "/srv/pedal"}
    run_script("install.sh", env=env)
    unit = (root / "etc/systemd/system/tubeless.service").read_text()
    assert "ExecStart=/usr/local/lib/tubeless/venv/bin/tubeless run --config /etc/pedal/config.toml" in unit
    assert "ReadWritePaths=/srv/pedal" in unit
    assert "/opt/tubeless" not in unit and "/var/lib/tubeless" not in unit
    assert (root / "srv/pedal/models").is_dir()
    # No --hat: the boot config is not touched.
    assert (root / "boot/firmware/config.txt").read_text() == ORIGINAL_BOOT_CONFIG


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_installed_unit_with_custom_prefix_verifies_clean(staging, tmp_path):
    root, env = staging
    prefix = tmp_path / "prefix"           # a real directory, so ExecStart can exist
    run_script("install.sh", env={**env, "PREFIX": str(prefix)})
    exe = prefix / "venv/bin/tubeless"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    unit = root / "etc/systemd/system/tubeless.service"
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, (proc.stdout + proc.stderr).strip()) == (0, "")


def test_dry_run_lists_the_live_steps_and_writes_nothing(staging, tmp_path):
    root, env = staging
    before = snapshot(root)
    # A live (not staged) dry run, its paths in fresh directories: on a machine where the
    # pedal is already installed (a Pi, the arm64 check) the first-time steps still show.
    fresh = {"DESTDIR": "", "PREFIX": str(tmp_path / "opt"), "SYSCONFDIR": str(tmp_path / "etc"),
             "UNITDIR": str(tmp_path / "units"), "STATEDIR": str(tmp_path / "state"),
             "BINDIR": str(tmp_path / "bin")}
    out = run_script("install.sh", "--dry-run", "--hat", "pisound", env=fresh).stdout
    # The service user is created once; on a machine where it exists only usermod runs.
    user_exists = subprocess.run(["getent", "passwd", "tubeless"], capture_output=True).returncode == 0
    assert ("usermod -a -G audio,gpio,spi tubeless" if user_exists else "useradd --system") in out
    for step in ("apt-get install", "python3 -m venv",
                 f"write {tmp_path}/etc/config.toml", f"write {tmp_path}/units/tubeless.service",
                 "systemctl enable tubeless.service", "runuser -u tubeless"):
        assert step in out, step
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc").exists()
    # Staged dry run: nothing appears in the root either.
    run_script("install.sh", "--dry-run", env=env)
    assert snapshot(root) == before


def test_bad_arguments_are_refused_with_usage(staging):
    _, env = staging
    proc = run_script("install.sh", "--hat", "sb-live", env=env, check=False)
    assert proc.returncode == 2 and "unknown HAT 'sb-live'" in proc.stderr
    proc = run_script("install.sh", "--frobnicate", env=env, check=False)
    assert proc.returncode == 2 and "Usage:" in proc.stderr


def test_uninstall_reverses_install_but_keeps_config_and_models(staging):
    root, env = staging
    run_script("install.sh", "--hat", "audioinjector-stereo", env=env)
    (root / "var/lib/tubeless/models/Plexi.npz").write_bytes(b"user model")

    run_script("uninstall.sh", env=env)
    assert not (root / "etc/systemd/system/tubeless.service").exists()
    assert not (root / "opt/tubeless").exists()
    assert not (root / "var/cache/tubeless").exists()
    assert (root / "boot/firmware/config.txt").read_text() == ORIGINAL_BOOT_CONFIG
    assert (root / "etc/tubeless/config.toml").exists()
    assert (root / "var/lib/tubeless/models/Plexi.npz").read_bytes() == b"user model"

    run_script("uninstall.sh", "--purge", env=env)
    assert not (root / "etc/tubeless").exists() and not (root / "var/lib/tubeless").exists()
    run_script("uninstall.sh", env=env)   # nothing left to do is not an error


def test_install_stages_the_web_unit_and_mdns(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    env = {"DESTDIR": str(root), "STATEDIR": "/srv/pedal", "ASSETS_DIR": str(tmp_path)}
    proc = run_script("install.sh", env=env)
    unit = (root / "etc/systemd/system/tubeless-web.service").read_text()
    assert "ReadWritePaths=/srv/pedal/models /srv/pedal/presets -/srv/pedal/recordings -/srv/pedal/captures /etc/tubeless" in unit and "StateDirectory=tubeless-web" in unit
    assert (root / "srv/pedal/presets/banks").is_dir()          # the page saves presets and imports rigs there
    avahi = (root / "etc/avahi/services/tubeless.service").read_text()
    assert "<type>_http._tcp</type><port>80</port>" in avahi
    assert "web page: http://" in proc.stdout
    run_script("uninstall.sh", env=env)
    assert not (root / "etc/systemd/system/tubeless-web.service").exists()
    assert not (root / "etc/avahi/services/tubeless.service").exists()


# ----------------------------------------------------------------------------- hat-mixer.sh

def hats_table(function):
    """{hat: value} from a function in scripts/hats.sh, as the shell answers it."""
    script = f'. "{SCRIPTS}/hats.sh"; for h in $SUPPORTED_HATS; do echo "$h=$({function} $h)"; done'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.split())


def test_shell_and_python_agree_on_card_ids():
    assert hats_table("hat_card_id") == alsa_cards.HAT_CARD_IDS
    assert set(hats_table("hat_overlay").values()) == {
        "dtoverlay=hifiberry-dacplusadcpro", "dtoverlay=rpi-codeczero", "dtoverlay=iqaudio-codec",
        "dtoverlay=audioinjector-wm8731-audio", "dtoverlay=pisound"}


UDEV_RULES = "etc/udev/rules.d/60-tubeless-gpio.rules"


def test_gpio_udev_rule_where_the_os_has_none_and_uninstall_removes_it(staging):
    root, env = staging          # no udev rules in this root: plain Debian's situation
    out = run_script("install.sh", env=env).stdout
    rules = (root / UDEV_RULES).read_text()
    assert 'KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' in rules
    assert 'SUBSYSTEM=="spidev", GROUP="spi", MODE="0660"' in rules
    assert "gpiochip* to group gpio" in out
    run_script("uninstall.sh", env=env)
    assert not (root / UDEV_RULES).exists()


def test_no_udev_rule_where_the_os_has_one(staging):
    root, env = staging
    os_rules = root / "usr/lib/udev/rules.d/99-com.rules"    # Raspberry Pi OS's
    os_rules.parent.mkdir(parents=True)
    os_rules.write_text('SUBSYSTEM=="gpio", GROUP="gpio", MODE="0660"\n')
    run_script("install.sh", env=env)
    assert not (root / UDEV_RULES).exists()
    assert not (root / "etc/udev").exists()


@pytest.mark.parametrize("compatible, overlay", [
    (b"raspberrypi,5-model-b\0brcm,bcm2712\0", "dtoverlay=pisound-pi5"),
    (b"raspberrypi,4-model-b\0brcm,bcm2711\0", "dtoverlay=pisound"),
])
def test_pisound_gets_the_pi5_overlay_on_a_pi5(staging, tmp_path, compatible, overlay):
    root, env = staging
    tree = tmp_path / "device-tree"
    tree.mkdir()
    (tree / "compatible").write_bytes(compatible)
    run_script("install.sh", "--hat", "pisound", env={**env, "DEVICE_TREE": str(tree)})
    block = (root / "boot/firmware/config.txt").read_text().split(BOOT_BEGIN)[1]
    assert block == f"\ndtparam=spi=on\n{overlay}\n# <<< tubeless <<<\n"


@pytest.fixture
def fake_amixer(tmp_path):
    """amixer and alsactl stand-ins that log their arguments, one call per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    for tool in ("amixer", "alsactl"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\nprintf "{tool}" >>"{log}"\n'
                          f'for a in "$@"; do printf " [%s]" "$a" >>"{log}"; done\necho >>"{log}"\n'
                          # a control this fake card lacks, to exercise the failure report
                          'case "$*" in *"name=Input Mux"*) exit 1 ;; esac\n')
        script.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return env, log


def test_mixer_sets_each_control_on_the_hats_card_then_stores(fake_amixer):
    env, log = fake_amixer
    out = run_script("hat-mixer.sh", "--gain", "20", "hifiberry-dacplusadcpro", env=env).stdout
    calls = log.read_text().splitlines()
    assert calls[0] == "amixer [-c] [sndrpihifiberry] [info]"
    assert "amixer [-q] [-c] [sndrpihifiberry] [cset] [name=ADC Left Input] [VINL1[SE]]" in calls
    assert "amixer [-q] [-c] [sndrpihifiberry] [cset] [name=PGA Gain Left] [20.0dB]" in calls
    assert calls[-1] == "alsactl [store] [sndrpihifiberry]"
    assert "input gain 20 dB" in out


def test_mixer_gain_maps_to_the_codecs_steps(fake_amixer):
    env, log = fake_amixer
    run_script("hat-mixer.sh", "--no-store", "--gain", "12", "codec-zero", env=env)
    calls = log.read_text()
    assert "[name=Mixin PGA Volume] [11,11]" in calls          # -4.5 dB + 11 x 1.5 dB = 12 dB
    assert "[name=Mixout Left Aux Left Switch] [off]" in calls  # no dry analog path
    assert "alsactl" not in calls


def test_mixer_reports_controls_the_card_lacks(fake_amixer):
    env, log = fake_amixer
    proc = run_script("hat-mixer.sh", "audioinjector-stereo", env=env, check=False)
    assert proc.returncode == 1
    assert re.search(r"could not be set on card 'audioinjectorpi'.*\n  Input Mux = Line In", proc.stderr)
    assert "alsactl" not in log.read_text()    # a half-set mixer is not saved


def test_mixer_refuses_bad_input(fake_amixer):
    env, _ = fake_amixer
    assert run_script("hat-mixer.sh", "--gain", "loud", "pisound", env=env, check=False).returncode == 2
    assert run_script("hat-mixer.sh", "soundblaster", env=env, check=False).returncode == 2
    out = run_script("hat-mixer.sh", "pisound", env=env).stdout
    assert "knob" in out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_scripts_are_shellcheck_clean():
    scripts = ["install.sh", "uninstall.sh", "install-common.sh", "hats.sh", "hat-mixer.sh", "deploy.sh",
               "bootstrap.sh", "check-arm64.sh", "arm64/inside.sh"]
    # From the repository root: the scripts' `shellcheck source=scripts/...` lines say so.
    proc = subprocess.run(["shellcheck", "-x", "-s", "sh", *(f"scripts/{s}" for s in scripts)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- GPIO backend

REAL_LGPIO = "LGPIO_PY_VERSION = 0x00020200\ndef gpiochip_open(chip):\n    return 0\n"
PLACEHOLDER_LGPIO = "# what the lgpio 0.0.0.x placeholder on PyPI installs: no library at all\n"


@pytest.fixture
def fake_venv(tmp_path):
    """A venv whose python is this test's interpreter (gpiozero importable) with a directory
    of stand-in modules first on its path, and whose pip logs its call, then does what
    FAKE_PIP says: 'swig' fails the way a missing swig does, 'real' installs a working
    lgpio, 'placeholder' installs PyPI's empty one."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    site = tmp_path / "site"
    site.mkdir()
    calls = tmp_path / "pip-calls"
    python = venv / "bin/python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec "{os.sys.executable}" "$@"\n')
    pip = venv / "bin/pip"
    pip.write_text(
        f'#!/bin/sh\necho "PYPI=$PYPI $*" >>"{calls}"\n'
        'echo "Collecting lgpio>=0.2"; echo "  Building wheel for lgpio (pyproject.toml): started"\n'
        'case $FAKE_PIP in\n'
        '  swig) printf "%s\\n" "  error: subprocess-exited-with-error" "      swigging lgpio.i to lgpio_wrap.c"'
        ' "      error: command '"'"'swig'"'"' failed: No such file or directory"'
        ' "  note: This error originates from a subprocess" '
        '"ERROR: Failed to build installable wheels for some pyproject.toml based projects (lgpio)" >&2; exit 1 ;;\n'
        f"  real) printf '%s' '{REAL_LGPIO}' >\"{site}/lgpio.py\" ;;\n"
        f"  placeholder) printf '%s' '{PLACEHOLDER_LGPIO}' >\"{site}/lgpio.py\" ;;\n"
        'esac\n')
    python.chmod(0o755)
    pip.chmod(0o755)
    return venv, site, calls


def setup_gpio(venv, fake_pip, *, dry_run=False):
    script = f'. "{SCRIPTS}/install-common.sh"; VENV="{venv}"; setup_gpio; echo "status $?"'
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FAKE_PIP": fake_pip, "DRY_RUN": "1" if dry_run else "0"})


def test_gpio_uses_an_lgpio_already_there_without_calling_pip(fake_venv):
    venv, site, calls = fake_venv
    (site / "lgpio.py").write_text(REAL_LGPIO)      # the OS's python3-lgpio, seen by the venv
    proc = setup_gpio(venv, "swig")
    assert proc.stdout.splitlines()[-1] == "status 0"
    assert "tubeless: GPIO backend: lgpio (installed in" in proc.stdout
    assert not calls.exists()


def test_gpio_builds_lgpio_with_its_bundled_library_when_missing(fake_venv):
    venv, site, calls = fake_venv
    (site / "lgpio.py").write_text(PLACEHOLDER_LGPIO)   # pip resolved lgpio to the stub once
    proc = setup_gpio(venv, "real")
    # Asked with the version floor, and PYPI=1 so the build needs no system liblgpio.
    assert calls.read_text() == "PYPI=1 install --disable-pip-version-check lgpio>=0.2\n"
    lines = [line for line in proc.stdout.splitlines() if "GPIO backend" in line]
    assert lines == [f"tubeless: GPIO backend: lgpio (PyPI, installed in {venv}); "
                     "footswitches work on every Pi, the Pi 5 included"]
    assert "Collecting" not in proc.stdout + proc.stderr          # pip's chatter stays hidden


def test_gpio_falls_back_to_native_pins_and_says_why_when_lgpio_cannot_be_built(fake_venv):
    venv, _, _ = fake_venv
    proc = setup_gpio(venv, "swig")
    assert proc.stdout.splitlines()[-1] == "status 0"              # never fails the install
    warning = [line for line in proc.stderr.splitlines() if "GPIO backend" in line]
    assert len(warning) == 1
    assert "gpiozero's native pin factory" in warning[0]
    assert "error: command 'swig' failed: No such file or directory" in warning[0]
    assert "on a Pi 5 the pedal plays without them" in warning[0]
    assert "Building wheel" not in proc.stdout + proc.stderr      # one line, not pip's page


def test_gpio_does_not_take_the_empty_placeholder_for_lgpio(fake_venv):
    venv, _, _ = fake_venv
    proc = setup_gpio(venv, "placeholder")     # pip "succeeds" but installs no library
    assert "GPIO backend: lgpio" not in proc.stdout + proc.stderr
    assert "gpiozero's native pin factory" in proc.stderr
    # the reason is the import's own error, not "no reason given" (check-arm64 on trixie)
    assert "no reason given" not in proc.stderr and "gpiochip_open" in proc.stderr


def test_gpio_dry_run_only_prints(fake_venv):
    venv, _, calls = fake_venv
    proc = setup_gpio(venv, "real", dry_run=True)
    assert f"+ env PYPI=1 {venv}/bin/pip install --disable-pip-version-check lgpio>=0.2" in proc.stdout
    assert not calls.exists()


# ----------------------------------------------------------------------------- quiet pip

def test_quietly_is_silent_on_success_and_shows_everything_on_failure():
    common = f'. "{SCRIPTS}/install-common.sh"; '
    ok = subprocess.run(["sh", "-c", common + 'quietly sh -c "echo chatter; echo more >&2"; echo "status $?"'],
                        capture_output=True, text=True, timeout=60)
    assert (ok.stdout, ok.stderr) == ("status 0\n", "")
    bad = subprocess.run(["sh", "-c", common + 'quietly sh -c "echo step one; echo the cause >&2; exit 3"; '
                          'echo "status $?"'], capture_output=True, text=True, timeout=60)
    assert bad.stdout == "status 3\n"
    assert "failed (exit 3)" in bad.stderr and "step one\nthe cause\n" in bad.stderr


@pytest.fixture
def fake_bootstrap_venv(tmp_path):
    """A venv whose python answers `-m pip ...` with pip-like chatter; FAKE_PIP=fail fails."""
    if not Path("/usr/include/alsa/asoundlib.h").exists():
        pytest.skip("ALSA headers missing (bootstrap.sh would install them)")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin/python"
    python.write_text('#!/bin/sh\necho "Obtaining file:///work"\n'
                      'echo "BuildBackendWarning: something deprecated" >&2\n'
                      'echo "Successfully installed numpy numba"\n'
                      '[ "$FAKE_PIP" != fail ] || { echo "ERROR: No matching distribution" >&2; exit 1; }\n')
    python.chmod(0o755)
    return venv


def test_bootstrap_prints_one_line_per_step_and_hides_pip(fake_bootstrap_venv):
    proc = subprocess.run(["sh", str(SCRIPTS / "bootstrap.sh"), "python3", str(fake_bootstrap_venv), "base"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        f"bootstrap: installing tubeless and its dependencies (numpy, Numba, SciPy, pyalsaaudio...) "
        f"into {fake_bootstrap_venv}: a few minutes the first time"]


def test_bootstrap_shows_pips_output_when_it_fails(fake_bootstrap_venv):
    proc = subprocess.run(["sh", str(SCRIPTS / "bootstrap.sh"), "python3", str(fake_bootstrap_venv), "dev"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "FAKE_PIP": "fail"})
    assert proc.returncode == 1
    assert "ERROR: No matching distribution" in proc.stderr and "Obtaining file:///work" in proc.stderr
    assert proc.stdout.splitlines() == [
        "bootstrap: installing the training and test extras (PyTorch CPU, pytest; "
        "a few minutes and ~1 GB the first time)"]


# ----------------------------------------------------------------------------- package metadata

def test_metadata_builds_without_deprecation_warnings(tmp_path):
    """The license as an SPDX expression (PEP 639): setuptools builds the metadata without
    the 'project.license as a TOML table is deprecated' warning pip used to print."""
    setuptools = pytest.importorskip("setuptools")
    needed = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    floor = int(re.search(r"setuptools>=(\d+)", " ".join(needed)).group(1))
    if int(setuptools.__version__.split(".")[0]) < floor:
        pytest.skip(f"setuptools {setuptools.__version__} is older than the build's >={floor}")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    for package in ("firmware", "training"):
        (project / package).mkdir()
        (project / package / "__init__.py").write_text("")
    code = ("import warnings, setuptools.build_meta as b\n"
            "warnings.simplefilter('always')\n"
            "print(b.prepare_metadata_for_build_wheel('meta'))\n")
    (project / "meta").mkdir()
    proc = subprocess.run([os.sys.executable, "-c", code], cwd=project, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "deprecat" not in (proc.stdout + proc.stderr).lower(), proc.stderr
    metadata = (project / "meta" / proc.stdout.split()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("gpiozero" in line for line in requires)
    # The GPIO library is install.sh's choice (OS package, build, or none), not pip's.
    assert not [line for line in requires if "lgpio" in line or "RPi.GPIO" in line]

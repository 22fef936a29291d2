"""Shared test setup: Numba's cache inside the repo, and the fixtures the test files share
(the shared material, test signals, mock pins, a small pedal in this process, a JACK dummy
device). Plain helper functions are in helpers.py."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Before anything imports firmware (and compiles): keep Numba's cache in the repo, not in
# __pycache__ next to read-only installs, so a second run reuses the compiled kernels.
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import guitar_like  # noqa: E402

SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir():
    """../shared (third-party models, notes); tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared material not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def corpus(shared_dir):
    """The conformance corpus (../shared/corpus: real files and their reference players' outputs)."""
    path = shared_dir / "corpus"
    if not path.is_dir():
        pytest.skip(f"conformance corpus not found at {path}")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def test_signal():
    """helpers.guitar_like(n, seed=...) as a fixture: `test_signal(4800)`."""
    return guitar_like


@pytest.fixture
def mock_pins(monkeypatch):
    """gpiozero's mock pin factory for the footswitches, LEDs and the MCP3008; reset after the test."""
    from firmware.testing.mockhw import use_mock_pins
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    factory = use_mock_pins()
    yield factory
    factory.reset()


@pytest.fixture
def small_pedal(tmp_path):
    """small_pedal(names="ABC", overrides=None): a library of small LSTMs named `names` and the
    pedal's three parts in this process, its first model playing: (pedal, engine, cfg)."""
    from firmware.testing.pedal import small_pedal as start
    return lambda names="ABC", overrides=None: start(tmp_path, names, overrides)


@pytest.fixture
def jack_device(tmp_path, monkeypatch):
    """A JACK dummy server (48 kHz, 64-frame periods, paced in real time) behind ALSA's jack
    plugin: the ALSA device name to play on. Skips when jackd does not start."""
    from firmware.tools.rtbench import jack_alsa_conf
    name = f"tubeless{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    conf = tmp_path / "jack.conf"
    conf.write_text(jack_alsa_conf("tubeless_jack"))
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"/usr/share/alsa/alsa.conf:{conf}")
    from firmware.tools.rtbench import wait_for_jack
    proc = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "48000", "-p", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_jack(name, proc):
        proc.kill()
        pytest.skip("jackd did not start")
    yield "tubeless_jack"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def warmed_cache(tmp_path_factory):
    """A Numba cache that `tubeless warm` filled from empty, once for the whole suite (a cold
    compile of every kernel is minutes here): (folder, warm's output, seconds). Tests that
    change a cache copy it first. What it compiled also seeds the suite's own cache where
    that lacks it (a fresh clone): the tests after it load their kernels instead of each
    compiling them cold again."""
    cache = tmp_path_factory.mktemp("warmed") / "numba"
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "firmware", "warm"], env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)),
                         cwd=str(REPO), capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr
    seconds = time.monotonic() - t0
    suite = Path(os.environ["NUMBA_CACHE_DIR"])
    for f in cache.rglob("*"):
        target = suite / f.relative_to(cache)
        if f.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    return cache, res.stdout, seconds


def pytest_collection_modifyitems(items):
    """The tests on the warmed cache first (a stable sort): it then seeds the suite's cache
    before anything else compiles."""
    items.sort(key=lambda item: "warmed_cache" not in getattr(item, "fixturenames", ()))


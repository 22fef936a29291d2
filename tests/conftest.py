"""Shared test setup: Numba's cache inside the repo, the shared material, test signals."""
import os
import sys
from pathlib import Path

# Before anything imports firmware (and compiles): keep Numba's cache in the repo, not in
# __pycache__ next to read-only installs, so a second run reuses the compiled kernels.
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir():
    """../shared (third-party models, notes); tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared material not found at {SHARED}")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def guitar_like(n, sample_rate=48000, seed=0):
    """A deterministic, guitar-like float32 test signal: a decaying low chord over a little
    noise, then a louder pluck halfway, peaking near 0.9 so a model's clean and driven
    regions are both exercised."""
    t = np.arange(n) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(n)
    x = 0.5 * np.exp(-4 * t) * sum(np.sin(2 * np.pi * f * t) for f in (82.4, 110.0, 146.8)) / 3
    x += 0.03 * noise
    half = n // 2
    x[half:] += 0.6 * np.sin(2 * np.pi * 196.0 * t[:n - half]) * np.exp(-12 * t[:n - half])
    return x.astype(np.float32)


@pytest.fixture(scope="session")
def test_signal():
    """guitar_like(n, seed=...) as a fixture: `test_signal(4800)`."""
    return guitar_like

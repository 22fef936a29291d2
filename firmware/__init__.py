"""tubeless firmware: what runs on the pedal. numpy + numba only, never torch."""
import os as _os
import tempfile as _tempfile


def _configure_numba_cache():
    """Numba's on-disk cache needs a writable directory even to *load* cached code.

    Order: NUMBA_CACHE_DIR if already set (systemd's CacheDirectory=, the Makefile),
    TUBELESS_CACHE_DIR, $XDG_CACHE_HOME/tubeless/numba, ~/.cache/tubeless/numba, and a
    temporary directory as the last resort (slower boots, but never a crash).
    """
    if _os.environ.get("NUMBA_CACHE_DIR"):
        candidates = [_os.environ["NUMBA_CACHE_DIR"]]
    else:
        candidates = []
    if _os.environ.get("TUBELESS_CACHE_DIR"):
        candidates.append(_os.environ["TUBELESS_CACHE_DIR"])
    xdg = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    candidates.append(_os.path.join(xdg, "tubeless", "numba"))
    candidates.append(_os.path.join(_tempfile.gettempdir(), f"tubeless-numba-{_os.getuid()}"))
    for path in candidates:
        try:
            _os.makedirs(path, exist_ok=True)
            if _os.access(path, _os.W_OK | _os.X_OK):
                _os.environ["NUMBA_CACHE_DIR"] = path
                return path
        except OSError:
            continue
    return None


NUMBA_CACHE_DIR = _configure_numba_cache()
# The bundled model, cabinet IR and DI clip (package data).
DATA_DIR = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "data")
__version__ = "0.1.0"

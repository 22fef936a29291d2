"""The njit flavour every kernel uses, and what this process knows of its compiles.

- cache=True: compiled once per machine into NUMBA_CACHE_DIR, loaded on later starts.
- error_model="numpy": without it every float division carries a Python-style
  ZeroDivisionError check, which stops LLVM vectorising any loop that divides (the
  rational tanh ran 7x slower).
- fastmath "contract" only: lets a*b+c become one FMA, but keeps NaN/Inf semantics
  (the pedal must see a model's NaN to mute it).
- nogil=True: a kernel call releases the GIL, so a model being prewarmed or measured on
  another thread runs beside the audio thread instead of making it wait.

A compile (a cache miss: Numba's "numba:compile" event, which loading from the cache does
not raise) is watched process-wide by `CompileWatch`: it is never charged to a file's CPU
limit (core.sandbox.uncharged), and it is announced once, "compiling kernels, first run
only", with a progress line while it goes on, wherever it happens (render, convert,
simulate, the engine, the librarian).
"""
import logging
import threading
import time

from numba import njit
from numba.core import event

from firmware.core import sandbox

OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
NOTICE = "compiling kernels, first run only"

log = logging.getLogger(__name__)


def kernel(func):
    return njit(**OPTIONS)(func)


def inline(func):
    return njit(inline="always", **OPTIONS)(func)


class CompileWatch(event.Listener):
    """Numba's compile events, outermost ones only (compiling a kernel compiles the kernels
    it calls inside it): each is uncharged from the CPU limit in force, counted, and told in
    the log: NOTICE at the first, then a progress line at most every `every_s` seconds."""

    def __init__(self, every_s=60.0):
        self.every_s = every_s
        self.compiles = 0              # outermost compiles finished in this process
        self.seconds = 0.0             # wall time they took
        self._local = threading.local()
        self._said = None              # monotonic time of the last line, None before the first

    def on_start(self, ev):
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if depth:
            return
        self._local.t0 = time.monotonic()
        self._local.uncharged = sandbox.uncharged()
        self._local.uncharged.__enter__()
        self._tell(_name(ev))

    def on_end(self, ev):
        self._local.depth -= 1
        if self._local.depth:
            return
        self._local.uncharged.__exit__(None, None, None)
        self.compiles += 1
        self.seconds += time.monotonic() - self._local.t0

    def _tell(self, name):
        now = time.monotonic()
        if self._said is None:
            log.info("%s (Numba's cache keeps them for the next start): %s", NOTICE, name)
        elif now - self._said >= self.every_s:
            log.info("%s: %d done in %.0f s, now %s", NOTICE, self.compiles, self.seconds, name)
        else:
            return
        self._said = now


def _name(ev):
    dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
    func = getattr(dispatcher, "py_func", None)
    return f"{func.__module__}.{func.__qualname__}" if func is not None else "?"


WATCH = CompileWatch()
event.register("numba:compile", WATCH)


def dispatchers(modules):
    """Every Numba dispatcher defined in `modules` (module objects): [(qualified name, it)]."""
    from numba.core.registry import CPUDispatcher
    found = []
    for module in modules:
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.__name__:
                found.append((f"{module.__name__}.{name}", value))
    return found


def cache_counts(modules):
    """Numba's own counters over the dispatchers of `modules`: (signatures loaded from the
    cache, signatures compiled) in this process so far."""
    hits = misses = 0
    for _, d in dispatchers(modules):
        hits += sum(d.stats.cache_hits.values())
        misses += sum(d.stats.cache_misses.values())
    return hits, misses

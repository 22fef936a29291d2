"""The njit flavour every kernel uses.

- cache=True: compiled once per machine into NUMBA_CACHE_DIR, loaded on later starts.
- error_model="numpy": without it every float division carries a Python-style
  ZeroDivisionError check, which stops LLVM vectorising any loop that divides (the
  rational tanh ran 7x slower).
- fastmath "contract" only: lets a*b+c become one FMA, but keeps NaN/Inf semantics
  (the pedal must see a model's NaN to mute it).
- nogil=True: a kernel call releases the GIL, so a model being prewarmed or measured on
  another thread runs beside the audio thread instead of making it wait.
"""
from numba import njit

OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})


def kernel(func):
    return njit(**OPTIONS)(func)


def inline(func):
    return njit(inline="always", **OPTIONS)(func)

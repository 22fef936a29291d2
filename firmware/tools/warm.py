"""`tubeless warm`: compile every kernel into the Numba cache now (at install or first boot),
and say what it did: how many kernels, how many compiled (cache misses, by Numba's own
counters) and how long it took."""
import sys
import time

from firmware import NUMBA_CACHE_DIR
from firmware.dsp.warm import warm


def firmware_modules():
    """The firmware's modules loaded in this process (where its kernels are defined)."""
    return [m for name, m in list(sys.modules.items()) if m is not None and name.split(".")[0] == "firmware"]


def summary(seconds, cpu_seconds, hits, misses):
    """The one line `tubeless warm` ends with."""
    # A compile counts every kernel (those a kernel calls included); a load from the cache
    # only the ones called from Python, the others come inside them.
    return (f"{misses} kernels compiled, {hits} loaded from the cache, in {seconds:.1f} s "
            f"({cpu_seconds:.1f} s of CPU; Numba cache: {NUMBA_CACHE_DIR})")


def run(args):
    from firmware.models import _jit
    cpu0 = time.process_time()
    seconds = warm()
    hits, misses = _jit.cache_counts(firmware_modules())
    print(summary(seconds, time.process_time() - cpu0, hits, misses))
    return 0


def register(sub):
    p = sub.add_parser("warm", help="compile every kernel into the Numba cache (install, first boot)")
    p.set_defaults(func=run)

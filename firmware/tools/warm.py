"""`tubeless warm`: compile every kernel into the Numba cache now (at install or first boot)."""
from firmware import NUMBA_CACHE_DIR
from firmware.dsp.warm import warm


def run(args):
    seconds = warm()
    print(f"kernels compiled or loaded in {seconds:.1f} s (Numba cache: {NUMBA_CACHE_DIR})")
    return 0


def register(sub):
    p = sub.add_parser("warm", help="compile every kernel into the Numba cache (install, first boot)")
    p.set_defaults(func=run)

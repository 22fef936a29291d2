"""`tubeless warm`: compile every kernel into the Numba cache now (at install or first boot),
and say what it did: how many kernels, how many compiled (cache misses, by Numba's own
counters) and how long it took.

The parts of dsp.warm compile in child processes side by side (`--jobs`, by default one a
core, as many as memory allows): LLVM compiles on one core, so a Pi 4 waits for about the
longest part instead of their sum. A last pass here loads every kernel back: what two
children raced to write into one cache index, and lost, compiles then."""
import json
import os
import resource
import subprocess
import sys
import time

from firmware import NUMBA_CACHE_DIR
from firmware.dsp.warm import PARTS, warm

MEMORY_PER_JOB = 700 * 2 ** 20      # an LLVM compile of the WaveNet kernel peaks near 500 MB


def firmware_modules():
    """The firmware's modules loaded in this process (where its kernels are defined)."""
    return [m for name, m in list(sys.modules.items()) if m is not None and name.split(".")[0] == "firmware"]


def compiled_here():
    """{(kernel, signature)} that this process compiled (cache misses, by Numba's counters)."""
    from firmware.models import _jit
    return {(name, str(sig)) for name, d in _jit.dispatchers(firmware_modules())
            for sig, n in d.stats.cache_misses.items() if n}


def loaded_here():
    from firmware.models import _jit
    return _jit.cache_counts(firmware_modules())[0]


def summary(seconds, cpu_seconds, hits, misses):
    """The one line `tubeless warm` ends with."""
    # A compile counts every kernel (those a kernel calls included); a load from the cache
    # only the ones called from Python, the others come inside them.
    return (f"{misses} kernels compiled, {hits} loaded from the cache, in {seconds:.1f} s "
            f"({cpu_seconds:.1f} s of CPU; Numba cache: {NUMBA_CACHE_DIR})")


def default_jobs():
    """One a core, fewer where memory is short (a 1 GB Pi compiles one part at a time)."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        available = MEMORY_PER_JOB
    return max(1, min(os.cpu_count() or 1, len(PARTS), available // MEMORY_PER_JOB))


def _cpu_seconds():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _in_children(jobs):
    """Every part in a child process, `jobs` at a time, longest first: (compiled, loaded)."""
    waiting, running, compiled, loaded = list(PARTS), [], set(), 0
    while waiting or running:
        while waiting and len(running) < jobs:
            part = waiting.pop(0)
            running.append((part, subprocess.Popen([sys.executable, "-m", "firmware", "warm", "--part", part],
                                                   stdout=subprocess.PIPE, text=True)))
        part, proc = running.pop(0)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"warming the {part} kernels failed (exit status {proc.returncode})")
        report = json.loads(out.strip().splitlines()[-1])
        compiled |= {tuple(k) for k in report["compiled"]}
        loaded += report["loaded"]
    return compiled, loaded


def run(args):
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    if args.part:                                   # one part, for the parent: what it did, as JSON
        warm(parts=[args.part])
        print(json.dumps({"compiled": sorted(compiled_here()), "loaded": loaded_here()}))
        return 0
    jobs = args.jobs or default_jobs()
    compiled, loaded = _in_children(jobs) if jobs > 1 else (set(), 0)
    warm()                                          # alone: everything; after children: loads them back
    compiled |= compiled_here()
    if jobs == 1:
        loaded = loaded_here()
    print(summary(time.perf_counter() - t0, _cpu_seconds() - cpu0, loaded, len(compiled)))
    return 0


def _jobs(text):
    n = int(text)
    if n < 1:
        raise ValueError(text)
    return n


def register(sub):
    p = sub.add_parser("warm", help="compile every kernel into the Numba cache (install, first boot)")
    p.add_argument("--jobs", type=_jobs, default=0, metavar="N",
                   help="parts compiled side by side, each in its own process (default: one a core, "
                        "as memory allows)")
    p.add_argument("--part", choices=sorted(PARTS), help="compile just this part here and report it as JSON "
                                                         "(what --jobs runs in each child)")
    p.set_defaults(func=run)

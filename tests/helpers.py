"""What a block loop allocates, measured with tracemalloc (shared by the pedal's tests)."""
import tracemalloc

import numpy as np


def allocations(run):
    """Run `run()` under tracemalloc: (NumPy bytes still held afterwards, peak bytes above
    the start, bytes above the start at the end)."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        run()
        current, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    numpy_domain = tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)
    kept = sum(s.size_diff for s in after.filter_traces([numpy_domain]).compare_to(
        before.filter_traces([numpy_domain]), "filename"))
    return kept, peak - base, current - base

"""Compare two renders sample by sample: the x86 one and the arm64 one (scripts/check-arm64.sh).

Usage: python compare.py X86.wav ARM64.wav TOLERANCE
Exits 1 when the files differ in rate, length or channels, hold NaN/inf, or any sample
differs by more than TOLERANCE; prints the largest difference either way.
"""
import sys

import numpy as np
import soundfile as sf


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ref_path, got_path, tol = argv[0], argv[1], float(argv[2])
    ref, ref_rate = sf.read(ref_path, dtype="float64", always_2d=True)
    got, got_rate = sf.read(got_path, dtype="float64", always_2d=True)
    if (ref_rate, ref.shape) != (got_rate, got.shape):
        print(f"FAIL {got_path}: {got.shape} at {got_rate} Hz, the x86 render is {ref.shape} at {ref_rate} Hz")
        return 1
    if not (np.isfinite(ref).all() and np.isfinite(got).all()):
        print(f"FAIL {got_path}: NaN or inf in a render")
        return 1
    diff = np.abs(ref - got)
    worst = int(np.argmax(diff.max(axis=1))) if diff.size else 0
    err = float(diff.max()) if diff.size else 0.0
    peak = float(np.abs(ref).max()) if ref.size else 0.0
    verdict = "ok  " if err <= tol else "FAIL"
    print(f"{verdict} {got_path}: max |difference| = {err:.3g} at sample {worst} of {len(ref)} "
          f"(tolerance {tol:g}, signal peak {peak:.3g}, {np.count_nonzero(diff > 0)} samples differ)")
    return 0 if err <= tol else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A model's loudness, for normalising its output level when its file does not state one.

NAM files carry `metadata.loudness` (dB of the output for the trainer's standard input);
GuitarML and AIDA-X files, and models trained before this existed, do not. Without it a
hot model would come out 20 dB louder than a clean one. The same definition is measured
here on our own standard input (a plucked-chord clip at a typical DI level): dB RMS of
the model's output, so -18 dB targets put every model at about the same level.
"""
import numpy as np

STANDARD_SECONDS = 1.0


def standard_input(sample_rate=48000):
    """1 s of a decaying open chord plus a single-note phrase, ~-20 dBFS RMS, deterministic."""
    n = int(STANDARD_SECONDS * sample_rate)
    t = np.arange(n) / sample_rate
    x = np.zeros(n)
    for i, f in enumerate((82.41, 110.0, 146.83, 196.0, 246.94, 329.63)):    # E A D G B E
        onset = int(0.01 * i * sample_rate)
        tt = t[: n - onset]
        partials = sum(np.sin(2 * np.pi * k * f * tt) / k ** 1.5 for k in range(1, 6))
        x[onset:] += partials * np.exp(-tt * 3.0)
    x /= np.sqrt(np.mean(x ** 2))
    return (0.1 * x).astype(np.float32)                                  # -20 dBFS RMS


def measure(model_file, max_block=4096):
    """dB RMS of the model's output for the standard input (knobs at their defaults)."""
    x = standard_input(model_file.sample_rate)
    model = model_file.build(max_block=max_block)
    y = model.render(x, block=max_block, prewarm=True)
    power = float(np.mean(np.square(y, dtype=np.float64)))
    if not np.isfinite(power):
        return float("nan")
    return 10.0 * np.log10(max(power, 1e-20))


def loudness_db(model_file):
    """The file's stated loudness, or one measured once and remembered on the object."""
    meta = model_file.metadata if model_file.metadata is not None else {}
    stated = meta.get("loudness")
    if isinstance(stated, (int, float)) and np.isfinite(stated):
        return float(stated)
    cached = getattr(model_file, "_measured_loudness", None)
    if cached is None:
        cached = measure(model_file)
        model_file._measured_loudness = cached
    return cached

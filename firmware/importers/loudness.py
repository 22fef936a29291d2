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
    """The file's stated loudness when plausible, or one measured once and remembered."""
    meta = model_file.metadata if model_file.metadata is not None else {}
    stated = meta.get("loudness")
    if plausible(stated):
        return float(stated)
    cached = getattr(model_file, "_measured_loudness", None)
    if cached is None:
        cached = measure(model_file)
        model_file._measured_loudness = cached
    return cached


# What a model may claim about its level, and how far a claim may understate what we
# measure before it is overruled: the chain's gain is target - loudness, so a claim of
# -200 dB would be +182 dB of gain. Measured on our standard input, the corpus' NAM
# files land from 15 dB below their stated loudness to 8.9 dB above it (NAM measures on
# its own input), so a claim is trusted up to 12 dB above what we measure.
PLAUSIBLE_DB = (-60.0, 6.0)
TRUST_DB = 12.0


def plausible(value):
    """Is `value` a loudness a real model could have (a finite number in PLAUSIBLE_DB)?"""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
            and PLAUSIBLE_DB[0] <= value <= PLAUSIBLE_DB[1])


def settle(model_file, log=None, fill=False):
    """Check the level a model file claims against what it plays, and fix it in its metadata.

    The loudness is measured on the standard input; the stated one is kept when plausible
    and not more than TRUST_DB quieter than the measurement; otherwise the measured one
    (clamped to PLAUSIBLE_DB) replaces it, with a warning. So no file sets its own gain:
    on the standard input the pedal's output is at most TRUST_DB above its target.
    A file that states none is left so (the chain plays it at unity gain, as it always
    has) unless `fill` (the importers: a format without the field), which measures it.
    A model that plays NaN or Inf is a ModelFileError naming its file. Returns the loudness
    now in `metadata["loudness"]` (None when none). Slow (1 s of audio through the model):
    for the library worker and the command line, never the audio process."""
    import logging

    from firmware.models.modelfile import ModelFileError
    log = log or logging.getLogger(__name__)
    meta = model_file.metadata
    stated = meta.get("loudness")
    if "loudness" not in meta and not fill:
        return None
    measured = measure(model_file)
    if not np.isfinite(measured):
        raise ModelFileError(model_file.path, "the model produces NaN or Inf on the standard input")
    used = float(min(max(measured, PLAUSIBLE_DB[0]), PLAUSIBLE_DB[1]))
    if "loudness" not in meta:
        meta["loudness_measured_by"] = "tubeless"
    elif not plausible(stated):
        log.warning("%s: states a loudness of %r dB, outside %g..%g: measured %.1f dB used",
                    model_file.path, stated, *PLAUSIBLE_DB, measured)
        meta["loudness_measured_by"] = "tubeless"
    elif measured - stated > TRUST_DB:
        log.warning("%s: states a loudness of %.1f dB but plays %.1f dB louder: measured %.1f dB used",
                    model_file.path, stated, measured - stated, measured)
        meta["loudness_measured_by"] = "tubeless"
    else:
        used = float(stated)
    meta["loudness"] = used if used == stated else round(used, 2)
    return meta["loudness"]

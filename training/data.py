"""Reading a capture pair, checking it, measuring its latency and splitting it.

Every problem a player can fix gets its own message: the checks run before any training so
that a wrong cable or a stereo export costs seconds, not an hour of training.
"""
import os
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from firmware.capture.measure import BLIP_DISAGREEMENT, BLIP_WINDOW_S, CLIP_LEVEL, CLIP_RUN  # noqa: F401
from firmware.capture.measure import blip_arrival, clipping_runs  # noqa: F401 - shared with the pedal

from .capture import Layout, read_layout

MIN_TRAINING_SECONDS = 5.0
MAX_LATENCY_S = 0.25                      # round trips beyond this are a misaligned export
SILENT_RMS_DB = -70.0
DC_OFFSET_LIMIT = 0.01
VALIDATION_MATCH_ESR = 0.01               # NAM's bar for the two validation recordings
LATENCY_SAFETY = 1                        # err early: a causal model can add delay, not undo it


class DataError(ValueError):
    """A capture that cannot be trained on. The message says what to fix."""


@dataclass
class Audio:
    samples: np.ndarray
    sample_rate: int
    path: str


def load_wav(path):
    """A mono float32 WAV. Stereo is refused rather than guessed at."""
    path = os.fspath(path)
    # libsndfile says "System error." for a missing or unreadable file: name the cause first.
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a folder, not a WAV file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: cannot be read (permission denied)")
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        detail = str(e).split(": ", 1)[-1].strip().rstrip(".")
        raise DataError(f"{path}: not an audio file this trainer reads (WAV, FLAC, AIFF): {detail}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read: {e.strerror or e}") from None
    if samples.shape[1] != 1:
        raise DataError(f"{path}: has {samples.shape[1]} channels; export the capture as a mono WAV "
                        "(the amp's output is one channel)")
    if len(samples) == 0:
        raise DataError(f"{path}: holds no audio (0 samples)")
    bad = np.flatnonzero(~np.isfinite(samples[:, 0]))
    if len(bad):
        raise DataError(f"{path}: {len(bad)} samples are NaN or infinite (first at {bad[0] / rate:.3f} s); "
                        "export it again")
    return Audio(samples[:, 0].copy(), int(rate), path)


@dataclass
class CheckReport:
    warnings: list = field(default_factory=list)
    latency: int = 0
    latency_method: str = ""
    latency_by_blip: list = field(default_factory=list)
    validation_copies_esr: float = None


def esr(prediction, target):
    """Error-to-signal ratio, the figure NAM reports."""
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    return float(np.mean((target - prediction) ** 2) / (np.mean(target ** 2) + 1e-12))


def _rms_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-30)


# --- latency ------------------------------------------------------------------------------

def latency_from_blips(output, blips, silence, sample_rate, max_latency):
    """Delay of the output's response to each blip, as NAM measures it (the pedal's capture
    measures with the same firmware.capture.measure.blip_arrival). Returns
    (latency, per-blip latencies, warnings)."""
    try:
        arrival = blip_arrival(output, blips, silence, sample_rate, max_latency)
    except ValueError as e:
        raise DataError(str(e)) from None
    if arrival.average is None:
        raise DataError("no response to the calibration blips in the output: is the amp connected, "
                        "and is this the recording of the tubeless capture signal?")
    warnings = []
    if arrival.disagrees:
        found = [p for p in arrival.per_blip if p is not None]
        warnings.append(f"the calibration blips disagree by {arrival.disagreement} samples "
                        f"({found}): the interface may have dropped samples; check the latency")
    return arrival.average, arrival.per_blip, warnings


def latency_by_correlation(x, y, max_latency, sample_rate, onset_fraction=0.1):
    """The delay of y behind x, from the impulse response that links them.

    Plain cross-correlation peaks at the chain's group delay, after the sound arrives; a
    regularised deconvolution gives the linearised impulse response, whose first tap above a
    tenth of its peak is the arrival. The loudest stretch of input carries the clearest
    signature, so only that is used."""
    n = min(len(x), len(y), 20 * sample_rate)
    frame = sample_rate // 2
    frames = len(x) // frame
    start = 0
    if frames > n // frame:
        energy = np.add.reduceat(np.asarray(x[:frames * frame], np.float64) ** 2, np.arange(0, frames * frame, frame))
        start = int(np.argmax(np.convolve(energy, np.ones(max(1, n // frame)), "valid"))) * frame
    a = np.asarray(x[start:start + n], np.float64)
    b = np.asarray(y[start:start + n], np.float64)
    size = 1 << int(np.ceil(np.log2(len(a) + max_latency + 1)))
    spectrum_a, spectrum_b = np.fft.rfft(a, size), np.fft.rfft(b, size)
    power = np.abs(spectrum_a) ** 2
    response = np.fft.irfft(np.conj(spectrum_a) * spectrum_b / (power + 1e-3 * power.mean()), size)
    response = np.abs(response[:max_latency + 1])
    if not response.any():
        raise DataError("the output does not correlate with the input: is this the recording of this DI?")
    return int(np.flatnonzero(response >= onset_fraction * response.max())[0])


# --- the checks ---------------------------------------------------------------------------

def check_pair(input_audio, output_audio, layout=None, latency=None, max_latency_s=MAX_LATENCY_S,
               strict=True):
    """Check a DI/amp pair; measure the latency. Raises DataError on anything that would make
    training meaningless, and returns a CheckReport with the latency and the warnings."""
    x, y = input_audio.samples, output_audio.samples
    report = CheckReport()
    if input_audio.sample_rate != output_audio.sample_rate:
        raise DataError(f"sample rates differ: {input_audio.path} is {input_audio.sample_rate} Hz, "
                        f"{output_audio.path} is {output_audio.sample_rate} Hz; record the amp at the rate of the DI")
    sr = input_audio.sample_rate
    max_latency = int(max_latency_s * sr)
    if abs(len(x) - len(y)) > max_latency:
        raise DataError(f"lengths differ by {abs(len(x) - len(y)) / sr:.2f} s ({input_audio.path}: "
                        f"{len(x) / sr:.2f} s, {output_audio.path}: {len(y) / sr:.2f} s), more than any "
                        "interface latency: is this the recording of this input?")
    if layout is not None:
        if layout.sample_rate != sr:
            raise DataError(f"the layout sidecar is for {layout.sample_rate} Hz audio, the files are {sr} Hz")
        if abs(layout.length - len(x)) > 0:
            raise DataError(f"{input_audio.path} has {len(x)} samples, its layout sidecar describes {layout.length}")
    if _rms_db(y) < SILENT_RMS_DB:
        raise DataError(f"{output_audio.path} is silent ({_rms_db(y):.0f} dBFS RMS): check the amp's output "
                        "and the interface's input channel")
    if _rms_db(x) < SILENT_RMS_DB:
        raise DataError(f"{input_audio.path} is silent ({_rms_db(x):.0f} dBFS RMS)")
    for audio, what in ((input_audio, "input"), (output_audio, "output")):
        runs, first = clipping_runs(audio.samples)
        if runs:
            report.warnings.append(f"{audio.path}: the {what} clips ({runs} runs at full scale, first at "
                                   f"{first / sr:.2f} s); lower the {'reamp' if what == 'input' else 'recording'} level")
        dc = float(np.mean(audio.samples))
        if abs(dc) > DC_OFFSET_LIMIT:
            report.warnings.append(f"{audio.path}: DC offset of {dc:+.3f}; the interface or the amp's output "
                                   "may need a coupling capacitor (it is kept: the model will learn it)")

    if latency is not None:
        if not 0 <= latency <= max_latency:
            raise DataError(f"latency {latency} is outside 0..{max_latency} samples")
        report.latency, report.latency_method = int(latency), "given"
    elif layout is not None and len(layout.blips) >= 1 and layout.silence is not None:
        measured, per_blip, warnings = latency_from_blips(y, layout.blips, (layout.silence.start, layout.silence.end),
                                                          sr, max_latency)
        report.latency = max(0, measured - LATENCY_SAFETY)
        report.latency_method, report.latency_by_blip = "blips", per_blip
        report.warnings += warnings
    else:
        report.latency = max(0, latency_by_correlation(x, y, max_latency, sr) - LATENCY_SAFETY)
        report.latency_method = "cross-correlation"

    if layout is not None and len(layout.validation) == 2:
        first, second = layout.validation
        n = min(first.length, second.length)
        a = y[first.start + report.latency:first.start + report.latency + n]
        b = y[second.start + report.latency:second.start + report.latency + n]
        if len(a) == n and len(b) == n:
            report.validation_copies_esr = esr(a, b)
            if report.validation_copies_esr > VALIDATION_MATCH_ESR:
                message = (f"the two recordings of the validation segment differ (ESR "
                           f"{report.validation_copies_esr:.4f} > {VALIDATION_MATCH_ESR}): the gear drifted, "
                           "a setting changed, or the chain is noisy mid-capture")
                if strict:
                    raise DataError(message + "; record again (or pass --ignore-checks)")
                report.warnings.append(message)
    return report


# --- aligned, split data ------------------------------------------------------------------

@dataclass
class Split:
    train: list            # [(x, y)] aligned float32 pairs
    validation: tuple      # (x, y)
    sample_rate: int
    latency: int
    report: CheckReport


def align(x, y, latency):
    """Shift the output back by the latency; both trimmed to the common length."""
    y = y[latency:]
    n = min(len(x), len(y))
    return x[:n], y[:n]


def parse_range(text, sample_rate):
    """'START:END' in seconds (either may be empty, END may be negative) to a slice."""
    try:
        start, end = text.split(":")
        to_index = lambda v: None if v.strip() == "" else int(round(float(v) * sample_rate))
        return slice(to_index(start), to_index(end))
    except ValueError:
        raise DataError(f"range {text!r} is not START:END in seconds (e.g. 0:-30 or 150:180)") from None


def split(input_audio, output_audio, layout="auto", latency=None, val_seconds=None, val_range=None,
          train_range=None, strict=True, min_training_seconds=MIN_TRAINING_SECONDS):
    """Check, align and split one capture pair.

    The validation part is, in order of precedence: an explicit range, the last `val_seconds`,
    or the layout's second validation copy (the sidecar next to the DI file when layout is
    "auto"). With no layout and no split given, the last 15 s validate (NAM-style files work)."""
    if isinstance(layout, str) and layout == "auto":
        layout = read_layout(input_audio.path)
    report = check_pair(input_audio, output_audio, layout, latency, strict=strict)
    sr = input_audio.sample_rate
    x, y = align(input_audio.samples, output_audio.samples, report.latency)
    n = len(x)
    if val_range is not None or val_seconds is not None or layout is None:
        val = (parse_range(val_range, sr) if val_range is not None
               else slice(n - int((val_seconds or 15.0) * sr), n))
        val_idx = range(n)[val]
        if len(val_idx) == 0:
            raise DataError("the validation range is empty")
        v0, v1 = val_idx.start, val_idx.stop
        if train_range is not None:
            t = range(n)[parse_range(train_range, sr)]
            train = [(x[t.start:t.stop], y[t.start:t.stop])]
        else:
            train = [(x[:v0], y[:v0]), (x[v1:], y[v1:])]
        validation = (x[v0:v1], y[v0:v1])
    else:
        if not layout.validation:
            raise DataError("the layout has no validation segment; pass --val-seconds")
        v = layout.validation[-1]
        validation = (x[v.start:min(v.end, n)], y[v.start:min(v.end, n)])
        train = [(x[a:min(b, n)], y[a:min(b, n)]) for a, b in _merge(layout.training_ranges(), sr)]
    train = [(a, b) for a, b in train if len(a) > 0]
    seconds = sum(len(a) for a, _ in train) / sr
    if seconds < min_training_seconds:
        raise DataError(f"only {seconds:.1f} s of training audio (at least {min_training_seconds:g} s needed; "
                        "a full capture has about 3 minutes)")
    if len(validation[0]) < sr // 10:
        raise DataError(f"the validation part is {len(validation[0]) / sr:.2f} s; give at least a few seconds")
    return Split(train, validation, sr, report.latency, report)


def _merge(ranges, sample_rate, gap_s=1.0):
    """Nearby ranges joined (with the short silences between them) into continuous stretches."""
    merged = []
    for a, b in sorted(ranges):
        if merged and a - merged[-1][1] <= gap_s * sample_rate:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged

"""What a capture measures on a recording: levels, clipping, the latency from the capture
signal's blips, and how much of a return is just the sent signal again.

One definition for both sides: the trainer's data checks (training/data.py) and the pedal's
`tubeless capture` measure with these same functions, so the latency the pedal aligns by is
the one the trainer would have found.
"""
from dataclasses import dataclass

import numpy as np

CLIP_LEVEL = 0.999
CLIP_RUN = 4                              # this many full-scale samples in a row = clipping
BLIP_WINDOW_S = 0.5
BLIP_DISAGREEMENT = 20                    # samples; NAM warns at the same spread
FLOOR_DB = -200.0                         # what digital silence reads as, instead of -inf


def db(power_or_amplitude, power=False):
    value = float(power_or_amplitude)
    if value <= 0:
        return FLOOR_DB
    return float((10 if power else 20) * np.log10(value))


def rms_db(x):
    x = np.asarray(x, np.float64)
    return db(np.mean(x * x), power=True) if len(x) else FLOOR_DB


@dataclass(frozen=True)
class Levels:
    """Peak and RMS of a stretch of audio, in dBFS (full scale = 1.0)."""
    peak_db: float
    rms_db: float

    @classmethod
    def of(cls, x):
        x = np.asarray(x)
        return cls(db(np.max(np.abs(x))) if len(x) else FLOOR_DB, rms_db(x))

    def to_json(self):
        return {"peak_dbfs": round(self.peak_db, 2), "rms_dbfs": round(self.rms_db, 2)}


def clipping_runs(x, level=CLIP_LEVEL, run=CLIP_RUN):
    """(number of clipped runs, start of the first) for runs of `run`+ samples at full scale."""
    mask = np.abs(x) >= level
    if not mask.any():
        return 0, -1
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[::2], edges[1::2]
    long_runs = starts[(ends - starts) >= run]
    return len(long_runs), int(long_runs[0]) if len(long_runs) else -1


@dataclass
class BlipArrival:
    """The delay of a recording's response to the capture signal's blips, as NAM measures it."""
    average: int            # None: no response at all
    per_blip: list          # one per blip, None where that blip got no response
    disagreement: int       # spread of the per-blip delays (0 when fewer than all were found)

    @property
    def disagrees(self):
        return self.disagreement >= BLIP_DISAGREEMENT


def blip_arrival(output, blips, silence, sample_rate, max_latency):
    """The background level comes from the silent region (start, end) before the blips; the
    first sample of the averaged response that rises clearly above it is the arrival.
    Raises ValueError when the output ends before a blip's window."""
    window = min(int(BLIP_WINDOW_S * sample_rate), max_latency + 1)
    noise = np.asarray(output[silence[0]:silence[1]], np.float64)
    mean = float(noise.mean()) if len(noise) else 0.0
    noise_peak = float(np.max(np.abs(noise - mean))) if len(noise) else 0.0
    threshold = max(3.0 * noise_peak, 1e-3)
    responses = []
    for b in blips:
        seg = np.asarray(output[b:b + window], np.float64)
        if len(seg) < window:
            raise ValueError(f"the output ends before the calibration blip at {b / sample_rate:.2f} s")
        responses.append(np.abs(seg - mean))
    per_blip = [_first_crossing(r, threshold) for r in responses]
    found = [p for p in per_blip if p is not None]
    spread = max(found) - min(found) if len(found) == len(blips) and found else 0
    return BlipArrival(_first_crossing(np.mean(responses, axis=0), threshold), per_blip, spread)


def _first_crossing(x, threshold):
    above = np.flatnonzero(x > threshold)
    return int(above[0]) if len(above) else None


def dry_residual(sent, returned):
    """How much of the return is NOT a scaled copy of what was sent, aligned: the
    error-to-signal ratio left after the best single gain. A cable from the HAT's output to its
    input (or a bypassed amp) leaves ~1e-8; any amp, even a clean one, its tone stack alone,
    leaves far more."""
    x = np.asarray(sent, np.float64)
    y = np.asarray(returned, np.float64)
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    energy = float(np.dot(y, y))
    if energy == 0.0:
        return 1.0
    gain = float(np.dot(x, y)) / (float(np.dot(x, x)) or 1.0)
    residual = y - gain * x
    return float(np.dot(residual, residual)) / energy


def esr(prediction, target):
    """Error-to-signal ratio, the figure NAM reports."""
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    return float(np.mean((target - prediction) ** 2) / (np.mean(target ** 2) + 1e-12))

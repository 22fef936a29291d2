"""Is what came back usable? The level check's verdict, and the checks on a take's return.

Each refusal is a CaptureError whose text says what to change, with the numbers it measured.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from firmware.core.errors import CaptureError

from . import measure
from .signal import Layout

TARGET_PEAK_DB = -6.0          # where the level check aims the return's peak
HOT_PEAK_DB = -1.0             # at or above: too hot (the capture's loudest parts would clip)
QUIET_PEAK_DB = -30.0          # below: too quiet (the noise floor would be part of the model)
SILENT_RMS_DB = -70.0          # below: nothing came back at all
DRY_RESIDUAL = 1e-3            # below: the return is the sent signal again (-30 dB residual)
VALIDATION_MATCH_ESR = 0.01    # the trainer's bar for the two recordings of the validation segment
TURN_DOWN_WHEN_CLIPPED_DB = 6  # a clipped peak hides how hot it is: at least this much

WIRING = "is the amp's output (load box, mic or line out) in the HAT's input, and the amp on?"


def _fmt_db(value):
    return "-inf" if value <= measure.FLOOR_DB else f"{value:.1f}"


@dataclass
class LevelVerdict:
    levels: measure.Levels
    clipped: bool
    message: str = ""                      # empty: the level is fine

    @property
    def ok(self):
        return not self.message


def level_verdict(sent, recorded, max_latency):
    """The level check: `recorded` is the return of the short test tone `sent`, with the
    round trip (at most max_latency) still in it."""
    levels = measure.Levels(measure.Levels.of(recorded).peak_db,
                            measure.rms_db(recorded[max_latency:len(sent)]))
    runs, _ = measure.clipping_runs(recorded)
    peak = levels.peak_db
    if levels.rms_db < SILENT_RMS_DB:
        return LevelVerdict(levels, False, f"nothing came back during the level check (input peak "
                                           f"{_fmt_db(peak)} dBFS): {WIRING}")
    if _dry(sent, recorded, max_latency) < DRY_RESIDUAL:
        return LevelVerdict(levels, bool(runs), _DRY_MESSAGE)
    if runs or peak >= HOT_PEAK_DB:
        down = max(TURN_DOWN_WHEN_CLIPPED_DB if runs else 0, math.ceil(peak - TARGET_PEAK_DB))
        what = f"clips ({runs} runs at full scale)" if runs else f"peaks at {peak:.1f} dBFS"
        return LevelVerdict(levels, bool(runs), f"too hot: the input {what}; turn the amp's output or the "
                                                f"HAT's input gain down {down} dB")
    if peak < QUIET_PEAK_DB:
        up = math.floor(TARGET_PEAK_DB - peak)
        return LevelVerdict(levels, False, f"too quiet: the input peaks at {peak:.1f} dBFS; turn the amp's "
                                           f"output or the HAT's input gain up {up} dB")
    return LevelVerdict(levels, False)


_DRY_MESSAGE = ("the input is the dry signal itself, not an amp: the HAT's output is wired straight to its "
                "input, or the amp is bypassed")


def _dry(sent, recorded, max_latency):
    """The smallest dry residual over every round trip up to max_latency (cheap: the lag with
    the strongest correlation is the only candidate)."""
    x = np.asarray(sent, np.float64)
    y = np.asarray(recorded, np.float64)
    n = len(x)
    size = 1 << int(np.ceil(np.log2(n + max_latency + 1)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(x, size)) * np.fft.rfft(y[:n + max_latency], size), size)
    lag = int(np.argmax(np.abs(corr[:max_latency + 1])))
    return measure.dry_residual(x, y[lag:lag + n])


@dataclass
class TakeResult:
    """A take that passed: its aligned return and what was measured."""
    aligned: np.ndarray
    latency: int                  # the round trip in samples: the blips' arrival
    shift: int                    # what the return was shifted back by (latency - safety)
    per_blip: list
    levels: measure.Levels        # of the aligned return
    validation_esr: float
    warnings: list = field(default_factory=list)


LATENCY_SAFETY = 1                # as the trainer: err early, a causal model can add delay, not undo it


DROPPED = "the audio stream dropped a period"


def check_take(sent, recorded, layout: Layout, sample_rate, max_latency, broken_at=None, period=None,
               why=None):
    """Refuse a return that cannot be trained on; else align it to what was sent. `why`: what
    broke the take at `broken_at` (the stream's own words)."""
    if broken_at is not None:
        at = broken_at / sample_rate
        when = f"at {int(at // 60)}:{at % 60:04.1f}"
        what = f"{why} {when}" if why else f"{DROPPED} {when} (an xrun)"
        raise CaptureError(f"{what}: the return is no longer sample-locked to what was sent; stop what else runs "
                           "on the pedal and capture again")
    n = len(sent)
    body = recorded[:n + max_latency]
    rms = measure.rms_db(body)
    if rms < SILENT_RMS_DB:
        raise CaptureError(f"nothing came back (the input is at {_fmt_db(rms)} dBFS RMS): {WIRING}")
    arrival = measure.blip_arrival(recorded, layout.blips, (layout.silence.start, layout.silence.end),
                                   sample_rate, max_latency)
    if arrival.average is None:
        raise CaptureError("no response to the calibration blips came back: the amp may be gated or muted; "
                           f"{WIRING}")
    latency = arrival.average
    exact = recorded[latency:latency + n]
    if measure.dry_residual(sent, exact) < DRY_RESIDUAL:
        raise CaptureError(_DRY_MESSAGE)
    shift = max(0, latency - LATENCY_SAFETY)
    aligned = np.ascontiguousarray(recorded[shift:shift + n], np.float32)
    runs, first = measure.clipping_runs(aligned)
    if runs:
        raise CaptureError(f"the input clips ({runs} runs at full scale, first at {first / sample_rate:.2f} s): "
                           f"turn the amp's output or the HAT's input gain down {TURN_DOWN_WHEN_CLIPPED_DB} dB "
                           "and capture again")
    validation_esr = float("nan")
    if len(layout.validation) == 2:
        first_copy, second_copy = layout.validation
        k = min(first_copy.length, second_copy.length)
        validation_esr = measure.esr(aligned[first_copy.start:first_copy.start + k],
                                     aligned[second_copy.start:second_copy.start + k])
        if validation_esr > VALIDATION_MATCH_ESR:
            raise CaptureError(f"the two recordings of the validation segment differ (ESR {validation_esr:.4f} > "
                               f"{VALIDATION_MATCH_ESR}): the amp drifted, a knob moved or the chain is noisy; "
                               "capture again")
    warnings = []
    if arrival.disagrees:
        warnings.append(f"the calibration blips disagree by {arrival.disagreement} samples ({arrival.per_blip})")
    return TakeResult(aligned, latency, shift, arrival.per_blip, measure.Levels.of(aligned), validation_esr,
                      warnings)

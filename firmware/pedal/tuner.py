"""The tuner: the pitch of the guitar input, as note, octave and cents.

It runs on the control side (50 times a second while it is on), on the last samples of the
raw input that the audio thread leaves in the shared block (`SharedBlock.recent_input`):
nothing is added to the audio thread.

Two steps:

1. YIN (de Cheveigné & Kawahara 2002) on the last 4096 samples finds the period: the
   cumulative-mean-normalised difference function, its first dip under a threshold, a
   parabola through it. YIN picks the right octave; its precision (a few cents on high
   notes, where a period is 36 samples) is not a tuner's.
2. The partials near multiples of that estimate are measured on a Gaussian-windowed
   spectrum (zero-padded 4x), each peak by a parabola through its log magnitude: exact for
   a Gaussian window, whatever the string's decay (a decaying sinusoid under a Gaussian is
   still a Gaussian). A string is inharmonic (partial k sits at k f0 sqrt(1 + B k^2), B
   up to ~1e-3 at the 24th fret), so the reading is the first partial as the string's
   partials fit it (f_k / k = a + b k^2, weighted by their strength): what a strobe tuner
   locks to, and it holds when a low string's fundamental is weaker than its octave.

"No signal" (None) when the input is below `min_level_db`, aperiodic (YIN's dip above
`max_aperiodicity`: noise, a chord's mush), or mains hum: a fundamental within `hum_cents`
of 50 or 60 Hz or their 2nd to 4th harmonics. No note of any standard tuning lies within
21 cents of those (A4 = 440 Hz), so a string is only blanked while it passes through them.
"""
import math
from dataclasses import dataclass

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAINS_HZ = (50.0, 60.0)


@dataclass(frozen=True)
class Reading:
    frequency: float          # Hz, the first partial
    note: str                 # "E", "F#"...
    octave: int               # scientific pitch notation: A4 = 440 Hz by default
    cents: float              # from the nearest note, -50..+50
    level_db: float           # RMS of the analysed window, dBFS
    clarity: float            # 1 - YIN's dip (1 = perfectly periodic)

    def as_dict(self):
        return {"note": self.note, "octave": self.octave, "cents": round(self.cents, 2),
                "frequency": round(self.frequency, 4), "level_db": round(self.level_db, 1),
                "clarity": round(self.clarity, 3)}


def note_of(frequency, a4=440.0):
    """(note name, octave, cents from it) of a frequency."""
    midi = 69.0 + 12.0 * math.log2(frequency / a4)
    nearest = int(round(midi))
    return NOTE_NAMES[nearest % 12], nearest // 12 - 1, 100.0 * (midi - nearest)


def note_frequency(name, octave, a4=440.0):
    """The frequency of a note ("E", 2) at reference a4."""
    midi = NOTE_NAMES.index(name) + 12 * (octave + 1)
    return a4 * 2.0 ** ((midi - 69) / 12.0)


class PitchDetector:
    """`analyse(samples) -> Reading or None`. Buffers are made once; not thread-safe."""

    def __init__(self, rate=48000, a4=440.0, window=4096, fmin=40.0, fmax=1500.0, min_level_db=-65.0,
                 yin_threshold=0.15, max_aperiodicity=0.15, hum_cents=8.0, max_partials=8):
        self.rate = int(rate)
        self.a4 = float(a4)
        self.window = int(window)
        self.tau_min = max(2, int(self.rate / float(fmax)))
        self.tau_max = int(math.ceil(self.rate / float(fmin)))
        if self.tau_max * 2 > self.window:
            raise ValueError(f"tuner: a {self.window}-sample window is too short for {fmin:g} Hz")
        self.w = self.window - self.tau_max          # YIN's integration window
        self.min_level_db = float(min_level_db)
        self.yin_threshold = float(yin_threshold)
        self.max_aperiodicity = float(max_aperiodicity)
        self.hum_cents = float(hum_cents)
        self.max_partials = int(max_partials)
        self.nfft_yin = 1 << int(math.ceil(math.log2(self.window + self.w)))
        self._idx = np.arange(self.window, dtype=np.float64)

    # --- step 1: YIN --------------------------------------------------------------------
    def _yin(self, x):
        """(period in samples, aperiodicity) or (None, aperiodicity)."""
        w, tmax = self.w, self.tau_max
        spec = np.fft.rfft(x, self.nfft_yin)
        head = np.fft.rfft(x[:w], self.nfft_yin)
        r = np.fft.irfft(np.conj(head) * spec, self.nfft_yin)[:tmax + 1]
        sq = np.concatenate(([0.0], np.cumsum(x * x)))
        energy = sq[w:w + tmax + 1] - sq[:tmax + 1]     # sum of x[j]^2 for j in tau .. tau+w-1
        d = np.maximum(sq[w] + energy - 2.0 * r, 0.0)
        d[0] = 0.0
        cum = np.cumsum(d[1:])
        dn = np.ones(tmax + 1)
        dn[1:] = d[1:] * np.arange(1, tmax + 1) / np.maximum(cum, 1e-30)
        lo = self.tau_min
        below = np.flatnonzero(dn[lo:tmax] < self.yin_threshold)
        if len(below):
            tau = lo + int(below[0])
            while tau + 1 < tmax and dn[tau + 1] < dn[tau]:
                tau += 1
        else:
            tau = lo + int(np.argmin(dn[lo:tmax]))
        ap = float(dn[tau])
        if ap > self.max_aperiodicity or tau <= lo or tau >= tmax - 1:
            return None, ap
        a, b, c = dn[tau - 1], dn[tau], dn[tau + 1]
        den = a - 2.0 * b + c
        shift = 0.5 * (a - c) / den if den > 0 else 0.0
        return tau + float(np.clip(shift, -1.0, 1.0)), ap

    # --- step 2: partials ---------------------------------------------------------------
    def _partials(self, x, f_est):
        """[(k, frequency, log amplitude)] of the partials near k * f_est. Each is shifted to
        0 Hz and low-passed by two moving averages one period long, which null every other
        partial (they sit at multiples of f_est from it); its frequency is the slope of the
        phase that remains (weighted by its amplitude), whatever its neighbours do."""
        period = max(1, int(round(self.rate / f_est)))
        n = len(x)
        m = n - 2 * (period - 1)
        if m < 16:
            return []
        kmax = min(self.max_partials, int(0.45 * self.rate / f_est))
        if kmax < 1:
            return []
        idx = self._idx[:n]
        base = np.exp(-2j * np.pi * f_est / self.rate * idx)
        z = np.empty((kmax, n), np.complex128)
        z[0] = x * base
        for k in range(1, kmax):                     # partial k+1 shifted to 0 Hz
            z[k] = z[k - 1] * base
        for _ in range(2):
            c = np.concatenate((np.zeros((kmax, 1)), np.cumsum(z, axis=1)), axis=1)
            z = (c[:, period:] - c[:, :-period]) / period
        step = max(1, period // 8)                   # what is left is slow: every 8th of a period will do
        z = z[:, ::step]
        mag = np.abs(z)
        wt = mag * mag
        sw = np.maximum(np.sum(wt, axis=1, keepdims=True), 1e-300)
        ph = np.unwrap(np.angle(z), axis=1)
        t = idx[:z.shape[1]] * step
        tm = np.sum(wt * t, axis=1, keepdims=True) / sw
        pm = np.sum(wt * ph, axis=1, keepdims=True) / sw
        slope = np.sum(wt * (t - tm) * (ph - pm), axis=1) / np.maximum(np.sum(wt * (t - tm) ** 2, axis=1), 1e-300)
        amp = np.mean(mag, axis=1)
        return [(k + 1, (k + 1) * f_est + slope[k] * self.rate / (2 * np.pi), math.log(amp[k] + 1e-300))
                for k in range(kmax) if amp[k] > 0]

    def _first_partial(self, x, f_est):
        parts = self._partials(x, f_est)
        if not parts:
            return None
        top = max(p[2] for p in parts)
        parts = [p for p in parts if p[2] > top - math.log(10 ** (35 / 20))]     # within 35 dB of the strongest
        ks = np.array([p[0] for p in parts], float)
        fk = np.array([p[1] for p in parts]) / ks
        wt = np.exp(2.0 * (np.array([p[2] for p in parts]) - top))                # power
        if len(parts) >= 3:
            A = np.stack([np.ones_like(ks), ks * ks], 1) * np.sqrt(wt)[:, None]
            (a, b), *_ = np.linalg.lstsq(A, fk * np.sqrt(wt), rcond=None)
            if 0.0 <= b <= a * 1e-3:        # an inharmonicity a string can have
                return a + b
        if parts[0][0] == 1:
            return parts[0][1]
        return float(np.sum(wt * fk) / np.sum(wt))

    # --- the reading --------------------------------------------------------------------
    def is_hum(self, f):
        return any(abs(1200.0 * math.log2(f / (k * m))) < self.hum_cents for m in MAINS_HZ for k in range(1, 5))

    def analyse(self, samples):
        """The pitch of the last `window` samples, or None: no signal."""
        x = np.asarray(samples, np.float64)
        if len(x) < self.window:
            return None
        x = x[-self.window:] - np.mean(x[-self.window:])
        rms = math.sqrt(float(np.mean(x * x)))
        level = 20.0 * math.log10(rms) if rms > 0 else -math.inf
        if level < self.min_level_db:
            return None
        tau, ap = self._yin(x)
        if tau is None:
            return None
        f = self._first_partial(x, self.rate / tau)
        if f is None or self.is_hum(f):
            return None
        name, octave, cents = note_of(f, self.a4)
        return Reading(f, name, octave, cents, level, 1.0 - ap)


class Tuner:
    """The pedal's tuner: the detector on the shared input ring, and what the LEDs show."""

    def __init__(self, shared, rate, cfg=None):
        cfg = cfg or {}
        self.shared = shared
        self.detector = PitchDetector(rate, a4=float(cfg.get("a4", 440.0)),
                                      min_level_db=float(cfg.get("min_level_db", -65.0)))
        self.in_tune_cents = float(cfg.get("in_tune_cents", 2.0))
        self.reading = None

    def update(self):
        """Analyse the input's latest samples; returns the reading (None: no signal)."""
        self.reading = self.detector.analyse(self.shared.recent_input(self.detector.window))
        return self.reading

    def leds(self, now):
        """(flat, in tune, sharp) for the LEDs now."""
        return led_states(self.reading, now, self.in_tune_cents)

    def state(self):
        r = self.reading
        return {"signal": r is not None, **(r.as_dict() if r is not None else {}),
                "in_tune": r is not None and abs(r.cents) <= self.in_tune_cents, "a4": self.detector.a4}


def led_states(reading, now, in_tune_cents=2.0):
    """(flat, in tune, sharp) LED values for a reading at time `now` (seconds): the flat or
    sharp LED blinks faster the further the string is off (1 Hz near the window, 8 Hz at
    40 cents and beyond), the middle one is lit when within in_tune_cents; all dark
    without a signal."""
    if reading is None:
        return (False, False, False)
    c = reading.cents
    if abs(c) <= in_tune_cents:
        return (False, True, False)
    rate = min(8.0, max(1.0, abs(c) / 5.0))
    lit = (now * rate) % 1.0 < 0.5
    return (lit and c < 0, False, lit and c > 0)

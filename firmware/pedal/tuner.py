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

Chorus, flanger or a comb in front of the input can notch the fundamental and the octave
until YIN's first dip is a partial's period (2, 3 or 3/2 times the string's frequency).
So the estimate is checked by a harmonic sieve before the fit: partials of f/2 and f/3
that are not partials of f (at their own frequency, within 40 dB of the strongest) mean the
string is lower.

"No signal" (None) when the input is below `min_level_db`, aperiodic (YIN's dip above
`max_aperiodicity`: noise, a chord's mush), or mains hum. Hum and a string can sit at the
same frequency (a G string 34 cents sharp is 200 Hz, the 4th harmonic of 50 Hz), so hum is
told by what it is, not where it sits (`HumGuard`): a reading within `hum_cents` of a mains
multiple is a string's only when its pluck was heard (an attack) and its level has not
been steady since.
"""
import math
from dataclasses import dataclass

import numpy as np

from firmware.ipc import shared as sh

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAINS_HZ = (50.0, 60.0)
MAINS_HARMONICS = 6         # hum's periodicity as YIN finds it: 50..300 Hz, 60..360 Hz


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


def cents_between(f, g):
    return 1200.0 * math.log2(f / g)


def near_mains(f, cents=25.0, harmonics=MAINS_HARMONICS):
    """f within `cents` of a multiple of 50 or 60 Hz (up to the `harmonics`-th; None: any)."""
    for m in MAINS_HZ:
        k = max(1, int(round(f / m)))
        if (harmonics is None or k <= harmonics) and abs(cents_between(f, k * m)) < cents:
            return True
    return False


@dataclass
class _Attack:
    pos: int                  # the input position where the level jumped
    level_before: float       # dB, the input's level just before it
    pitch_before: float       # Hz, the reading just before it (None: none)


class HumGuard:
    """Mains hum, or a string at a mains multiple? The frequency cannot tell (a G string 34
    cents sharp is 200 Hz); what the sound does over time can. A string is plucked: its
    level jumps, with a burst of high frequencies (an attack), then falls as it rings. Hum
    is stationary: the same level, period after period, for as long as it lasts.

    Fed the input with its position every call (`feed`), it keeps the level every 20 ms over
    the last 100 ms (5 periods of 50 Hz, 6 of 60 Hz: hum's level is the same whatever its
    phase), for the last second: the plain level and the level of the first difference
    (the high frequencies, where an attack shows even over a string still ringing). A
    reading (`observe`) at a mains multiple is a string's (`is_string`) when
      - an attack was heard and this pitch has been followed since (each reading within
        `track_cents` of the last, the string's pitch while it is tuned),
      - it is not a transient on the same sound (a knock on hum: the same pitch and level
        as before the attack), and
      - its level has not been steady (within `steady_db`) for `steady_s` since.
    Hum that starts (a cable plugged in) looks like an attack, then is steady: it reads for
    at most ~0.5 s. Memory and time are bounded: 50 levels, one attack, one pitch."""

    STEP = 960          # 20 ms at 48 kHz (scaled with the rate)
    SPAN = 4800         # 100 ms
    FLOOR_RISE_DB = 6.0

    def __init__(self, rate=48000, hum_cents=25.0, attack_db=10.0, attack_within_s=0.3, steady_db=0.5,
                 steady_s=0.4, track_cents=50.0, history_s=1.0):
        scale = rate / 48000.0
        self.rate = int(rate)
        self.step = max(1, int(round(self.STEP * scale)))
        self.span = max(self.step, int(round(self.SPAN * scale)))
        self.hum_cents = float(hum_cents)
        self.attack_db = float(attack_db)
        self.attack_within = int(attack_within_s * rate)
        self.steady_db = float(steady_db)
        self.steady = int(steady_s * rate)
        self.track_cents = float(track_cents)
        self.history = max(4, int(history_s * rate) // self.step)
        self.reset()

    def reset(self):
        self.points = []                # [(pos, level dB, high-frequency level dB)], the last `history`
        self.attack = None
        self.string_pitch = None        # the pitch followed since the attack
        self.last_pitch = None          # (pos, Hz): the last reading, hum or not
        self._rising = False
        self.floor = math.inf

    def feed(self, x, end):
        """The input's samples `x` that end at position `end` (samples since the start)."""
        start = end - len(x)
        last = self.points[-1][0] if self.points else None
        if last is not None and (end < last or last + self.step < start + self.span):
            self.reset()                # time went back, or a gap this call cannot fill
            last = None
        p = start + self.span if last is None else last + self.step
        p = max(p, end - (self.history - 1) * self.step)
        p = -(-p // self.step) * self.step          # on the 20 ms grid of the input's position
        if p > end:
            return
        lo = p - self.span - start
        seg = np.asarray(x[max(0, lo - 1):], np.float64)
        if lo == 0:
            seg = np.concatenate((seg[:1], seg))      # the first difference starts at 0
        sq = np.concatenate(([0.0], np.cumsum(seg[1:] * seg[1:])))
        d = np.diff(seg)
        dq = np.concatenate(([0.0], np.cumsum(d * d)))
        for q in range(p, end + 1, self.step):
            i = q - p + self.span
            level = 10.0 * math.log10(max((sq[i] - sq[i - self.span]) / self.span, 1e-20))
            hf = 10.0 * math.log10(max((dq[i] - dq[i - self.span]) / self.span, 1e-20))
            self._add(q, level, max(hf, -100.0))

    def _add(self, pos, level, hf):
        before = [pt for pt in self.points if pos - self.attack_within <= pt[0] <= pos - self.step]
        rising = bool(before) and hf >= min(pt[2] for pt in before) + self.attack_db
        if rising and not self._rising:
            pitch = self.last_pitch[1] if self.last_pitch and self.last_pitch[0] >= pos - self.attack_within else None
            self.attack = _Attack(pos, min(pt[1] for pt in before), pitch)
            self.string_pitch = None
        self._rising = rising
        rise = self.FLOOR_RISE_DB * self.step / self.rate
        self.floor = max(-120.0, min(level, self.floor + rise)) if self.points else max(-120.0, level)
        self.points.append((pos, level, hf))
        if len(self.points) > self.history:
            del self.points[0]

    def observe(self, f, end):
        """The detector's reading at `end` (Hz), before this guard has its say."""
        a = self.attack
        if a is not None and end - a.pos <= self.attack_within:
            self.string_pitch = f                   # the string settling after its pluck
        elif self.string_pitch is not None and abs(cents_between(f, self.string_pitch)) <= self.track_cents:
            self.string_pitch = f                   # and followed while it is tuned
        self.last_pitch = (end, f)

    def quietest_db(self):
        """The input's quietest level lately (hum cannot be louder than that): its minimum,
        let rise by `FLOOR_RISE_DB` a second (+inf before any level)."""
        return self.floor

    def is_string(self, f, level_db):
        """A reading at f, of a window at `level_db`, is a string's (see the class)."""
        a = self.attack
        if a is None or self.string_pitch is None or abs(cents_between(f, self.string_pitch)) > self.track_cents:
            return False
        now = self.points[-1]
        if (a.pitch_before is not None and abs(cents_between(f, a.pitch_before)) <= self.track_cents
                and abs(level_db - a.level_before) < 1.5):
            return False                            # a knock on the hum, and the hum again
        since = [pt[1] for pt in self.points if pt[0] >= max(a.pos + self.span, now[0] - self.steady)]
        steady_for = now[0] - max(a.pos + self.span, now[0] - self.steady)
        return not (steady_for >= self.steady - self.step // 2 and max(since) - min(since) < self.steady_db)

    def is_hum(self, f, level_db, period_hz=None):
        """A reading at f (of a window at level_db; period_hz: the period it was read from,
        YIN's, steadier than a fit on weak hum) is mains hum: no string heard there."""
        suspect = near_mains(f, self.hum_cents) or (period_hz is not None and near_mains(period_hz, self.hum_cents))
        return suspect and not self.is_string(f, level_db)


class PitchDetector:
    """`analyse(samples) -> Reading or None`. Buffers are made once; not thread-safe."""

    def __init__(self, rate=48000, a4=440.0, window=4096, fmin=40.0, fmax=1500.0, min_level_db=-65.0,
                 yin_threshold=0.15, max_aperiodicity=0.15, hum_cents=25.0, max_partials=8, sieve_db=40.0):
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
        self.sieve_db = float(sieve_db)
        self.fmin = float(fmin)
        self.guard = HumGuard(self.rate, hum_cents)
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
        self._dn = dn                # for the sieve: is a longer period a period too?
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
    def _partials(self, x, f_est, ks=None):
        """[(k, frequency, log amplitude)] of the partials near k * f_est (k = 1..max_partials,
        or the `ks` given). Each is shifted to 0 Hz and low-passed by two moving averages one
        period of f_est long, which null every other multiple of f_est; its frequency is the
        slope of the phase that remains (weighted by its amplitude), whatever its neighbours do."""
        period = max(1, int(round(self.rate / f_est)))
        n = len(x)
        m = n - 2 * (period - 1)
        if m < 16:
            return []
        if ks is None:
            ks = range(1, min(self.max_partials, int(0.45 * self.rate / f_est)) + 1)
        ks = [k for k in ks if k * f_est < 0.45 * self.rate]
        if not ks:
            return []
        kmax = len(ks)
        idx = self._idx[:n]
        if ks == list(range(1, kmax + 1)):
            base = np.exp(-2j * np.pi * f_est / self.rate * idx)
            z = np.empty((kmax, n), np.complex128)
            z[0] = x * base
            for k in range(1, kmax):                     # partial k+1 shifted to 0 Hz
                z[k] = z[k - 1] * base
        else:
            z = x * np.exp(-2j * np.pi * f_est / self.rate * np.outer(ks, idx))
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
        return [(k, k * f_est + slope[i] * self.rate / (2 * np.pi), math.log(amp[i] + 1e-300))
                for i, k in enumerate(ks) if amp[i] > 0]

    # --- step 1b: the harmonic sieve ----------------------------------------------------
    def _lower_fundamental(self, x, f_est, top):
        """The string's frequency when f_est is a partial of it (2, 3 or 3/2 times it), else
        None. A partial of f_est/3 or f_est/2 that is no partial of f_est, at its own
        frequency (a neighbour leaking in through the moving averages sits elsewhere) and
        within `sieve_db` of the strongest partial, says the period is longer. One that
        could be hum (at a mains multiple, and no louder than the quietest moment of the
        last second: hum is stationary) says nothing."""
        quiet = self.guard.quietest_db()
        for m, ks in ((3, (1, 2)), (2, (1, 3))):
            g = f_est / m
            if g < self.fmin:
                continue
            real = set()
            for k, fk, amp in self._partials(x, g, ks=ks):
                if amp < top - self.sieve_db / 20.0 * math.log(10) or abs(fk / (k * g) - 1.0) > 0.04:  # leaks: >= 25 %
                    continue
                # (a weak partial's frequency is only so precise: hum's within 100 cents)
                if near_mains(fk, 100.0, None) and 20.0 * math.log10(math.sqrt(2) * math.exp(amp)) < quiet + 6:
                    continue
                real.add(k)
            if not real:
                continue
            # partial 2 of f_est/3 alone: YIN found 3/2 of the string (2 g), or 3 times it with
            # a fundamental the chorus moved off its place (g: then 2 g is no period)
            for lower in ((g,) if 1 in real or m == 2 else (2.0 * g, g)):
                if self._is_a_period(self.rate / lower):
                    return lower
        return None

    def _is_a_period(self, tau):
        """YIN's difference function dips at tau too (a loose dip: the comb that fooled it
        blurs this one): the lower pitch is the signal's, not a leak's or noise's."""
        t = int(round(tau))
        if t + 1 >= len(self._dn) or t < 2:
            return False
        return float(np.min(self._dn[t - 1:t + 2])) <= 3.0 * self.max_aperiodicity

    def _first_partial(self, parts):
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
    def is_hum(self, f, level_db, period_hz=None):
        """A reading at f, of a window at level_db, would be mains hum now (see HumGuard)."""
        return self.guard.is_hum(f, level_db, period_hz)

    def analyse(self, samples, end=None):
        """The pitch of the last `window` samples, or None: no signal. `end`: the position of
        the samples' end in the input (samples since it started), when the detector is fed
        the same input call after call, as the pedal does: the hum guard follows it. Without
        `end` the reading stands alone (the guard sees only these samples)."""
        x = np.asarray(samples, np.float64)
        if end is None:
            self.guard.reset()
            end = len(x)
        self.guard.feed(x, int(end))
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
        f_est = yin_hz = self.rate / tau
        parts = self._partials(x, f_est)
        for _ in range(2):                  # 2f -> f, 4f -> 2f -> f
            lower = self._lower_fundamental(x, f_est, max(p[2] for p in parts)) if parts else None
            if lower is None:
                break
            f_est = lower
            parts = self._partials(x, f_est)
        f = self._first_partial(parts)
        if f is None:
            return None
        self.guard.observe(f, int(end))
        if self.guard.is_hum(f, level, yin_hz):
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

    # the input's newest 0.3 s at 48 kHz (14336 samples, as when the ring held 16384 and the
    # tuner read all but a 2048-sample margin): a tick may come ~0.2 s late before the hum
    # guard misses a step of the input's level
    READ = (1 << 14) - 2048

    def update(self):
        """Analyse the input's latest samples; returns the reading (None: no signal)."""
        end = int(self.shared.counters[sh.INPUT_POS])
        self.reading = self.detector.analyse(self.shared.recent_input(self.READ), end)
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

"""The capture signal a player sends through the amp, and the JSON sidecar describing its layout.

Torch-free, so that both sides use this one definition: the trainer (`tubeless-train
capture-signal`, and `fit`, which reads the sidecar) and the pedal (`tubeless capture`, which
plays it out of the HAT and records the amp in the same duplex stream).

Layout, in order (all 48 kHz mono, peak below -1 dBFS):

    validation   guitar-like material, the held-out segment
    silence      the noise floor of the recording chain
    blips        two single-sample impulses, 1 s apart, in silence: they measure the latency
    sweeps       log sine sweeps at several levels
    noise        white and pink noise bursts at several levels
    playing      plucked-string chords and single notes, palm-muted and sustained, many dynamics
    validation   the very same validation segment again: any difference between the two
                 recordings of it is drift, noise or a gear change mid-capture

The sidecar lists every segment in samples; the trainer reads it to split training and
validation and to find the blips.
"""
import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np
import soundfile as sf
from scipy import signal

from firmware.core.errors import LayoutError
from firmware.core.outputs import atomic_path

SAMPLE_RATE = 48000
LAYOUT_FORMAT = "tubeless-capture"
LAYOUT_VERSION = 1
PEAK = 10 ** (-1 / 20)            # -1 dBFS: headroom for the interface's reconstruction filter
BLIP_LEVEL = 0.8
BLIP_SPACING_S = 1.0
SIDECAR_SUFFIX = ".json"
MAX_SIDECAR_BYTES = 256 * 1024        # a real sidecar is a few KB


@dataclass
class Segment:
    kind: str            # validation, silence, blips, sweep, noise, playing
    start: int
    end: int
    label: str = ""

    @property
    def length(self):
        return self.end - self.start


@dataclass
class Layout:
    sample_rate: int
    length: int
    segments: list = field(default_factory=list)
    blips: list = field(default_factory=list)           # sample index of each impulse

    def of_kind(self, kind):
        return [s for s in self.segments if s.kind == kind]

    @property
    def validation(self):
        return self.of_kind("validation")

    @property
    def silence(self):
        found = self.of_kind("silence")
        return found[0] if found else None

    def training_ranges(self):
        """Everything that is neither validation nor the blip/silence calibration region."""
        return [(s.start, s.end) for s in self.segments if s.kind in ("sweep", "noise", "playing")]

    def to_json(self):
        return {"format": LAYOUT_FORMAT, "version": LAYOUT_VERSION, "sample_rate": self.sample_rate,
                "length": self.length, "blips": list(self.blips),
                "segments": [asdict(s) for s in self.segments]}

    @classmethod
    def from_json(cls, data, source="<layout>"):
        if not isinstance(data, dict) or data.get("format") != LAYOUT_FORMAT:
            raise LayoutError(f"{source}: not a {LAYOUT_FORMAT} sidecar")
        if data.get("version") != LAYOUT_VERSION:
            raise LayoutError(f"{source}: layout version {data.get('version')!r} is not supported")
        try:
            layout = cls(sample_rate=int(data["sample_rate"]), length=int(data["length"]),
                         segments=[Segment(**s) for s in data["segments"]],
                         blips=[int(b) for b in data.get("blips", [])])
        except (KeyError, TypeError, ValueError) as e:
            raise LayoutError(f"{source}: malformed layout: {e}") from None
        for s in layout.segments:
            if not 0 <= s.start < s.end <= layout.length:
                raise LayoutError(f"{source}: segment {s.kind} [{s.start}, {s.end}) is outside 0..{layout.length}")
        return layout


def sidecar_path(wav_path):
    return os.path.splitext(os.fspath(wav_path))[0] + SIDECAR_SUFFIX


def read_layout(wav_path):
    """The layout next to `wav_path`, or None when there is no sidecar."""
    path = sidecar_path(wav_path)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:                   # untrusted: bounded before it is parsed
        raw = f.read(MAX_SIDECAR_BYTES + 1)
    if len(raw) > MAX_SIDECAR_BYTES:
        raise LayoutError(f"{path}: larger than {MAX_SIDECAR_BYTES // 1024} KB: not a layout sidecar")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise LayoutError(f"{path}: not valid JSON: {e}") from None
    return Layout.from_json(data, source=path)


# --- signal material ----------------------------------------------------------------------

def _db(level_db):
    return 10 ** (level_db / 20)


def log_sweep(seconds, f0=20.0, f1=20000.0, sample_rate=SAMPLE_RATE):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    k = np.log(f1 / f0)
    sweep = np.sin(2 * np.pi * f0 * seconds / k * (np.exp(t * k / seconds) - 1))
    return sweep * _fade(len(t), int(0.01 * sample_rate))


def pink_noise(n, rng):
    """1/f noise by shaping white noise in the frequency domain, normalised to unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=float)
    f[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    return pink / (np.std(pink) + 1e-12)


def _fade(n, ramp):
    env = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp:
        env[:ramp] = np.linspace(0, 1, ramp)
        env[n - ramp:] = np.linspace(1, 0, ramp)
    return env


def pluck(freq, seconds, rng, sustain=0.996, brightness=0.7, sample_rate=SAMPLE_RATE):
    """Karplus-Strong string: a noise burst recirculating through a delay and a two-tap average.

    The recursion y[n] = x[n] + g/2 (y[n-N] + y[n-N-1]) is a plain IIR filter, so lfilter runs
    it at C speed. `sustain` is g (palm mutes ~0.9, ringing notes ~0.998); `brightness` sets
    how much of the pick attack's high end survives a one-pole smoothing of the burst.
    """
    period = max(2, int(round(sample_rate / freq)))
    n = int(seconds * sample_rate)
    burst = rng.uniform(-1, 1, period)
    burst = signal.lfilter([brightness], [1, -(1 - brightness)], burst)
    excitation = np.zeros(n)
    excitation[:period] = burst - burst.mean()
    a = np.zeros(period + 2)
    a[0], a[period], a[period + 1] = 1.0, -sustain / 2, -sustain / 2
    return signal.lfilter([1.0], a, excitation)


# Standard tuning, and the open-position chord shapes (fret per string, None = not played).
STRINGS_HZ = (82.41, 110.0, 146.83, 196.0, 246.94, 329.63)
CHORDS = {
    "E": (0, 2, 2, 1, 0, 0), "A": (None, 0, 2, 2, 2, 0), "D": (None, None, 0, 2, 3, 2),
    "G": (3, 2, 0, 0, 0, 3), "C": (None, 3, 2, 0, 1, 0), "Em": (0, 2, 2, 0, 0, 0),
    "Am": (None, 0, 2, 2, 1, 0), "E5": (0, 2, 2, None, None, None), "A5": (None, 0, 2, 2, None, None),
}


def _fret_hz(string, fret):
    return STRINGS_HZ[string] * 2 ** (fret / 12)


def playing(seconds, rng, sample_rate=SAMPLE_RATE):
    """Guitar-like phrases: strummed chords, single-note lines, palm mutes and sustained notes,
    each at a dynamic drawn between ppp and fff so the model sees the whole range of drive."""
    n = int(seconds * sample_rate)
    out = np.zeros(n + 4 * sample_rate)
    pos = 0
    while pos < n:
        style = rng.choice(["chord", "single", "palm", "sustain"], p=[0.3, 0.3, 0.25, 0.15])
        level = _db(rng.uniform(-36, 0))
        if style == "chord":
            shape = CHORDS[rng.choice(list(CHORDS))]
            ring = rng.uniform(0.4, 2.0)
            strum = rng.uniform(0.004, 0.02) * rng.choice([-1, 1])
            strings = [s for s in range(6) if shape[s] is not None]
            for i, s in enumerate(strings if strum > 0 else strings[::-1]):
                note = pluck(_fret_hz(s, shape[s]), ring, rng, sustain=0.997, brightness=rng.uniform(0.4, 0.9))
                start = pos + int(i * abs(strum) * sample_rate)
                out[start:start + len(note)] += level * note / 2
            step = ring * rng.uniform(0.5, 1.0)
        else:
            string = rng.integers(0, 6)
            fret = rng.integers(0, 13)
            length, sustain = {"single": (rng.uniform(0.15, 0.6), 0.996),
                               "palm": (rng.uniform(0.08, 0.25), rng.uniform(0.85, 0.95)),
                               "sustain": (rng.uniform(1.5, 3.0), 0.9985)}[style]
            note = pluck(_fret_hz(string, fret), length, rng, sustain=sustain, brightness=rng.uniform(0.3, 0.9))
            if style == "palm":
                note = signal.lfilter([0.25], [1, -0.75], note)     # the palm damps the highs too
            note *= _fade(len(note), int(0.003 * sample_rate))
            out[pos:pos + len(note)] += level * note
            step = length
        pos += int(step * sample_rate)
    return _normalise(out[:n], PEAK * rng.uniform(0.9, 1.0))


def _normalise(x, peak):
    m = np.max(np.abs(x))
    return x * (peak / m) if m > 0 else x


class _Builder:
    def __init__(self, sample_rate):
        self.sample_rate = sample_rate
        self.parts, self.segments, self.blips = [], [], []
        self.length = 0

    def add(self, kind, audio, label=""):
        audio = np.asarray(audio, float)
        self.segments.append(Segment(kind, self.length, self.length + len(audio), label))
        self.parts.append(audio)
        self.length += len(audio)

    def silence(self, seconds):
        self.parts.append(np.zeros(int(seconds * self.sample_rate)))
        self.length += len(self.parts[-1])


def generate(validation_seconds=15.0, playing_seconds=150.0, seed=0, sample_rate=SAMPLE_RATE):
    """The reamp signal and its Layout. Deterministic for a given seed."""
    if validation_seconds <= 0 or playing_seconds <= 0:
        raise ValueError("validation_seconds and playing_seconds must be positive")
    rng = np.random.default_rng(seed)
    sr = sample_rate
    b = _Builder(sr)

    validation = playing(validation_seconds, np.random.default_rng([seed, 1]), sr)
    b.add("validation", validation, "first copy")
    b.silence(0.5)
    b.add("silence", np.zeros(int(1.0 * sr)), "noise floor")
    blips = np.zeros(int((2 * BLIP_SPACING_S + 1.0) * sr))
    for k in range(2):
        i = int((0.5 + k * BLIP_SPACING_S) * sr)
        blips[i] = BLIP_LEVEL
        b.blips.append(b.length + i)
    b.add("blips", blips)
    for level in (-30, -18, -6, -1):
        b.add("sweep", _db(level) * log_sweep(4.0, sample_rate=sr), f"{level} dBFS")
        b.silence(0.25)
    for level in (-40, -24, -12, -3):
        fade = _fade(sr, int(0.005 * sr))
        white = np.clip(rng.standard_normal(sr), -4, 4)        # peak factor 4: crest of real noise
        b.add("noise", _normalise(white, PEAK * _db(level)) * fade, f"white {level} dBFS")
        b.add("noise", _normalise(pink_noise(sr, rng), PEAK * _db(level)) * fade, f"pink {level} dBFS")
    b.add("playing", playing(playing_seconds, rng, sr))
    b.silence(0.5)
    b.add("validation", validation, "second copy")
    b.silence(0.5)                     # room for the latency: the last notes' tail is recorded
    audio = np.concatenate(b.parts).astype(np.float32)
    return audio, Layout(sample_rate=sr, length=len(audio), segments=b.segments, blips=b.blips)


def write(path, validation_seconds=15.0, playing_seconds=150.0, seed=0, sample_rate=SAMPLE_RATE):
    """Write the reamp WAV (24-bit) and its sidecar; returns the Layout."""
    audio, layout = generate(validation_seconds, playing_seconds, seed, sample_rate)
    with atomic_path(path, force=True) as tmp:           # unique temp names, renamed when complete
        sf.write(tmp, audio, sample_rate, subtype="PCM_24", format="WAV")
    with atomic_path(sidecar_path(path), force=True) as tmp, open(tmp, "w") as f:
        json.dump(layout.to_json(), f, indent=1)
    return layout


# --- the level check ----------------------------------------------------------------------

LEVEL_CHECK_SECONDS = 2.0


def level_check_tone(seconds=LEVEL_CHECK_SECONDS, sample_rate=SAMPLE_RATE):
    """The short test tone played before a capture: a sweep over the guitar's range at the
    capture signal's own peak, so the return shows how hot its loudest parts will come back."""
    return (PEAK * log_sweep(seconds, f0=80.0, f1=5000.0, sample_rate=sample_rate)).astype(np.float32)

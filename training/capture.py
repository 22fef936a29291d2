"""The reamp signal a player sends through the amp, and the JSON sidecar describing its layout.

The signal's one definition lives in firmware/capture/signal.py (torch-free: the pedal's
`tubeless capture` plays the very same signal); it is re-exported here, where the trainer
and its scripts have always found it. This module adds the bundled demo clip, made of the
same plucked-string material.
"""
import os

import numpy as np
import soundfile as sf
from scipy import signal

from firmware.capture.signal import *  # noqa: F401,F403 - the signal's names, as before
from firmware.capture.signal import (CHORDS, SAMPLE_RATE, _db, _fade, _fret_hz, _normalise,  # noqa: F401
                                     pluck)
from firmware.core.errors import LayoutError  # noqa: F401 - `capture.LayoutError`, as before


# --- the bundled demo clip ----------------------------------------------------------------

def demo_clip(seconds=8.0, seed=0, sample_rate=SAMPLE_RATE, peak_db=-3.0):
    """A short guitar-like DI phrase for demos (`make run`): strummed open chords, a single-note
    line, a palm-muted riff, a pause, then a last chord left to ring into silence.

    Same plucked-string material as the capture signal; deterministic for a given seed."""
    rng = np.random.default_rng([seed, 8])
    sr = sample_rate
    out = np.zeros(int(seconds * sr) + 4 * sr)

    def chord(name, at, level, ring, down=True):
        shape = CHORDS[name]
        strings = [s for s in range(6) if shape[s] is not None]
        strum = rng.uniform(0.008, 0.018)
        for i, s in enumerate(strings if down else strings[::-1]):
            note = pluck(_fret_hz(s, shape[s]), ring, rng, sustain=0.997, brightness=rng.uniform(0.5, 0.8))
            note *= _fade(len(note), int(0.004 * sr))
            start = int((at + i * strum) * sr)
            out[start:start + len(note)] += _db(level) * note / 2

    def single(string, fret, at, length, level, sustain=0.996, palm=False):
        note = pluck(_fret_hz(string, fret), length, rng, sustain=sustain, brightness=rng.uniform(0.5, 0.9))
        if palm:
            note = signal.lfilter([0.25], [1, -0.75], note)
        note *= _fade(len(note), int(0.003 * sr))
        start = int(at * sr)
        out[start:start + len(note)] += _db(level) * note

    t = 0.25                                            # a breath of silence first
    for name, down in (("E", True), ("A", True), ("D", False), ("A", True)):
        chord(name, t, -4, 0.55, down)
        t += 0.5
    for fret in (0, 2, 4, 5, 7, 5, 4, 2):               # a scale run on the G string
        single(3, fret, t, 0.24, -8 - rng.uniform(0, 4))
        t += 0.2
    for k in range(8):                                 # chugging palm mutes on the low E
        single(0, 0 if k % 4 else 3, t, 0.12, -6, sustain=0.9, palm=True)
        t += 0.15
    t += 0.45                                           # a pause (silence)
    single(5, 12, t, 1.2, -10, sustain=0.998)            # a bent-note-like sustained high note
    t += 1.1
    chord("Em", t, -2, min(2.2, seconds - t - 0.15))     # the last chord rings out
    x = out[:int(seconds * sr)]
    x *= _fade(len(x), int(0.05 * sr))
    return _normalise(x, _db(peak_db)).astype(np.float32)


def write_demo_clip(path, seconds=8.0, seed=0, sample_rate=SAMPLE_RATE):
    """Write demo_clip() as a 48 kHz mono 24-bit WAV."""
    audio = demo_clip(seconds, seed, sample_rate)
    sf.write(os.fspath(path), audio, sample_rate, subtype="PCM_24")
    return audio

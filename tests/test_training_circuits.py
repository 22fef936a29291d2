"""The tube preamp reference circuit: finite, asymmetric clipping, memory, a drive knob."""
import numpy as np
import pytest
from helpers import tone

from training.circuits import TubeAmp, tone_stack

SR = 48000


def _harmonic(y, hz, k):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return spectrum[int(round(k * hz * len(y) / SR))]


def test_tone_stack_is_stable_and_scoops_the_mids():
    b, a = tone_stack(0.5, 0.5, 0.5, SR)
    assert np.all(np.abs(np.roots(a)) < 1)
    from scipy import signal
    _, h = signal.freqz(b, a, [100.0, 700.0, 5000.0], fs=SR)
    gain = 20 * np.log10(np.abs(h))
    assert gain[1] < gain[0] - 3 and gain[1] < gain[2] - 3      # a Fender-style mid scoop
    assert np.all(gain < 0.5)                                   # passive: it never amplifies


def test_silence_stays_silent_and_extremes_stay_finite():
    amp = TubeAmp(drive=1.0)
    assert np.max(np.abs(amp(np.zeros(SR // 4, np.float32)))) < 1e-4
    square = np.sign(tone(SR // 4, 110.0, 1.0)).astype(np.float32)
    y = amp(square)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) < 1.5        # bounded: the tubes saturate


def test_clipping_is_asymmetric_with_even_harmonics_and_grows_with_drive():
    x = tone(SR // 2, 220.0, 0.5)
    loud = TubeAmp(drive=0.9)(x)[SR // 4:]
    assert abs(loud.max()) < 0.8 * abs(loud.min()) or abs(loud.min()) < 0.8 * abs(loud.max())
    assert _harmonic(loud, 220, 2) > 0.03 * _harmonic(loud, 220, 1)       # even harmonics: asymmetry
    clean = TubeAmp(drive=0.0)(tone(SR // 2, 220.0, 0.05))[SR // 4:]
    thd = lambda y: sum(_harmonic(y, 220, k) for k in (2, 3, 4, 5)) / _harmonic(y, 220, 1)
    assert thd(clean) < 0.05 < thd(loud)


def test_it_has_memory_a_loud_note_shifts_the_bias_for_what_follows():
    """The same quiet probe, after silence and after a loud note that ended 10 ms before: a
    memoryless waveshaper would play both alike; grid current charging the coupling
    capacitor (and the cathode capacitor) makes them differ."""
    probe = tone(int(0.05 * SR), 330.0, 0.2)
    gap = np.zeros(int(0.01 * SR), np.float32)
    after_silence = np.concatenate([np.zeros(SR // 4, np.float32), gap, probe])
    after_loud = np.concatenate([tone(SR // 4, 110.0, 1.0), gap, probe])
    amp = TubeAmp(drive=0.8)
    a = amp(after_silence)[-len(probe):]
    b = amp(after_loud)[-len(probe):]
    difference = np.mean((a - b) ** 2) / np.mean(a ** 2)
    assert difference > 1e-3


def test_knob_values_outside_0_to_1_are_refused():
    with pytest.raises(ValueError, match="drive"):
        TubeAmp(drive=1.5)

"""Capture signal, sidecar, data checks and latency (training/capture.py, training/data.py)."""
import json

import numpy as np
import pytest
import soundfile as sf

from training import capture, data
from training.circuits import DiodeClipper

SR = capture.SAMPLE_RATE


@pytest.fixture(scope="module")
def short_capture():
    # A short layout keeps the tests fast; every segment kind is still present.
    return capture.generate(validation_seconds=2.0, playing_seconds=8.0, seed=3)


def _write(path, audio, rate=SR, subtype="PCM_24"):
    sf.write(str(path), audio, rate, subtype=subtype)
    return str(path)


def _delayed(y, latency, total):
    out = np.zeros(total, np.float32)
    out[latency:] = y[:total - latency]
    return out


def _pair(tmp_path, x, layout, latency, process=lambda v: v, noise=0.0, seed=0):
    di = _write(tmp_path / "di.wav", x)
    with open(capture.sidecar_path(di), "w") as f:
        json.dump(layout.to_json(), f)
    y = _delayed(process(x), latency, len(x))
    y = y + noise * np.random.default_rng(seed).standard_normal(len(y)).astype(np.float32)
    amp = _write(tmp_path / "amp.wav", y)
    return data.load_wav(di), data.load_wav(amp)


def test_capture_layout_has_every_part_and_stays_below_full_scale(short_capture):
    audio, layout = short_capture
    kinds = {s.kind for s in layout.segments}
    assert {"validation", "silence", "blips", "sweep", "noise", "playing"} <= kinds
    first, second = layout.validation
    assert first.start == 0 and second.end <= layout.length
    np.testing.assert_array_equal(audio[first.start:first.end], audio[second.start:second.end])
    assert np.max(np.abs(audio)) <= capture.PEAK + 1e-6
    assert len(layout.blips) == 2 and all(audio[b] == np.float32(capture.BLIP_LEVEL) for b in layout.blips)
    silence = layout.silence
    assert np.all(audio[silence.start:silence.end] == 0)
    # Playing material spans a wide range of dynamics (soft and loud passages).
    play = layout.of_kind("playing")[0]
    frames = audio[play.start:play.end][: (play.length // 4800) * 4800].reshape(-1, 4800)
    rms_db = 10 * np.log10(np.mean(frames.astype(float) ** 2, axis=1) + 1e-12)
    loud = rms_db[rms_db > -80]
    assert loud.max() - loud.min() > 20


def test_capture_is_deterministic_and_seed_dependent():
    a, _ = capture.generate(validation_seconds=1.0, playing_seconds=2.0, seed=1)
    b, _ = capture.generate(validation_seconds=1.0, playing_seconds=2.0, seed=1)
    c, _ = capture.generate(validation_seconds=1.0, playing_seconds=2.0, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_written_capture_is_24_bit_48k_with_readable_sidecar(tmp_path):
    path = tmp_path / "reamp.wav"
    layout = capture.write(path, validation_seconds=1.0, playing_seconds=2.0)
    info = sf.info(str(path))
    assert (info.samplerate, info.subtype, info.channels) == (48000, "PCM_24", 1)
    assert capture.read_layout(path).to_json() == layout.to_json()


def test_sidecar_of_another_format_is_refused(tmp_path):
    wav = _write(tmp_path / "x.wav", np.zeros(100, np.float32))
    with open(capture.sidecar_path(wav), "w") as f:
        json.dump({"format": "something-else"}, f)
    with pytest.raises(capture.LayoutError, match="not a tubeless-capture"):
        capture.read_layout(wav)


@pytest.mark.parametrize("latency", [0, 37, 211])
def test_latency_is_measured_from_the_blips(tmp_path, short_capture, latency):
    x, layout = short_capture
    di, amp = _pair(tmp_path, x, layout, latency, process=DiodeClipper(0.5, oversample=1), noise=1e-4)
    report = data.check_pair(di, amp, layout)
    assert report.latency_method == "blips"
    assert report.latency == max(0, latency - data.LATENCY_SAFETY)
    assert report.validation_copies_esr < 1e-3


def test_latency_by_cross_correlation_without_layout(tmp_path, short_capture):
    x, _ = short_capture
    di = data.Audio(x, SR, "di.wav")
    amp = data.Audio(_delayed(DiodeClipper(0.3, oversample=1)(x), 150, len(x)), SR, "amp.wav")
    report = data.check_pair(di, amp, layout=None)
    assert report.latency_method == "cross-correlation"
    assert report.latency == 150 - data.LATENCY_SAFETY
    # Converters' linear-phase filters ring before the arrival: the estimate may come early
    # (the model learns a small delay) but must never come late (it cannot predict the future).
    smeared = data.Audio(_delayed(DiodeClipper(0.3, oversample=2)(x), 150, len(x)), SR, "amp.wav")
    assert 140 <= data.check_pair(di, smeared, layout=None).latency <= 150 - data.LATENCY_SAFETY


def test_given_latency_overrides_the_measurement(tmp_path, short_capture):
    x, layout = short_capture
    di, amp = _pair(tmp_path, x, layout, 40)
    assert data.check_pair(di, amp, layout, latency=12).latency == 12
    with pytest.raises(data.DataError, match="outside"):
        data.check_pair(di, amp, layout, latency=10 ** 7)


def test_drift_between_the_validation_copies_is_rejected(tmp_path, short_capture):
    x, layout = short_capture
    second = layout.validation[1]
    def drifting(v):
        y = DiodeClipper(0.5)(v)
        y[second.start:] *= 0.7                # the amp's volume changed mid-capture
        return y
    di, amp = _pair(tmp_path, x, layout, 20, process=drifting)
    with pytest.raises(data.DataError, match="validation segment differ"):
        data.check_pair(di, amp, layout)
    report = data.check_pair(di, amp, layout, strict=False)
    assert any("validation segment differ" in w for w in report.warnings)


def test_mismatched_rates_lengths_and_silence_are_clear_errors(short_capture):
    x, _ = short_capture
    di = data.Audio(x, SR, "di.wav")
    with pytest.raises(data.DataError, match="sample rates differ"):
        data.check_pair(di, data.Audio(x, 44100, "amp.wav"))
    with pytest.raises(data.DataError, match="lengths differ"):
        data.check_pair(di, data.Audio(x[: len(x) - SR], SR, "amp.wav"))
    with pytest.raises(data.DataError, match="silent"):
        data.check_pair(di, data.Audio(np.zeros_like(x), SR, "amp.wav"))


def test_clipping_and_dc_offset_are_warned(short_capture):
    x, _ = short_capture
    y = np.clip(4 * x, -1, 1) + 0.05
    report = data.check_pair(data.Audio(x, SR, "di.wav"), data.Audio(y.astype(np.float32), SR, "amp.wav"), latency=0)
    assert any("clips" in w for w in report.warnings)
    assert any("DC offset" in w for w in report.warnings)
    clean = data.check_pair(data.Audio(x, SR, "di.wav"), data.Audio(0.5 * x, SR, "amp.wav"), latency=0)
    assert clean.warnings == []


def test_stereo_and_unreadable_files_are_refused(tmp_path):
    stereo = _write(tmp_path / "stereo.wav", np.zeros((1000, 2), np.float32))
    with pytest.raises(data.DataError, match="2 channels"):
        data.load_wav(stereo)
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"not audio")
    with pytest.raises(data.DataError, match="not an audio file"):
        data.load_wav(bogus)


def test_split_follows_the_sidecar_and_aligns_the_output(tmp_path, short_capture):
    x, layout = short_capture
    di, amp = _pair(tmp_path, x, layout, 64)
    parts = data.split(di, amp)                # sidecar found next to the DI file
    vx, vy = parts.validation
    second = layout.validation[1]
    np.testing.assert_allclose(vx, x[second.start:second.end], atol=2 ** -23)   # 24-bit file
    # Output aligned to the input, up to the 1-sample safety margin.
    np.testing.assert_allclose(vy[1:], vx[:-1], atol=1e-6)
    training = sum(len(a) for a, _ in parts.train)
    assert all(len(a) == len(b) for a, b in parts.train)
    assert training >= sum(s.length for s in layout.of_kind("playing"))


def test_split_without_layout_takes_the_last_seconds(short_capture):
    x, _ = short_capture
    parts = data.split(data.Audio(x, SR, "di.wav"), data.Audio(x.copy(), SR, "amp.wav"), layout=None, val_seconds=3)
    assert len(parts.validation[0]) == 3 * SR
    np.testing.assert_array_equal(parts.validation[0], x[len(x) - 3 * SR:])
    explicit = data.split(data.Audio(x, SR, "di.wav"), data.Audio(x.copy(), SR, "amp.wav"), layout=None,
                          val_range="1:2", train_range="3:")
    assert len(explicit.validation[0]) == SR and len(explicit.train[0][0]) == len(x) - 3 * SR


def test_too_little_training_audio_is_refused(short_capture):
    x, _ = short_capture
    short = x[: 4 * SR]
    with pytest.raises(data.DataError, match="training audio"):
        data.split(data.Audio(short, SR, "di.wav"), data.Audio(short.copy(), SR, "amp.wav"), layout=None, val_seconds=1)


def test_diode_clipper_has_memory_and_drive():
    t = np.arange(SR // 4) / SR
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    soft, hard = DiodeClipper(0.0)(tone), DiodeClipper(1.0)(tone)
    # More drive, more clipped: the crest factor falls.
    crest = lambda v: np.max(np.abs(v[SR // 8:])) / np.sqrt(np.mean(v[SR // 8:] ** 2))
    assert crest(hard) < crest(soft)
    # Memory: the same input sample value maps to different outputs depending on the past.
    y = DiodeClipper(0.7)(tone)
    rising = np.flatnonzero((np.abs(tone - 0.15) < 0.005) & (np.gradient(tone) > 0))
    falling = np.flatnonzero((np.abs(tone - 0.15) < 0.005) & (np.gradient(tone) < 0))
    assert abs(np.mean(y[rising[len(rising) // 2:]]) - np.mean(y[falling[len(falling) // 2:]])) > 0.05

"""The demo (what `make run` does): the bundled DI clip (reproducible, the promised length
and level, with silence in it) and `tubeless demo` playing the bundled model."""
import numpy as np
import soundfile as sf

from firmware.tools.cli import main
from firmware.tools.demo import bundled
from training import capture


def test_demo_clip_is_reproducible_and_shaped():
    a = capture.demo_clip(seconds=8.0, seed=0)
    b = capture.demo_clip(seconds=8.0, seed=0)
    assert a.dtype == np.float32 and a.shape == (8 * 48000,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, capture.demo_clip(seconds=8.0, seed=1))
    assert np.isclose(np.max(np.abs(a)), 10 ** (-3 / 20), rtol=1e-4)
    frames = a[:len(a) // 4800 * 4800].reshape(-1, 4800)
    rms_db = 20 * np.log10(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-12)
    assert np.sum(rms_db < -90) >= 3            # silence: at the start and the pause
    assert np.sum(rms_db > -30) > len(rms_db) // 2


def test_write_demo_clip(tmp_path):
    path = tmp_path / "demo.wav"
    audio = capture.write_demo_clip(path)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (48000, 1, "PCM_24")
    read, _ = sf.read(str(path), dtype="float32")
    assert np.max(np.abs(read - audio)) < 1e-6


def test_demo_simulates_the_bundled_model_into_a_file(tmp_path, capsys):
    out = tmp_path / "demo.wav"
    assert main(["demo", "--simulate", "--output", str(out), "--workdir", str(tmp_path / "work")]) == 0
    assert str(out) in capsys.readouterr().out
    y, rate = sf.read(out)
    x, _ = sf.read(bundled("demo_di.wav"))
    assert rate == 48000 and len(y) == len(x)                     # sample-aligned with the clip
    assert np.max(np.abs(y)) <= 10 ** (-0.1 / 20) + 1e-6 and np.sqrt(np.mean(y ** 2)) > 0.01

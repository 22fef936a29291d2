"""`tubeless capture` without a sound card: the take syntax, the level check's verdicts, the
checks on a return (a circuit of training/circuits.py as the amp, silence, the dry signal, a
clipping return, a dropped period), the folder (nothing half-written), the running pedal
refused. The real duplex stream on a paced device: test_capture_jack.py."""
import os
import socket
import threading
import time

import numpy as np
import pytest

from firmware.capture import checks, folder, measure, session
from firmware.capture import signal as capture_signal
from firmware.core.errors import CaptureError, LayoutError
from training.circuits import DiodeClipper

SR = 48000
MAX_LATENCY = 12000


@pytest.fixture(scope="module")
def sent():
    return capture_signal.generate(validation_seconds=1.0, playing_seconds=3.0, seed=2)


def recorded(y, latency, tail=MAX_LATENCY):
    """What the duplex stream records: the return `latency` samples late, then the tail."""
    out = np.zeros(len(y) + tail, np.float32)
    out[latency:latency + len(y)] = y[:len(out) - latency]
    return out


def test_take_syntax():
    take = session.parse_take("Gain=5, bass=2.5")
    assert take.knobs == {"gain": 5.0, "bass": 2.5} and take.positions == {"gain": 0.5, "bass": 0.25}
    assert session.parse_take("drive=0.4", dial_max=1).positions == {"drive": 0.4}
    for bad, words in (("gain", "expected KNOB=VALUE"), ("gain=loud", "'loud' is not a number"),
                       ("gain=11", "outside the dial's 0..10"), ("gain=1,gain=2", "given twice"),
                       ("9x=1", "expected KNOB=VALUE")):
        with pytest.raises(CaptureError, match=words):
            session.parse_take(bad)
    with pytest.raises(CaptureError, match="the same knobs"):
        session.parse_takes(["gain=2", "bass=3"])
    assert session.parse_takes([]) == [session.Take()]


def test_level_check_verdicts_with_numbers():
    tone = capture_signal.level_check_tone()
    amp = DiodeClipper(0.5)(tone)
    good = checks.level_verdict(tone, recorded(0.5 * amp, 300), MAX_LATENCY)
    assert good.ok and -12 < good.levels.peak_db < -3
    hot = checks.level_verdict(tone, recorded(np.clip(8 * amp, -1, 1), 300), MAX_LATENCY)
    assert hot.message.startswith("too hot: the input clips") and "down 6 dB" in hot.message
    warm = checks.level_verdict(tone, recorded(0.95 * amp / np.max(np.abs(amp)), 300), MAX_LATENCY)
    assert "peaks at -0.4 dBFS" in warm.message and "down 6 dB" in warm.message
    quiet = checks.level_verdict(tone, recorded(0.01 * amp, 300), MAX_LATENCY)
    peak = quiet.levels.peak_db
    assert quiet.message == (f"too quiet: the input peaks at {peak:.1f} dBFS; turn the amp's output or the HAT's "
                             f"input gain up {int(np.floor(-6 - peak))} dB")
    silent = checks.level_verdict(tone, recorded(np.zeros_like(tone), 0), MAX_LATENCY)
    assert silent.message.startswith("nothing came back during the level check")
    dry = checks.level_verdict(tone, recorded(0.7 * tone, 4321), MAX_LATENCY)
    assert "the dry signal itself" in dry.message


def test_a_return_is_found_to_the_sample_and_aligned_for_the_trainer(sent):
    from training import data
    x, layout = sent
    y = 0.5 * DiodeClipper(0.6)(x)
    result = checks.check_take(x, recorded(y, 1234), layout, SR, MAX_LATENCY)
    # the circuit's own first crossing (its linear-phase resamplers ring a few samples ahead),
    # seen with room before it
    own = measure.blip_arrival(recorded(y, 100), layout.blips, (layout.silence.start, layout.silence.end), SR,
                               MAX_LATENCY).average - 100
    assert result.latency == 1234 + own and result.shift == result.latency - 1
    lag = 1234 - result.shift
    assert np.array_equal(result.aligned[lag:], y[:len(y) - lag])
    assert result.validation_esr < 1e-9
    # the trainer's own checks agree: no latency left in the aligned pair
    report = data.check_pair(data.Audio(x, SR, "di.wav"), data.Audio(result.aligned, SR, "amp.wav"), layout)
    assert report.latency == 0 and not report.warnings


@pytest.mark.parametrize("make, words", [
    (lambda x: np.zeros_like(x), "nothing came back"),
    (lambda x: 0.3 * x, "the dry signal itself"),
    (lambda x: np.clip(30 * DiodeClipper(0.6)(x), -1, 1), "the input clips"),
])
def test_returns_that_are_not_an_amp_are_refused(sent, make, words):
    x, layout = sent
    with pytest.raises(CaptureError, match=words):
        checks.check_take(x, recorded(make(x), 500), layout, SR, MAX_LATENCY)


def test_a_dropped_period_or_a_drifting_amp_is_refused(sent):
    x, layout = sent
    y = 0.5 * DiodeClipper(0.6)(x)
    with pytest.raises(CaptureError, match=r"dropped a period at 0:01.0 \(an xrun\)"):
        checks.check_take(x, recorded(y, 500), layout, SR, MAX_LATENCY, broken_at=SR)
    drifted = y.copy()
    second = layout.validation[1]
    drifted[second.start:] = 0.5 * DiodeClipper(0.9)(x)[second.start:]     # a knob moved mid-capture
    with pytest.raises(CaptureError, match="the two recordings of the validation segment differ"):
        checks.check_take(x, recorded(drifted, 500), layout, SR, MAX_LATENCY)


def test_the_folder_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "captures"
    f = folder.CaptureFolder(out, folder.needed_bytes(SR, 1))
    f.write_wav("di.wav", np.zeros(SR, np.float32), SR)
    assert [p.name for p in out.iterdir()] == [os.path.basename(f.partial)]
    assert os.path.basename(f.partial).startswith(".capture-")          # hidden while incomplete
    f.discard()
    assert list(out.iterdir()) == []
    stamp = 1_800_000_000
    paths = []
    for _ in range(2):
        f = folder.CaptureFolder(out, 0)
        f.write_json("capture.json", {"x": 1})
        paths.append(f.commit(stamp))
    name = folder.folder_name(stamp)
    assert [os.path.basename(p) for p in paths] == [name, f"{name}-2"]
    with pytest.raises(CaptureError, match="not enough free space"):
        folder.CaptureFolder(out, 1 << 60)


def test_a_playing_pedal_is_found_and_nothing_else_taken_for_one(tmp_path, small_pedal):
    """`tubeless capture` captures through a pedal whose control socket answers, and opens the
    HAT itself when none does: no socket, a stale socket file, a socket that never answers."""
    from firmware.pedal.control import ControlServer
    from firmware.tools.capture import pedal_answers
    path = str(tmp_path / "ctl.sock")
    assert not pedal_answers(path)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(1)
        assert not pedal_answers(path)             # accepts, never answers
    assert not pedal_answers(path)                 # the socket file left by a dead pedal
    os.unlink(path)
    pedal, _, _ = small_pedal("A")
    server = ControlServer(path, pedal).start()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            pedal.answer_requests()
            time.sleep(0.01)
    threading.Thread(target=loop, daemon=True).start()
    try:
        assert pedal_answers(path)
    finally:
        stop.set()
        server.close()


def test_a_huge_layout_sidecar_is_refused_unread(tmp_path):
    wav = tmp_path / "di.wav"
    (tmp_path / "di.json").write_bytes(b" " * (capture_signal.MAX_SIDECAR_BYTES + 1))
    with pytest.raises(LayoutError, match="not a layout sidecar"):
        capture_signal.read_layout(wav)


class _DeadDevice:
    """A duplex device whose read never returns (a HAT gone mid-take)."""
    period, channels, input_channel, in_width, in_bits, out_width, out_bits = 64, 2, 0, 4, 32, 4, 32

    def __init__(self):
        self.closed = False
        self.reading = threading.Event()

    def prime(self):
        pass

    def read(self, into):
        self.reading.set()
        threading.Event().wait()            # forever

    def write(self, data, n):
        return True

    def close(self):
        self.closed = True


def test_ctrl_c_ends_a_take_whose_device_stopped_answering():
    # Closing the device under a read that never returns would hang Ctrl-C with it: the take
    # ends after its join's timeout and leaves such a device to the process's exit.
    device = _DeadDevice()
    stream = session.DeviceStream(lambda: device)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with stream.take(np.zeros(640, np.float32), 64) as take:
            take.start()
            assert device.reading.wait(5)
            raise KeyboardInterrupt
    assert time.monotonic() - started < 10 and take.running and not device.closed

"""A capture through the playing pedal (firmware.pedal.capturing, firmware.capture.enginetake):
the engine plays the signal from the shared block instead of its sound, the return is its
input. The take against a simulated audio thread, block by block (whole, a late sender, an
xrun, a writer behind the ring, an abort's fade); the engine's real audio loop playing the
send ring; the whole capture on an in-process pedal whose device is an amp of the test's own
(a known circuit, gain and delay), driven by the control commands."""
import json
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from firmware.capture import enginetake, measure
from firmware.dsp import kernels as dsp
from firmware.ipc import shared as sh

RATE = 48000
P = 256


class Amp:
    """A stateful amp stand-in: a one-pole low-pass into an asymmetric soft clipper, times
    `gain`, `delay` frames late. Blockwise equals whole-signal (the filter's state carries).
    A device reads a period before it writes one: the return comes P + delay frames late."""

    def __init__(self, gain=0.5, delay=37, period=P):
        self.gain, self.delay = gain, delay
        self.b, self.a = [0.3], [1.0, -0.7]
        self.zi = np.zeros(1)
        self.pending = np.zeros(delay + period, np.float32)

    def circuit(self, x, zi=None):
        lp, zf = lfilter(self.b, self.a, np.asarray(x, np.float64), zi=self.zi if zi is None else zi)
        return (self.gain * (np.tanh(2.5 * lp) + 0.1 * lp * lp)).astype(np.float32), zf

    def feed(self, out):
        y, self.zi = self.circuit(out)
        self.pending = np.concatenate([self.pending, y])

    def take(self, n):
        assert len(self.pending) >= n, "the device read more than was written"
        got, self.pending = self.pending[:n], self.pending[n:]
        return got

    def reference(self, x):
        y, _ = self.circuit(x, zi=np.zeros(1))
        return y


class AudioThread:
    """What the engine's audio loop does with the shared block, one block per step: the chain's
    output (silence here) or the send ring while SEND_ON, then the rings and the counters."""

    def __init__(self, shared, amp):
        self.shared, self.amp = shared, amp
        self.frames = 0
        self.x = np.zeros(P, np.float32)
        self.out = np.zeros(P, np.float32)
        self.out_r = np.zeros(P, np.float32)
        shared.counters[sh.RUNNING] = 1

    def step(self, blocks=1):
        s, c = self.shared, self.shared.counters
        for _ in range(blocks):
            self.x[:] = self.amp.take(P)
            self.out[:] = 0.0
            if c[sh.SEND_ON]:
                dsp.send_block(self.out, self.out_r, P, s.send, self.frames, c[sh.SEND_END])
            dsp.ring_write_block(self.x, self.out, self.out_r, P, s.input, s.output, s.output_r, self.frames, False)
            self.amp.feed(self.out)
            c[sh.INPUT_POS] = self.frames + P
            self.frames += P
            c[sh.FRAMES] = self.frames
            c[sh.HEARTBEAT] += 1


def signal(n=RATE * 3, seed=0):
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(np.cumsum(rng.uniform(0.01, 0.2, n)))).astype(np.float32)


def run_take(shared, audio, send, blocks_per_poll=16, until=None, tail=2000):
    take = enginetake.EngineTake(shared, send, tail, P, RATE)
    shared.counters[sh.SEND_ON] = 1
    take.start()
    while take.running:
        audio.step(blocks_per_poll)
        take.poll()
        if until is not None and until(take):
            break
    return take


def test_a_take_records_the_return_of_exactly_what_was_sent():
    shared, amp = sh.SharedBlock(), Amp(delay=37)
    audio = AudioThread(shared, amp)
    audio.step(40)                              # the pedal has been playing
    x = signal()
    take = run_take(shared, audio, x)
    assert take.complete and take.broken_at is None
    first = take.first
    # what the engine played is the signal, frame for frame (its last second is still in the ring)
    ring_pos = np.arange(first + len(x) - RATE, first + len(x)) & (sh.INPUT_RING - 1)
    assert np.array_equal(shared.output[ring_pos], x[-RATE:])
    # the return: the amp's output of the signal, P + 37 frames later (read before write)
    lag = P + 37
    expected = amp.reference(take.send)
    assert np.max(np.abs(take.recorded[lag:len(x)] - expected[:len(x) - lag])) < 1e-6
    assert np.all(take.recorded[:lag] == 0.0)
    # after the take: silence, nothing stale replayed
    audio.step(200)
    assert not np.any(audio.out)


def test_a_sender_that_comes_late_breaks_the_take_where_it_happened():
    shared, amp = sh.SharedBlock(), Amp()
    audio = AudioThread(shared, amp)
    x = signal()
    take = enginetake.EngineTake(shared, x, 2000, P, RATE)
    shared.counters[sh.SEND_ON] = 1
    take.start()
    audio.step(int(2.0 * RATE) // P)            # 2 s without a look: past the 1 s the ring was filled
    take.poll()
    assert take.broken_at is not None and not take.running and not take.complete
    assert "did not reach the output in time" in take.why
    assert 0.7 * RATE < take.broken_at < 1.0 * RATE       # the signal ran out ~0.8 s into the take


def test_an_xrun_during_the_take_breaks_it():
    shared, amp = sh.SharedBlock(), Amp()
    audio = AudioThread(shared, amp)
    x = signal()
    take = run_take(shared, audio, x, until=lambda t: t.frames > RATE)
    shared.counters[sh.OVERRUNS] += 1           # the engine's command thread counted one
    audio.step(16)
    take.poll()
    assert take.broken_at is not None and "xrun" in take.why


def test_an_xrun_in_the_last_block_is_seen_before_the_take_is_called_whole():
    shared, amp = sh.SharedBlock(), Amp()
    audio = AudioThread(shared, amp)
    x = signal(RATE // 2)
    take = run_take(shared, audio, x, until=lambda t: t.frames == t.total)
    assert take.running                          # copied, but the counters have not caught up yet
    shared.counters[sh.UNDERRUNS] += 1
    audio.step(4)
    take.poll()
    assert not take.complete and "xrun" in take.why


def test_a_writer_behind_the_ring_breaks_the_take_instead_of_keeping_a_gap():
    shared, amp = sh.SharedBlock(), Amp()
    audio = AudioThread(shared, amp)
    x = signal(RATE * 8)
    take = run_take(shared, audio, x, until=lambda t: t.frames > RATE)
    # the sender keeps the signal coming (as if written by another thread), the copy stalls 3 s
    for _ in range(3 * RATE // (16 * P)):
        audio.step(16)
        take._top_up(int(shared.counters[sh.FRAMES]))
    take.poll()
    assert take.broken_at is not None and "fell behind" in take.why


def test_an_abort_fades_the_signal_out_instead_of_a_step_into_the_amp():
    shared, amp = sh.SharedBlock(), Amp()
    audio = AudioThread(shared, amp)
    x = np.full(RATE * 3, 0.5, np.float32)
    take = run_take(shared, audio, x, until=lambda t: t.frames > RATE)
    take.stop()
    played = []
    for _ in range(64):
        audio.step()
        played.append(audio.out.copy())
    played = np.concatenate(played)
    assert np.all(played[-P:] == 0.0)
    assert np.max(np.abs(np.diff(played))) < 0.5 / enginetake.FADE * 1.5   # a ramp, no step


def test_the_engines_audio_loop_plays_the_send_ring(small_pedal):
    """The real audio loop (an IO of the test's own): with SEND_ON the device gets the ring up
    to SEND_END, then silence; the output ring holds what it got."""
    pedal, engine, cfg = small_pedal("A")
    shared, c = engine.shared, engine.shared.counters
    x = signal(RATE // 4)
    written = []

    class IO:
        def prime(self):
            pass

        def read(self, buf):
            buf[:] = 0.1
            return len(buf)

        def write(self, out, n, out_r=None):
            written.append(out[:n].copy())

    period = engine.period
    engine.io = IO()
    start = 10 * period
    shared.send[start:start + len(x)] = x
    c[sh.SEND_END] = start + len(x)
    c[sh.SEND_ON] = 1
    engine.audio_loop(max_frames=start + len(x) + 10 * period)
    got = np.concatenate(written)
    assert np.array_equal(got[start:start + len(x)], x)
    assert np.all(got[:start] == 0.0) and np.all(got[start + len(x):] == 0.0)
    assert np.array_equal(shared.output[start:start + len(x)], x)


# --- the whole capture on an in-process pedal -------------------------------------------

class PacedAmpIO:
    """The pedal's device: what it writes comes back through an Amp, paced at `speed` x real
    time (the capture's sender and copier see the audio's clock move as on a device)."""

    def __init__(self, amp, period, speed=3.0):
        self.amp, self.period, self.speed = amp, period, speed
        self.t0 = None
        self.frames = 0
        self.overruns = self.underruns = 0

    def prime(self):
        self.t0 = time.monotonic()

    def read(self, buf):
        due = self.t0 + self.frames / RATE / self.speed
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        buf[:] = self.amp.take(len(buf))
        self.frames += len(buf)
        return len(buf)

    def write(self, out, n, out_r=None):
        self.amp.feed(out[:n])


@pytest.fixture
def playing_pedal(small_pedal, tmp_path):
    """A pedal in this process playing through a PacedAmpIO: (pedal, engine, amp, captures dir)."""
    captures = tmp_path / "captures"
    pedal, engine, cfg = small_pedal("A", overrides={"audio": {"period": P}, "capture": {"directory": str(captures)}})
    amp = Amp(gain=0.4, delay=37)
    engine.io = PacedAmpIO(amp, P)
    engine.start()
    loop = threading.Thread(target=pedal.control_loop, daemon=True)
    loop.start()
    # the audio runs once its warm-up is done (seconds on a loaded machine); a capture asked
    # before that is refused, rightly, with "the audio is not running"
    deadline = time.monotonic() + 60
    while not engine.shared.counters[sh.RUNNING] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.shared.counters[sh.RUNNING], f"the audio did not start: {engine.audio_error!r}"
    yield pedal, engine, amp, captures
    pedal.stop()
    loop.join(5)
    engine.stop()
    engine.audio_thread.join(5)
    pedal.close()


SHORT = {"val_seconds": 1.0, "playing_seconds": 2.0}      # the command's own are 15 and 150 s


def ask(pedal, **msg):
    return pedal.submit({"cmd": "capture", **msg}).wait(10)


def wait_phase(pedal, phases, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = pedal.capture.status()
        if st["phase"] in phases:
            return st
        time.sleep(0.05)
    raise AssertionError(f"capture still {pedal.capture.status()}")


def test_knob_takes_through_the_playing_pedal_find_the_amp_to_the_sample(playing_pedal):
    pedal, engine, amp, captures = playing_pedal
    gains = {2: 0.2, 8: 0.7}
    reply = ask(pedal, action="start", takes=["gain=2", "gain=8"], **SHORT)
    assert reply["ok"], reply
    assert pedal.params.muted                         # the output is muted before anything is sent
    assert ask(pedal, action="start")["error"].startswith("a capture is running")
    assert "while a capture runs" in pedal.submit({"cmd": "record"}).wait(5)["error"]
    for dial, gain in gains.items():
        st = wait_phase(pedal, ("waiting",))
        assert f"GAIN to {dial}" in st["prompt"]
        amp.gain = gain
        assert ask(pedal, action="continue")["ok"]
        time.sleep(0.3)
    st = wait_phase(pedal, ("done", "failed", "aborted"), timeout=240)
    assert st["phase"] == "done", st
    assert pedal.params.muted and not engine.shared.counters[sh.SEND_ON]
    folder = captures / st["folder"]
    record = json.loads((folder / "capture.json").read_text())
    di, rate = sf.read(folder / "di.wav", dtype="float32")
    assert rate == RATE
    for take, gain in zip(record["takes"], gains.values()):
        assert take["latency_samples"] == P + 37      # the device's read-before-write period + the amp's delay
        y, _ = sf.read(folder / take["file"], dtype="float32")
        amp_ref = Amp(gain=gain)
        expected = amp_ref.reference(di)
        # aligned as the trainer wants it: one sample of latency left
        esr = np.sum((y[1:] - expected[:-1]) ** 2) / np.sum(expected ** 2)
        assert esr < 1e-9, esr
        assert abs(take["levels"]["peak_dbfs"] - measure.Levels.of(expected).peak_db) < 0.1
    assert [t["positions"] for t in record["takes"]] == [{"gain": 0.2}, {"gain": 0.8}]
    assert pedal.status()["capture"]["phase"] == "done"


def test_an_abort_from_the_page_or_a_stomp_keeps_nothing(playing_pedal):
    pedal, engine, amp, captures = playing_pedal
    cap = pedal.capture
    reply = ask(pedal, action="start", **SHORT)
    assert reply["ok"], reply
    wait_phase(pedal, ("capturing",))
    assert ask(pedal, action="abort")["ok"]
    st = wait_phase(pedal, ("aborted",))
    assert "nothing was written" in st["error"]
    assert not captures.exists() or list(captures.iterdir()) == []
    assert not engine.shared.counters[sh.SEND_ON] and pedal.params.muted
    # again, stopped by a footswitch during the level check: the press is the capture's
    assert ask(pedal, action="start", **SHORT)["ok"]
    wait_phase(pedal, ("level check",))
    assert cap.stomp() is True
    st = wait_phase(pedal, ("aborted",))
    assert "a stomp" in st["error"]
    assert cap.stomp() is False                      # no capture: the switch does its own job

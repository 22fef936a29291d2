"""The delay block, measured on signals: its impulse response (the echoes at the set time, each
scaled by the feedback), the tone's low-pass on the repeats, mix 0 dry, click-free on/off and
time changes, trails that ring out and then cost nothing, tap tempo, no allocation, no denormals."""
import math

import numpy as np
import pytest
from helpers import BLOCK, SR, allocations, max_step, process_in_blocks, tone

import firmware.dsp.blocks.delay as delay_module
from firmware.core.errors import MessageError
from firmware.dsp.blocks.delay import Delay


def make(rate=SR, on=True, **params):
    d = Delay(rate, BLOCK)
    for name, v in params.items():
        d.set(name, v)
    d.set_on(on)
    d.settle()
    return d


def impulse_response(d, n):
    x = np.zeros(n, np.float32)
    x[0] = 1.0
    return process_in_blocks(d, x).astype(np.float64)


def echo_peaks(y, start, count):
    """Where the first `count` echoes peak: the largest sample after each one found so far."""
    at, peaks = start, []
    for _ in range(count):
        k = at + int(np.argmax(np.abs(y[at:])))
        peaks.append(k)
        at = k + 16
        y = y.copy()
        y[k:k + 16] = 0.0      # an echo smeared by the low-pass: skip its tail
    return peaks


@pytest.mark.parametrize("time_ms", [20.0, 55.5, 380.0, 1000.0, 2000.0])
def test_the_first_echo_comes_at_the_set_time_and_each_next_one_is_scaled_by_the_feedback(time_ms):
    d = make(time_ms=time_ms, feedback=0.5, mix=1.0, tone=1.0)
    D = time_ms * SR / 1000
    y = impulse_response(d, int(3.2 * D) + 64)
    assert y[0] == 1.0 and np.all(y[1:int(D) - 1] == 0.0)        # the dry signal at unity, then silence
    first = int(np.argmax(np.abs(y[1:]))) + 1
    assert abs(first - D) <= 1.0, (first, D)
    # each echo's area is its gain at DC, where the low-pass passes 1: the feedback alone scales it
    areas = [y[round(k * D) - 2:round(k * D) + 60].sum() for k in (1, 2, 3)]
    assert areas[0] == pytest.approx(1.0, rel=0.02)
    assert areas[1] / areas[0] == pytest.approx(0.5, rel=0.02)
    assert areas[2] / areas[1] == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("rate, time_ms", [(44100, 380.0), (44100, 333.3), (96000, 20.0)])
def test_the_time_holds_at_other_sample_rates(rate, time_ms):
    d = make(rate, time_ms=time_ms, feedback=0.8, mix=1.0, tone=1.0)
    D = time_ms * rate / 1000
    y = impulse_response(d, int(2.5 * D) + 64)
    first, second = echo_peaks(y, 1, 2)
    assert abs(first - D) <= 1.0 and abs(second - 2 * D) <= 1.0, (first, second, D)


@pytest.mark.parametrize("feedback", [0.0, 0.35, 0.95])
def test_the_repeats_decay_by_the_feedback(feedback):
    d = make(time_ms=20.0, feedback=feedback, mix=1.0, tone=1.0)
    D = 960
    y = impulse_response(d, 12 * D)
    areas = np.array([y[k * D - 2:k * D + 60].sum() for k in range(1, 11)])
    assert areas[0] == pytest.approx(1.0, rel=0.02)
    assert np.allclose(areas[1:], feedback * areas[:-1], rtol=0.02, atol=1e-9)


def one_pole_db(fc, freqs, rate=SR):
    """|H| in dB of the documented low-pass: a one-pole with its pole at exp(-2 pi fc / fs)."""
    p = math.exp(-2 * math.pi * fc / rate)
    z = np.exp(-1j * 2 * np.pi * np.asarray(freqs) / rate)
    return 20 * np.log10(np.abs((1 - p) / (1 - p * z)))


@pytest.mark.parametrize("knob, fc", [(0.0, 800.0), (0.6, 800.0 * 20 ** 0.6), (1.0, 16000.0)])
def test_the_tone_is_a_one_pole_on_each_repeat_from_800_hz_to_16_khz(knob, fc):
    d = make(time_ms=500.0, feedback=0.9, mix=1.0, tone=knob)
    D, n = 24000, 8192
    y = impulse_response(d, 2 * D + n)
    first = np.fft.rfft(y[D - 16:D - 16 + n])
    second = np.fft.rfft(y[2 * D - 16:2 * D - 16 + n])
    freqs = np.fft.rfftfreq(n, 1 / SR)
    band = (freqs > 20) & (freqs < 20000)
    got = 20 * np.log10(np.abs(second[band]) / np.abs(first[band]))
    want = 20 * np.log10(0.9) + one_pole_db(fc, freqs[band])
    assert np.max(np.abs(got - want)) < 0.05, np.max(np.abs(got - want))


def high_share(y):
    """The share of a signal's energy above 3 kHz."""
    s = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    return s[f > 3000].sum() / s.sum()


def test_the_tone_darkens_each_repeat():
    burst = np.random.default_rng(3).standard_normal(480).astype(np.float32) * 0.3
    x = np.zeros(4 * 19200, np.float32)
    x[:480] = burst
    shares = {}
    for knob in (0.0, 1.0):
        d = make(time_ms=400.0, feedback=0.8, mix=1.0, tone=knob)
        y = process_in_blocks(d, x).astype(np.float64)
        shares[knob] = [high_share(y[k * 19200:k * 19200 + 2048]) for k in (1, 2, 3)]
    dark = shares[0.0]
    assert dark[0] > 0.5                        # the first echo is the (white) burst itself
    assert dark[1] < 0.3 * dark[0] and dark[2] < 0.3 * dark[1]
    bright = shares[1.0]
    assert bright[2] > 0.8 * bright[0]          # at 16 kHz the repeats stay nearly as bright


def test_mix_zero_is_the_dry_signal_exactly():
    d = make(time_ms=50.0, feedback=0.9, mix=0.0)
    x = np.random.default_rng(1).standard_normal(SR // 2).astype(np.float32) * 0.5
    y = process_in_blocks(d, x)
    assert np.array_equal(y, x)
    d.set("mix", 0.5)                           # the same block with its echoes: not dry any more
    y = process_in_blocks(d, x)
    assert np.max(np.abs(y - x)) > 0.1


def play(d, x, at=None):
    """x through d block by block; at: {sample: callable(d)}, run before the block that starts there."""
    y = np.empty_like(x)
    for s in range(0, len(x), BLOCK):
        if at and s in at:
            at[s](d)
        d.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
    return y


def test_switching_on_and_off_is_click_free_and_the_echoes_ring_on():
    d = make(on=False)
    x = tone(SR * 2, 220.0, a=0.5, fade_in_s=0.05)
    on_at, off_at = 12800, 64000                 # block boundaries (64 samples)
    y = play(d, x, {on_at: lambda d: d.set_on(True), off_at: lambda d: d.set_on(False)})
    assert np.array_equal(y[:on_at], x[:on_at])  # off from the start: dry
    own = max(max_step(y[on_at + 19000:off_at]), max_step(x))
    assert max_step(y) <= 1.1 * own, (max_step(y), own)
    # after off the echoes go on: the wet signal an echo later is the level it had while on
    wet = (y - x).astype(np.float64)
    before = np.sqrt(np.mean(wet[off_at - 4800:off_at] ** 2))
    after = np.sqrt(np.mean(wet[off_at + 2400:off_at + 12000] ** 2))
    assert after > 0.8 * before > 0.05


def test_a_time_change_mid_note_crossfades_without_a_click():
    x = tone(2 * SR, 220.0, a=0.5, fade_in_s=0.05)
    jumps = []
    for change in (48000, 48064, 48128, 48192):   # across a period of the note: any phase
        sets = {change: lambda d: d.set("time_ms", 500.0)}
        y = play(make(mix=0.5), x, sets)
        window = slice(change - 1, change + 4800)    # the crossfade (40 ms) and the step into it
        own = max(max_step(y[:change]), max_step(y[change + 4800:]))
        assert max_step(y[window]) <= 1.1 * own, (change, max_step(y[window]), own)
        # the measure can fail: a block that jumps from one tap to the other clicks
        jump = Delay(SR, BLOCK, crossfade_ms=0.0)
        jump.set("mix", 0.5)
        jump.set_on(True)
        jump.settle()
        jumps.append(max_step(play(jump, x, sets)[window]) / own)
    assert max(jumps) > 3, jumps
    # and the new time holds: an impulse after the change comes back 500 ms later
    d = make(mix=1.0, tone=1.0)
    d.set("time_ms", 500.0)
    y = impulse_response(d, 30000)
    assert int(np.argmax(y[1:])) + 1 == 24000


def test_a_swept_time_knob_never_clicks():
    x = tone(2 * SR, 330.0, a=0.5, fade_in_s=0.05)
    sweep = {s: lambda d, v=380.0 + (s - 48000) * 120.0 / 9600: d.set("time_ms", v)
             for s in range(48000, 57600 + 1, BLOCK)}           # 380 -> 500 ms over 200 ms, each block
    y = play(make(mix=0.5, feedback=0.5), x, sweep)
    own = max(max_step(y[:48000]), max_step(y[-24000:]))
    assert max_step(y) <= 1.1 * own, (max_step(y), own)


def test_a_turned_mix_knob_glides():
    x = tone(SR, 220.0, a=0.5, fade_in_s=0.05)
    y = play(make(mix=0.0, time_ms=100.0), x, {24000: lambda d: d.set("mix", 1.0)})
    own = max(max_step(y[:24000]), max_step(y[-4800:]))
    assert max_step(y) <= 1.1 * own


def test_trails_ring_out_then_the_block_goes_idle_and_costs_nothing(monkeypatch):
    d = make()                                   # the defaults: 380 ms, feedback 0.35
    note = 12800                                 # 200 blocks, shorter than the time: echoes apart
    x = np.zeros(10 * SR, np.float32)
    x[:note] = tone(note, 220.0, a=0.9, fade_in_s=0.01)
    y = np.empty_like(x)
    idle_at = None
    for s in range(0, len(x), BLOCK):
        if s == note:
            d.set_on(False)
        d.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
        if idle_at is None and d.idle:
            idle_at = s + BLOCK
    first = np.max(np.abs(y[18240:18240 + note]))
    assert first > 0.25                           # the first repeat after off, at mix 0.3 of 0.9
    third = np.max(np.abs(y[3 * 18240:3 * 18240 + note]))
    assert third == pytest.approx(first * 0.35 ** 2, rel=0.1)
    # idle only once the tail is below -120 dB (feedback 0.35: ~13 repeats of 380 ms, then
    # one line's length of quiet), and soon after that
    assert idle_at is not None and 5 * SR < idle_at < 8 * SR, idle_at
    assert np.max(np.abs(y[idle_at - SR:idle_at])) < 1e-6
    assert not np.any(d.line)                     # the line is cleared
    # idle: process copies and never runs the kernel
    calls = []
    monkeypatch.setattr(delay_module, "delay_block", lambda *a: calls.append(a))
    x = tone(SR, 220.0)
    assert np.array_equal(process_in_blocks(d, x), x) and not calls
    monkeypatch.undo()
    # on again: a fresh delay, the first echo at the time (the impulse after the 10 ms ramp-in)
    d.set_on(True)
    x = np.zeros(20000, np.float32)
    x[960] = 1.0
    y = process_in_blocks(d, x)
    assert np.array_equal(y[:960 + 18240], x[:960 + 18240])
    assert y[960 + 18240] == pytest.approx(0.3)


def test_on_it_never_goes_idle():
    d = make(time_ms=20.0, feedback=0.0)
    x = np.zeros(3 * SR, np.float32)
    process_in_blocks(d, x)
    assert not d.idle                            # on: it must answer the next note at once
    d.set_on(False)
    process_in_blocks(d, x[:BLOCK * 10])
    assert d.idle                                # nothing in the line: idle at the end of the ramp


def test_tap_tempo():
    tap = Delay.tap_time_ms
    assert tap([]) is None and tap([1.0]) is None
    assert tap([10.0, 10.5]) == pytest.approx(500.0)
    assert tap([0.0, 0.4, 0.8, 1.2]) == pytest.approx(400.0)
    assert tap([0.0, 0.38, 0.8, 1.17]) == pytest.approx(390.0)          # the mean interval
    assert tap([0.0, 5.0, 5.3]) == pytest.approx(300.0)                 # an old tap starts nothing
    assert tap([0.0, 3.0]) is None                                      # too far apart: no tempo
    assert tap([1.0, 3.0]) == pytest.approx(2000.0)                     # 2 s apart still counts
    assert tap([0.0, 0.005]) == 20.0                                    # clamped to the range
    assert tap([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.3, 3.6, 3.9, 4.2, 4.5]) == pytest.approx(
        1000 * (4.5 - 2.0) / 7)                                         # the last 8 taps
    assert tap([5.0, 1.0, 1.4]) == pytest.approx(400.0)                 # a clock that went back


def test_out_of_range_and_unknown_parameters_are_one_line_errors():
    d = Delay(SR, BLOCK)
    with pytest.raises(MessageError, match=r"delay.time_ms: 10 is outside 20..2000 ms"):
        d.set("time_ms", 10)
    with pytest.raises(MessageError, match=r"delay.time_ms: 2500 is outside"):
        d.set("time_ms", 2500)
    with pytest.raises(MessageError, match=r"delay.feedback: 1 is outside 0..0.95"):
        d.set("feedback", 1.0)
    with pytest.raises(MessageError, match=r"delay.mix: -0.1 is outside 0..1"):
        d.set("mix", -0.1)
    with pytest.raises(MessageError, match=r"delay.tone: 'dark' is not a number"):
        d.set("tone", "dark")
    with pytest.raises(MessageError, match="delay has no parameter 'level'"):
        d.set("level", 0.5)
    assert d.get("time_ms") == 380.0 and not d.on and Delay.TRAILS


def test_process_allocates_nothing():
    d = make(time_ms=30.0, feedback=0.6)
    x = tone(BLOCK, 220.0)
    y = np.empty_like(x)

    def run():
        for i in range(400):
            if i == 100:
                d.set("time_ms", 45.0)            # a crossfade
                d.set("tone", 0.1)
            if i == 200:
                d.set_on(False)                   # trails, then idle
            d.process(x, y, BLOCK)
            d.process(y, y, BLOCK)
    run()
    d.set_on(True)
    kept, peak, _ = allocations(run)
    assert kept == 0 and peak < 4096


def test_silence_after_a_loud_note_leaves_no_denormals_or_nans():
    d = make(time_ms=20.0, feedback=0.5, tone=0.3)
    x = np.zeros(5 * SR, np.float32)
    x[:SR // 10] = np.clip(tone(SR // 10, 80.0, a=3.0), -1.0, 1.0)     # loud and clipped
    y = np.empty_like(x)
    tiny = 0
    for i, s in enumerate(range(0, len(x), BLOCK)):
        d.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
        if i % 25 == 0:
            a = np.abs(d.line)
            tiny += np.count_nonzero((a > 0) & (a < 1e-30)) + (0 < abs(d.state[4]) < 1e-30)
    assert np.all(np.isfinite(y)) and tiny == 0
    assert not np.any(d.line)                     # 0.5 per 20 ms: flushed to zero, not left to underflow

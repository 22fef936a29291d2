"""The tone stack block: its response against the RBJ cookbook's formulas (written again here,
independently), the NAM plugin's voicing, smoothing, click-free on/off, no allocation."""
import math

import numpy as np
import pytest
from helpers import BLOCK, SR, allocations, max_step, process_in_blocks, tone

from firmware.core.errors import MessageError
from firmware.dsp.blocks.tonestack import ToneStack


def rbj(kind, f0, q, gain_db, freqs, rate=SR):
    """|H| in dB of one RBJ cookbook biquad, from the cookbook's formulas."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / rate
    alpha = math.sin(w0) / (2 * q)
    c = math.cos(w0)
    if kind == "peak":
        b = [1 + alpha * a, -2 * c, 1 - alpha * a]
        den = [1 + alpha / a, -2 * c, 1 - alpha / a]
    elif kind == "low":
        s = 2 * math.sqrt(a) * alpha
        b = [a * ((a + 1) - (a - 1) * c + s), 2 * a * ((a - 1) - (a + 1) * c), a * ((a + 1) - (a - 1) * c - s)]
        den = [(a + 1) + (a - 1) * c + s, -2 * ((a - 1) + (a + 1) * c), (a + 1) + (a - 1) * c - s]
    else:
        s = 2 * math.sqrt(a) * alpha
        b = [a * ((a + 1) + (a - 1) * c + s), -2 * a * ((a - 1) + (a + 1) * c), a * ((a + 1) + (a - 1) * c - s)]
        den = [(a + 1) - (a - 1) * c + s, 2 * ((a - 1) - (a + 1) * c), (a + 1) - (a - 1) * c - s]
    z = np.exp(-1j * 2 * np.pi * np.asarray(freqs) / rate)
    h = (b[0] + b[1] * z + b[2] * z ** 2) / (den[0] + den[1] * z + den[2] * z ** 2)
    return 20 * np.log10(np.abs(h))


def nam_voicing(bass, mid, treble, presence, freqs):
    """The NAM plugin's stack (knobs 0..10 there = 0..1 here) plus our presence band."""
    mid_db = 3 * (10 * mid - 5)
    return (rbj("low", 150, 0.707, 4 * (10 * bass - 5), freqs)
            + rbj("peak", 425, 0.7 if mid_db >= 0 else 1.5, mid_db, freqs)
            + rbj("high", 1800, 0.707, 2 * (10 * treble - 5), freqs)
            + rbj("high", 4500, 0.707, 2 * (10 * presence - 5), freqs))


def measured_db(stack, freqs, n=1 << 15):
    """The magnitude response of what the block does to an impulse (so the kernel is measured,
    not our own formula)."""
    x = np.zeros(n, np.float32)
    x[0] = 1.0
    y = process_in_blocks(stack, x)
    h = np.fft.rfft(y.astype(np.float64))
    bins = np.round(np.asarray(freqs) * n / SR).astype(int)
    return 20 * np.log10(np.abs(h[bins])), bins * SR / n


FREQS = np.geomspace(30, 16000, 60)
TURN = 250 * BLOCK                     # block boundaries: where the control side's stores land
OFF_AT, ON_AT = 250 * BLOCK, 500 * BLOCK


@pytest.mark.parametrize("knobs", [(0.5, 0.5, 0.5, 0.5), (1.0, 0.5, 0.5, 0.5), (0.0, 1.0, 0.0, 0.5),
                                   (0.3, 0.0, 0.8, 1.0), (0.7, 0.25, 1.0, 0.0)])
def test_the_response_is_the_cookbooks_at_many_frequencies(knobs):
    stack = ToneStack(SR, BLOCK)
    for name, v in zip(("bass", "mid", "treble", "presence"), knobs):
        stack.set(name, v)
    stack.settle()
    got, at = measured_db(stack, FREQS)
    want = nam_voicing(*knobs, at)
    assert np.max(np.abs(got - want)) < 0.01, np.max(np.abs(got - want))


def test_flat_at_noon_and_the_nam_plugins_extremes():
    stack = ToneStack(SR, BLOCK)
    stack.settle()
    x = np.random.default_rng(1).standard_normal(4096).astype(np.float32) * 0.3
    assert np.max(np.abs(process_in_blocks(stack, x) - x)) < 1e-6      # 0.5 everywhere: unity
    stack.set("bass", 1.0)          # NAM bass 10: +20 dB at the bottom
    stack.set("treble", 0.0)        # NAM treble 0: -10 dB at the top
    stack.settle()
    got, _ = measured_db(stack, [20.0, 18000.0])
    assert got[0] == pytest.approx(20.0, abs=0.5)
    assert got[1] == pytest.approx(-10.0 - 0.0, abs=1.5)     # the presence shelf's skirt stays flat-ish


def test_a_turned_knob_glides_and_never_clicks():
    stack = ToneStack(SR, BLOCK)
    stack.settle()
    x = tone(SR, 110.0, a=0.5, fade_in_s=0.05)
    y = np.empty_like(x)
    for s in range(0, len(x), BLOCK):
        if s == TURN:
            stack.set("bass", 1.0)          # +20 dB asked at once
        stack.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
    assert max_step(y) <= 1.1 * max_step(y[-SR // 4:])        # no step beyond the boosted tone's own
    # the level rises over the smoothing time, not in one sample
    env = np.abs(y[TURN:TURN + 4800])
    assert np.max(env[:48]) < 0.6 * np.max(env[-480:])
    assert np.max(np.abs(y[-2400:])) > 4 * np.max(np.abs(x[-2400:]))   # and it did boost (+15 dB at 110 Hz)


def test_switching_off_and_on_is_click_free_and_off_is_dry():
    stack = ToneStack(SR, BLOCK)
    stack.set("bass", 0.9)
    stack.set("treble", 0.9)
    stack.settle()
    x = tone(SR, 220.0, a=0.5, fade_in_s=0.05)
    y = np.empty_like(x)
    for s in range(0, len(x), BLOCK):
        if s == OFF_AT:
            stack.set_on(False)
        if s == ON_AT:
            stack.set_on(True)
        stack.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
    wet_step = max_step(y[:OFF_AT])
    assert max_step(y) < 1.2 * wet_step                         # no step larger than the signal's own
    off = slice(OFF_AT + 2000, ON_AT)
    assert np.max(np.abs(y[:OFF_AT] - x[:OFF_AT])) > 0.05       # on, it does change the sound
    assert np.max(np.abs(y[off] - x[off])) == 0.0               # fully off: the dry signal, untouched


def test_process_allocates_nothing():
    stack = ToneStack(SR, BLOCK)
    x = np.zeros(BLOCK, np.float32)
    stack.set("mid", 0.2)

    def run():
        for _ in range(200):
            stack.process(x, x, BLOCK)
    run()
    kept, peak, _ = allocations(run)
    assert kept == 0 and peak < 4096


def test_out_of_range_and_unknown_parameters_are_one_line_errors():
    stack = ToneStack(SR, BLOCK)
    with pytest.raises(MessageError, match=r"tonestack.bass: 1.5 is outside 0..1"):
        stack.set("bass", 1.5)
    with pytest.raises(MessageError, match="tonestack has no parameter 'gain'"):
        stack.set("gain", 0.5)


def test_silence_after_a_loud_note_leaves_no_denormals():
    stack = ToneStack(SR, BLOCK)
    stack.set("bass", 1.0)
    stack.settle()
    x = np.zeros(SR * 4, np.float32)
    x[:SR // 10] = tone(SR // 10, 80.0, a=0.9)
    process_in_blocks(stack, x)
    memories = stack.state.reshape(4, 8)[:, 1:3]
    assert np.all((memories == 0.0) | (np.abs(memories) > 1e-30))

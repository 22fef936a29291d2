"""The reverb block, measured on its impulse response: the decay time (Schroeder), the echo
density, no periodicity, the pre-delay, the tone; then mix, click-free on/off and knobs,
trails and idling, no allocation, no denormals. Each measure is first shown to read a known
case right (a synthetic decay, a sparse echo train, a comb)."""
import numpy as np
import pytest
from helpers import BLOCK, SR, allocations, process_in_blocks, tone
from scipy import ndimage, signal
from scipy.linalg import solve_toeplitz

from firmware.core.errors import MessageError
from firmware.dsp.blocks.reverb import Reverb


def impulse_response(seconds, rate=SR, seed=0, **settings):
    """The wet impulse response (the dry impulse taken off) at mix 1 and the given settings."""
    rv = Reverb(rate, BLOCK, seed=seed)
    rv.set("mix", 1.0)
    for name, value in settings.items():
        rv.set(name, value)
    rv.set_on(True)
    rv.settle()
    x = np.zeros(int(seconds * rate), np.float32)
    x[0] = 1.0
    h = process_in_blocks(rv, x).astype(np.float64)
    h[0] -= 1.0
    return h


def rt60(h, rate=SR):
    """RT60 in the 1 kHz octave band: Schroeder's backward integration, a line fitted from -5
    to -35 dB, extrapolated to -60 dB."""
    band = signal.sosfilt(signal.butter(4, [707.0, 1414.0], "bandpass", fs=rate, output="sos"), h)
    energy = np.cumsum(band[::-1] ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0] + 1e-300)
    fit = slice(np.argmax(edc < -5), np.argmax(edc < -35))
    slope = np.polyfit(np.arange(len(h))[fit] / rate, edc[fit], 1)[0]
    return -60.0 / slope


def decaying_noise(t60, seconds, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    return rng.standard_normal(n) * 10 ** (-3 * np.arange(n) / SR / t60)


def window_stats(h, start_s, end_s, window_s=0.02):
    """Per window: the share of samples beyond one standard deviation (0.317 for Gaussian
    noise) and the kurtosis (3 for Gaussian noise)."""
    w = int(window_s * SR)
    shares, kurtosis = [], []
    for s in range(int(start_s * SR), int(end_s * SR) - w + 1, w):
        v = h[s:s + w] - np.mean(h[s:s + w])
        sd = np.std(v)
        shares.append(np.mean(np.abs(v) > sd))
        kurtosis.append(np.mean(v ** 4) / sd ** 4)
    return np.array(shares), np.array(kurtosis)


def periodicity(tail, t60):
    """The largest autocorrelation at lags 1-500 ms of a tail with its decay undone and its
    spectrum whitened (a 16th-order linear predictor), so colour does not count, repetition does."""
    flat = tail * 10 ** (3 * np.arange(len(tail)) / SR / t60)
    r = signal.fftconvolve(flat, flat[::-1])[len(flat) - 1:]
    residual = signal.lfilter(np.concatenate([[1.0], -solve_toeplitz(r[:16], r[1:17])]), [1.0], flat)[16:]
    ac = signal.fftconvolve(residual, residual[::-1])[len(residual) - 1:]
    ac /= ac[0]
    return float(np.max(np.abs(ac[int(0.001 * SR):int(0.5 * SR)])))


def test_the_decay_measure_reads_a_known_decay():
    assert rt60(decaying_noise(1.5, 3.0)) == pytest.approx(1.5, rel=0.05)


@pytest.mark.parametrize("decay_s", [0.5, 2.0, 6.0])
def test_the_decay_time_is_the_set_one(decay_s):
    h = impulse_response(1.3 * decay_s + 0.3, decay_s=decay_s)
    assert rt60(h) == pytest.approx(decay_s, rel=0.2)


@pytest.mark.parametrize("tone_knob", [0.0, 1.0])
def test_the_tone_leaves_the_mid_decay_alone(tone_knob):
    h = impulse_response(3.0, decay_s=2.0, tone=tone_knob)
    assert rt60(h) == pytest.approx(2.0, rel=0.2)


def test_the_tail_is_noise_like_after_80_ms():
    # the measure first: a sparse echo train (a pulse every 2 ms) is far from noise
    sparse = np.zeros(SR)
    sparse[::96] = np.random.default_rng(2).choice((-1.0, 1.0), len(sparse[::96]))
    shares, kurtosis = window_stats(sparse * 10 ** (-1.5 * np.arange(SR) / SR), 0.08, 0.5)
    assert np.median(shares) < 0.1 and np.median(kurtosis) > 10
    for seed in (0, 1):
        h = impulse_response(0.6, seed=seed)
        shares, kurtosis = window_stats(h, 0.08, 0.5)
        assert 0.27 <= np.median(shares) <= 0.36, shares
        assert np.min(shares) > 0.2, shares                      # no sparse window either
        assert 2.5 <= np.median(kurtosis) <= 3.6, kurtosis


def test_the_tail_has_no_periodicity():
    # the measure first: noise recirculating through one 30 ms delay is a comb, plainly periodic
    comb = np.zeros(2 * SR)
    comb[:480] = np.random.default_rng(3).standard_normal(480)
    for i in range(1440, len(comb)):
        comb[i] += 0.9 * comb[i - 1440]
    t60_comb = 60 / (20 * np.log10(1 / 0.9)) * 0.03
    assert periodicity(comb[SR // 10:], t60_comb) > 0.8
    for decay_s in (0.5, 2.0):
        for seed in (0, 1):
            h = impulse_response(1.2, decay_s=decay_s, seed=seed)
            assert periodicity(h[SR // 10:], decay_s) < 0.3, (decay_s, seed)


def narrow_peaks(rv, decay_s=6.0):
    """The share of 500 Hz-8 kHz in a long tail's spectrum (1-3 s, its decay undone) that stands
    10 dB over the local median (50 Hz around): about 0.001 for noise; modes ringing on (the
    metallic sound of a static network) raise it a hundredfold."""
    for name, value in (("decay_s", decay_s), ("mix", 1.0), ("tone", 1.0)):
        rv.set(name, value)
    rv.set_on(True)
    rv.settle()
    x = np.zeros(3 * SR, np.float32)
    x[0] = 1.0
    h = process_in_blocks(rv, x).astype(np.float64)[SR:]
    h *= 10 ** (3 * np.arange(len(h)) / SR / decay_s)
    power = np.abs(np.fft.rfft(h * np.hanning(len(h)))) ** 2
    freqs = np.fft.rfftfreq(len(h), 1 / SR)
    over = power / ndimage.median_filter(power, size=int(50 * len(h) / SR))
    return float(np.mean(over[(freqs > 500) & (freqs < 8000)] > 10))


def test_a_long_tail_has_no_metallic_ringing():
    for seed in (0, 1):
        assert narrow_peaks(Reverb(SR, BLOCK, seed=seed)) < 0.01, seed
    # the measure can fail: the same network with its line lengths held still rings
    static = Reverb(SR, BLOCK)
    static.design[:16, 1] = 0.0                     # the modulation depths
    assert narrow_peaks(static) > 0.03


@pytest.mark.parametrize("predelay_ms", [0.0, 25.0, 200.0])
def test_nothing_comes_before_the_pre_delay_and_the_reverb_starts_at_it(predelay_ms):
    h = impulse_response(0.4, predelay_ms=predelay_ms)
    p = round(predelay_ms * 1e-3 * SR)
    assert np.all(h[:p] == 0.0)
    assert np.max(np.abs(h[p:p + 96])) > 1e-3                   # within 2 ms of it


def test_a_darker_tone_has_less_top_in_the_tail():
    def top_db(tone_knob):
        h = impulse_response(2.0, tone=tone_knob)[SR // 10:]
        power = np.abs(np.fft.rfft(h)) ** 2
        freqs = np.fft.rfftfreq(len(h), 1 / SR)
        return 10 * np.log10(power[freqs > 4000].sum() / power.sum())
    dark, middle, bright = top_db(0.0), top_db(0.5), top_db(1.0)
    assert dark < middle < bright
    assert dark < bright - 5.0


def test_mix_0_is_the_dry_signal_exactly_and_the_dry_stays_at_unity():
    x = (np.random.default_rng(4).standard_normal(SR // 2) * 0.3).astype(np.float32)
    rv = Reverb(SR, BLOCK)
    rv.set("mix", 0.0)
    rv.set_on(True)
    rv.settle()
    assert np.array_equal(process_in_blocks(rv, x), x)
    # mix 1: the dry passes untouched until the reverb starts (10 ms in)
    h = impulse_response(0.1)
    assert np.all(h[:480] == 0.0) and np.max(np.abs(h[480:])) > 1e-3


def test_the_output_does_not_depend_on_the_block_size():
    x = tone(SR, 196.0, a=0.5, fade_in_s=0.01)
    outs = []
    for block in (64, [1, 7, 64, 300, 13], 256):
        rv = Reverb(SR, 512)
        rv.set("mix", 1.0)
        rv.set_on(True)
        rv.settle()
        outs.append(process_in_blocks(rv, x, block=block))
    assert np.max(np.abs(outs[1] - outs[0])) < 1e-6
    assert np.max(np.abs(outs[2] - outs[0])) < 1e-6


def clicks(y):
    """The peak of what lies above 4 kHz: a low tone and its reverb have nothing there (under
    -80 dB), a step (a click) spreads across the whole band."""
    return float(np.max(np.abs(signal.sosfilt(HIGH_PASS, y.astype(np.float64))[2400:])))  # the tone's own start


HIGH_PASS = signal.butter(4, 4000.0, "high", fs=SR, output="sos")


def play(rv, x, at):
    """x through rv block by block; at: {sample: callable(rv)}, run before the block starting there."""
    y = np.empty_like(x)
    for s in range(0, len(x), BLOCK):
        if s in at:
            at[s](rv)
        rv.process(x[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
    return y


def test_switching_on_and_off_is_click_free():
    x = tone(2 * SR, 220.0, a=0.5, fade_in_s=0.05)
    on_at, off_at = 200 * BLOCK, 910 * BLOCK         # block boundaries, the tone far from 0
    switch = {on_at: lambda rv: rv.set_on(True), off_at: lambda rv: rv.set_on(False)}
    rv = Reverb(SR, BLOCK)
    rv.set("mix", 0.5)
    rv.settle()
    y = play(rv, x, switch)
    assert np.array_equal(y[:on_at], x[:on_at])                 # off from the start: dry
    assert np.max(np.abs(y[on_at:] - x[on_at:])) > 0.05         # then heard
    assert clicks(y) < 1e-4
    # the measure can fail: the same reverb switched at once (no fade of its input) clicks
    hard = Reverb(SR, BLOCK)
    hard.set("mix", 0.5)
    hard.settle()
    hard.ramp_step = 1.0
    assert clicks(play(hard, x, switch)) > 1e-3


def test_turning_the_decay_tone_and_pre_delay_glides_without_a_click():
    rv = Reverb(SR, BLOCK)
    rv.set("mix", 0.6)
    rv.set_on(True)
    rv.settle()
    x = tone(2 * SR, 330.0, a=0.5, fade_in_s=0.05)

    def turn(rv):
        rv.set("decay_s", 0.3)                      # from 2 s, at once
        rv.set("predelay_ms", 150.0)                # from 10 ms
        rv.set("tone", 0.0)                         # from 0.5
    y = play(rv, x, {SR: turn})
    assert clicks(y) < 1e-4
    wet = (y - x).astype(np.float64)
    assert np.std(wet[-SR // 4:]) < 0.7 * np.std(wet[SR - SR // 4:SR])     # the shorter decay took
    # and the new pre-delay holds once the crossfade is over
    x = np.zeros(2 * SR, np.float32)
    x[3 * SR // 2] = 1.0                            # the tone's reverb long gone by then
    h = process_in_blocks(rv, x)
    start = 3 * SR // 2 + int(0.15 * SR)
    assert np.max(np.abs(h[3 * SR // 2 + 1:start])) < 1e-6 and np.max(np.abs(h[start:start + 96])) > 1e-3


def test_switched_off_the_tail_rings_out_then_the_block_goes_idle():
    rv = Reverb(SR, BLOCK)
    rv.set("decay_s", 0.5)
    rv.set("mix", 1.0)
    rv.set_on(True)
    rv.settle()
    assert not rv.idle
    burst = np.zeros(4 * SR, np.float32)
    burst[:200 * BLOCK] = np.random.default_rng(5).standard_normal(200 * BLOCK) * 0.5
    y = np.empty_like(burst)
    off = 200 * BLOCK
    idle_at = None
    for s in range(0, len(burst), BLOCK):
        if s == off:
            rv.set_on(False)
        rv.process(burst[s:s + BLOCK], y[s:s + BLOCK], BLOCK)
        if idle_at is None and rv.idle:
            idle_at = s + BLOCK
    tail = y[off:]                                  # the input is silent from `off` on
    assert np.std(tail[SR // 20:SR // 10]) > 1e-2                # it rings after off...
    assert np.std(tail[SR // 2:SR // 2 + SR // 20]) < 0.1 * np.std(tail[SR // 20:SR // 10])  # ...and decays
    assert idle_at is not None and idle_at < 3 * SR, idle_at
    assert np.max(np.abs(y[idle_at - SR // 10:idle_at])) < 1e-5  # only once the tail was gone
    assert np.all(rv.buf == 0.0)                                # its lines cleared
    x = (np.random.default_rng(6).standard_normal(SR // 10) * 0.3).astype(np.float32)
    assert np.array_equal(process_in_blocks(rv, x), x)          # idle: the input, untouched
    assert rv.idle
    rv.set_on(True)                                             # and back on, it plays again
    h = process_in_blocks(rv, np.concatenate([x, np.zeros(SR // 10, np.float32)]))
    assert not rv.idle and np.std(h[len(x):]) > 1e-3


def test_process_allocates_nothing():
    rv = Reverb(SR, BLOCK)
    rv.set_on(True)
    x = (np.random.default_rng(7).standard_normal(BLOCK) * 0.1).astype(np.float32)
    y = np.empty_like(x)

    def run():
        for i in range(300):
            if i == 100:
                rv.set("decay_s", 5.0)              # new line targets, then their glide
            if i == 200:
                rv.set_on(False)                    # the tail draining
            rv.process(x, y, BLOCK)
            rv.process(y, y, BLOCK)                 # in place too
    run()
    kept, peak, _ = allocations(run)
    assert kept == 0 and peak < 4096


def test_out_of_range_and_unknown_parameters_are_one_line_errors():
    rv = Reverb(SR, BLOCK)
    with pytest.raises(MessageError, match=r"reverb.decay_s: 0.2 is outside 0.3..10 s"):
        rv.set("decay_s", 0.2)
    with pytest.raises(MessageError, match=r"reverb.predelay_ms: 250 is outside 0..200 ms"):
        rv.set("predelay_ms", 250)
    with pytest.raises(MessageError, match=r"reverb.tone: -0.1 is outside 0..1"):
        rv.set("tone", -0.1)
    with pytest.raises(MessageError, match=r"reverb.mix: 1.5 is outside 0..1"):
        rv.set("mix", 1.5)
    with pytest.raises(MessageError, match="reverb has no parameter 'size'"):
        rv.set("size", 0.5)
    assert [p.name for p in Reverb.PARAMS] == ["decay_s", "predelay_ms", "tone", "mix"]
    assert rv.get("decay_s") == 2.0 and rv.get("predelay_ms") == 10.0 and rv.get("mix") == 0.2


def test_silence_after_a_loud_note_flushes_to_zero_without_denormals():
    rv = Reverb(SR, BLOCK)
    rv.set("decay_s", 0.3)
    rv.set_on(True)
    rv.settle()
    loud = np.clip(np.random.default_rng(8).standard_normal(SR // 2), -1, 1).astype(np.float32)
    process_in_blocks(rv, loud)
    silence = np.zeros(BLOCK, np.float32)
    y = np.empty_like(silence)
    memories = rv.state[-7 * 16:].reshape(16, 7)[:, 4]         # the lines' filter memories
    for b in range(6 * SR // BLOCK):
        rv.process(silence, y, BLOCK)
        if b % 8 == 0:
            tiny = (rv.buf != 0.0) & (np.abs(rv.buf) < 1e-30)
            assert not np.any(tiny), b
            assert not np.any((memories != 0.0) & (np.abs(memories) < 1e-30)), b
    assert np.all(rv.buf == 0.0) and np.all(memories == 0.0) and np.all(y == 0.0)


def test_the_loudest_input_at_the_longest_decay_stays_finite_and_bounded():
    rv = Reverb(SR, BLOCK)
    for name, value in (("decay_s", 10.0), ("tone", 1.0), ("mix", 1.0), ("predelay_ms", 0.0)):
        rv.set(name, value)
    rv.set_on(True)
    rv.settle()
    square = np.where(np.sin(2 * np.pi * 110 * np.arange(3 * SR) / SR) >= 0, 1.0, -1.0).astype(np.float32)
    y = process_in_blocks(rv, square)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) < 20.0


def test_two_seeds_give_decorrelated_reverbs():
    left = impulse_response(1.0, seed=0)[SR // 10:]
    right = impulse_response(1.0, seed=1)[SR // 10:]
    near = slice(len(left) - 1 - 480, len(left) + 480)           # lags within 10 ms
    xc = signal.fftconvolve(left, right[::-1])[near] / np.sqrt(np.sum(left ** 2) * np.sum(right ** 2))
    same = signal.fftconvolve(left, left[::-1])[near] / np.sum(left ** 2)
    assert np.max(np.abs(same)) > 0.99                          # the measure: itself at lag 0
    assert np.max(np.abs(xc)) < 0.2
    assert rt60(impulse_response(2.6, seed=1)) == pytest.approx(2.0, rel=0.2)


@pytest.mark.parametrize("rate", [44100, 96000])
def test_other_sample_rates_keep_the_times(rate):
    h = impulse_response(2.8, rate=rate, predelay_ms=20.0)
    p = round(0.02 * rate)
    assert np.all(h[:p] == 0.0) and np.max(np.abs(h[p:p + rate // 500])) > 1e-3
    assert rt60(h, rate) == pytest.approx(2.0, rel=0.2)

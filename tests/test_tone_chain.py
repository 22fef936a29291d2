"""The tone chain on its own: convolution, limiter, NaN handling, smoothing, crossfades,
and the block loop allocating nothing."""

import numpy as np
from helpers import block_allocations, process_in_blocks, tone

from firmware.dsp import kernels as dsp
from firmware.dsp.chain import Slot, ToneChain, make_slot
from firmware.dsp.convolver import Convolver
from firmware.testing.models import make_model

SR = 48000
B = 64


class NaNModel:
    """A model gone bad: finite for a while, then NaN forever (as a diverging RNN does)."""
    num_knobs = 0

    def __init__(self, after=0):
        self.after = after
        self.knobs = np.zeros(2, np.float32)

    def process(self, x, y, n):
        y[:n] = x[:n] if self.after > 0 else np.nan
        self.after -= n


def test_convolver_matches_direct_convolution_for_any_cut(rng):
    ir = rng.standard_normal(700) * np.exp(-np.arange(700) / 150)
    x = rng.standard_normal(6000).astype(np.float32)
    y = process_in_blocks(Convolver(ir, B), x, [1, 64, 17, 100, 300, 5, 64])
    ref = np.convolve(x.astype(np.float64), ir)[:len(x)]
    assert np.max(np.abs(y - ref)) < 1e-5 * np.max(np.abs(ref))   # and no latency: aligned


def test_chain_with_ir_is_sample_aligned():
    ir = np.zeros(300)
    ir[0] = 1.0
    ir[200] = 0.5
    unity = make_model("Linear", taps=[1.0])
    chain = ToneChain(SR, B, ir=ir, model=unity, dc_hz=0.001)
    x = tone(4000, a=0.3)
    y = process_in_blocks(chain, x)
    ref = np.convolve(x.astype(np.float64), ir)[:len(x)]
    # defaults: drive 0.5 of [-12, 12] dB = 0 dB, level 0.8 of [-24, 6] dB = 0 dB
    assert np.max(np.abs(y - ref)) < 1e-3


def test_limiter_keeps_output_under_ceiling_whatever_the_model_does():
    hot = make_model("Linear", taps=8, gain=40.0)
    chain = ToneChain(SR, B, model=hot, level=1.0)
    x = tone(SR // 2, a=0.9)
    y = process_in_blocks(chain, x)
    ceiling = 10 ** (-0.1 / 20)
    assert np.max(np.abs(y)) <= ceiling + 1e-6
    assert np.max(np.abs(y)) > 0.9 * ceiling
    assert chain.clips > 0


def test_nan_model_becomes_silence_and_is_reported():
    chain = ToneChain(SR, B)
    chain.set_model(Slot(NaNModel(after=1000), "bad"))
    x = tone(SR // 4)
    y = process_in_blocks(chain, x)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y[6000:])) < 1e-3    # silence (after the DC blocker's tail)
    assert chain.faults == 1 and chain.current.faulted


def test_switch_crossfade_is_bounded_and_within_50ms():
    a = make_slot(make_model("LSTM", seed=1, gain=0.5), B)
    b = make_slot(make_model("Linear", seed=2, gain=-1.0), B)
    chain = ToneChain(SR, B, model=a)
    x = tone(SR // 2, f=110, a=0.5)
    switch_at = 10 * B
    y = process_in_blocks(chain, x, switch={switch_at: b})
    done = chain.last_switch_done
    assert chain.current is b
    assert done - switch_at <= 0.050 * SR
    # no click: the largest sample-to-sample step during the fade is no larger than in
    # the steady signal on either side
    steady = max(np.max(np.abs(np.diff(y[:switch_at]))), np.max(np.abs(np.diff(y[done + 1000:]))))
    fade = np.max(np.abs(np.diff(y[switch_at - 1:done + 1])))
    assert fade <= 1.1 * steady


def test_drive_and_level_pots_move_smoothly_without_zipper():
    chain = ToneChain(SR, B)
    x = np.full(SR // 2, 0.25, np.float32)          # constant in: the output is the gain curve
    y = np.zeros_like(x)
    for s in range(0, len(x), B):
        if s == 4800:
            chain.set_level(1.0)                      # +6 dB at once (a fast pot turn)
        # the level stage on its own (the DC blocker would remove a constant input)
        dsp.final_block(x[s:s + B], chain.x, y[s:s + B], B, chain.params, chain.state, chain.coef)
    g = y / 0.25
    assert abs(g[4000] - 1.0) < 1e-3 and abs(g[-1] - 10 ** (6 / 20)) < 1e-3
    steps = np.abs(np.diff(g[4800:]))
    assert np.max(steps) < 0.01                       # no step: spread over ~20 ms
    assert np.all(np.diff(g[4800:9600]) >= -1e-7)     # monotonic, no dithering


def test_bypass_crossfades_to_the_dry_signal():
    chain = ToneChain(SR, B, model=make_model("Linear", gain=-0.5, seed=3))
    x = tone(SR // 4, a=0.4)
    y = np.zeros_like(x)
    for s in range(0, len(x), B):
        if s == 4096:
            chain.set_bypass(True)
        m = min(B, len(x) - s)
        chain.process(x[s:s + m], y[s:s + m], m)
    assert np.allclose(y[4096 + 600:], x[4096 + 600:], atol=1e-6)   # dry after a 10 ms ramp
    assert np.max(np.abs(np.diff(y[4000:5200]))) <= 1.1 * np.max(np.abs(np.diff(np.concatenate([y[:4000], x]))))


def test_gate_closes_on_silence_and_opens_on_playing():
    chain = ToneChain(SR, B, model=make_model("Linear", taps=1), gate_threshold_db=-50, dc_hz=50)
    x = np.concatenate([tone(SR // 4, a=0.3), tone(SR // 4, f=60, a=1e-4), tone(SR // 4, a=0.3)])
    y = process_in_blocks(chain, x)
    q = SR // 4
    assert np.max(np.abs(y[q + 4000:2 * q])) < 1e-5       # hum below the threshold is gated
    assert np.max(np.abs(y[2 * q + 1000:])) > 0.1          # and playing opens it


def test_conditioned_model_knob_follows_drive():
    mf = make_model("LSTM", knobs=1, seed=4)
    chain = ToneChain(SR, B, model=mf, drive=0.9)
    x = tone(2048)
    process_in_blocks(chain, x)
    assert abs(chain.current.model.knobs[0] - 0.9) < 1e-6
    assert chain.current.conditioned


def test_process_block_allocates_nothing():
    ir = np.exp(-np.arange(2000) / 300.0)
    a = make_slot(make_model("LSTM", seed=1), B)
    b = make_slot(make_model("Linear", seed=2), B)
    chain = ToneChain(SR, B, ir=ir, model=a)
    x = tone(B)
    chain.x[:] = x
    for _ in range(20):                    # JIT, warm caches
        chain.process_block(B)
    chain.request_switch(b)
    for _ in range(5):
        chain.process_block(B)
    chain.request_switch(a)
    chain.retired.clear()
    chain.retired.append(None)
    chain.retired.pop()
    def block(i):
        chain.set_drive((i % 100) / 100)          # the control side's stores, too
        chain.process_block(B)

    grown, peak, grows = block_allocations(block, 2000)
    assert grown == 0                       # no numpy buffer kept
    # What remains is the Python call overhead of ~10 njit calls a block (argument tuples,
    # ints): a fixed few hundred bytes, freed at once, the same after 2000 blocks as after 10.
    assert peak < 1536, f"peak {peak} bytes above the start: a buffer is allocated per block"
    # 1800 blocks more hold nothing more: one object kept a block would be 50 kB and up
    assert grows < 256, f"{grows} bytes more held after 2000 blocks than after 200: something kept per block"
    assert chain.switches >= 2


def test_the_warm_up_runs_at_the_periods_a_pedal_may_use():
    # audio.period 128 or 512 (a heavy model on a Pi 4, a busy machine): the engine's warm-up
    # ran a 64-sample scratch buffer through `period`-sample blocks and refused to start
    from firmware.dsp.warm import warm
    for rate, block in ((48000, 512), (44100, 128), (48000, 32)):
        assert warm(rate, block) >= 0.0

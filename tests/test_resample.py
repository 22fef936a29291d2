"""A model trained at another rate (44.1 kHz GuitarML models on the 48 kHz pedal) plays
resampled: the polyphase pair's figures, timing, continuity, and the chain/pedal/render."""
import logging

import numpy as np
import pytest
from helpers import block_allocations, process_in_blocks, sine, tone

from firmware.dsp import resample
from firmware.dsp.chain import ToneChain, make_slot
from firmware.dsp.resample import ResampledModel, Resampler
from firmware.testing.models import make_model

SR = 48000
MR = 44100
B = 64


class Identity:
    """A 44.1 kHz 'model' that passes its input: the resampling pair on its own."""
    num_knobs = 0
    prewarm_samples = 0
    architecture = "Identity"

    def __init__(self, rate=MR, max_block=1 << 16):
        self.sample_rate = rate
        self.max_block = max_block
        self.knobs = np.zeros(2, np.float32)
        self.counts = []

    def process(self, x, y, n):
        self.counts.append(n)
        y[:n] = x[:n]

    def reset(self):
        pass

    def prewarm(self):
        pass


def model_44k(seed=1, **kw):
    return make_model("LSTM", seed=seed, gain=0.6, name=f"lstm44-{seed}", sample_rate=MR, **kw)


def test_design_meets_the_spec():
    h, latency, fpass, fstop = resample.design(SR, MR)
    ripple, stop = resample.response(h, SR * 147, fpass, fstop)
    assert fpass >= 17999 and fstop == 22050
    assert ripple < 0.05                    # per direction: < 0.1 dB for the round trip
    assert stop < -60.0
    assert latency == 44 and latency / SR < 1e-3     # round trip under 1 ms
    assert (len(h) - 1) % 147 == 0          # an integer number of chain samples


@pytest.mark.parametrize("f", [100.0, 1000.0, 10000.0, 17000.0])
def test_sine_comes_back_with_the_stated_delay(f):
    w = ResampledModel(Identity(), SR, B)
    n = SR // 4
    x = tone(n, f)
    y = process_in_blocks(w, x)
    ref = sine(n, f, delay=w.latency)
    settled = slice(2 * w.latency, n)
    err = np.max(np.abs(y[settled] - ref[settled]))
    assert err < 1e-3, f"{f} Hz: error {err:.2e} of 0.5"      # > 54 dB below the signal
    # a sample early or late is far off: the delay is exactly `latency`
    assert np.max(np.abs(y[settled] - sine(n, f, delay=w.latency + 1)[settled])) > 10 * err
    assert w.starved == 0


def test_what_would_alias_is_rejected_both_ways():
    w = ResampledModel(Identity(), SR, B)
    n = SR // 4
    for f in (22500.0, 23500.0):                 # above the model's Nyquist: would fold
        w.reset()
        y = process_in_blocks(w, tone(n, f))
        rms = np.sqrt(np.mean(y[200:].astype(np.float64) ** 2))
        assert 20 * np.log10(rms / (0.5 / np.sqrt(2))) < -60


def test_every_block_comes_back_whole_and_the_model_gets_a_bounded_count():
    ident = Identity()
    w = ResampledModel(ident, SR, B)
    rng = np.random.default_rng(3)
    sizes = [int(v) for v in rng.integers(1, B + 1, 400)] + [B] * 50
    x = rng.standard_normal(sum(sizes)).astype(np.float32) * 0.1
    y = process_in_blocks(w, x, sizes)                 # asserts no write past each block
    assert np.all(np.isfinite(y))
    assert w.starved == 0
    counts = [c for c in ident.counts]
    assert max(counts) <= w.down.max_out and max(counts[-50:]) in (58, 59) and min(counts[-50:]) in (58, 59)
    total = sum(ident.counts)
    assert abs(total - len(x) * MR / SR) <= 1


def test_output_does_not_depend_on_the_block_cuts():
    mf = model_44k(seed=2)
    n = SR
    x = (0.4 * np.sin(2 * np.pi * 110 * np.arange(n) / SR)
         + 0.02 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    outs = []
    for sizes in ([B], [1, 7, 64, 13, 40, 2, 64, 33], [17]):
        slot = make_slot(mf, B, sample_rate=SR)
        outs.append(process_in_blocks(slot.model, x, sizes))
    assert np.max(np.abs(outs[0])) > 0.05
    for y in outs[1:]:
        assert np.max(np.abs(y - outs[0])) < 1e-6


def test_resampled_model_matches_an_offline_resampled_render():
    from scipy.signal import resample_poly
    mf = model_44k(seed=1)
    slot = make_slot(mf, B, sample_rate=SR)
    assert isinstance(slot.model, ResampledModel)
    n = SR // 2
    x = tone(n, 196.0, 0.3, fade_in_s=0.02)
    y = process_in_blocks(slot.model, x).astype(np.float64)
    ref_model = mf.build(max_block=4096)
    ref_model.reset()
    ref_model.prewarm()
    xm = resample_poly(x.astype(np.float64), 147, 160).astype(np.float32)
    ym = np.empty_like(xm)
    ref_model.process(xm, ym, len(xm))
    ref = resample_poly(ym.astype(np.float64), 160, 147)[:n]
    D = slot.model.latency
    a, b = y[D + 2000:], ref[2000:n - D]
    assert np.sqrt(np.mean(b ** 2)) > 0.02
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.01 * np.sqrt(np.mean(b ** 2))   # > 40 dB agreement


def test_44k_model_plays_in_the_pedal_without_the_warning(tmp_path, caplog):
    from firmware.core.config import load_config
    from firmware.testing.pedal import local_pedal
    d = tmp_path / "models"
    d.mkdir()
    model_44k().save(d / "g44.npz")
    cfg = load_config()
    cfg["models"]["directory"] = str(d)
    with caplog.at_level(logging.DEBUG):
        pedal, engine, _ = local_pedal(cfg, tmp_path / "cache")
        pedal.restore()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    slot = engine.chain.current
    assert slot is not None and isinstance(slot.model, ResampledModel)
    assert slot.model.model_rate == MR and slot.model.sample_rate == SR
    x = tone(SR // 4, 220.0, 0.3)
    y = np.zeros_like(x)
    engine.chain.process(x, y, len(x))
    ref = np.zeros_like(x)
    ToneChain(SR, B, model=model_44k(), **pedal.tone).process(x, ref, len(x))
    assert np.sqrt(np.mean(ref[SR // 8:] ** 2)) > 0.003
    assert np.max(np.abs(y - ref)) < 1e-6
    assert engine.chain.faults == 0 and slot.model.starved == 0


def test_chain_with_resampled_model_allocates_nothing():
    ir = np.exp(-np.arange(1500) / 200.0)
    slot = make_slot(model_44k(), B, sample_rate=SR, ir=ir)
    chain = ToneChain(SR, B, model=None)
    chain.set_model(slot)
    chain.x[:] = sine(B, 220.0, 0.3)
    for _ in range(20):
        chain.process_block(B)
    grown, peak, grows = block_allocations(lambda i: chain.process_block(B), 1000)
    assert grown == 0
    assert peak < 2048, f"peak {peak} bytes: a buffer is allocated per block"
    # 900 blocks more hold nothing more: one object kept a block would be 25 kB and up
    assert grows < 256, f"{grows} bytes more held after 1000 blocks than after 100: something kept per block"


def test_rates_without_a_usable_ratio_are_refused():
    with pytest.raises(resample.ResampleError, match="ratio"):
        resample.design(48000, 44101)


def test_plain_resampler_96k_to_48k_is_a_clean_decimator():
    h, latency, fpass, fstop = resample.design(96000, 48000)
    ripple, stop = resample.response(h, 96000, fpass, fstop)
    assert ripple < 0.05 and stop < -60
    r = Resampler(96000, 48000, h, 256)
    x = tone(9600, 1000.0, rate=96000)
    y = np.zeros(5000, np.float32)
    got = 0
    for s in range(0, len(x), 256):
        m = min(256, len(x) - s)
        got += r.process(x[s:s + m], m, y[got:])
    assert got == 4800
    d = (len(h) - 1) / 2 / 2                    # the prototype's delay, in 48 kHz samples
    ref = sine(4800, 1000.0, rate=48000, delay=d)
    assert np.max(np.abs(y[200:got] - ref[200:])) < 1e-3


def test_render_plays_a_44k_model_on_a_48k_file_through_the_chain(tmp_path):
    sf = pytest.importorskip("soundfile")
    from firmware.tools import cli
    model_44k().save(tmp_path / "g44.npz")
    x = tone(SR // 4, 220.0, 0.3)
    sf.write(tmp_path / "in.wav", x, SR, subtype="FLOAT")
    rc = cli.main(["render", str(tmp_path / "g44.npz"), str(tmp_path / "in.wav"), str(tmp_path / "out.wav")])
    assert rc == 0
    y, sr = sf.read(tmp_path / "out.wav", dtype="float32")
    assert sr == SR and len(y) == len(x)
    chain = ToneChain(SR, B, model=model_44k())
    ref = np.zeros_like(x)
    chain.process(x, ref, len(x))
    assert np.max(np.abs(ref)) > 0.01 and np.max(np.abs(y - ref)) < 1e-6
    # the bare model has no chain to resample it: still refused
    assert cli.main(["render", "--model-only", str(tmp_path / "g44.npz"), str(tmp_path / "in.wav"),
                     str(tmp_path / "o2.wav")]) == 2

"""`tubeless bench --chain`: what each block of the rig costs, and the whole rig.

Each row is the median CPU time of one 64-sample block (one thread, `time.perf_counter_ns`
around `process`, many blocks of a guitar-like signal), as a share of the period here and
as the predicted share of a Raspberry Pi 4 core: this machine's core is about 9-12x a Pi 4's
for this kind of code (../shared/notes/numba-performance.md), so a share s here is 9-12 s
there. The whole rig is the ToneChain as the pedal runs it: the model, the boost and a
captured pedal (a feather WaveNet) in the drive slot, the tone stack, an 8192-tap cabinet IR,
the DC blocker, the delay, the reverb, level, bypass and limiter, every block on. The stomp's
own row plays a one-tap capture: the slot's overhead without a model's cost.
"""
import statistics
import time

import numpy as np

from firmware.dsp import rig
from firmware.dsp.chain import ToneChain, make_slot, make_stomp_slot
from firmware.dsp.convolver import Convolver
from firmware.models import presets
from firmware.models.modelfile import ModelFile
from firmware.models.random import random_weights
from firmware.testing.signals import test_signal

RATE = 48000
PI4_RATIO = (9.0, 12.0)          # this core / a Pi 4 core (the note's published figures)
IR_TAPS = 8192


def _median_ns(process, x, block, blocks):
    y = np.empty(block, np.float32)
    times = []
    n = len(x) // block
    for k in range(blocks):
        s = (k % n) * block
        src = x[s:s + block]
        t0 = time.perf_counter_ns()
        process(src, y, block)
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


def _ir(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(IR_TAPS) / RATE
    return (rng.standard_normal(IR_TAPS) * np.exp(-t / 0.03)).astype(np.float32) * 0.1


def _model_file(architecture, config):
    return ModelFile(architecture, config, random_weights(architecture, config), sample_rate=RATE,
                     metadata={"name": f"{architecture} (random weights)"})


def _whole_rig(model_file, block, stomp_file):
    chain = ToneChain(RATE, block, ir=_ir(), model=model_file)
    chain.rig.blocks["stomp"].set_capture(make_stomp_slot(stomp_file, block, sample_rate=RATE))
    for b in rig.BLOCKS:
        chain.rig.set_on(b.NAME, True)
    chain.rig.settle()
    return chain


def run_chain_bench(block=64, blocks=3000, model="standard"):
    """Rows of {what, us, period_share, pi4_low, pi4_high}; the period is block/RATE."""
    x = (0.5 * test_signal(blocks * block / RATE + 0.1)).astype(np.float32)
    period_ns = block / RATE * 1e9
    rows = []

    def row(what, ns):
        share = ns / period_ns
        rows.append({"what": what, "us": ns / 1000.0, "period_share": share,
                     "pi4_low": share * PI4_RATIO[0], "pi4_high": share * PI4_RATIO[1]})

    for cls in rig.BLOCKS:
        b = cls(RATE, block)
        b.set_on(True)
        if cls.NAME == "stomp":
            b.set_capture(make_stomp_slot(_model_file("Linear", {"receptive_field": 1, "bias": False}), block))
        b.settle()
        _median_ns(b.process, x, block, 200)                 # compile / warm
        row(f"{cls.NAME} (on, defaults)", _median_ns(b.process, x, block, blocks))
    conv = Convolver(_ir(), block=block)
    _median_ns(conv.process, x, block, 200)
    row(f"cabinet IR ({IR_TAPS} taps)", _median_ns(conv.process, x, block, blocks))
    bare = ToneChain(RATE, block)
    bare.rig.set_on("tonestack", False)
    bare.rig.settle()
    _median_ns(bare.process, x, block, 200)
    row("chain without model, IR or rig (drive, gate, DC, level, bypass, limiter)",
        _median_ns(bare.process, x, block, blocks))
    for name, arch, config in (("WaveNet " + model, "WaveNet", presets.wavenet_preset(model)),
                               ("WaveNet feather", "WaveNet", presets.wavenet_preset("feather")),
                               ("LSTM-16", "LSTM", presets.recurrent_config(16))):
        slot = make_slot(_model_file(arch, config), block, sample_rate=RATE)
        _median_ns(slot.model.process, x, block, 200)
        row(f"model: {name}", _median_ns(slot.model.process, x, block, blocks))
    chain = _whole_rig(_model_file("WaveNet", presets.wavenet_preset(model)), block,
                       _model_file("WaveNet", presets.wavenet_preset("feather")))
    _median_ns(chain.process, x, block, 200)
    row(f"the whole rig: WaveNet {model} + a feather in the drive slot + every block on + {IR_TAPS}-tap IR",
        _median_ns(chain.process, x, block, blocks))
    return rows


def format_chain_table(rows, block=64):
    lines = [f"CPU per {block}-sample block at {RATE} Hz (median; {1e6 * block / RATE:.0f} us a period), "
             f"and the predicted share of a Pi 4 core ({PI4_RATIO[0]:g}-{PI4_RATIO[1]:g}x this core)", "",
             "| block | us per block | share of a period here | Pi 4 core (predicted) |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['us']:.1f} | {100 * r['period_share']:.2f}% | "
                     f"{100 * r['pi4_low']:.0f}-{100 * r['pi4_high']:.0f}% |")
    return "\n".join(lines)


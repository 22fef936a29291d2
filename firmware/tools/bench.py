"""`tubeless bench`: single-thread real-time factor of every kernel, and PyTorch's on the same weights.

RTF = seconds of 48 kHz audio per second of compute (median of repeated runs, one core).
Compute is CPU time of this process (time.process_time), so other load on the machine
shows up less than in wall-clock time; on a quiet machine the two agree.
PyTorch's number (when torch and training/ are installed: never on the pedal) is one call
over the whole clip with torch.set_num_threads(1), the way a trainer evaluates, on the very
weights the Numba kernel runs (PyTorch's default initialisation, exported to our format).
The JIT columns come from fresh subprocesses: the first compiles into an empty Numba cache,
the second starts again on that cache and must load, not compile.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from firmware import models
from firmware.core.errors import UserError
from firmware.models import presets
from firmware.models.random import random_weights
from firmware.testing.signals import test_signal

BENCH_MODELS = [
    ("WaveNet standard", "WaveNet", lambda: presets.wavenet_preset("standard")),
    ("WaveNet lite", "WaveNet", lambda: presets.wavenet_preset("lite")),
    ("WaveNet feather", "WaveNet", lambda: presets.wavenet_preset("feather")),
    ("WaveNet nano", "WaveNet", lambda: presets.wavenet_preset("nano")),
    ("LSTM-12", "LSTM", lambda: presets.recurrent_config(12)),
    ("LSTM-16", "LSTM", lambda: presets.recurrent_config(16)),
    ("LSTM-24", "LSTM", lambda: presets.recurrent_config(24)),
    ("LSTM-40", "LSTM", lambda: presets.recurrent_config(40)),
    ("GRU-16", "GRU", lambda: presets.recurrent_config(16)),
]
SAMPLE_RATE = 48000
# A slimmable (channel-sliced) WaveNet "standard": each width NAM Core / the importer can
# play, cut from one set of full-width weights (`--submodel N` picks one on import).
SLIMMABLE_ALLOWED = ([4, 8, 12, 16], [2, 4, 6, 8])  # per layer array of the standard preset


MAX_PASSES = 1000


def cpu_seconds_per_pass(run_once):
    """The process's CPU time of one call of run_once(). A short clip can take less than the
    CPU clock's step (seen: 0 s for 1.4 ms of work in one test process): the call is then
    repeated until the clock moves, and the time divided by the passes."""
    t0 = time.process_time()
    for passes in range(1, MAX_PASSES + 1):
        run_once()
        spent = time.process_time() - t0
        if spent > 0:
            return spent / passes
    raise UserError(f"this process's CPU clock did not move in {MAX_PASSES} passes: give more --seconds")


def numba_rtf(model, x, block, repeats):
    y = np.empty_like(x)

    def run_once():
        model.reset()
        for s in range(0, len(x) - block + 1, block):
            model.process(x[s:s + block], y[s:s + block], block)
    times = [cpu_seconds_per_pass(run_once) for _ in range(repeats)]
    return (len(x) // block * block) / SAMPLE_RATE / statistics.median(times)


def torch_model(architecture, config):
    """(nn.Module, its weights under the model file's names), or None without torch/training."""
    try:
        import torch

        from training.models import build_torch_model, state_dict_to_weights
    except ImportError:
        return None
    torch.manual_seed(0)
    module = build_torch_model(architecture, config).eval()
    return module, state_dict_to_weights(module)


def torch_rtf(module, x, repeats):
    """PyTorch's RTF: one forward over the whole clip, one thread (how a trainer evaluates)."""
    import torch
    torch.set_num_threads(1)
    xt = torch.from_numpy(x)[None]
    with torch.no_grad():
        module(xt[:, :8192])
        times = [cpu_seconds_per_pass(lambda: module(xt)) for _ in range(repeats)]
    return len(x) / SAMPLE_RATE / statistics.median(times)


_JIT_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import firmware.tools.bench as b
from firmware.models import wavenet, lstm, gru, linear, convnet
import numpy as np
out = {}
for label, arch, cfg in [("WaveNet", "WaveNet", b.presets.wavenet_preset("nano")),
                         ("LSTM", "LSTM", b.presets.recurrent_config(8)),
                         ("GRU", "GRU", b.presets.recurrent_config(8)),
                         ("Linear", "Linear", {"receptive_field": 32, "bias": True}),
                         ("ConvNet", "ConvNet", {"channels": 4, "dilations": [1, 2, 4], "activation": "Tanh"})]:
    t = time.perf_counter()
    m = b.models.build(arch, cfg, b.random_weights(arch, cfg), 48000, 64)
    x = np.zeros(64, np.float32); m.process(x, x.copy(), 64)
    out[label] = time.perf_counter() - t
kernels = [wavenet.wavenet_state_mono, wavenet.wavenet_block, lstm.lstm_state_block, gru.gru_state_block,
           linear.linear_block, convnet.convnet_block]
out["hits"] = sum(sum(k.stats.cache_hits.values()) for k in kernels)
out["misses"] = sum(sum(k.stats.cache_misses.values()) for k in kernels)
print(json.dumps(out))
"""


def jit_probe(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    res = subprocess.run([sys.executable, "-c", _JIT_PROBE], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"JIT probe failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def slimmable_widths(seed=0):
    """[(label, config, weights)]: every width of a slimmable WaveNet standard, narrowest
    first, sliced by the NAM importer from one full-width set of random weights."""
    from firmware.importers.nam import slimmable
    config = presets.wavenet_preset("standard")
    weights = random_weights("WaveNet", config, seed)
    count = len(slimmable.slim_widths(config, list(SLIMMABLE_ALLOWED)))
    rows = []
    for width in range(count):
        cfg, w, info = slimmable.slim(config, weights, list(SLIMMABLE_ALLOWED), width, "bench", "config")
        channels = "/".join(str(c) for c in info["sizes"][width]["channels"])
        rows.append((f"WaveNet standard slimmable, width {width} ({channels} ch)", cfg, w))
    return rows


def run_bench(seconds=10.0, blocks=(32, 64, 128), repeats=5, with_torch=True, with_jit=True, only=None):
    x = test_signal(seconds)
    rows = []
    for label, arch, make_config in BENCH_MODELS:
        if only and not any(o.lower() in label.lower() for o in only):
            continue
        config = make_config()
        reference = torch_model(arch, config) if with_torch else None
        if reference is None:
            weights, t_rtf = random_weights(arch, config), None
        else:
            module, weights = reference
            t_rtf = torch_rtf(module, x, repeats)
        for block in blocks:
            model = models.build(arch, config, weights, SAMPLE_RATE, block)
            numba_rtf(model, x[:block * 4], block, 1)  # compile / warm caches
            rtf = numba_rtf(model, x, block, repeats)
            rows.append({"model": label, "block": block, "rtf": round(rtf, 1),
                         "torch_rtf": None if t_rtf is None else round(t_rtf, 1)})
    try:
        slim = slimmable_widths()
    except ImportError:  # a pedal without the importers
        slim = []
    for label, config, weights in slim:
        if only and not any(o.lower() in label.lower() for o in only):
            continue
        for block in blocks:
            model = models.build("WaveNet", config, weights, SAMPLE_RATE, block)
            numba_rtf(model, x[:block * 4], block, 1)
            rows.append({"model": label, "block": block, "rtf": round(numba_rtf(model, x, block, repeats), 1),
                         "torch_rtf": None})
    jit = None
    if with_jit:
        with tempfile.TemporaryDirectory(prefix="tubeless-jit-") as d:
            first, second = jit_probe(d), jit_probe(d)
        jit = {"first": first, "second": second}
    return rows, jit


def format_table(rows, jit):
    lines = ["| model | block | RTF (numba, 1 thread) | RTF (PyTorch, 1 call, 1 thread) | ratio |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        t = r["torch_rtf"]
        ratio = f"{r['rtf'] / t:.1f}x" if t else "n/a"
        lines.append(f"| {r['model']} | {r['block']} | {r['rtf']:.1f} | {t if t is not None else 'n/a'} | {ratio} |")
    if jit:
        f, s = jit["first"], jit["second"]
        lines.append("")
        families = ("WaveNet", "LSTM", "GRU", "Linear", "ConvNet")
        lines.append("| JIT, build + first block | " + " | ".join(families) + " | cache hits / misses |")
        lines.append("|---|" + "---:|" * len(families) + "---|")
        for name, d in (("first start (empty cache)", f), ("second start (same cache)", s)):
            times = " | ".join(f"{d[k]:.2f} s" for k in families)
            lines.append(f"| {name} | {times} | {d['hits']} / {d['misses']} |")
        reused = s["misses"] == 0 and s["hits"] > 0
        lines.append(f"\nsecond start reused the cache: {'yes' if reused else 'NO'}")
    return "\n".join(lines)


def run(args):
    if args.realtime:
        return run_realtime(args)
    if args.chain:
        from firmware.tools.chainbench import format_chain_table, run_chain_bench
        rows = run_chain_bench(block=args.blocks[0] if args.blocks != [32, 64, 128] else 64)
        print(json.dumps(rows) if args.json else format_chain_table(rows))
        return 0
    if args.tuner:
        from firmware.tools.tunerbench import format_tuner_table, run_tuner_bench
        rows, info = run_tuner_bench(seeds=args.plucks)
        print(json.dumps({"rows": rows, **info}) if args.json else format_tuner_table(rows, info))
        return 0
    rows, jit = run_bench(seconds=args.seconds, blocks=args.blocks, repeats=args.repeats,
                          with_torch=not args.no_torch, with_jit=not args.no_jit, only=args.only)
    if args.json:
        print(json.dumps(rows))
    else:
        print(format_table(rows, jit))
    return 0


def register(sub):
    p = sub.add_parser("bench", help="real-time factor table of every kernel")
    p.add_argument("--json", action="store_true", help='print [{"model", "block", "rtf", "torch_rtf"}, ...]')
    p.add_argument("--seconds", type=float, default=10.0, help="audio per run (default 10)")
    p.add_argument("--repeats", type=int, default=5, help="runs per cell; the median is reported (default 5)")
    p.add_argument("--blocks", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--only", nargs="+", metavar="NAME", help="only models whose name contains NAME")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    p.add_argument("--no-jit", action="store_true", help="skip the JIT compile/cache probe")
    p.add_argument("--realtime", action="store_true",
                   help="instead: the real `tubeless run` on a JACK dummy device, xruns and lateness per phase")
    p.add_argument("--phase-seconds", type=float, default=20.0, help="--realtime: seconds per phase (default 20)")
    p.add_argument("--chain", action="store_true",
                   help="instead: the CPU of each block of the rig and of the whole rig, here and predicted for a Pi 4")
    p.add_argument("--tuner", action="store_true",
                   help="instead: the tuner's accuracy and settling on synthetic plucked strings, the corpus clip, hum")
    p.add_argument("--plucks", type=int, default=5, help="--tuner: plucks per note (default 5)")
    p.add_argument("--phases", type=int, nargs="+", default=list(range(13)), help="--realtime: which phases")
    p.set_defaults(func=run)


def run_realtime(args):
    from firmware.tools.rtbench import BenchError, format_rows
    from firmware.tools.rtbench import run_realtime as bench
    try:
        rows, note = bench(args.phase_seconds, args.phases, log=lambda m: print(m, file=sys.stderr))
    except BenchError as e:
        raise UserError(str(e)) from None
    print(json.dumps(rows) if args.json else format_rows(rows, note))
    return 0

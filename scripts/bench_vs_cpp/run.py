"""The side-by-side table of scripts/bench_vs_cpp.sh (run that: it builds the C++ players).

Every engine plays the same .nam files over the same input, each run in a fresh process,
one thread, engines in one order on even rounds and the reverse on odd ones, so load from
elsewhere on the machine falls on all of them alike; each cell is the median over rounds
of one timed pass (CPU time of the process, after a one-second warm-up and a reset with
NAM's prewarm). Round 0 also keeps every engine's output and checks it against tubeless's.

Models: the corpus' real A1 standard and A2 files when ../shared is there, and files of
NAM's preset shapes (A1 lite, feather, nano; LSTM-16, LSTM-40) with random weights.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RATE = 48000
A1 = {  # NAM's A1 presets: channels of the two arrays, dilations of the two arrays
    "standard": (16, 8, [2 ** i for i in range(10)], [2 ** i for i in range(10)]),
    "lite": (12, 6, [2 ** i for i in range(7)], [128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    "feather": (8, 4, [2 ** i for i in range(7)], [128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    "nano": (4, 2, [2 ** i for i in range(7)], [128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
}


def a1_nam(preset, rng):
    """A classic (0.5.x layout) .nam WaveNet of an A1 preset's shape, random weights."""
    c1, c2, d1, d2 = A1[preset]
    layers, count, prev = [], 0, 1
    for a, (C, dil) in enumerate(((c1, d1), (c2, d2))):
        head_size = c2 if a == 0 else 1
        layers.append({"input_size": prev, "condition_size": 1, "head_size": head_size, "channels": C,
                       "kernel_size": 3, "dilations": dil, "activation": "Tanh", "gated": False,
                       "head_bias": a == 1})
        count += C * prev + len(dil) * (C * C * 3 + C + C + C * C + C) + head_size * C + (a == 1)
        prev = C
    weights = 0.25 * rng.standard_normal(count + 1)
    weights[-1] = 0.02
    return {"version": "0.5.4", "architecture": "WaveNet",
            "config": {"layers": layers, "head": None, "head_scale": 0.02},
            "weights": weights.tolist(), "sample_rate": SAMPLE_RATE, "metadata": {"name": f"A1 {preset}"}}


def lstm_nam(H, rng):
    """A one-layer NAM LSTM of hidden size H, random weights (file order: [W_ih | W_hh], b, h0, c0, head)."""
    n = 4 * H * (1 + H) + 4 * H + 2 * H + H + 1
    weights = 0.25 * rng.standard_normal(n)
    return {"version": "0.5.4", "architecture": "LSTM",
            "config": {"input_size": 1, "hidden_size": H, "num_layers": 1},
            "weights": weights.tolist(), "sample_rate": SAMPLE_RATE, "metadata": {"name": f"LSTM-{H}"}}


def rtneural_weights(doc):
    """The RTNeural driver's weight file from a one-layer NAM LSTM: W_ih, W_hh, b, head w, head b."""
    H = doc["config"]["hidden_size"]
    flat = np.asarray(doc["weights"], np.float32)
    W = flat[:4 * H * (1 + H)].reshape(4 * H, 1 + H)
    p = 4 * H * (1 + H)
    b = flat[p:p + 4 * H]
    p += 4 * H + 2 * H                       # h0 and c0: RTNeural starts from zeros; prewarm settles both
    head_w, head_b = flat[p:p + H], flat[p + H:p + H + 1]
    return np.concatenate([W[:, 0], W[:, 1:].reshape(-1), b, head_w, head_b]).astype(np.float32)


def make_models(work, shared):
    """[(label, .nam path, RTNeural hidden size or None)]."""
    rng = np.random.default_rng(0)
    d = Path(work) / "models"
    d.mkdir(parents=True, exist_ok=True)
    corpus = Path(shared) / "corpus" / "nam"
    out = []

    def write(name, doc):
        p = d / name
        if not p.exists():
            tmp = p.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, p)
        return p

    if (corpus / "wavenet_a1_standard.nam").exists():
        out.append(("WaveNet standard (corpus A1 file)", corpus / "wavenet_a1_standard.nam", None))
    else:
        out.append(("WaveNet standard (random weights)", write("a1_standard.nam", a1_nam("standard", rng)), None))
    for preset in ("lite", "feather", "nano"):
        out.append((f"WaveNet {preset}", write(f"a1_{preset}.nam", a1_nam(preset, rng)), None))
    for H in (16, 40):
        doc = lstm_nam(H, rng)
        p = write(f"lstm_{H}.nam", doc)
        wp = d / f"lstm_{H}.rtneural.f32"
        rtneural_weights(json.loads(p.read_text())).tofile(wp)
        out.append((f"LSTM-{H}", p, H))
    if (corpus / "A2.nam").exists():
        out.append(("NAM A2 (corpus A2.nam)", corpus / "A2.nam", None))
    return out


def tubeless_one(model_path, input_path, block, out_path):
    """One timed pass of tubeless (run in its own process by `run`)."""
    sys.path.insert(0, str(ROOT))
    from firmware.importers import nam
    path = str(model_path)
    mf = nam.convert(json.loads(Path(path).read_text()), path)
    model = mf.build(max_block=block)
    x = np.fromfile(input_path, np.float32)
    y = np.zeros_like(x)
    warm = min(len(x), SAMPLE_RATE) // block * block
    for s in range(0, warm, block):
        model.process(x[s:s + block], y[s:s + block], block)
    model.reset()
    model.prewarm()
    used = len(x) // block * block
    t0 = time.process_time()
    for s in range(0, used, block):
        model.process(x[s:s + block], y[s:s + block], block)
    seconds = time.process_time() - t0
    if out_path:
        y[:used].tofile(out_path)
    print(f"{used / SAMPLE_RATE / seconds:.4f}")


ENGINES = ("NAM Core", "NAM Core exact tanh", "RTNeural", "tubeless")


def command(engine, args, model, block, out):
    label, path, hidden = model
    extra = ["--out", out] if out else []
    if engine == "tubeless":
        return [sys.executable, __file__, "--tubeless-one", str(path), args.input, str(block)] + extra
    if engine == "NAM Core":
        return [args.nam_core_bench, str(path), args.input, str(block)] + extra
    if engine == "NAM Core exact tanh":
        return [args.nam_core_bench, str(path), args.input, str(block), "--exact-tanh"] + extra
    if engine == "RTNeural" and hidden and args.rtneural_bench:
        weights = Path(args.work) / "models" / f"lstm_{hidden}.rtneural.f32"
        return [args.rtneural_bench, str(hidden), str(weights), args.input, str(block)] + extra
    return None


def measure(args, models):
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    results = {}            # (label, block) -> {engine: [rtf, ...]}
    agreement = {}          # (label, engine) -> max |difference| from tubeless, block 64 (or first) round 0
    outdir = Path(args.work) / "outputs"
    outdir.mkdir(exist_ok=True)
    for model in models:
        for block in args.blocks:
            cell = results.setdefault((model[0], block), {})
            for r in range(args.rounds):
                order = ENGINES if r % 2 == 0 else tuple(reversed(ENGINES))
                for engine in order:
                    check = r == 0 and block == args.blocks[0]
                    out = str(outdir / f"{engine.replace(' ', '_')}.f32") if check else None
                    cmd = command(engine, args, model, block, out)
                    if cmd is None:
                        continue
                    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if res.returncode != 0:
                        raise SystemExit(f"bench_vs_cpp: {engine} failed on {model[1]}:\n{res.stderr[-1500:]}")
                    cell.setdefault(engine, []).append(float(res.stdout.strip().splitlines()[-1]))
                if r == 0 and block == args.blocks[0]:
                    ref = np.fromfile(outdir / "tubeless.f32", np.float32)
                    for engine in ENGINES[:-1]:
                        p = outdir / f"{engine.replace(' ', '_')}.f32"
                        if p.exists():
                            other = np.fromfile(p, np.float32)
                            agreement[(model[0], engine)] = float(np.max(np.abs(other - ref)))
                            p.unlink()
            print(f"  {model[0]}, block {block}: " + ", ".join(
                f"{e} {statistics.median(v):.1f}" for e, v in cell.items()), file=sys.stderr, flush=True)
    return results, agreement


def table(results, agreement, models, block):
    lines = [f"block {block}: real-time factor (audio seconds per CPU second, one thread, median)", "",
             "| model | NAM Core | NAM Core, exact tanh | RTNeural | tubeless | tubeless / best C++ |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, _, _ in models:
        cell = results[(label, block)]
        med = {e: statistics.median(v) for e, v in cell.items()}
        best = max(v for e, v in med.items() if e != "tubeless")
        cols = [f"{med[e]:.1f}" if e in med else "-" for e in ENGINES]
        ratio = med["tubeless"] / best
        lines.append(f"| {label} | " + " | ".join(cols) + f" | {'**' if ratio < 1 else ''}{ratio:.2f}"
                     f"{'**' if ratio < 1 else ''} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nam-core-bench", help="the NAM Core driver built by bench_vs_cpp.sh")
    p.add_argument("--rtneural-bench", help="the RTNeural driver built by bench_vs_cpp.sh")
    p.add_argument("--work", default="/tmp/tubeless-bench-vs-cpp")
    p.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared folder (corpus files)")
    p.add_argument("--blocks", type=int, nargs="+", default=[64, 32, 128])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--only", nargs="+", metavar="NAME", help="only models whose label contains NAME")
    p.add_argument("--json", action="store_true")
    p.add_argument("--tubeless-one", nargs=3, metavar=("MODEL", "INPUT", "BLOCK"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tubeless_one:
        m, i, b = args.tubeless_one
        return tubeless_one(m, i, int(b), args.out)
    if not args.nam_core_bench:
        p.error("--nam-core-bench is required (run scripts/bench_vs_cpp.sh)")
    sys.path.insert(0, str(ROOT))
    from firmware.testing.signals import test_signal
    Path(args.work).mkdir(parents=True, exist_ok=True)
    args.input = str(Path(args.work) / "input.f32")
    test_signal(args.seconds).tofile(args.input)
    models = [m for m in make_models(args.work, args.shared)
              if not args.only or any(o.lower() in m[0].lower() for o in args.only)]
    load_before = os.getloadavg()
    t0 = time.time()
    results, agreement = measure(args, models)
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({"results": [{"model": k[0], "block": k[1], "rtf": v} for k, v in results.items()],
                          "agreement": [{"model": k[0], "engine": k[1], "max_abs_diff": v}
                                        for k, v in agreement.items()],
                          "load": [load_before, load_after]}))
        return 0
    print(f"{args.rounds} rounds, {args.seconds:g} s of audio per run, {time.time() - t0:.0f} s in all; "
          f"load average (1/5/15 min) before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs\n")
    for block in args.blocks:
        print(table(results, agreement, models, block) + "\n")
    print(f"largest |difference| from tubeless's output (block {args.blocks[0]}, same input):")
    for (label, engine), diff in agreement.items():
        print(f"  {label}, {engine}: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

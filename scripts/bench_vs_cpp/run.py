"""The side-by-side table of scripts/bench_vs_cpp.sh (run that: it builds the C++ players).

Every engine plays the same .nam files over the same input, each run in a fresh process,
one thread, engines in one order on even rounds and the reverse on odd ones, so load from
elsewhere on the machine falls on all of them alike; each cell is the median over rounds
of one timed pass (CPU time of the process, after a one-second warm-up and a reset with
NAM's prewarm). Round 0 also keeps every engine's output and checks it (CHECKS): an engine
whose output is further from its reference than the tolerance gets no speed in the table.

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


ENGINES = ("NAM Core", "NAM Core exact tanh", "RTNeural", "NeuralAudio", "tubeless")
CPP = ENGINES[:-1]

# What each engine's output is checked against (block 64 or the first block, round 0) and how
# far it may be from it. Engines compute in float32 and sum in their own order: the exact
# ones stay within 1e-4 of tubeless (the bound the conformance tests allow deep WaveNets;
# README: 2.3e-7 to 6.6e-6 measured). NeuralAudio's FastMath tanh and sigmoid are NAM Core's
# fast_tanh and fast_sigmoid, the same rational formula with the same constants, so it is
# held to the same 1e-4 against NAM Core run with the fast tanh. That one has no twin: its
# tanh is within 4.4e-4 of the true one, which a model's gain amplifies (1.2e-2 at a peak of
# 0.8 on the real standard file), so it may be 5 % of the output's peak from tubeless; a
# model read wrong (a weight out of place, a layer or state missing) is off by the order of
# the output itself. An engine whose reference failed its own check fails too.
CHECKS = {  # engine: (reference engine, absolute tolerance, tolerance relative to the reference's peak)
    "NAM Core exact tanh": ("tubeless", 1e-4, 0.0),
    "RTNeural": ("tubeless", 1e-4, 0.0),
    "NAM Core": ("tubeless", 0.0, 0.05),
    "NeuralAudio": ("NAM Core", 1e-4, 0.0),
}


def out_file(outdir, engine):
    return outdir / f"{engine.replace(' ', '_')}.f32"


def max_difference(a, b):
    return float(np.max(np.abs(a - b))) if len(a) == len(b) else float("inf")


def check_outputs(outdir, engines):
    """{engine: (reference, max |difference|, tolerance, passed, max |difference| from tubeless)}."""
    outputs = {e: np.fromfile(out_file(outdir, e), np.float32) for e in engines if out_file(outdir, e).exists()}
    verdicts = {}
    for engine in CPP:  # every reference comes before the engines that lean on it
        if engine not in outputs:
            continue
        ref_engine, absolute, relative = CHECKS[engine]
        if ref_engine not in outputs:   # NeuralAudio without NAM Core's output: tubeless at Core's tolerance
            ref_engine, absolute, relative = CHECKS["NAM Core"]
        ref = outputs[ref_engine]
        tol = absolute + relative * float(np.max(np.abs(ref)))
        diff = max_difference(outputs[engine], ref)
        passed = diff <= tol and verdicts.get(ref_engine, (0, 0, 0, True))[3]
        verdicts[engine] = (ref_engine, diff, tol, passed, max_difference(outputs[engine], outputs["tubeless"]))
    return verdicts


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
    if engine == "NeuralAudio" and args.neural_audio_bench:
        return [args.neural_audio_bench, str(path), args.input, str(block)] + extra
    return None


def implementation(stdout):
    """What neural_audio_bench says NeuralAudio picked ("static", "dynamic", "NAM Core"), or None."""
    for line in stdout.splitlines():
        if line.startswith("implementation: "):
            return line.split(": ", 1)[1].strip()
    return None


def measure(args, models):
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    results = {}            # (label, block) -> {engine: [rtf, ...]}
    agreement = {}          # (label, engine) -> check_outputs' verdict, first block, round 0
    implementations = {}    # label -> what NeuralAudio ran
    outdir = Path(args.work) / "outputs"
    outdir.mkdir(exist_ok=True)
    for model in models:
        for block in args.blocks:
            cell = results.setdefault((model[0], block), {})
            for r in range(args.rounds):
                order = ENGINES if r % 2 == 0 else tuple(reversed(ENGINES))
                for engine in order:
                    check = r == 0 and block == args.blocks[0]
                    out = str(out_file(outdir, engine)) if check else None
                    cmd = command(engine, args, model, block, out)
                    if cmd is None:
                        continue
                    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if res.returncode != 0:
                        raise SystemExit(f"bench_vs_cpp: {engine} failed on {model[1]}:\n{res.stderr[-1500:]}")
                    cell.setdefault(engine, []).append(float(res.stdout.strip().splitlines()[-1]))
                    if engine == "NeuralAudio":
                        implementations[model[0]] = implementation(res.stdout)
                if r == 0 and block == args.blocks[0]:
                    for engine, verdict in check_outputs(outdir, ENGINES).items():
                        agreement[(model[0], engine)] = verdict
                    for engine in ENGINES:
                        out_file(outdir, engine).unlink(missing_ok=True)
            print(f"  {model[0]}, block {block}: " + ", ".join(
                f"{e} {statistics.median(v):.1f}" for e, v in cell.items()), file=sys.stderr, flush=True)
    return results, agreement, implementations


def refused(agreement, label, engine):
    verdict = agreement.get((label, engine))
    return verdict is not None and not verdict[3]


def table(results, agreement, implementations, models, block):
    """The markdown table of one block size; 'wrong output' where an engine failed its check."""
    with_na = bool(implementations)
    heads = ["NAM Core", "NAM Core, exact tanh", "RTNeural"] + (["NeuralAudio", "NeuralAudio ran"] if with_na else [])
    lines = [f"block {block}: real-time factor (audio seconds per CPU second, one thread, median)", "",
             "| model | " + " | ".join(heads) + " | tubeless | tubeless / best C++ |",
             "|---|" + "".join(":---|" if h == "NeuralAudio ran" else "---:|" for h in heads) + "---:|---:|"]
    for label, _, _ in models:
        cell = results[(label, block)]
        med = {e: statistics.median(v) for e, v in cell.items() if not refused(agreement, label, e)}
        cols = []
        for e in CPP:
            if e == "NeuralAudio" and not with_na:
                continue
            cols.append(f"{med[e]:.1f}" if e in med else "wrong output" if e in cell else "-")
            if e == "NeuralAudio":
                cols.append(implementations.get(label) or "-")
        best = max((v for e, v in med.items() if e != "tubeless"), default=None)
        if best is None:
            ratio_col = "-"
        else:
            ratio = med["tubeless"] / best
            ratio_col = f"{'**' if ratio < 1 else ''}{ratio:.2f}{'**' if ratio < 1 else ''}"
        lines.append(f"| {label} | " + " | ".join(cols) + f" | {med['tubeless']:.1f} | {ratio_col} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nam-core-bench", help="the NAM Core driver built by bench_vs_cpp.sh")
    p.add_argument("--rtneural-bench", help="the RTNeural driver built by bench_vs_cpp.sh")
    p.add_argument("--neural-audio-bench", help="the NeuralAudio driver built by bench_vs_cpp.sh")
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
    results, agreement, implementations = measure(args, models)
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({"results": [{"model": k[0], "block": k[1], "rtf": v} for k, v in results.items()],
                          "agreement": [{"model": k[0], "engine": k[1], "reference": v[0], "max_abs_diff": v[1],
                                         "tolerance": v[2], "passed": v[3], "max_abs_diff_from_tubeless": v[4]}
                                        for k, v in agreement.items()],
                          "neural_audio_implementation": implementations,
                          "load": [load_before, load_after]}))
        return 0
    print(f"{args.rounds} rounds, {args.seconds:g} s of audio per run, {time.time() - t0:.0f} s in all; "
          f"load average (1/5/15 min) before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs\n")
    for block in args.blocks:
        print(table(results, agreement, implementations, models, block) + "\n")
    print(f"largest |difference| of each output from its reference's (block {args.blocks[0]}, same input; "
          "see CHECKS in run.py):")
    for (label, engine), (ref, diff, tol, passed, from_tubeless) in agreement.items():
        also = f"; from tubeless {from_tubeless:.2e}" if ref != "tubeless" else ""
        print(f"  {label}, {engine} vs {ref}: {diff:.2e} (tolerance {tol:.1e}{also})"
              f"{'' if passed else ' WRONG OUTPUT: no speed shown'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

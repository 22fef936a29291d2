"""The README's quality bar: our trainer against the official NAM trainer, same data, same time.

Data: our capture signal's 150 s of playing material (plus sweeps and noise) through the
diode clipper of training/circuits.py (solved numerically: non-linear, with memory), and
30 s of held-out validation. Both trainers get the same wall-clock minutes on this machine;
both resulting models are then played by the pedal's own kernels (ours from .npz, NAM's
.nam through the NAM importer) and scored with the same ESR on the same validation audio.

NAM's trainer needs its own environment (it pins its own torch and Lightning):

    python -m venv /tmp/nam && /tmp/nam/bin/pip install neural-amp-modeler
    python scripts/compare_nam_trainer.py --nam-full /tmp/nam/bin/nam-full --minutes 10

Writes a JSON summary to --work-dir/summary.json and prints a table.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from firmware import modelfile                                       # noqa: E402
from firmware.importers import import_file                           # noqa: E402
from training import capture, cli, data                              # noqa: E402
from training.circuits import DiodeClipper                           # noqa: E402
from training.models import preset_config                            # noqa: E402

SR = 48000
TRAIN_SECONDS, VALIDATION_SECONDS = 150, 30


def make_data(work_dir, drive):
    """DI and amp WAVs: [training audio | validation audio], 150 s + 30 s."""
    audio, layout = capture.generate(validation_seconds=VALIDATION_SECONDS, playing_seconds=TRAIN_SECONDS - 24)
    training = np.concatenate([audio[a:b] for a, b in layout.training_ranges()])[:TRAIN_SECONDS * SR]
    validation = audio[layout.validation[0].start:layout.validation[0].end]
    x = np.concatenate([training, validation]).astype(np.float32)
    y = DiodeClipper(drive)(x)
    di, amp = os.path.join(work_dir, "di.wav"), os.path.join(work_dir, "amp.wav")
    sf.write(di, x, SR, subtype="FLOAT")
    sf.write(amp, y, SR, subtype="FLOAT")
    return di, amp, len(training)


def score(model_file, x, y):
    return data.esr(model_file.build().render(x), y)


def run_ours(di, amp, arch, minutes, work_dir, threads):
    model = os.path.join(work_dir, f"ours-{arch}.npz")
    cli.main(["fit", di, amp, "-o", model, "--arch", arch, "--minutes", str(minutes), "--latency", "0",
              "--val-seconds", str(VALIDATION_SECONDS), "--epochs", "100000", "--patience", "100000",
              "--threads", str(threads)])
    return modelfile.load(model)


def nam_model_config(arch):
    """NAM's own model config for our arch name (its presets, its training defaults)."""
    if arch.startswith("lstm-"):
        hidden = int(arch.split("-")[1])
        net = {"name": "LSTM", "config": {"hidden_size": hidden, "train_burn_in": 4096, "train_truncate": 512}}
        mask_first = 4096
    else:
        layers = []
        for spec in preset_config(arch)["layer_arrays"]:
            layers.append({"input_size": spec["input_size"], "condition_size": 1, "channels": spec["channels"],
                           "head_size": spec["head_size"], "kernel_size": 3,
                           "dilations": [layer["dilation"] for layer in spec["layers"]],
                           "activation": "Tanh", "gated": False, "head_bias": spec["head_bias"]})
        net = {"name": "WaveNet", "config": {"layers_configs": layers, "head_scale": 0.02}}
        mask_first = 4095
    return {"net": net,
            "loss": {"val_loss": "esr", "mask_first": mask_first, "pre_emph_mrstft_weight": 2e-4,
                     "pre_emph_mrstft_coef": 0.85},
            "optimizer": {"lr": 0.004},
            "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.993}}}


def run_nam(nam_full, di, amp, train_samples, arch, minutes, work_dir, threads):
    out = os.path.join(work_dir, f"nam-{arch}")
    os.makedirs(out, exist_ok=True)
    configs = {
        "data.json": {"train": {"start": None, "stop": train_samples, "ny": 8192},
                      "validation": {"start": train_samples, "stop": None, "ny": None},
                      "common": {"x_path": di, "y_path": amp, "delay": 0}},
        "model.json": nam_model_config(arch),
        "learning.json": {"train_dataloader": {"batch_size": 16, "shuffle": True, "pin_memory": False,
                                               "drop_last": True, "num_workers": 0},
                          "val_dataloader": {},
                          "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 100000,
                                      "max_time": f"00:00:{int(minutes):02d}:{int(minutes % 1 * 60):02d}"},
                          "trainer_fit_kwargs": {}},
    }
    paths = []
    for name, content in configs.items():
        paths.append(os.path.join(out, name))
        with open(paths[-1], "w") as f:
            json.dump(content, f, indent=1)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([nam_full, *paths, out, "--no-show"], check=True, env=env)
    found = [os.path.join(root, f) for root, _, files in os.walk(out) for f in files if f.endswith(".nam")]
    if not found:
        raise SystemExit(f"NAM's trainer wrote no .nam under {out}")
    return import_file(sorted(found, key=os.path.getmtime)[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nam-full", required=True, help="the nam-full command of a neural-amp-modeler install")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--archs", default="feather,lstm-16")
    parser.add_argument("--drive", type=float, default=0.6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work-dir", default=".cache/compare-nam")
    args = parser.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    di, amp, train_samples = make_data(args.work_dir, args.drive)
    x, _ = sf.read(di, dtype="float32")
    y, _ = sf.read(amp, dtype="float32")
    vx, vy = x[train_samples:], y[train_samples:]
    summary = {}
    for arch in args.archs.split(","):
        ours = score(run_ours(di, amp, arch, args.minutes, args.work_dir, args.threads), vx, vy)
        theirs = score(run_nam(args.nam_full, di, amp, train_samples, arch, args.minutes, args.work_dir,
                               args.threads), vx, vy)
        summary[arch] = {"tubeless": ours, "nam": theirs, "minutes": args.minutes}
        print(f"{arch}: tubeless ESR {ours:.4f}, NAM trainer ESR {theirs:.4f} ({args.minutes:g} min each)")
    with open(os.path.join(args.work_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()

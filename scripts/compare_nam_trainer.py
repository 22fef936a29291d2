"""The README's quality bar: our trainer against the official NAM trainer, same data, same time.

Data: our capture signal's playing material, sweeps and noise (150 s) through a circuit of
training/circuits.py (--circuit diode: the diode clipper; tube: two 12AX7 stages into a
tone stack; both solved numerically, non-linear, with memory), then 0.5 s of silence, then
30 s of held-out validation playing. Both trainers read the very same WAV files, train on
the same 150 s and validate on the same 30 s.

Fairness: for each architecture the two trainers run at the same time, side by side, each
limited to ONE thread (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, and torch.set_num_threads(1)
for ours), each with the same wall-clock budget (ours: --minutes; NAM's: Lightning's
max_time). Both resulting models are then played by the pedal's own kernels (ours from
.npz, NAM's .nam through the NAM importer, both prewarmed as their players do) and scored
with the same ESR on the same validation audio.

Each trainer runs with its best known settings (ours: its defaults for the family):

* a2: exactly NAM 0.13's default `train()` model and loss (its config_model_packed.json,
  read from the install: PackedWaveNet 3 + 8 channels, MSE + 5e-4 MR-STFT, Adam lr 0.004,
  weight decay 3.17e-7, ExponentialLR 0.994), batches of 16 x 8192, and the -18 dBFS
  levelling train() applies while training (its exported .nam plays at the recording's
  level: scored as it is, see `score`).
* feather and the other A1 presets: NAM's nam_full_configs (Adam lr 0.004, gamma 0.993,
  MSE + 2e-4 x pre-emphasised MR-STFT, mask_first receptive field - 1, 16 x 8192).
* LSTM-N: the settings measured best for NAM's LSTM on a real capture (issue 16): burn-in
  4096 (mask_first 4096), truncated backprop every 512 samples, 4096 + 8192-sample
  segments, lr 0.01, gamma 0.995, MSE + 2e-3 x pre-emphasised MR-STFT, batches of 16.

NAM's trainer needs its own environment (it pins its own Lightning):

    python3 -m venv /work/scratch/namvenv && /work/scratch/namvenv/bin/pip install torch==2.13.0 neural-amp-modeler==0.13.0
    python scripts/compare_nam_trainer.py --nam-full /work/scratch/namvenv/bin/nam-full --archs a2,lstm-16 --minutes 10

Writes the data, both trainers' outputs and logs under --work-dir, a JSON summary to
--work-dir/summary-CIRCUIT-ARCH-Nmin.json, and prints a table.
"""
import argparse
import glob
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np
import soundfile as sf

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

from firmware.importers import import_file  # noqa: E402
from firmware.models import modelfile  # noqa: E402
from training import capture, data  # noqa: E402
from training.circuits import DiodeClipper  # noqa: E402
from training.models import preset_config  # noqa: E402

SR = 48000
TRAIN_SECONDS, GAP_SECONDS, VALIDATION_SECONDS = 150, 0.5, 30
LSTM_BURN_IN = 4096
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1"}


MODEL_CIRCUIT = "model:"     # --circuit model:FILE


class ThirdPartyAmp:
    """A capture this project did not make, as the amp: a community model file (an AIDA-X
    or GuitarML LSTM of a real amp, a NAM WaveNet) played by the pedal's kernels, which
    match the file's own player within 1e-6 (tests/test_importers.py). `drive` scales the
    DI into it, as turning up the guitar's volume would."""

    def __init__(self, path, drive):
        self.model_file, self.drive = import_file(path), drive

    def __call__(self, x):
        model_file = self.model_file
        return model_file.build().render(np.asarray(x, np.float32) * self.drive, prewarm=model_file.prewarm)


def make_circuit(name, drive):
    if name == "diode":
        return DiodeClipper(drive)
    if name == "tube":
        from training.circuits import TubeAmp
        return TubeAmp(drive)
    if name.startswith(MODEL_CIRCUIT):
        return ThirdPartyAmp(name[len(MODEL_CIRCUIT):], drive)
    raise SystemExit(f"--circuit {name!r}: diode, tube or model:FILE (a .nam or AIDA-X/GuitarML .json)")


def circuit_tag(name):
    """A file-name-safe tag: the circuit's name, or the third-party file's stem."""
    if name.startswith(MODEL_CIRCUIT):
        stem = os.path.splitext(os.path.basename(name[len(MODEL_CIRCUIT):]))[0]
        return "model-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    return name


def make_data(work_dir, drive, seed=0, circuit="diode"):
    """DI and amp WAVs: [150 s training | 0.5 s silence | 30 s validation], float, 48 kHz.

    The silence keeps the circuit's memory of the training audio out of the validation
    (NAM's trainer also insists on 0.4 s of silent input before its validation start)."""
    di, amp = os.path.join(work_dir, "di.wav"), os.path.join(work_dir, "amp.wav")
    stamp, params = os.path.join(work_dir, "data.json"), {"circuit": circuit, "drive": drive, "seed": seed,
                                                          "train": TRAIN_SECONDS,
                                                          "gap": GAP_SECONDS, "validation": VALIDATION_SECONDS}
    train_samples, val_start = TRAIN_SECONDS * SR, TRAIN_SECONDS * SR + int(GAP_SECONDS * SR)
    if os.path.exists(stamp) and os.path.exists(di) and os.path.exists(amp):
        with open(stamp) as f:
            if json.load(f) == params:
                return di, amp, train_samples, val_start          # made before, deterministic
    audio, layout = capture.generate(validation_seconds=VALIDATION_SECONDS, playing_seconds=TRAIN_SECONDS - 24,
                                     seed=seed)
    training = np.concatenate([audio[a:b] for a, b in layout.training_ranges()])[:TRAIN_SECONDS * SR]
    assert len(training) == TRAIN_SECONDS * SR, len(training)
    validation = audio[layout.validation[0].start:layout.validation[0].end]
    x = np.concatenate([training, np.zeros(int(GAP_SECONDS * SR), np.float32), validation]).astype(np.float32)
    y = make_circuit(circuit, drive)(x)
    sf.write(di, x, SR, subtype="FLOAT")
    sf.write(amp, y, SR, subtype="FLOAT")
    with open(stamp, "w") as f:
        json.dump(params, f)
    return di, amp, train_samples, val_start


LEVEL_WARN_DB = 1.0      # a model whose best-fitting gain is further off plays at another level


def score(model_file, x, y):
    """The pedal's own kernel playing the model (prewarmed as its file says), scored the one
    way a player hears it: the ESR at the recording's own level, nothing undone. Beside it,
    for both trainers alike, the gain that fits the output best to the recording and the ESR
    at that gain: a model that is right but plays at another level shows as a gain far from
    1 with a low ESR beside a high one, instead of passing unnoticed. (An earlier harness
    divided NAM's a2 output by the -18 dBFS levelling factor its train() applies; the .nam it
    exports plays at the recording's level already, so NAM's a2 was scored 0.62 for 0.00143.)"""
    return level_scores(model_file.build().render(x, prewarm=model_file.prewarm), y)


def level_scores(prediction, target):
    """{esr, best_gain, best_gain_db, esr_at_best_gain} of a prediction against its target."""
    p, t = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    power = float(np.dot(p, p))
    gain = float(np.dot(p, t) / power) if power > 0 else 1.0
    return {"esr": data.esr(p, t), "best_gain": gain,
            "best_gain_db": 20 * np.log10(abs(gain)) if gain else float("-inf"),
            "esr_at_best_gain": data.esr(gain * p, t)}


def level_warning(name, scores):
    if abs(scores["best_gain_db"]) > LEVEL_WARN_DB:
        return (f"warning: {name}'s model plays {-scores['best_gain_db']:+.1f} dB from the recording's level "
                f"(ESR {scores['esr']:.4g} as heard, {scores['esr_at_best_gain']:.4g} at the best gain)")
    return None


# --- ours ---------------------------------------------------------------------------------

def start_ours(di, amp, arch, minutes, work_dir, extra=()):
    model = os.path.join(work_dir, f"ours-{arch}.npz")
    for stale in (model, model + ".ckpt"):
        if os.path.exists(stale):
            os.remove(stale)
    cmd = [sys.executable, "-m", "training", "fit", di, amp, "-o", model, "--arch", arch,
           "--minutes", str(minutes), "--latency", "0",
           "--train-range", f"0:{TRAIN_SECONDS}", "--val-range", f"{TRAIN_SECONDS + GAP_SECONDS}:",
           "--epochs", "100000", "--patience", "100000", "--threads", "1", "--quiet", *extra]
    log = open(os.path.join(work_dir, f"ours-{arch}.log"), "w")
    env = dict(os.environ, **ONE_THREAD)
    return model, cmd, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def ours_stats(model):
    training = modelfile.load(model).metadata.get("training", {})
    return {"epochs": training.get("epochs"), "steps": training.get("steps"),
            "seconds": training.get("seconds"), "torch_validation_esr": training.get("torch_validation_esr")}


# --- NAM's --------------------------------------------------------------------------------

def nam_packed_config(nam_full):
    """The model config NAM's own train() uses (its config_model_packed.json), read from the install."""
    python = os.path.join(os.path.dirname(nam_full), "python")
    code = ("import json; from nam.train import core; "
            "print(json.dumps(core._get_packed_model_config()))")
    return json.loads(subprocess.run([python, "-c", code], check=True, capture_output=True, text=True,
                                     env=dict(os.environ, **ONE_THREAD)).stdout.strip().splitlines()[-1])


def nam_model_config(arch, nam_full=None):
    """NAM's model config at its best known settings for our arch name.

    a2: exactly what NAM 0.13's train() builds (read from the install). LSTM: the settings
    issue 16 measured as NAM's best on a real capture (burn-in 4096, truncated backprop every
    512 samples, 8192-sample segments, lr 0.01, gamma 0.995, MSE + 2e-3 x pre-emphasised
    MR-STFT, batches of 16), not its repository's 32768-sample untruncated default."""
    if arch == "a2":
        return nam_packed_config(nam_full)
    if arch.startswith("lstm-"):
        hidden = int(arch.split("-")[1])
        net = {"name": "LSTM", "config": {"num_layers": 1, "hidden_size": hidden, "train_burn_in": LSTM_BURN_IN,
                                          "train_truncate": 512}}
        return {"net": net,
                "loss": {"val_loss": "esr", "mask_first": LSTM_BURN_IN, "pre_emph_mrstft_weight": 0.002,
                         "pre_emph_mrstft_coef": 0.85},
                "optimizer": {"lr": 0.01},
                "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.995}}}
    layers = []
    for spec in preset_config(arch)["layer_arrays"]:
        layers.append({"input_size": spec["input_size"], "condition_size": 1, "channels": spec["channels"],
                       "kernel_size": 3, "dilations": [layer["dilation"] for layer in spec["layers"]],
                       "activation": "Tanh", "gated": False,
                       "head": {"out_channels": spec["head_size"], "kernel_size": 1, "bias": spec["head_bias"]}})
    net = {"name": "WaveNet", "config": {"layers_configs": layers, "head_scale": 0.02}}
    receptive_field = 1 + sum(2 * d for spec in layers for d in spec["dilations"])
    return {"net": net,
            "loss": {"val_loss": "esr", "mask_first": receptive_field - 1, "pre_emph_mrstft_weight": 2e-4,
                     "pre_emph_mrstft_coef": 0.85},
            "optimizer": {"lr": 0.004},
            "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.993}}}


def start_nam(nam_full, di, amp, train_samples, val_start, arch, minutes, work_dir):
    out = os.path.join(work_dir, f"nam-{arch}")
    os.makedirs(out, exist_ok=True)
    seconds = int(round(minutes * 60))
    ny = LSTM_BURN_IN + 8192 if arch.startswith("lstm-") else 8192
    data_config = {"train": {"start_samples": None, "stop_samples": train_samples, "ny": ny},
                   "validation": {"start_samples": val_start, "stop_samples": None, "ny": None},
                   "common": {"x_path": os.path.abspath(di), "y_path": os.path.abspath(amp), "delay": 0}}
    if arch == "a2":
        # What train() adds: the recording levelled to -18 dBFS RMS (its export undoes it).
        data_config["common"]["allow_unequal_lengths"] = True
        data_config["joint"] = [{"name": "nam.data.normalize_joint_dataset_output",
                                 "kwargs": {"level_rms_dbfs": -18.0}}]
    configs = {
        "data.json": data_config,
        "model.json": nam_model_config(arch, nam_full),
        "learning.json": {"train_dataloader": {"batch_size": 16, "shuffle": True, "pin_memory": False,
                                               "drop_last": True, "num_workers": 0},
                          "val_dataloader": {},
                          "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 100000,
                                      "max_time": f"00:{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
                                      "enable_progress_bar": False},
                          "trainer_fit_kwargs": {}},
    }
    paths = []
    for name, content in configs.items():
        paths.append(os.path.join(out, name))
        with open(paths[-1], "w") as f:
            json.dump(content, f, indent=1)
    cmd = [nam_full, *paths, out, "--no-show", "--no-plots"]
    log = open(os.path.join(work_dir, f"nam-{arch}.log"), "w")
    env = dict(os.environ, **ONE_THREAD)
    return out, cmd, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=out)


def nam_result(out, started):
    """The newest run's .nam, and its epochs/steps from the checkpoints' names."""
    runs = sorted(d for d in glob.glob(os.path.join(out, "*")) if os.path.isdir(d) and os.path.getmtime(d) >= started - 1)
    if not runs:
        raise SystemExit(f"NAM's trainer made no run folder under {out}")
    run = runs[-1]
    found = glob.glob(os.path.join(run, "**", "*.nam"), recursive=True)
    if not found:
        raise SystemExit(f"NAM's trainer wrote no .nam under {run}")
    checkpoints = glob.glob(os.path.join(run, "**", "*.ckpt"), recursive=True)
    epochs = [int(m.group(1)) for c in checkpoints if (m := re.search(r"checkpoint_epoch_(?:epoch=)?(\d+)", c))]
    best = [m.groups() for c in checkpoints if (m := re.search(r"epoch=(\d+)_step=(\d+)_ESR=([0-9.e+-]+)", c))]
    best.sort(key=lambda g: float(g[2].rstrip(".")))
    stats = {"epochs": max(epochs) + 1 if epochs else None, "run": run}
    if best:
        stats.update(best_epoch=int(best[0][0]) + 1, best_step=int(best[0][1]),
                     torch_validation_esr=float(best[0][2].rstrip(".")))
    return sorted(found, key=os.path.getmtime)[-1], stats


# --- the comparison ----------------------------------------------------------------------

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def compare(arch, args, di, amp, train_samples, val_start, vx, vy):
    started = time.time()
    ours_model, ours_cmd, ours = start_ours(di, amp, arch, args.minutes, args.work_dir, args.ours_args.split())
    nam_out, nam_cmd, nam = start_nam(args.nam_full, di, amp, train_samples, val_start, arch, args.minutes,
                                      args.work_dir)
    ours_rc, nam_rc = ours.wait(), nam.wait()
    wall = time.time() - started
    if ours_rc or nam_rc:
        raise SystemExit(f"{arch}: ours exited {ours_rc}, NAM's exited {nam_rc} (see the logs in {args.work_dir})")
    nam_file, nam_stats = nam_result(nam_out, started)
    ours_scores, nam_scores = score(modelfile.load(ours_model), vx, vy), score(import_file(nam_file), vx, vy)
    result = {
        "arch": arch, "circuit": args.circuit, "drive": args.drive, "minutes": args.minutes, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_name(), "threads_each": 1, "concurrent": True, "wall_seconds": round(wall, 1),
        "tubeless": {"validation_esr": ours_scores["esr"], **ours_scores, "model": ours_model,
                     "command": " ".join(ours_cmd), **ours_stats(ours_model)},
        "nam": {"validation_esr": nam_scores["esr"], **nam_scores, "model": nam_file,
                "command": " ".join(nam_cmd), **nam_stats},
    }
    with open(os.path.join(args.work_dir, f"summary-{circuit_tag(args.circuit)}-{arch}-{args.minutes:g}min.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nam-full", required=True, help="the nam-full command of a neural-amp-modeler install")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--archs", default="feather,lstm-16")
    parser.add_argument("--drive", type=float, default=0.6)
    parser.add_argument("--circuit", default="diode",
                        help="diode (DiodeClipper), tube (TubeAmp) or model:FILE (a third-party capture as the amp)")
    parser.add_argument("--work-dir", default=".cache/compare-nam")
    parser.add_argument("--ours-args", default="", help="extra options for our `fit` (quoted, space-separated)")
    args = parser.parse_args(argv)
    args.work_dir = os.path.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    di, amp, train_samples, val_start = make_data(args.work_dir, args.drive, circuit=args.circuit)
    x, _ = sf.read(di, dtype="float32")
    y, _ = sf.read(amp, dtype="float32")
    vx, vy = x[val_start:], y[val_start:]
    for arch in args.archs.split(","):
        r = compare(arch, args, di, amp, train_samples, val_start, vx, vy)
        print(f"{arch} ({args.minutes:g} min each, concurrent, 1 thread each): "
              f"tubeless ESR {r['tubeless']['esr']:.4f} (at the best gain {r['tubeless']['esr_at_best_gain']:.4f}, "
              f"{r['tubeless']['best_gain_db']:+.2f} dB; {r['tubeless']['epochs']} epochs), "
              f"NAM trainer ESR {r['nam']['esr']:.4f} (at the best gain {r['nam']['esr_at_best_gain']:.4f}, "
              f"{r['nam']['best_gain_db']:+.2f} dB; {r['nam'].get('epochs')} epochs)", flush=True)
        for who in ("tubeless", "nam"):
            warning = level_warning(who, r[who])
            if warning:
                print(warning, flush=True)


if __name__ == "__main__":
    main()

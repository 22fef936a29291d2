"""tubeless-train: make the reamp signal, then fit a model to what the amp made of it.

    tubeless-train capture-signal reamp.wav
    tubeless-train fit reamp.wav amp.wav -o amp.npz --arch feather --minutes 10 --nam amp.nam --plot amp.png
    tubeless-train fit reamp.wav --capture d0.wav:drive=0 --capture d5.wav:drive=0.5 \\
        --capture d10.wav:drive=1 -o drive.npz --arch lstm-16
"""
import argparse
import os
import sys
from datetime import datetime, timezone

import numpy as np

from firmware.importers import loudness
from firmware.models.modelfile import ModelFileError
from firmware.core.outputs import OutputError

from . import capture, data
from .losses import STFT_FLOOR
from .nam_export import NamExportError
from .trainer import DEFAULT_ARCH, CaptureData, Trainer, TrainingError, TrainOptions, model_spec, verdict


class UsageError(ValueError):
    pass


def parse_capture(text):
    """'AMP.wav:drive=0.5,tone=0.2' -> ('AMP.wav', {'drive': 0.5, 'tone': 0.2})."""
    path, sep, settings = text.rpartition(":")
    if not sep or not path or "=" not in settings:
        raise UsageError(f"--capture {text!r}: expected AMP.wav:KNOB=VALUE[,KNOB=VALUE]")
    knobs = {}
    for item in settings.split(","):
        name, _, value = item.partition("=")
        try:
            knobs[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--capture {text!r}: {value!r} is not a number") from None
        if not 0.0 <= knobs[name.strip()] <= 1.0:
            raise UsageError(f"--capture {text!r}: knob values are positions 0..1")
    return path, knobs


def _load_captures(args, log):
    if args.output and args.capture:
        raise UsageError("give either one AMP.wav or several --capture AMP.wav:KNOB=V, not both")
    if not args.output and not args.capture:
        raise UsageError("give the amp's recording (AMP.wav), or --capture AMP.wav:KNOB=V for each knob setting")
    captures = [(args.output, {})] if args.output else [parse_capture(c) for c in args.capture]
    names = [sorted(k) for _, k in captures]
    if any(n != names[0] for n in names):
        raise UsageError("every --capture must set the same knobs")
    knob_names = names[0]
    di = data.load_wav(args.input)
    loaded = []
    for path, knobs in captures:
        parts = data.split(di, data.load_wav(path), latency=args.latency, val_seconds=args.val_seconds,
                           val_range=args.val_range, train_range=args.train_range, strict=not args.ignore_checks)
        r = parts.report
        where = f" [{', '.join(f'{k}={v:g}' for k, v in knobs.items())}]" if knobs else ""
        by_blip = f" (blips: {r.latency_by_blip})" if r.latency_by_blip else ""
        log(f"{path}{where}: latency {r.latency} samples ({r.latency_method}){by_blip}")
        if r.validation_copies_esr is not None:
            log(f"{path}: the two validation recordings agree (ESR {r.validation_copies_esr:.2e})")
        for w in r.warnings:
            log(f"warning: {w}")
        train_seconds = sum(len(x) for x, _ in parts.train) / parts.sample_rate
        log(f"{path}: {train_seconds:.1f} s training, {len(parts.validation[0]) / parts.sample_rate:.1f} s validation")
        loaded.append((CaptureData(parts.train, parts.validation, tuple(knobs[k] for k in knob_names)), parts.sample_rate))
    rates = {rate for _, rate in loaded}
    if len(rates) != 1:
        raise UsageError("all captures must have the same sample rate")
    if rates != {capture.SAMPLE_RATE}:
        log(f"note: these recordings are at {next(iter(rates))} Hz, so the model will be too: the pedal runs at "
            f"{capture.SAMPLE_RATE} Hz and resamples it (about 1 ms more latency); capture at "
            f"{capture.SAMPLE_RATE} Hz to avoid that")
    return [c for c, _ in loaded], rates.pop(), knob_names


def firmware_validation(model_file, captures):
    """ESR of the saved file as the pedal's own kernel plays it, per capture."""
    results = []
    for c in captures:
        player = model_file.build()
        for i, v in enumerate(c.knobs):
            player.set_knob(i, v)
        prediction = player.render(c.validation[0])
        results.append((prediction, data.esr(prediction, c.validation[1])))
    return results


def _check_writable(option, path):
    """Fail now, not after an hour of training, when an output cannot be written."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write in {folder} (permission denied)")


def cmd_fit(args, log=print):
    import torch                                   # only `fit` needs it; capture-signal stays light
    from .models import to_modelfile

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: this PyTorch sees no CUDA device")
    options = TrainOptions(arch=args.arch, minutes=args.minutes, epochs=args.epochs, patience=args.patience,
                           batch_size=args.batch_size, segment=args.segment, tbptt=args.tbptt,
                           tbptt_end=args.tbptt_end, warmup=args.warmup,
                           updates=args.updates,
                           lr=args.lr, lr_decay=args.lr_decay, lr_end=args.lr_end, weight_decay=args.weight_decay,
                           pre_emphasis=args.pre_emphasis, stft_weight=args.stft_weight,
                           stft_pre_emphasis=args.stft_pre_emphasis,
                           stft_floor=args.stft_floor, loss_energy=args.loss_energy, seed=args.seed,
                           device=device, skip=False if args.nam else args.skip)
    options.check()                                # bad options fail before any audio is read
    model_spec(args.arch)
    if args.nam and not (args.arch in ("a2", "standard", "lite", "feather", "nano") or args.arch.startswith("lstm-")):
        raise UsageError(f"--nam: NAM plays WaveNets and LSTMs, not {args.arch}")
    if args.nam and args.skip:
        raise UsageError("--nam --skip: NAM's LSTM has no skip; leave --skip out")
    if args.light and args.arch != "a2":
        raise UsageError("--light: only --arch a2 has a lighter width")
    for option, path in (("-o", args.model), ("--nam", args.nam), ("--plot", args.plot), ("--light", args.light)):
        _check_writable(option, path)
    captures, sample_rate, knob_names = _load_captures(args, log)
    options.knob_names = knob_names
    if args.nam and knob_names:
        raise UsageError("--nam: NAM files have no knob inputs; leave --nam out for a conditioned model")
    checkpoint = args.model + ".ckpt"
    trainer = Trainer(captures, options, checkpoint_path=checkpoint, progress=not args.quiet)
    if args.resume:
        trainer.resume(checkpoint if args.resume is True else args.resume)
        log(f"resumed at epoch {trainer.epoch} ({trainer.elapsed:.0f} s spent, best ESR {trainer.best_esr:.4f})")
    parameters = sum(p.numel() for p in trainer.module.parameters())
    log(f"training {trainer.module.architecture} ({args.arch}, {parameters} parameters) on {device}")
    if args.minutes:
        log(f"time budget: {args.minutes:g} min, validation included (a validation runs once an epoch)")
    result = trainer.run()
    by_budget = result.stopped_because == "time budget"
    log(f"stopped after {result.epochs} epochs ({trainer.steps} steps), {result.seconds:.0f} s: "
        f"{result.stopped_because}; best epoch {trainer.best_epoch}")
    if result.best_width_esr:
        log("best validation ESR per width: " + ", ".join(
            f"{w} channels {e:.4f}" for w, e in zip(trainer.module.widths, result.best_width_esr)))
    if by_budget:
        more = max(2 * args.minutes, args.minutes + 5)
        if result.still_improving:
            log(f"the time budget ended it while the validation ESR was still falling: more time will likely help "
                f"(--minutes {more:g}, or continue with --resume --minutes {more:g})")
        else:
            log(f"the time budget ended it; --minutes {more:g} (or --resume --minutes {more:g}) trains longer")

    module = result.module.cpu()
    knobs = [{"name": name, "min": 0.0, "max": 1.0, "default": float(np.mean([c.knobs[i] for c in captures]))}
             for i, name in enumerate(knob_names)]
    metadata = {"name": args.name or os.path.splitext(os.path.basename(args.model))[0],
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "training": {"arch": args.arch, "epochs": result.epochs, "steps": trainer.steps,
                             "seconds": round(result.seconds, 1), "stopped": result.stopped_because,
                             "minutes": args.minutes,
                             "torch_validation_esr": result.validation_esr, "seed": args.seed,
                             "latency": None if args.latency is None else args.latency}}
    model_file = to_modelfile(module, sample_rate=sample_rate, metadata=metadata, knobs=knobs or None)
    if "reference" in model_file.metadata:
        log(f"the reference pair is the pedal's own output: torch's float32 forward differs from it by up to "
            f"{model_file.metadata['reference']['torch_max_error']:.2g} (a state that keeps moving in silence)")
    played = firmware_validation(model_file, captures)   # the widest width, as the pedal plays it
    final_esr = float(np.mean([e for _, e in played]))
    model_file.metadata["training"]["validation_esr"] = final_esr
    # The pedal levels models by their stated loudness (as NAM's plugin does).
    model_file.metadata["loudness"] = round(loudness.measure(model_file), 2)
    model_file.save(args.model)
    log(f"wrote {args.model}")
    if args.light:
        light = to_modelfile(module, sample_rate=sample_rate, metadata=dict(metadata, name=metadata["name"] + " (light)"),
                             submodel=0)
        light_esr = float(np.mean([e for _, e in firmware_validation(light, captures)]))
        light.metadata["training"] = dict(metadata["training"], validation_esr=light_esr)
        light.metadata["loudness"] = round(loudness.measure(light), 2)
        light.save(args.light)
        log(f"wrote {args.light} ({module.widths[0]} channels, validation ESR {light_esr:.4f})")
    if args.nam:
        _write_nam(module, args.nam, sample_rate, final_esr, args, log, model_file.metadata["loudness"])
    words = verdict(final_esr, stopped_by_budget=by_budget)
    if args.plot:
        from .plot import save_comparison
        save_comparison(args.plot, played[0][0], captures[0].validation[1], sample_rate, final_esr,
                        words, title=args.arch, history=result.history)
        log(f"wrote {args.plot}")
    log(f"validation ESR {final_esr:.4f} ({words})")
    return 0


def _write_nam(module, path, sample_rate, final_esr, args, log, loudness_db):
    """Write the .nam, then read it back with the pedal's NAM importer: both must play alike."""
    from firmware.importers import import_file
    from .models import to_modelfile
    from .nam_export import save_nam

    save_nam(module, path, sample_rate, {"name": args.name or os.path.splitext(os.path.basename(path))[0],
                                         "loudness": loudness_db,
                                         "training": {"validation_esr": final_esr}})
    widths = range(len(module.submodels)) if module.architecture == "SlimmableContainer" else [None]
    error = 0.0
    for index in widths:
        ours = to_modelfile(module, sample_rate=sample_rate, verify=False, submodel=index)
        x = ours.reference_input
        theirs = import_file(path, submodel=index).build().render(x)
        error = max(error, float(np.max(np.abs(ours.build().render(x) - theirs))))
    if error > 1e-5:
        raise TrainingError(f"{path} plays differently from the model ({error:.2e}): not written correctly")
    log(f"wrote {path} (the NAM importer plays it like the model: max difference {error:.1e})")


def cmd_capture_signal(args, log=print):
    if not args.path.lower().endswith(".wav"):
        raise UsageError(f"{args.path}: the capture signal is a .wav file")
    layout = capture.write(args.path, validation_seconds=args.val_seconds, playing_seconds=args.playing_seconds,
                           seed=args.seed)
    log(f"wrote {args.path} ({layout.length / layout.sample_rate:.1f} s, 48 kHz 24-bit) and "
        f"{capture.sidecar_path(args.path)}")
    log("reamp it through the amp at the level a guitar gives, record the amp's output (mono, 48 kHz), "
        "then: tubeless-train fit " + args.path + " AMP.wav -o MODEL.npz")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="tubeless-train", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    shows_defaults = argparse.ArgumentDefaultsHelpFormatter
    cap = sub.add_parser("capture-signal", help="write the reamp signal and its layout sidecar",
                         formatter_class=shows_defaults)
    cap.add_argument("path", help="OUT.wav (the sidecar is OUT.json)")
    cap.add_argument("--val-seconds", type=float, default=15.0, help="length of each validation copy")
    cap.add_argument("--playing-seconds", type=float, default=150.0, help="length of the guitar material")
    cap.add_argument("--seed", type=int, default=0, help="seed of the generated playing")
    cap.set_defaults(run=cmd_capture_signal)

    fit = sub.add_parser("fit", help="train a model on a DI/amp pair", formatter_class=shows_defaults)
    fit.add_argument("input", help="DI.wav: what went into the amp (its sidecar, if any, gives the layout)")
    fit.add_argument("output", nargs="?", help="AMP.wav: the amp's recording")
    fit.add_argument("-o", "--model", required=True, help="MODEL.npz to write")
    fit.add_argument("--arch", default=DEFAULT_ARCH,
                     help="a2 (NAM's packed default: 3 and 8 channels), standard, lite, feather, nano, "
                          "lstm-N, gru-N (lstm-NxL: L layers) or a JSON config")
    fit.add_argument("--capture", action="append", default=[], metavar="AMP.wav:KNOB=V",
                     help="one recording per knob setting (repeat) for a conditioned model")
    fit.add_argument("--minutes", type=float, help="wall-clock budget, validation included (default: no limit)")
    fit.add_argument("--epochs", type=int, default=200, help="at most this many epochs")
    fit.add_argument("--patience", type=int, default=20, help="stop after this many epochs without improvement")
    fit.add_argument("--val-seconds", type=float, help="validate on the last S seconds (overrides the sidecar)")
    fit.add_argument("--val-range", metavar="START:END", help="validation range in seconds (e.g. 0:9)")
    fit.add_argument("--train-range", metavar="START:END", help="training range in seconds")
    fit.add_argument("--latency", type=int, help="output delay in samples (default: measured)")
    fit.add_argument("--ignore-checks", action="store_true", help="train even when the validation copies differ")
    fit.add_argument("--nam", metavar="MODEL.nam", help="also write a .nam file (a2: a SlimmableContainer)")
    fit.add_argument("--light", metavar="LIGHT.npz", help="a2: also write the lighter width (3 channels)")
    fit.add_argument("--plot", metavar="FILE.png", help="save a prediction/target comparison plot")
    fit.add_argument("--name", help="model name in the file's metadata")
    fit.add_argument("--resume", nargs="?", const=True, metavar="CKPT",
                     help="continue from MODEL.npz.ckpt (or the given checkpoint)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    fit.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    per_family = "(default: the model family's, see docs/training-results.md)"
    fit.add_argument("--lr", type=float, help=f"Adam learning rate: a2/WaveNet 0.004, recurrent 0.003 {per_family}")
    fit.add_argument("--lr-decay", type=float, help=f"learning-rate factor per epoch {per_family}")
    fit.add_argument("--lr-end", type=float, help="the learning rate at the end of the run as a fraction of --lr, "
                     "reached step by step over the --minutes budget (or the epochs); replaces --lr-decay")
    fit.add_argument("--weight-decay", type=float, help=f"Adam weight decay: a2 3.17e-7 {per_family}")
    fit.add_argument("--batch-size", type=int, help=f"segments per batch: 16 {per_family}")
    fit.add_argument("--segment", type=int, help=f"samples per training segment: 8192 {per_family}")
    fit.add_argument("--tbptt", type=int, help=f"recurrent: samples per truncated-backprop update: 128 {per_family}")
    fit.add_argument("--tbptt-end", type=int, help="recurrent: --tbptt doubles in equal parts of the run "
                     "(its --minutes, or else its epochs) until it reaches this many samples")
    fit.add_argument("--updates", choices=("chunk", "batch"), help="recurrent: one optimiser update per "
                     "--tbptt chunk (default) or per batch of segments, the gradient still truncated every --tbptt (NAM's)")
    fit.add_argument("--skip", action=argparse.BooleanOptionalAction,
                     help="recurrent: add the input to the output (GuitarML's LSTMs have it; NAM's and the default do "
                          "not; --nam needs none)")
    fit.add_argument("--warmup", type=int, help=f"recurrent: burn-in samples before the loss counts: 4096 {per_family}")
    fit.add_argument("--pre-emphasis", type=float, help="squared error of pre-emphasised signals, e.g. 0.85")
    fit.add_argument("--stft-weight", type=float,
                     help=f"weight of the multi-resolution STFT term: a2 5e-4, WaveNet 2e-4, recurrent 2e-3 {per_family}")
    fit.add_argument("--stft-floor", type=float, help="the MR-STFT's magnitude floor: quieter bins are not "
                     "counted (NAM's trainer, through auraloss: 1e-4): a2 and recurrent 1e-4, "
                     f"WaveNet presets {STFT_FLOOR:g}")
    fit.add_argument("--stft-pre-emphasis", type=float,
                     help=f"pre-emphasis of the signals the STFT term compares (0: none) {per_family}")
    fit.add_argument("--loss-energy", choices=("dataset", "batch"), default="dataset",
                     help="divide the loss by the training set's energy or each batch's own")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(run=cmd_fit)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, data.DataError, capture.LayoutError, TrainingError, NamExportError, ModelFileError,
            OutputError) as e:
        print(f"tubeless-train: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:                            # a disk full, a file vanished mid-run
        where = f"{e.filename}: " if e.filename else ""
        print(f"tubeless-train: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tubeless-train: interrupted (resume with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

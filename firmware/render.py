"""`tubeless render`: play a WAV file through a model offline, exactly as the pedal would."""
import logging
import os
import time

import numpy as np

from . import audiofile, modelfile

log = logging.getLogger(__name__)

IMPORTED_SUFFIXES = (".nam", ".json")


def load_any(path, verify=True):
    """A ModelFile from our .npz, or from a community format (.nam/.json) via the importers."""
    if os.fspath(path).lower().endswith(IMPORTED_SUFFIXES):
        try:
            from . import importers
        except ImportError:
            raise modelfile.ModelFileError(path, "this firmware has no importer for .nam/.json files") from None
        return importers.load(path, verify=verify)
    return modelfile.load(path, verify=verify)


def render_model(mf, x, block=64, knobs=None, prewarm=None):
    """Bare model output for x, in blocks of `block` (the reference player's semantics)."""
    model = mf.build(max_block=block)
    for i, v in enumerate(knobs or []):
        model.set_knob(i, v)
    return model.render(x, block=block, prewarm=mf.prewarm if prewarm is None else prewarm)


def run(args):
    from .cli import CliError
    try:
        mf = load_any(args.model)
        x, rate = audiofile.read_mono(args.input, expected_rate=mf.sample_rate)
    except (modelfile.ModelFileError, audiofile.AudioFileError) as e:
        raise CliError(str(e)) from None
    if args.knob and len(args.knob) > mf.num_knobs and mf.num_knobs == 0:
        log.warning("%s has no knob inputs: --knob ignored", mf.name)
    knobs = (args.knob or [])[:max(mf.num_knobs, 0)] or None
    t0 = time.perf_counter()
    if args.model_only:
        y = render_model(mf, x, block=args.block, knobs=knobs)
    else:
        try:
            from .pedal.chain import render_with_chain
        except ImportError:
            raise CliError("the pedal's tone chain is not available in this build: use --model-only") from None
        y = render_with_chain(mf, x, block=args.block, knobs=knobs)
    dt = time.perf_counter() - t0
    if not np.all(np.isfinite(y)):
        raise CliError(f"{mf.path}: the model produced NaN/Inf on this input")
    audiofile.write(args.output, y, rate)
    log.info("%s: %.1f s of audio through %s in %.2f s (%.0fx real time) -> %s",
             args.input, len(x) / rate, mf.name, dt, len(x) / rate / max(dt, 1e-9), args.output)
    return 0


def register(sub):
    p = sub.add_parser("render", help="render a WAV file through a model offline",
                       description="Render IN.wav through MODEL (.npz, .nam or .json) into OUT.wav (32-bit float).")
    p.add_argument("model")
    p.add_argument("input", metavar="IN.wav")
    p.add_argument("output", metavar="OUT.wav")
    p.add_argument("--block", type=int, default=64, help="block size in samples (default 64, as the pedal)")
    p.add_argument("--knob", type=float, action="append", metavar="V",
                   help="knob input value 0..1 of a conditioned model (repeat for a second knob)")
    p.add_argument("--model-only", action="store_true",
                   help="the bare model output, as its reference player gives it (no gate, IR, level)")
    p.set_defaults(func=run)

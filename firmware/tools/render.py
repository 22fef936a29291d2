"""`tubeless render`: play a WAV file through a model offline, exactly as the pedal would."""
import logging
import time

import numpy as np

from firmware.core import audiofile, outputs
from firmware.core.errors import UserError
from firmware.importers import loudness
from firmware.importers.loader import load
from firmware.models import modelfile
from firmware.tools.rigopts import add_set_option, rig_settings

log = logging.getLogger(__name__)

def render_model(mf, x, block=64, knobs=None, prewarm=None):
    """Bare model output for x, in blocks of `block` (the reference player's semantics)."""
    model = mf.build(max_block=block)
    for i, v in enumerate(knobs or []):
        model.set_knob(i, v)
    return model.render(x, block=block, prewarm=mf.prewarm if prewarm is None else prewarm)


def render_with_chain(mf, x, block=64, knobs=None, ir=None, sample_rate=None, rig_settings=(), stomp=None,
                      gate_db=None, knob2=None, **settings):
    """What the pedal plays for x with its default settings: the whole tone chain, at
    sample_rate (x's rate; default the model's). A model trained at another rate is
    resampled as on the pedal; an IR must be at the chain's rate (load_ir does that).
    rig_settings: [(block, on) or (block.param, value)], in force from the first sample.
    stomp: a ModelFile for the drive slot (switched on, unless rig_settings say otherwise).
    gate_db, knob2: the gate's threshold and knob 2 set on the chain as the pedal sets them
    (a preset's; `knobs` overrides knob2)."""
    from firmware.dsp.chain import ToneChain, make_stomp_slot
    chain = ToneChain(sample_rate or mf.sample_rate, block=block, ir=ir, model=mf, **settings)
    if stomp is not None:
        chain.rig.blocks["stomp"].set_capture(make_stomp_slot(stomp, block, chain.settings,
                                                              sample_rate=chain.sample_rate))
        chain.rig.set_on("stomp", True)
    chain.rig.apply(rig_settings)
    chain.rig.settle()
    if gate_db is not None:
        chain.set_gate_threshold_db(gate_db)
    if knob2 is not None:
        chain.set_knob2(knob2, immediate=True)
    if knobs:
        # A conditioned model's first knob follows the drive pot; the second, the third pot.
        chain.set_drive(knobs[0], immediate=True)
        if len(knobs) > 1:
            chain.set_knob2(knobs[1], immediate=True)
    if chain.stereo:               # two channels: (frames, 2), left and right
        left, right = np.empty_like(x), np.empty_like(x)
        chain.process_stereo(x, left, right, len(x))
        y = np.stack([left, right], axis=1)
    else:
        y = np.empty_like(x)
        chain.process(x, y, len(x))
    if chain.faults:
        # The chain plays a faulted model as silence; offline that must not pass unnoticed.
        log.warning("%s: the model produced NaN/Inf: %d block(s) of its output were replaced by silence",
                    getattr(mf, "path", mf), chain.faults)
    return y


def _check_options(args):
    """Options that do not fit together or are out of range are errors, not ignored."""
    if args.block < 1:
        raise UserError(f"--block must be at least 1, got {args.block}")
    if args.model_only:
        given = [f for f, v in (("--ir", args.ir), ("--drive", args.drive), ("--level", args.level)) if v is not None]
        if given:
            raise UserError(f"{', '.join(given)}: not with --model-only (the bare model has no IR, drive or level; "
                           "leave out --model-only to render the whole tone chain)")
    for flag, value in (("--drive", args.drive), ("--level", args.level)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise UserError(f"{flag} {value:g} is out of range: a pot position is 0..1")
    for value in args.knob or []:
        if not 0.0 <= value <= 1.0:
            raise UserError(f"--knob {value:g} is out of range: a knob input is 0..1")
    if args.model_only and (args.set or args.stomp or args.stereo):
        flag = "--set" if args.set else "--stomp" if args.stomp else "--stereo"
        raise UserError(f"{flag}: not with --model-only (the bare model has no rig)")
    args.rig_settings = rig_settings(args.set)


def _rate_hint(mf):
    """Why the model's rate may be only an assumption, and how to state it."""
    fmt = mf.metadata.get("source", {}).get("format") if isinstance(mf.metadata.get("source"), dict) else None
    if fmt == "guitarml":
        return (f" (a GuitarML file states no rate: {mf.sample_rate} Hz is assumed; if it was trained at the "
                "input's rate, say so with --sample-rate)")
    if fmt == "aidax":
        return " (to play this AIDA-X file at another rate, give it with --sample-rate)"
    return ""


def _from_preset(args):
    """`--preset FILE`: the model, drive model, IR, controls and rig of a preset (and
    snapshot), as the pedal plays them; options given beside it win. [(rig settings)]."""
    if getattr(args, "preset", None) is None:
        if args.model is None:
            raise UserError("render: give a MODEL, or --preset FILE")
        if getattr(args, "snapshot", None) is not None:
            raise UserError("--snapshot: only with --preset")
        return [], {}
    import os

    from firmware.core.errors import PresetError
    from firmware.presets import format as preset_format
    if args.model is not None:
        raise UserError("--preset: the preset names the model; leave out MODEL")
    if args.model_only:
        raise UserError("--preset: not with --model-only (a preset is the whole rig)")
    try:
        preset = preset_format.read(args.preset)
        s = preset.snapshot_settings(args.snapshot or 0)
    except PresetError as e:
        raise UserError(str(e)) from None
    models = args.models or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.preset))), "models")
    if not preset.amp:
        raise UserError(f"{args.preset}: names no amp model")
    args.model = os.path.join(models, preset.amp)
    if preset.ir and args.ir is None:
        args.ir = os.path.join(models, "irs", preset.ir)
    if preset.drive_model and args.stomp is None:
        args.stomp = os.path.join(models, preset.drive_model)
    for name in ("drive", "level"):
        if getattr(args, name) is None and name in s.controls:
            setattr(args, name, s.controls[name])
    # the gate's threshold and knob 2 as the pedal sets them: on the running chain, not its construction
    extra = {"gate_db": s.controls["gate"]} if "gate" in s.controls else {}
    if "knob2" in s.controls:
        extra["knob2"] = s.controls["knob2"]
    return s.rig_settings(), extra


def run(args):
    try:
        outputs.check_output(args.output, args.force)   # before any work
    except outputs.OutputError as e:
        raise UserError(str(e)) from None
    preset_rig, preset_extra = _from_preset(args)
    _check_options(args)
    args.rig_settings = preset_rig + args.rig_settings      # --set on top of the preset
    try:
        mf = load(args.model, sample_rate=args.sample_rate, submodel=args.submodel)
        stomp = load(args.stomp) if args.stomp else None
        x, rate = audiofile.read_mono(args.input)
    except (modelfile.ModelFileError, audiofile.AudioFileError) as e:
        raise UserError(str(e)) from None
    if args.model_only and rate != mf.sample_rate:
        # the bare model needs its own rate; the tone chain resamples, as the pedal does
        raise UserError(f"{args.input}: sample rate {rate} Hz, but the model runs at {mf.sample_rate} Hz"
                       f"{_rate_hint(mf)}; leave out --model-only to have the pedal's chain resample")
    if not args.model_only:
        try:
            loudness.settle(mf, log)    # the chain's gain comes from it: no file sets its own
        except modelfile.ModelFileError as e:
            raise UserError(str(e)) from None
    if args.knob and len(args.knob) > mf.num_knobs:
        log.warning("%s has %d knob input(s): extra --knob values ignored", mf.name, mf.num_knobs)
    knobs = (args.knob or [])[:mf.num_knobs] or None
    t0 = time.perf_counter()
    if args.model_only:
        y = render_model(mf, x, block=args.block, knobs=knobs)
    else:
        from firmware.dsp.chain import load_ir
        ir = None
        if args.ir:
            try:
                ir = load_ir(args.ir, sample_rate=rate)
            except (ValueError, OSError, RuntimeError) as e:
                raise UserError(f"{args.ir}: {e}") from None
        if rate != mf.sample_rate:
            log.info("%s runs at %d Hz: resampled from and to the input's %d Hz", mf.name, mf.sample_rate, rate)
        settings = {k: v for k, v in (("drive", args.drive), ("level", args.level)) if v is not None}
        if args.stereo:
            settings["stereo_out"] = True
        settings.update(preset_extra)
        from firmware.dsp.resample import ResampleError
        try:
            y = render_with_chain(mf, x, block=args.block, knobs=knobs, ir=ir, sample_rate=rate,
                                  rig_settings=args.rig_settings, stomp=stomp, **settings)
        except ResampleError as e:      # rates with no usable ratio
            raise UserError(f"{args.input}: {e}") from None
    dt = time.perf_counter() - t0
    if not np.all(np.isfinite(y)):
        raise UserError(f"{mf.path}: the model produced NaN/Inf on this input")
    try:
        audiofile.write(args.output, y, rate, force=args.force)
    except outputs.OutputError as e:
        raise UserError(str(e)) from None
    log.info("%s: %.1f s of audio through %s in %.2f s (%.0fx real time) -> %s",
             args.input, len(x) / rate, mf.name, dt, len(x) / rate / max(dt, 1e-9), args.output)
    return 0


def register(sub):
    p = sub.add_parser("render", help="render a WAV file through a model offline",
                       description="Render IN.wav through MODEL (.npz, .nam, .json or .aidax) into OUT.wav (32-bit float).")
    p.add_argument("model", nargs="?", help="the model (leave it out with --preset)")
    p.add_argument("input", metavar="IN.wav")
    p.add_argument("output", metavar="OUT.wav")
    p.add_argument("--block", type=int, default=64, help="block size in samples (default 64, as the pedal)")
    p.add_argument("--knob", type=float, action="append", metavar="V",
                   help="knob input value 0..1 of a conditioned model (repeat for a second knob)")
    p.add_argument("--model-only", action="store_true",
                   help="the bare model output, as its reference player gives it (no gate, IR, level)")
    p.add_argument("--ir", metavar="IR.wav", help="cabinet impulse response (not with --model-only)")
    p.add_argument("--stereo", action="store_true", help="two channels, a wide delay and reverb, as the pedal "
                   "plays with audio.stereo_out (not with --model-only)")
    p.add_argument("--stomp", metavar="PEDAL", help="a pedal capture (.nam, .json...) played before the model, in "
                   "the drive slot, at its own gain (not with --model-only)")
    p.add_argument("--drive", type=float, metavar="V", help="drive pot position 0..1 (pedal default 0.5)")
    p.add_argument("--level", type=float, metavar="V", help="level pot position 0..1 (pedal default 0.8)")
    add_set_option(p)
    p.add_argument("--preset", metavar="FILE", help="a preset (.toml, docs/presets.md): its models, IR, controls and "
                   "rig, as the pedal plays it from the first sample (`simulate --preset` plays the same samples)")
    p.add_argument("--snapshot", type=int, metavar="N", help="with --preset: its snapshot N (0: its own settings)")
    p.add_argument("--models", metavar="DIR", help="with --preset: the models folder (default: models beside the "
                   "preset's folder)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--sample-rate", type=int, metavar="HZ",
                   help="sample rate of a GuitarML/AIDA-X model (GuitarML files do not state one; default 44100)")
    p.add_argument("--submodel", type=int, metavar="N",
                   help="which size of a slimmable NAM file to play (a SlimmableContainer's submodel, or a "
                        "slimmable WaveNet's width, narrowest first; default: the largest)")
    p.set_defaults(func=run)

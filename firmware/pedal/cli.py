"""Subcommands: `tubeless run`, `simulate`, `status`, `models`."""
import json
import logging
import os
import time

log = logging.getLogger(__name__)


def _cli_error():
    from ..cli import CliError
    return CliError


def _config(path):
    from .config import ConfigError, load_config
    try:
        return load_config(path)
    except ConfigError as e:
        raise _cli_error()(str(e)) from None


def register(sub):
    p = sub.add_parser("run", help="run the pedal: real-time ALSA loop, footswitches, pots, model library")
    p.add_argument("--config", help="TOML config (defaults: firmware/pedal/default_config.toml)")
    p.add_argument("--device", help="ALSA device or card name (overrides the config)")
    p.add_argument("--models", help="model directory (overrides the config)")
    p.add_argument("--state", help="state file (overrides the config)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("simulate", help="run the pedal loop on a WAV file, with footswitch/pot events")
    p.add_argument("input", help="IN.wav (the pedal's rate)")
    p.add_argument("output", help="OUT.wav: what the pedal would have played, sample-aligned")
    p.add_argument("--models", required=True, help="model directory")
    p.add_argument("--config", help="TOML config")
    p.add_argument("--events", default="", help='e.g. "0.5:next,1.2:drive=0.8,2.0:bypass,3.0:prev" '
                   "(seconds of input: next, prev, bypass, mute, drive=V, level=V, knob=V)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("status", help="the running pedal's status (model, CPU load, xruns)")
    p.add_argument("--config", help="TOML config (for the status file's path)")
    p.add_argument("--file", help="status file (default: from the config)")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("models", help="list the model library in playing order")
    p.add_argument("--config", help="TOML config")
    p.add_argument("--models", help="model directory (overrides the config)")
    p.set_defaults(func=cmd_models)


def cmd_run(args):
    from .audio import AlsaDuplex, AudioConfigError, resolve_device
    from .controls import make_controls
    from .pedal import Pedal
    cfg = _config(args.config)
    if args.device:
        cfg["audio"]["device"] = args.device
    if args.models:
        cfg["models"]["directory"] = args.models
    if args.state:
        cfg["state"]["file"] = args.state
    a = cfg["audio"]
    cap = a["capture_device"] or resolve_device(a["device"])
    play = a["playback_device"] or resolve_device(a["device"])
    if not os.path.isdir(cfg["models"]["directory"]):
        log.warning("model directory %s does not exist (yet): playing dry until models arrive",
                    cfg["models"]["directory"])
    try:
        io = AlsaDuplex(cap, play, a["rate"], a["channels"], a["period"], a["periods"], a["formats"],
                        a["input_channel"])
    except AudioConfigError as e:
        raise _cli_error()(str(e)) from None
    try:
        pedal = Pedal(cfg, io=io)
        pedal.controls = make_controls(pedal, cfg["controls"])
        pedal.run()
    finally:
        io.close()
    return 0


def cmd_simulate(args):
    from .config import ConfigError
    from .sim import SimulationError, simulate_file
    if not os.path.isdir(args.models):
        raise _cli_error()(f"{args.models}: not a directory")
    try:
        sim, y = simulate_file(args.input, args.output, args.models, args.config, args.events)
    except (SimulationError, ConfigError) as e:
        raise _cli_error()(str(e)) from None
    s = sim.pedal.status()
    print(f"{args.output}: {len(y)} samples; model at the end: {s['model']}; "
          f"cpu per block p50 {100 * s['cpu']['p50']:.1f}% p99 {100 * s['cpu']['p99']:.1f}% "
          f"max {100 * s['cpu']['max']:.1f}%; xruns {s['xruns']}; NaN faults {s['faults']}")
    return 0


def cmd_status(args):
    path = args.file or _config(args.config)["audio"]["status_file"]
    try:
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
    except OSError as e:
        raise _cli_error()(f"{path}: {e.strerror} (is the pedal running?)") from None
    except ValueError as e:
        raise _cli_error()(f"{path}: not a status file: {e}") from None
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    cpu = s.get("cpu", {})
    age = time.time() - s.get("time", 0)
    print(f"model:   {s.get('model')} ({s.get('model_file')}), {s.get('models')} in the library")
    print(f"state:   {'bypass' if s.get('bypass') else 'on'}{', muted' if s.get('mute') else ''}, "
          f"real-time {'yes' if s.get('realtime') else 'no'}")
    print(f"cpu:     p50 {100 * cpu.get('p50', 0):.1f}%  p99 {100 * cpu.get('p99', 0):.1f}%  "
          f"max {100 * cpu.get('max', 0):.1f}% of a period")
    print(f"xruns:   {s.get('xruns')} (overruns {s.get('overruns')}, underruns {s.get('underruns')}); "
          f"model faults {s.get('faults')}")
    print(f"updated: {age:.0f} s ago")
    return 0


def cmd_models(args):
    from .library import ModelLibrary
    cfg = _config(args.config)
    directory = args.models or cfg["models"]["directory"]
    if not os.path.isdir(directory):
        raise _cli_error()(f"{directory}: not a directory")
    lib = ModelLibrary(directory)
    lib.scan(settle=False)
    entries = lib.entries()
    if not entries:
        print(f"{directory}: no playable models")
    for i, e in enumerate(entries, 1):
        mf = e.model_file
        knobs = f", {mf.num_knobs} knob(s)" if getattr(mf, "num_knobs", 0) else ""
        rate = int(cfg["audio"]["rate"])
        knobs += f", resampled to {rate} Hz" if mf.sample_rate != rate else ""
        knobs += f", IR {os.path.basename(e.ir_path)}" if getattr(e, "ir_path", None) else ""
        print(f"{i:3d}  {mf.name}  [{os.path.basename(e.path)}; {mf.architecture}, {mf.sample_rate} Hz{knobs}]")
    return 0

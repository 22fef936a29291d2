"""Subcommands: `tubeless run` (the pedal: firmware.pedal.run) and `simulate` (the pedal
loop on a WAV file: firmware.tools.simulate)."""
import logging
import os

from firmware.core.config import load_config
from firmware.core.errors import UserError
from firmware.tools.rigopts import add_set_option, rig_settings


def register_run(sub):
    p = sub.add_parser("run", help="run the pedal: real-time ALSA loop, footswitches, pots, model library")
    p.add_argument("--config", help="TOML config (defaults: firmware/core/default_config.toml)")
    p.add_argument("--device", help="ALSA device or card name (overrides the config)")
    p.add_argument("--models", help="model directory (overrides the config)")
    p.add_argument("--state", help="state file (overrides the config)")
    p.add_argument("--socket", help="control socket (overrides the config)")
    p.set_defaults(func=cmd_run)


def register_simulate(sub):
    p = sub.add_parser("simulate", help="run the pedal loop on a WAV file, with footswitch/pot events")
    p.add_argument("input", help="IN.wav (the pedal's rate)")
    p.add_argument("output", help="OUT.wav: what the pedal would have played, sample-aligned")
    p.add_argument("--models", required=True, help="model directory")
    p.add_argument("--config", help="TOML config")
    p.add_argument("--events", default="", help='e.g. "0.5:next,1.2:drive=0.8,2.0:bypass,3.0:prev" '
                   "(seconds of input: next, prev, bypass, tuner (footswitch 2 held), mute, drive=V, level=V, knob=V, "
                   "tap, a rig block BLOCK=on|off (reverb=on) or parameter NAME=V (bass=0.7, delay.time_ms=380), "
                   "stomp=MODEL: the drive slot's capture (stomp=none: empty), preset=NAME|N, snapshot=N, bank=NAME|N)")
    p.add_argument("--preset", metavar="NAME|FILE", help="a preset (of the presets folder beside --models, or a .toml "
                   "file) in force from the first sample, as `render --preset` plays it")
    add_set_option(p)
    p.add_argument("-f", "--force", action="store_true", help="overwrite OUT.wav if it exists")
    p.set_defaults(func=cmd_simulate)


def cmd_run(args):
    from firmware.pedal.run import run_pedal
    cfg = load_config(args.config)
    if args.device:
        cfg["audio"]["device"] = args.device
    if args.models:
        cfg["models"]["directory"] = args.models
    if args.state:
        cfg["state"]["file"] = args.state
    if getattr(args, "socket", None):
        cfg["control"]["socket"] = args.socket
    return run_pedal(cfg)


def cmd_simulate(args):
    from firmware.tools.simulate import simulate_file
    if not os.path.isdir(args.models):
        raise UserError(f"{args.models}: not a directory")
    quiet_file_devices()
    sim, y = simulate_file(args.input, args.output, args.models, args.config, args.events,
                           force=getattr(args, "force", False), settings=rig_settings(args.set),
                           preset=getattr(args, "preset", None))
    print(simulation_summary(sim, y, args.output))
    return 0


def quiet_file_devices():
    """A simulation's ALSA "devices" are files: their log lines are no news."""
    logging.getLogger("firmware.platform.alsa").setLevel(logging.WARNING)


def simulation_summary(sim, y, output):
    """What `simulate` (and `demo`) print after a simulation: two lines."""
    s = sim.pedal.status()
    cpu = s["cpu"]
    period_ms = 1e3 * sim.cfg["audio"]["period"] / sim.cfg["audio"]["rate"]
    return (f"{output}: {len(y)} samples; model at the end: {s['model']}; xruns {s['xruns']}; "
            f"NaN faults {s['faults']}\n"
            f"CPU per {period_ms:.2f} ms period, the load a pedal would carry: median {100 * cpu['p50']:.1f}%, "
            f"p99 {100 * cpu['p99']:.1f}%"
            + (f" (the slowest block took {100 * cpu['max']:.0f}%: simulate is not real-time, so that is "
               f"this machine running other work meanwhile)" if cpu["max"] > 1 else f", max {100 * cpu['max']:.1f}%"))

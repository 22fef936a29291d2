"""`tubeless capture`: capture an amp through the pedal's HAT (docs/capture.md).

    tubeless capture                                  one take, into ~/tubeless-captures/
    tubeless capture --take gain=2 --take gain=5 --take gain=8     knob takes (amp dial 0..10)
"""
import sys

from firmware.core.errors import CaptureError


def register(subparsers):
    p = subparsers.add_parser("capture", help="capture an amp: play the capture signal, record its return",
                              description=__doc__.split("\n")[0])
    p.add_argument("--config", help="pedal config file (TOML)")
    p.add_argument("--device", help="ALSA device or card name (overrides the config)")
    p.add_argument("--out", default="~/tubeless-captures", help="folder the capture-YYYYMMDD-HHMM folders go in")
    p.add_argument("--take", action="append", default=[], metavar="KNOB=V[,KNOB=V]",
                   help="one take per amp setting, as its dial reads (repeat): a conditioned model")
    p.add_argument("--dial-max", type=float, default=10.0, help="the top of the amp's dials (--take values)")
    p.add_argument("--hat-gain", type=float, metavar="DB", help="the HAT's input gain, recorded in capture.json")
    p.add_argument("--val-seconds", type=float, default=15.0, help="length of each validation copy")
    p.add_argument("--playing-seconds", type=float, default=150.0, help="length of the guitar material")
    p.add_argument("--seed", type=int, default=0, help="seed of the capture signal")
    p.add_argument("--no-wait", action="store_true", help="do not wait for a stomp or Enter between takes")
    p.add_argument("--no-level-check", action="store_true", help="skip the level check before each take")
    p.set_defaults(func=run)


def run(args):
    from firmware.capture import session
    from firmware.core.config import load_config

    cfg = load_config(args.config)
    if args.device:
        cfg["audio"]["device"] = args.device
    if args.dial_max <= 0:
        raise CaptureError(f"--dial-max {args.dial_max:g}: must be above 0")
    if not (0 < args.val_seconds <= 60 and 0 < args.playing_seconds <= 600):
        raise CaptureError("--val-seconds must be within 0..60 and --playing-seconds within 0..600")
    takes = session.parse_takes(args.take, args.dial_max)
    hat_gain = args.hat_gain
    if hat_gain is None and cfg.get("web", {}).get("input_gain_db", "") != "":
        hat_gain = cfg["web"]["input_gain_db"]
    options = session.CaptureOptions(out=args.out, takes=takes, val_seconds=args.val_seconds,
                                     playing_seconds=args.playing_seconds, seed=args.seed, wait=not args.no_wait,
                                     level_check=not args.no_level_check, hat_gain_db=hat_gain,
                                     dial_max=args.dial_max)
    session.refuse_if_pedal_runs(cfg["control"]["socket"])
    stream = session.DeviceStream.of_config(cfg)
    footswitches = session.Footswitches.from_config(cfg)
    try:
        session.CaptureSession(cfg, options, stream, footswitches=footswitches).run()
    except KeyboardInterrupt:
        print("\ntubeless: capture aborted (Ctrl-C): nothing was written", file=sys.stderr)
        return 130
    except session.Aborted as e:
        print(f"\ntubeless: capture aborted ({e}): nothing was written", file=sys.stderr)
        return 1
    finally:
        footswitches.close()
    return 0

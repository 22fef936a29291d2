"""`tubeless capture`: capture an amp through the pedal's HAT (docs/capture.md).

    tubeless capture                                  one take, into ~/tubeless-captures/
    tubeless capture --take gain=2 --take gain=5 --take gain=8     knob takes (amp dial 0..10)

With the pedal stopped it opens the HAT itself; while the pedal plays, the pedal captures
(its engine keeps the sound card, firmware.pedal.capturing) into its captures folder and this
command shows the session and answers its prompts.
"""
import os
import select
import sys
import time

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
    if pedal_answers(cfg["control"]["socket"]):
        return through_the_pedal(cfg["control"]["socket"], args)
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


# --- while the pedal plays ------------------------------------------------------------------

def pedal_answers(path):
    """True when a pedal listens on its control socket (then it holds the sound card)."""
    from firmware.core.errors import ControlError
    from firmware.pedal.control import request
    if not path or not os.path.exists(path):
        return False
    try:
        return bool(request(path, {"cmd": "status"}, timeout=2.0).get("ok"))
    except (OSError, ControlError):
        return False                     # a stale socket file, or something that is not the pedal


def through_the_pedal(path, args):
    """The pedal runs the session; this shows its lines and progress, and answers its prompts
    with Enter (a stomp on the pedal answers them too). Ctrl-C aborts it."""
    from firmware.capture import session
    from firmware.pedal.control import ControlConnection
    msg = {"cmd": "capture", "action": "start", "takes": list(args.take), "dial_max": args.dial_max,
           "val_seconds": args.val_seconds, "playing_seconds": args.playing_seconds,
           "level_check": not args.no_level_check}
    if args.out != "~/tubeless-captures":
        print("tubeless: the pedal is playing: it captures into its own captures folder ([capture] directory), "
              "not --out", file=sys.stderr)
    if args.hat_gain is not None:
        print("tubeless: the pedal is playing: capture.json records the HAT gain of its own config (the web "
              "page's setting), not --hat-gain", file=sys.stderr)
    console = session.Console()
    with ControlConnection(path, 10.0) as conn:
        reply = conn.request(msg)
        if not reply.get("ok"):
            raise CaptureError(reply.get("error", "the pedal refused the capture"))
        console.say("the pedal is playing: it captures through its own stream (a stomp or Ctrl-C aborts)")
        said, answered, shown = 0, None, None
        try:
            while True:
                cap = conn.request({"cmd": "capture"}).get("capture") or {}
                lines = cap.get("lines", [])
                fresh = cap.get("said", 0) - said
                for line in lines[max(0, len(lines) - fresh):]:
                    console.say(line)
                said = cap.get("said", said)
                if cap.get("phase") == "capturing":
                    done, total = session.clock_text(cap.get("done_s", 0)), session.clock_text(cap.get("total_s", 0))
                    console.live(f"take {cap.get('take')}/{cap.get('takes')}: {done} of {total}")
                if not cap.get("on"):
                    break
                prompt = cap.get("prompt")
                if prompt and prompt != answered:
                    if prompt != shown and not args.no_wait:
                        console.say("  (stomp, or press Enter)")
                        shown = prompt
                    if _answer(prompt, args.no_wait, conn, cap):
                        answered = prompt
                elif not prompt:
                    answered = shown = None
                time.sleep(0.1)
        except KeyboardInterrupt:
            conn.request({"cmd": "capture", "action": "abort"})
            print("\ntubeless: capture aborted (Ctrl-C): nothing was written", file=sys.stderr)
            return 130
    console.end_live()
    if cap.get("phase") != "done":
        raise CaptureError(cap.get("error") or f"the capture ended: {cap.get('phase')}")
    return 0


def _answer(prompt, no_wait, conn, cap):
    """True once the prompt is answered (Enter). --no-wait: a knob take goes on at once, and a
    level check that failed ends the capture with its verdict."""
    if no_wait:
        if cap.get("level_ok") is False:
            conn.request({"cmd": "capture", "action": "abort"})
            raise CaptureError(cap.get("level_message") or "the level check failed")
    else:
        try:
            ready = select.select([sys.stdin], [], [], 0)[0]
        except (ValueError, OSError):    # no standard input: a stomp on the pedal answers
            return False
        if not ready:
            return False
        if sys.stdin.readline() == "":
            conn.request({"cmd": "capture", "action": "abort"})
            raise CaptureError("the standard input closed while waiting for the player: run with --no-wait")
    conn.request({"cmd": "capture", "action": "continue"})
    return True

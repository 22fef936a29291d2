"""Subcommands: `tubeless run`, `simulate`, `status`, `models`."""
import json
import logging
import os
import time

from firmware.core.errors import UserError

log = logging.getLogger(__name__)


def _config(path):
    from firmware.core.config import ConfigError, load_config
    try:
        return load_config(path)
    except ConfigError as e:
        raise UserError(str(e)) from None


def register(sub):
    p = sub.add_parser("run", help="run the pedal: real-time ALSA loop, footswitches, pots, model library")
    p.add_argument("--config", help="TOML config (defaults: firmware/core/default_config.toml)")
    p.add_argument("--device", help="ALSA device or card name (overrides the config)")
    p.add_argument("--models", help="model directory (overrides the config)")
    p.add_argument("--state", help="state file (overrides the config)")
    p.add_argument("--socket", help="control socket (overrides the config)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("ctl", help="control the running pedal: next, prev, select NAME, bypass, mute, set, status",
                       description="Sends one command to the running pedal through its control socket "
                                   "(docs/processes.md).")
    p.add_argument("command", help="next | prev | select NAME | bypass [on|off] | mute [on|off] | "
                   "set drive|level|knob2|gate VALUE | status | models | tuner [on|off] (without: a live "
                   "line until Ctrl-C) | pitch | midi cc CONTROL VALUE [CHANNEL] | midi program N [CHANNEL]")
    p.add_argument("args", nargs="*")
    p.add_argument("--config", help="TOML config (for the socket's path)")
    p.add_argument("--socket", help="control socket (default: from the config)")
    p.add_argument("--json", action="store_true", help="print the raw reply")
    p.set_defaults(func=cmd_ctl)

    p = sub.add_parser("simulate", help="run the pedal loop on a WAV file, with footswitch/pot events")
    p.add_argument("input", help="IN.wav (the pedal's rate)")
    p.add_argument("output", help="OUT.wav: what the pedal would have played, sample-aligned")
    p.add_argument("--models", required=True, help="model directory")
    p.add_argument("--config", help="TOML config")
    p.add_argument("--events", default="", help='e.g. "0.5:next,1.2:drive=0.8,2.0:bypass,3.0:prev" '
                   "(seconds of input: next, prev, bypass, tuner (footswitch 2 held), mute, drive=V, level=V, knob=V)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite OUT.wav if it exists")
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


def cache_dir(cfg):
    """Where the librarian keeps converted models: the config's, else the service's, else
    the user's cache folder."""
    want = cfg["models"].get("cache")
    if want:
        return want
    for d in (os.path.join(os.environ.get("CACHE_DIRECTORY", "/var/cache/tubeless"), "models"),
              os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tubeless", "models")):
        try:
            os.makedirs(d, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    import tempfile
    return tempfile.mkdtemp(prefix="tubeless-models-")


def sound_device(spec):
    """The config's device as an ALSA PCM name, or one clear error listing what there is."""
    from firmware.platform import cards as alsa_cards
    try:
        return alsa_cards.pcm_device(spec)
    except alsa_cards.CardError as e:
        cards = alsa_cards.list_cards()
        if not cards:
            raise UserError(f"no sound card here (the config asks for {spec!r}). On the Pi: the HAT's dtoverlay "
                               "in /boot/firmware/config.txt, then reboot (docs/pi-setup.md). Without a card: "
                               "`tubeless simulate IN.wav OUT.wav --models DIR` or `make run SIM=1`") from None
        log.warning("%s. Playing through ALSA 'default'; choose a card with --device NAME or audio.device in "
                    "the config", e)
        return "default"


def run_pedal(cfg, ready=None):
    """`tubeless run`: the engine and the librarian in their own processes, the control
    side here. Returns when the pedal is stopped (q, Ctrl-C, SIGTERM, `ctl` quit) or the
    audio ends."""
    import signal
    import threading
    import time

    from firmware.pedal.control import ControlServer
    from firmware.pedal.controls import make_controls
    from firmware.pedal.links import EngineProcess, LibrarianProcess
    from firmware.pedal.pedal import Pedal
    from firmware.platform import sdnotify
    from firmware.platform.alsa import AudioConfigError
    a = cfg["audio"]
    if not (a["capture_device"] and a["playback_device"]):
        dev = sound_device(a["device"])
        a["capture_device"] = a["capture_device"] or dev
        a["playback_device"] = a["playback_device"] or dev
    if not os.path.isdir(cfg["models"]["directory"]):
        log.warning("model directory %s does not exist (yet): playing dry until models arrive",
                    cfg["models"]["directory"])
    librarian = LibrarianProcess(cfg, cache_dir(cfg))
    try:
        engine = EngineProcess(cfg)
    except (RuntimeError, AudioConfigError) as e:
        librarian.close()
        raise UserError(str(e)) from None
    pedal = server = None
    try:
        pedal = Pedal(cfg, engine, librarian)
        pedal.controls = make_controls(pedal, cfg["controls"])
        from firmware.pedal.midi import start_midi
        pedal.midi = start_midi(pedal, cfg)
        sock = cfg["control"]["socket"]
        if sock:
            try:
                server = ControlServer(sock, pedal).start()
            except OSError as e:
                log.warning("no control channel at %s: %s", sock, e)
        # the library's first list (converting files takes a while only the first time)
        deadline = time.monotonic() + float(cfg["models"].get("startup_wait_s", 30.0))
        while pedal.library_version == 0 and time.monotonic() < deadline and engine.alive():
            librarian.supervise()
            pedal.tick(started=False)
            time.sleep(0.02)
        pedal.restore()
        engine.send({"op": "start"})
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: pedal.stop())
        sdnotify.ready(f"playing {pedal.status(brief=True)['model'] or 'no model'}")
        if ready is not None:
            ready(pedal)
        try:
            pedal.control_loop()
        except KeyboardInterrupt:
            pass
    finally:
        if server is not None:
            server.close()
        if pedal is not None and pedal.controls is not None:
            pedal.controls.close()
        if pedal is not None and pedal.midi is not None:
            pedal.midi.close()
        engine.close()
        librarian.close()
    return 0


def cmd_run(args):
    cfg = _config(args.config)
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
    from firmware.core.config import ConfigError
    from firmware.tools.simulate import SimulationError, simulate_file
    if not os.path.isdir(args.models):
        raise UserError(f"{args.models}: not a directory")
    logging.getLogger("firmware.platform.alsa").setLevel(logging.WARNING)   # its file "devices" are no news
    try:
        sim, y = simulate_file(args.input, args.output, args.models, args.config, args.events,
                               force=getattr(args, "force", False))
    except (SimulationError, ConfigError) as e:
        raise UserError(str(e)) from None
    s = sim.pedal.status()
    cpu = s["cpu"]
    period_ms = 1e3 * sim.cfg["audio"]["period"] / sim.cfg["audio"]["rate"]
    print(f"{args.output}: {len(y)} samples; model at the end: {s['model']}; xruns {s['xruns']}; "
          f"NaN faults {s['faults']}")
    print(f"CPU per {period_ms:.2f} ms period, the load a pedal would carry: median {100 * cpu['p50']:.1f}%, "
          f"p99 {100 * cpu['p99']:.1f}%"
          + (f" (the slowest block took {100 * cpu['max']:.0f}%: simulate is not real-time, so that is "
             f"this machine running other work meanwhile)" if cpu["max"] > 1 else f", max {100 * cpu['max']:.1f}%"))
    return 0


def ctl_message(command, args):
    """`tubeless ctl` words -> a control message (checked by firmware.ipc.messages)."""
    from firmware.ipc.messages import CONTROL_COMMANDS
    if command not in CONTROL_COMMANDS:
        raise UserError(f"unknown command {command!r} (known: {', '.join(CONTROL_COMMANDS)})")
    names = CONTROL_COMMANDS[command][0]
    if len(args) > len(names) or (command in ("select", "set") and len(args) != len(names)):
        usage = " ".join(n.upper() for n in names)
        raise UserError(f"usage: tubeless ctl {command} {usage}".rstrip())
    msg = {"cmd": command}
    msg.update(zip(names, args))
    return msg


def midi_message(args):
    """`tubeless ctl midi cc 11 100 [channel]` / `midi program 3 [channel]` -> a control message."""
    usage = "usage: tubeless ctl midi cc CONTROL VALUE [CHANNEL] | midi program N [CHANNEL]"
    keys = {"cc": ("control", "value"), "program": ("program",)}
    if not args or args[0] not in keys or len(args) - 1 not in (len(keys[args[0]]), len(keys[args[0]]) + 1):
        raise UserError(usage)
    try:
        nums = [int(a) for a in args[1:]]
    except ValueError:
        raise UserError(usage) from None
    ev = {"type": args[0], **dict(zip(keys[args[0]], nums))}
    if len(nums) > len(keys[args[0]]):
        ev["channel"] = nums[-1]
    return {"cmd": "midi", "events": [ev]}


def tuner_line(p, width=41):
    """One line of the tuner: note, cents, Hz and a needle over -50..+50 cents."""
    if not p.get("signal"):
        return f"  --  {'no signal':>12}   {'':>10}  [{' ' * (width // 2)}|{' ' * (width // 2)}]"
    c = p["cents"]
    pos = int(round((c + 50.0) / 100.0 * (width - 1)))
    bar = [" "] * width
    bar[width // 2] = "|"
    bar[min(width - 1, max(0, pos))] = "#" if p.get("in_tune") else ("<" if c < 0 else ">")
    mark = "in tune" if p.get("in_tune") else ("flat" if c < 0 else "sharp")
    return f"{p['note'] + str(p['octave']):>4} {c:+6.1f} cents {p['frequency']:9.2f} Hz  [{''.join(bar)}] {mark:<7}"


def _tuner_live(path, request, ControlError):
    """`tubeless ctl tuner`: the tuner on (muted), its reading 10 times a second on one line
    until Ctrl-C or footswitch 2; then off again unless it was on before."""
    import sys
    was_on = request(path, {"cmd": "pitch"}).get("tuner")
    request(path, {"cmd": "tuner", "on": True})
    tty = sys.stdout.isatty()
    try:
        while True:
            r = request(path, {"cmd": "pitch"})
            if not r.get("ok") or not r.get("tuner"):
                break                       # left from the pedal (footswitch 2, MIDI)
            print(("\r" if tty else "") + tuner_line(r["pitch"]), end="" if tty else "\n", flush=True)
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    except ControlError as e:
        raise UserError(str(e)) from None
    finally:
        if tty:
            print()
        if not was_on:
            try:
                request(path, {"cmd": "tuner", "on": False})
            except ControlError:
                pass
    return 0


def cmd_ctl(args):
    from firmware.ipc.messages import MessageError, check_control
    from firmware.pedal.control import ControlError, request
    msg = midi_message(args.args) if args.command == "midi" else ctl_message(args.command, args.args)
    try:
        check_control(msg)
    except MessageError as e:
        raise UserError(str(e)) from None
    path = args.socket or _config(args.config)["control"]["socket"]
    if args.command == "tuner" and not args.args and not args.json:
        try:
            return _tuner_live(path, request, ControlError)
        except ControlError as e:
            raise UserError(str(e)) from None
    try:
        reply = request(path, msg)
    except ControlError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(reply, indent=1))
    elif not reply.get("ok"):
        raise UserError(reply.get("error", "refused"))
    elif "models" in reply:
        for i, m in enumerate(reply["models"], 1):
            print(f"{'>' if m['playing'] else ' '}{i:3d}  {m['name']}  [{m['file']}; {m['architecture']}, "
                  f"{m['sample_rate']} Hz]")
    elif args.command == "status":
        _print_status(reply["status"])
    elif args.command == "pitch" or (args.command == "tuner" and "pitch" in reply):
        on = reply.get("tuner", reply.get("status", {}).get("tuner"))
        print(f"tuner {'on' if on else 'off'}: {tuner_line(reply['pitch']).strip()}")
    elif args.command == "midi":
        print(f"{reply.get('events')} MIDI message(s) sent through the mapping")
    else:
        s = reply.get("status", {})
        m = reply.get("selected") or {"name": s.get("model"), "file": s.get("model_file")}
        print(f"{m['name']} ({m['file']}){', bypass' if s.get('bypass') else ''}{', muted' if s.get('mute') else ''}")
    return 0


def _print_status(s):
    cpu, late = s.get("cpu", {}), s.get("late", {})
    print(f"model:   {s.get('model')} ({s.get('model_file')}), {s.get('models')} in the library")
    print(f"state:   {'bypass' if s.get('bypass') else 'on'}{', muted' if s.get('mute') else ''}, "
          f"real-time {'yes' if s.get('realtime') else 'no'}")
    print(f"cpu:     p50 {100 * cpu.get('p50', 0):.1f}%  p99 {100 * cpu.get('p99', 0):.1f}%  "
          f"max {100 * cpu.get('max', 0):.1f}% of a period")
    if late:
        print(f"late:    p99.9 {100 * late.get('p999', 0):.1f}%  max {100 * late.get('max', 0):.1f}% of a period")
    print(f"xruns:   {s.get('xruns')} (overruns {s.get('overruns')}, underruns {s.get('underruns')}); "
          f"model faults {s.get('faults')}")
    if s.get("skipped"):
        print(f"skipped: {', '.join(s['skipped'])}")


def cmd_status(args):
    path = args.file or _config(args.config)["audio"]["status_file"]
    try:
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
    except OSError as e:
        raise UserError(f"{path}: {e.strerror} (is the pedal running?)") from None
    except ValueError as e:
        raise UserError(f"{path}: not a status file: {e}") from None
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    age = time.time() - s.get("time", 0)
    _print_status(s)
    print(f"updated: {age:.0f} s ago")
    return 0


def cmd_models(args):
    from firmware.importers.library import ModelLibrary
    from firmware.importers.loader import load
    cfg = _config(args.config)
    directory = args.models or cfg["models"]["directory"]
    if not os.path.isdir(directory):
        where = f"--config {args.config}" if args.config else "the config's [models] directory"
        raise UserError(f"{directory}: not a directory (the model folder comes from {where}; "
                           "choose another with --models DIR)")
    sub = cfg["models"].get("submodel", -1)
    lib = ModelLibrary(directory, loader=lambda p: load(p, submodel=None if sub < 0 else sub, imported_only=True))
    quiet = logging.getLogger("firmware")
    level = quiet.level
    quiet.setLevel(logging.WARNING)          # the list, not the library's log lines
    try:
        lib.scan(settle=False)
    finally:
        quiet.setLevel(level)
    entries = lib.entries()
    if not entries:
        print(f"{directory}: no playable models")
    from firmware.importers import submodel_sizes
    rate = int(cfg["audio"]["rate"])
    for i, e in enumerate(entries, 1):
        mf = e.model_file
        knobs = f", {mf.num_knobs} knob(s)" if getattr(mf, "num_knobs", 0) else ""
        knobs += f", resampled to {rate} Hz" if mf.sample_rate != rate else ""
        knobs += f", IR {os.path.basename(e.ir_path)}" if getattr(e, "ir_path", None) else ""
        print(f"{i:3d}  {mf.name}  [{os.path.basename(e.path)}; {mf.architecture}, {mf.sample_rate} Hz{knobs}]")
        sizes, index = submodel_sizes(mf.metadata)
        if sizes:
            marked = ", ".join(f"{k}: {lab}{' (plays)' if k == index else ''}" for k, lab in enumerate(sizes))
            print(f"       sizes: {marked}  (models.submodel in the config, or import --submodel N)")
    return 0

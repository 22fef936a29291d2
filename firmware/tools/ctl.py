"""Subcommands that talk to, or about, the running pedal: `tubeless ctl` (one control
command through the control socket; its words and usage come from the command table,
firmware.ipc.commands), `status` (the status file) and `models` (the library), and the
tuner's one-line display."""
import json
import logging
import os
import sys
import time

from firmware.core.config import load_config
from firmware.core.errors import ControlError, UserError
from firmware.ipc import commands


def register_ctl(sub):
    p = sub.add_parser("ctl", help="control the running pedal: next, prev, select NAME, bypass, mute, set, status",
                       description="Sends one command to the running pedal through its control socket "
                                   "(docs/processes.md).")
    p.add_argument("command", help=commands.ctl_usage())
    p.add_argument("args", nargs="*")
    p.add_argument("--config", help="TOML config (for the socket's path)")
    p.add_argument("--socket", help="control socket (default: from the config)")
    p.add_argument("--json", action="store_true", help="print the raw reply")
    p.set_defaults(func=cmd_ctl)


def register_status(sub):
    p = sub.add_parser("status", help="the running pedal's status (model, CPU load, xruns)")
    p.add_argument("--config", help="TOML config (for the status file's path)")
    p.add_argument("--file", help="status file (default: from the config)")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("models", help="list the model library in playing order")
    p.add_argument("--config", help="TOML config")
    p.add_argument("--models", help="model directory (overrides the config)")
    p.set_defaults(func=cmd_models)


# --- tubeless ctl -----------------------------------------------------------------------
def cmd_ctl(args):
    from firmware.pedal.control import request
    msg = commands.from_words(args.command, args.args)
    commands.check_control(msg)
    path = args.socket or load_config(args.config)["control"]["socket"]
    if args.command == "tuner" and not args.args and not args.json:
        return _tuner_live(path, request)
    if args.command == "models":
        return _models(path, msg, args.json)
    reply = request(path, msg)
    if args.json:
        print(json.dumps(reply, indent=1))
    elif not reply.get("ok"):
        raise UserError(reply.get("error", "refused"))
    elif args.command == "status":
        _print_status(reply["status"])
    elif args.command == "pitch" or (args.command == "tuner" and "pitch" in reply):
        on = reply.get("tuner", reply.get("status", {}).get("tuner"))
        print(f"tuner {'on' if on else 'off'}: {tuner_line(reply['pitch']).strip()}")
    elif args.command == "midi":
        print(f"{reply.get('events')} MIDI message(s) sent through the mapping")
    elif args.command == "record":
        print(record_line(reply["record"]))
    else:
        s = reply.get("status", {})
        m = reply.get("selected") or {"name": s.get("model"), "file": s.get("model_file")}
        print(f"{m['name']} ({m['file']}){', bypass' if s.get('bypass') else ''}{', muted' if s.get('mute') else ''}")
    return 0


def _models(path, msg, as_json):
    """`tubeless ctl models [TEXT]`: the library's pages on one connection, as one list."""
    from firmware.pedal.control import ControlConnection, all_models
    with ControlConnection(path) as conn:
        found, reply = all_models(conn, msg.get("search"))
    if not reply.get("ok"):
        raise UserError(reply.get("error", "refused"))
    if as_json:
        print(json.dumps({**reply, "models": found, "offset": 0, "next": None}, indent=1))
        return 0
    for m in found:
        print(f"{'>' if m['playing'] else ' '}{m['index']:4d}  {m['name']}  [{m['file']}; {m['architecture']}, "
              f"{m['sample_rate']} Hz]")
    if msg.get("search"):
        print(f"{reply['total']} of {reply['count']} models match {msg['search']!r}")
    if reply.get("library_error"):
        print(f"the library is not up to date: {reply['library_error']}")
    for r in reply.get("rejected", []):
        print(f"  refused: {r['file']}: {r['error']}")
    if reply.get("rejected_total", 0) > len(reply.get("rejected", [])):
        print(f"  ... {reply['rejected_total'] - len(reply['rejected'])} more refused")
    return 0


# --- the tuner's display ------------------------------------------------------------------
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


def _tuner_live(path, request):
    """`tubeless ctl tuner`: the tuner on (muted), its reading 10 times a second on one line
    until Ctrl-C or footswitch 2; then off again unless it was on before."""
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
    finally:
        if tty:
            print()
        if not was_on:
            try:
                request(path, {"cmd": "tuner", "on": False})
            except ControlError:
                pass
    return 0


# --- tubeless status, tubeless models -------------------------------------------------------
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
    if (s.get("record") or {}).get("name"):
        print(f"record:  {record_line(s['record'])}")


def record_line(r):
    """A recording's state in one line."""
    if r.get("on"):
        return f"recording {r['name']} ({r['seconds']:.0f} s so far)"
    if not r.get("name"):
        return "not recording"
    return f"{r['name']}: {r['stopped']}" if r.get("stopped") else f"stopped: {r['name']} ({r['seconds']:.0f} s)"


def cmd_status(args):
    path = args.file or load_config(args.config)["audio"]["status_file"]
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
    from firmware.importers import submodel_sizes
    from firmware.importers.library import ModelLibrary
    from firmware.importers.loader import load
    cfg = load_config(args.config)
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

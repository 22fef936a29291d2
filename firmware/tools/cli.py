"""`tubeless`: the firmware's command line. Each subcommand lives in its own module that
exposes `register(subparsers)`; the module is imported only when listed here.

Every error a user can cause (a bad or hostile file, an output that cannot be written, a
limit reached) ends the command with one line on stderr naming the file and the problem,
and exit status 2; never a traceback (`-v` shows one for what is our bug)."""
import argparse
import importlib
import logging
import sys

from firmware.core import sandbox
from firmware.core.errors import UserError

# Modules providing subcommands, in help order: "MODULE" calls its register(subparsers),
# "MODULE:FUNCTION" that function (a module whose commands are not next to each other).
COMMAND_MODULES = [
    "firmware.tools.render",
    "firmware.tools.bench",
    "firmware.tools.convert",
    "firmware.tools.run:register_run",
    "firmware.tools.ctl:register_ctl",
    "firmware.tools.run:register_simulate",
    "firmware.tools.ctl:register_status",       # status, models
    "firmware.tools.web",
    "firmware.tools.demo",
    "firmware.tools.warm",
    "firmware.tools.preset",
    "firmware.tools.hotspot",
    "firmware.tools.capture",
]
# Commands that parse untrusted files in this process: they run in a child process with
# an address-space limit (`import`/`convert` also limit each file's parse, see importers).
SANDBOXED = ("render",)

log = logging.getLogger("tubeless")


def build_parser():
    parser = argparse.ArgumentParser(prog="tubeless", description="A neural guitar-amp pedal for the Raspberry Pi.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module, _, function = name.partition(":")
        getattr(importlib.import_module(module), function or "register")(sub)
    return parser


def _glue_option_values(argv):
    """`--events -1:next` -> `--events=-1:next`: argparse takes a value that starts with '-'
    for an option and says "expected one argument"; glued, the command can say what is wrong."""
    out, it = [], iter(argv)
    for a in it:
        if a in ("--events",):
            v = next(it, None)
            out.append(a if v is None else f"{a}={v}")
        else:
            out.append(a)
    return out


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(_glue_option_values(sys.argv[1:] if argv is None else list(argv)))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command in SANDBOXED:
        what = getattr(args, "model", None) or args.command
        try:
            cpu_seconds = _render_cpu_seconds(args)    # reads the limits ($TUBELESS_LIMITS) first
        except UserError as e:
            print(f"tubeless: error: {e}", file=sys.stderr)
            return 2
        return sandbox.run_limited(lambda: run_command(args), what=what, cpu_seconds=cpu_seconds)
    return run_command(args)


def run_command(args):
    """args.func(args) with every user-caused error as one line, exit status 2."""
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except UserError as e:
        print(f"tubeless: error: {e}", file=sys.stderr)
    except MemoryError:
        print(f"tubeless: error: {args.command}: out of memory (a file beyond what this machine can hold?)",
              file=sys.stderr)
    except RecursionError:
        print(f"tubeless: error: {args.command}: input nested too deeply", file=sys.stderr)
    except OSError as e:
        name = f"{e.filename}: " if e.filename else ""
        print(f"tubeless: error: {name}{e.strerror or e}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - a bug of ours: still one line, the traceback with -v
        log.debug("traceback", exc_info=True)
        print(f"tubeless: error: {args.command}: {type(e).__name__}: {e} (a bug: please report it; "
              "-v shows the traceback)", file=sys.stderr)
    return 2


def _render_cpu_seconds(args):
    """CPU time for a render: the parse limit, plus 30 s per second of input (a model at the
    work limit, 150,000 multiply-adds a sample, renders at ~1x real time here, ~0.1x on a Pi 4)."""
    from firmware.core import limits
    try:
        import soundfile as sf
        info = sf.info(args.input)
        seconds = info.frames / max(1, info.samplerate)
    except Exception:  # noqa: BLE001 - an unreadable input is reported by the command itself
        seconds = 0.0
    return int(limits.active().parse_cpu_seconds + 30 * seconds)

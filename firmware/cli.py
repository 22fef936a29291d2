"""`tubeless`: the firmware's command line. Each subcommand lives in its own module that
exposes `register(subparsers)`; the module is imported only when listed here."""
import argparse
import importlib
import logging
import sys

# Modules providing subcommands, in help order.
COMMAND_MODULES = [
    "firmware.render",
    "firmware.bench",
    "firmware.importers",
    "firmware.pedal.cli",
    "firmware.demo",
    "firmware.warm",
]


def build_parser():
    parser = argparse.ArgumentParser(prog="tubeless", description="A neural guitar-amp pedal for the Raspberry Pi.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except CliError as e:
        print(f"tubeless: error: {e}", file=sys.stderr)
        return 2


class CliError(Exception):
    """An error the user caused (bad file, wrong rate): printed as one line, exit status 2."""

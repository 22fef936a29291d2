"""The librarian process: `python -m firmware.librarian --models DIR --cache DIR ...`.

Started by the pedal (firmware.pedal.links), which restarts it when it dies: it writes
events on stdout and reads commands on stdin (firmware.ipc.messages), and logs to stderr.
It runs with an address-space limit (--memory-mb) so no file can take the pedal's memory.
"""
import argparse
import logging
import os
import sys


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m firmware.librarian")
    p.add_argument("--models", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--rate", type=int, default=48000)
    p.add_argument("--poll", type=float, default=0.5)
    p.add_argument("--ir", default="", help="the global cabinet IR")
    p.add_argument("--ir-max-ms", type=float, default=500.0)
    p.add_argument("--memory-mb", type=int, default=0,
                   help="address space it may add once its kernels are loaded (0: no limit)")
    p.add_argument("--submodel", type=int, default=-1, help="size of slimmable files to play (-1: largest)")
    p.add_argument("--no-warm", action="store_true", help="do not load every kernel first")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        os.nice(10)                  # converting can wait; the pedal's control side cannot
    except OSError:
        pass
    from firmware.ipc import messages
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())     # a stray print() must not corrupt the pipe

    def emit(msg):
        out.write(messages.encode(msg))

    if not args.no_warm:
        from firmware.dsp.warm import warm
        warm(args.rate)              # compiles (first run) outside any file's time limit
    if args.memory_mb > 0:
        from firmware.core.sandbox import set_address_space_limit
        set_address_space_limit(args.memory_mb << 20)
    from firmware.librarian.librarian import Librarian
    lib = Librarian(args.models, args.cache, args.rate, args.ir_max_ms, args.poll, args.ir, emit=emit,
                    submodel=args.submodel)
    emit({"ev": "ready"})
    lib.serve(sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())

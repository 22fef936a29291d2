"""The engine process: `python -m firmware.engine --settings JSON --shared PATH`.

Started by the pedal (firmware.pedal), never by hand: it reads commands on stdin and writes
events on stdout (firmware.ipc.messages), shares parameters and counters through the mapped
file PATH (firmware.ipc.shared), and logs to stderr.
"""
import argparse
import json
import logging
import os
import sys


def block_model_parsing():
    """The audio process never parses a model file or measures loudness (the librarian
    does): importing those modules here fails loudly instead of stalling the audio."""
    for name in ("firmware.importers", "firmware.importers.loudness"):
        sys.modules[name] = None


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m firmware.engine")
    p.add_argument("--settings", required=True, help="the pedal's configuration as JSON")
    p.add_argument("--shared", required=True, help="the shared block's file")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    block_model_parsing()
    from firmware.ipc import messages
    from firmware.platform.alsa import AlsaDuplex, AudioConfigError, quiet_alsa_library
    if not args.verbose:
        quiet_alsa_library()
    from firmware.engine.engine import Engine
    from firmware.ipc.shared import SharedBlock

    cfg = json.loads(args.settings)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())     # a stray print() must not corrupt the pipe

    def emit(msg):
        out.write(messages.encode(msg))

    a = cfg["audio"]
    try:
        io = AlsaDuplex(a["capture_device"], a["playback_device"], a["rate"], a["channels"], a["period"],
                        a["periods"], a["formats"], a["input_channel"])
    except AudioConfigError as e:
        emit({"ev": "stopped", "error": str(e)})
        return 2
    try:
        engine = Engine(cfg, io=io, shared=SharedBlock(args.shared), emit=emit)
        engine.warm_up()
        engine.go_realtime(offset=10)       # the command thread: real time, below the audio
        emit({"ev": "ready"})
        # The audio thread, wanting the GIL back after a model kernel, asks the holder for
        # it after 20 us instead of 5 ms.
        sys.setswitchinterval(0.00002)
        engine.serve(sys.stdin.fileno())
        err = engine.audio_error
        emit({"ev": "stopped", "error": f"{type(err).__name__}: {err}" if err else None})
        return 1 if err else 0
    finally:
        io.close()


if __name__ == "__main__":
    sys.exit(main())

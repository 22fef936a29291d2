"""`tubeless demo` (what `make run` does): play the bundled model, on a sound card if this
machine has one, otherwise through the pedal's simulation into a WAV file.

The bundled files were made by this project (`make default-model`): a small LSTM trained
on a simulated diode-clipper overdrive, a cabinet IR designed from a speaker response, and
a synthesised DI clip.
"""
import logging
import os
import shutil
from importlib import resources

from firmware.core.errors import UserError
from firmware.platform import cards as alsa_cards

log = logging.getLogger(__name__)

DEMO_EVENTS = "2.0:drive=0.85,4.0:bypass,5.0:bypass,6.0:level=0.6"


def bundled(name):
    return str(resources.files("firmware") / "data" / name)


def _prepare(workdir):
    """A models directory holding the bundled model, and a config that uses the bundled IR."""
    model, ir, di = bundled("default_model.npz"), bundled("default_cab.wav"), bundled("demo_di.wav")
    for path in (model, ir, di):
        if not os.path.exists(path):
            raise UserError(f"{path} is missing: run `make default-model` to make it")
    models = os.path.join(workdir, "models")
    os.makedirs(models, exist_ok=True)
    shutil.copy2(model, os.path.join(models, "default_model.npz"))
    config = os.path.join(workdir, "demo.toml")
    with open(config, "w") as f:
        f.write(f'[models]\ndirectory = "{models}"\nir = "{ir}"\n\n'
                f'[state]\nfile = "{os.path.join(workdir, "state.json")}"\n\n'
                f'[control]\nsocket = "{os.path.join(workdir, "control.sock")}"\n\n'
                f'[audio]\nstatus_file = "{os.path.join(workdir, "status.json")}"\n')
    return models, config, di


def run(args):
    from firmware.core.config import load_config
    from firmware.tools.run import quiet_file_devices, simulation_summary
    workdir = os.path.abspath(args.workdir)
    models, config, di = _prepare(workdir)
    if not args.simulate and alsa_cards.list_cards():
        from firmware.pedal.run import run_pedal
        log.info("sound card found: playing live (Ctrl-C or q to stop); `make run SIM=1` renders a file instead")
        cfg = load_config(config)                   # its models folder, IR, state and socket
        if args.device:
            cfg["audio"]["device"] = args.device
        return run_pedal(cfg)
    from firmware.tools.simulate import simulate_file
    output = os.path.abspath(args.output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    quiet_file_devices()
    sim, y = simulate_file(di, output, models, config, DEMO_EVENTS, force=True)     # the demo's own file
    print(simulation_summary(sim, y, output))
    print(f"no sound card here: simulated the pedal on {di}\n"
          f"  events: {DEMO_EVENTS}\n  output: {output}")
    return 0


def register(sub):
    p = sub.add_parser("demo", help="play the bundled model (live on a sound card, else simulated to a file)")
    p.add_argument("--simulate", action="store_true", help="simulate into a file even when a sound card exists")
    p.add_argument("--output", default="out/demo.wav", help="simulation output (default out/demo.wav)")
    p.add_argument("--workdir", default=".cache/demo", help="where the demo keeps its models dir and config")
    p.add_argument("--device", help="ALSA device or card name for the live run")
    p.set_defaults(func=run)

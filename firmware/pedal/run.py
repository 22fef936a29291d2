"""The pedal process's entry point (`tubeless run`): the engine and the librarian started
in their own processes, the control side wired here: footswitches and pots, MIDI, the
control socket, the state, systemd's notify socket."""
import logging
import os
import signal
import tempfile
import threading
import time

from firmware.core.errors import AudioConfigError, CardError, UserError
from firmware.pedal.control import ControlServer
from firmware.pedal.controls import make_controls
from firmware.pedal.links import EngineProcess, LibrarianProcess
from firmware.pedal.midi import start_midi
from firmware.pedal.pedal import Pedal
from firmware.platform import cards as alsa_cards
from firmware.platform import sdnotify

log = logging.getLogger(__name__)


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
    return tempfile.mkdtemp(prefix="tubeless-models-")


def sound_device(spec):
    """The config's device as an ALSA PCM name, or one clear error listing what there is."""
    try:
        return alsa_cards.pcm_device(spec)
    except CardError as e:
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
    audio ends. `ready(pedal)` is called once the audio plays."""
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
        if pedal is not None:
            pedal.close()
        engine.close()
        librarian.close()
    return 0

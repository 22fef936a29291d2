"""`tubeless simulate`: the real pedal loop on a WAV file.

The real ALSA code runs on alsa-lib `file` PCMs (capture reads a raw file made from IN.wav,
playback writes a raw file), the real gpiozero code runs on mock pins and a mock MCP3008,
and the events of `--events` are played on those pins when the loop reaches their time.
The engine, the librarian and the control side run in this process, the control side on
the audio's clock (see Simulator), so the result does not depend on the machine's speed.
"""
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from firmware.core.config import load_config
from firmware.core.errors import SimulationError
from firmware.dsp import rig
from firmware.pedal.pedal import Pedal
from firmware.platform.alsa import AlsaDuplex
from firmware.tools.rigopts import rig_setting

log = logging.getLogger(__name__)

ALSA_CONF = """
pcm.tubeless_simin {
    @args [ INFILE ]
    @args.INFILE { type string }
    type file
    slave.pcm "null"
    file "/dev/null"
    infile $INFILE
    format "raw"
}
pcm.tubeless_simout {
    @args [ OUTFILE ]
    @args.OUTFILE { type string }
    type file
    slave.pcm "null"
    file $OUTFILE
    format "raw"
    truncate true
}
"""
SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf"
ACTIONS = ("next", "prev", "bypass", "tuner", "mute", "drive", "level", "knob", "tap")
POTS = ("drive", "level", "knob")


PRESET_ACTIONS = ("preset", "snapshot", "bank")     # =NAME|N (snapshot=N|next|prev), through the control channel


def _preset_event(what, v, part):
    from firmware.ipc.commands import MessageError, check_control
    key = "n" if what == "snapshot" else "name"
    if not v.strip():
        raise SimulationError(f"event {part!r}: {what} takes =NAME or =N (e.g. 2.0:preset=solo)")
    try:
        return check_control({"cmd": what, key: v.strip()})[key]
    except MessageError as e:
        raise SimulationError(f"event {part!r}: {e}") from None


@dataclass
class Event:
    time: float
    action: str
    value: float = None


def parse_events(text):
    """'0.5:next,1.2:drive=0.8,2.0:bass=0.7,2.5:reverb=on,3.0:tap' -> [Event], sorted by time.
    A pot (drive, level, knob) takes 0..1; a rig parameter (bass, delay.time_ms...) its own
    range; a rig block (reverb...) on/off; `stomp=NAME` a model of the library for the drive
    slot (`stomp=none`: empty)."""
    events = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        try:
            t, what = part.split(":", 1)
            t = float(t)
        except ValueError:
            raise SimulationError(f"event {part!r}: expected SECONDS:ACTION (e.g. 0.5:next)") from None
        if not math.isfinite(t):
            raise SimulationError(f"event {part!r}: the time must be a number of seconds")
        value = None
        what, eq, v = what.partition("=")
        what = what.strip().lower()
        if what == "stomp" and eq and v.strip().lower() not in ("on", "off", "true", "false", "1", "0"):
            what, value = "stomp_capture", v.strip()      # the drive slot's capture (a model's name, or none)
        elif what in PRESET_ACTIONS:
            value = _preset_event(what, v if eq else "", part)
        elif what not in ACTIONS:
            if not eq:
                raise SimulationError(f"event {part!r}: unknown action {what!r} (known: {', '.join(ACTIONS)}, "
                                      "or a rig block or parameter with =VALUE)")
            what, value = rig_setting(what, v, part)
        elif eq:
            if what not in POTS:
                raise SimulationError(f"event {part!r}: no value for {what}")
            try:
                value = float(v)
            except ValueError:
                raise SimulationError(f"event {part!r}: {v!r} is not a number") from None
            if not 0.0 <= value <= 1.0:  # (NaN fails this too)
                raise SimulationError(f"event {part!r}: pot values are 0..1")
        elif what in POTS:
            raise SimulationError(f"event {part!r}: pots take =VALUE")
        if t < 0:
            raise SimulationError(f"event {part!r}: negative time")
        events.append(Event(t, what, value))
    return sorted(events, key=lambda e: e.time)


class Simulator:
    """Set up once, `run(x) -> y` (float32 mono in, float32 mono out, same length).

    The engine, the librarian and the control side run in this process, and the control
    side runs on the audio's clock: between blocks, every `control_s` of audio (the pedal's
    50 Hz), the library every `poll_s` of audio. So what happens when (a switch, a model
    that arrives, the fall-back from a model that produced NaN) is where it would be on the
    pedal, and the result does not depend on the machine's speed or load. `pace` (1.0 = real
    time) only slows the loop down, for a listener."""

    def __init__(self, models_dir, config=None, overrides=None, events=(), pace=0.0, state_path=None,
                 on_block=None, cache_dir=None, control_s=0.02, settings=(), preset=None):
        cfg = load_config(config, overrides)
        cfg["models"]["directory"] = os.fspath(models_dir)
        cfg["audio"]["realtime"] = False
        cfg["audio"]["status_file"] = ""
        cfg["controls"]["enabled"] = True
        self.cfg = cfg
        self.events = parse_events(events) if isinstance(events, str) else list(events)
        self.pace = pace
        self.state_path = state_path or ""
        self.on_block = on_block
        self.cache_dir = cache_dir
        self.control_frames = max(1, int(round(control_s * cfg["audio"]["rate"])))
        self.settings = list(settings)   # [(rig block or parameter, value)] before the first sample
        self.preset = preset             # a preset (its name in the presets folder, or a .toml file) from the first sample
        self.pedal = None
        self.engine = None
        self.switch_frames = []      # (event frame, frame where the crossfade ended)

    def run(self, x):
        from firmware.engine.engine import Engine
        from firmware.librarian.librarian import Librarian
        from firmware.pedal.controls import GpioControls
        from firmware.pedal.links import LocalEngine, LocalLibrarian
        from firmware.testing.mockhw import MockMCP3008, use_mock_pins
        cfg = self.cfg
        a, c, m = cfg["audio"], cfg["controls"], cfg["models"]
        rate, P, periods, chans = a["rate"], a["period"], a["periods"], a["channels"]
        x = np.ascontiguousarray(x, np.float32)
        n = len(x)
        if n == 0:
            raise SimulationError("the input has no samples: nothing to play")
        total = -(-n // P) * P
        late = [e for e in self.events if e.time * rate >= n]
        if late:
            raise SimulationError(f"event at {late[0].time:g} s ({late[0].action}) is after the end of the input "
                                  f"({n / rate:.2f} s)")
        with tempfile.TemporaryDirectory(prefix="tubeless-sim-") as tmp:
            conf = os.path.join(tmp, "sim.conf")
            with open(conf, "w") as f:
                f.write(ALSA_CONF)
            inraw, outraw = os.path.join(tmp, "in.raw"), os.path.join(tmp, "out.raw")
            frames = np.zeros((total + (periods + 4) * P, chans), np.int32)   # reads past the end: zeros
            frames[:n, a["input_channel"]] = np.round(np.clip(x, -1, 1 - 2 ** -31) * 2147483648.0).astype(np.int64)
            frames.tofile(inraw)
            old_conf = os.environ.get("ALSA_CONFIG_PATH")
            os.environ["ALSA_CONFIG_PATH"] = f"{SYSTEM_ALSA_CONF}:{conf}"
            factory = use_mock_pins()
            adc = controls = io = None
            try:
                io = AlsaDuplex(f"tubeless_simin:INFILE={inraw}", f"tubeless_simout:OUTFILE={outraw}", rate, chans, P,
                                periods, formats=["S32_LE"], input_channel=a["input_channel"])
                adc = MockMCP3008(c["adc_spi_port"], c["adc_spi_device"])
                tone = cfg["tone"]
                self.pot_channels = {"drive": c["pot_drive"], "level": c["pot_level"], "knob": c["pot_assign"]}
                adc.set(c["pot_drive"], tone["drive"]) if c["pot_drive"] >= 0 else None
                adc.set(c["pot_level"], tone["level"]) if c["pot_level"] >= 0 else None
                if c["pot_assign"] >= 0:
                    adc.set(c["pot_assign"], 0.5)
                engine = self.engine = Engine(cfg, io=io)
                librarian = Librarian(m["directory"], self.cache_dir or os.path.join(tmp, "cache"), rate,
                                      m.get("ir_max_ms", 500), m["poll_s"], m.get("ir") or "")
                self.librarian = LocalLibrarian(librarian)
                pedal = self.pedal = Pedal(cfg, LocalEngine(engine), self.librarian, state_path=self.state_path)
                controls = GpioControls(pedal, c)
                pedal.controls = controls
                self.adc, self.factory = adc, factory
                engine.warm_up()                 # as the engine process does before its audio starts
                self.librarian.poll(0.0)
                controls.poll_pots()             # the pots' positions before the first sample
                pedal.restore()
                if self.preset:
                    pedal.recall(self._preset(pedal), immediate=True)
                pedal.params.rig.apply(self.settings)
                engine.chain.rig.settle()        # from the first sample, as `render --set` plays them
                engine.block_hook = self._hook
                self._t0 = None
                engine.audio_loop(max_frames=total)
                engine.sync()
            finally:
                if controls is not None:
                    controls.close()
                if adc is not None:
                    adc.close()
                if io is not None:
                    io.close()
                if old_conf is None:
                    os.environ.pop("ALSA_CONFIG_PATH", None)
                else:
                    os.environ["ALSA_CONFIG_PATH"] = old_conf
            raw = np.fromfile(outraw, np.int32).reshape(-1, chans)
        # drop the primed cushion; audio.stereo_out: channels 0 and 1 (left, right), else channel 0
        played = raw[periods * P:, :2 if a.get("stereo_out") else 1].astype(np.float64) / 2147483648.0
        played = played if a.get("stereo_out") else played[:, 0]
        if len(played) < n:
            raise SimulationError(f"the loop played {len(played)} of {n} samples")
        return played[:n].astype(np.float32)

    def _preset(self, pedal):
        from firmware.core.errors import PresetError
        from firmware.presets import format as fmt
        try:
            if os.path.isfile(self.preset):
                return fmt.read(self.preset)
            return pedal.presets.find(self.preset)
        except PresetError as e:
            raise SimulationError(f"--preset: {e}") from None

    # --- events, between blocks ---------------------------------------------------------
    def _hook(self, frame):
        pedal = self.pedal
        rate = self.cfg["audio"]["rate"]
        if self.pace:
            if self._t0 is None:
                self._t0 = time.monotonic()
            ahead = frame / rate / self.pace - (time.monotonic() - self._t0)
            if ahead > 0:
                time.sleep(ahead)
        if self.on_block is not None:
            self.on_block(self, frame)
        self.librarian.poll(frame / rate)
        if frame % self.control_frames < self.cfg["audio"]["period"]:      # the control side's 50 Hz
            pedal.controls.poll_pots()
            pedal.tick()
            self.engine.sync()
        ch = self.engine.chain
        if self.switch_frames and self.switch_frames[-1][1] is None and not ch.switching:
            self.switch_frames[-1] = (self.switch_frames[-1][0], ch.last_switch_done)
        while self.events and self.events[0].time * rate <= frame:
            ev = self.events.pop(0)
            self._apply(ev, frame)
            pedal.tick()                 # the action is handled at once, as on the pedal
            self.engine.sync()

    def _press(self, pin_no, long=False):
        c = self.cfg["controls"]
        pin = self.factory.pin(pin_no)
        count = self.pedal.submitted
        pin.drive_low()
        if long:
            self.pedal.wait_submitted(count + 1, timeout=c["hold_time"] + 5)
            pin.drive_high()
            time.sleep(c["bounce_time"] * 2 + 0.01)
        else:
            time.sleep(c["bounce_time"] * 2 + 0.01)
            pin.drive_high()
            self.pedal.wait_submitted(count + 1, timeout=5)

    def _apply(self, ev, frame):
        c = self.cfg["controls"]
        if ev.action in ("next", "prev"):
            self._press(c["footswitch1"], long=ev.action == "prev")
            self.switch_frames.append((frame, None))
        elif ev.action in ("bypass", "tuner"):
            self._press(c["footswitch2"], long=ev.action == "tuner")     # held: the tuner (muted)
        elif ev.action == "mute":                                    # no footswitch: the control channel
            self.pedal.submit({"cmd": "mute"})
        elif ev.action == "tap":                                     # the audio's clock, not the wall's
            self.pedal.submit({"cmd": "tap", "at": frame / self.cfg["audio"]["rate"]})
        elif ev.action == "stomp_capture":
            self.pedal.submit({"cmd": "stomp", "name": ev.value})
        elif ev.action in PRESET_ACTIONS:
            self.pedal.submit({"cmd": ev.action, "n" if ev.action == "snapshot" else "name": ev.value})
            if ev.action != "snapshot":
                self.switch_frames.append((frame, None))
        elif ev.action in rig.BY_NAME:
            self.pedal.submit({"cmd": "toggle", "block": ev.action, "on": ev.value})
        elif ev.action not in POTS:
            self.pedal.submit({"cmd": "set", "param": ev.action, "value": ev.value})
        else:
            ch = self.pot_channels[ev.action]
            if ch < 0:
                raise SimulationError(f"no pot is assigned to {ev.action}")
            self.adc.set(ch, ev.value)
            role = {"drive": "drive", "level": "level", "knob": c["pot_assign_role"]}[ev.action]
            for _ in range(1000):                     # until the smoothed pot has arrived
                self.pedal.controls.poll_pots()
                self.pedal.tick()
                if abs(self.pedal.pots.get(role, -1) - ev.value) <= c["pot_hysteresis"]:
                    break


def simulate_file(in_wav, out_wav, models_dir, config=None, events="", force=False, **kw):
    import soundfile as sf

    from firmware.core.outputs import OutputError, atomic_path, check_output
    try:
        check_output(out_wav, force)                  # before the work, not after
    except OutputError as e:
        raise SimulationError(str(e)) from None
    try:
        x, sr = sf.read(os.fspath(in_wav), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, sf.LibsndfileError) as e:
        raise SimulationError(f"{in_wav}: cannot read: {e}") from None
    sim = Simulator(models_dir, config, events=events, **kw)
    rate = sim.cfg["audio"]["rate"]
    if sr != rate:
        raise SimulationError(f"{in_wav}: sample rate {sr} Hz, the pedal runs at {rate} Hz (resample it first)")
    if len(x) == 0:             # before the work, and before anything is written
        raise SimulationError(f"{in_wav}: no samples (a WAV of 0 frames): nothing to simulate")
    ch = min(sim.cfg["audio"]["input_channel"], x.shape[1] - 1)
    y = sim.run(x[:, ch])
    with atomic_path(out_wav, force) as tmp:
        sf.write(tmp, y, rate, subtype="FLOAT", format="WAV")
    return sim, y

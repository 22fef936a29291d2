"""The whole capture: for each take, a level check, then the capture signal through the amp,
the checks on its return, and the folder; a prompt between knob takes; progress; abort.

The audio runs in DuplexTake's loop thread; everything here (progress, live levels, prompts,
checks, files) runs in the main thread, on what the loop has already finished with.
"""
import contextlib
import gc
import logging
import os
import re
import select
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from firmware.core.errors import AudioConfigError, CaptureError

from . import checks, measure
from . import signal as capture_signal
from .duplex import DuplexTake
from .enginetake import EngineTake
from .folder import CAPTURE_FORMAT, CAPTURE_VERSION, CaptureFolder, folder_name, needed_bytes

log = logging.getLogger(__name__)

MAX_LATENCY_S = 0.25            # the trainer's bound on a round trip (training/data.py)
KNOB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
MAX_TAKES = 32
POLL_S = 0.1
LEVEL_CHECK_RETRIES = 2      # a level check that xruns is simply played again


# --- what the player asks for ---------------------------------------------------------------

@dataclass(frozen=True)
class Take:
    knobs: dict = field(default_factory=dict)      # name -> the amp's dial as the player set it
    positions: dict = field(default_factory=dict)  # name -> 0..1, what the trainer's --capture takes

    def describe(self):
        return ", ".join(f"{k.upper()} to {v:g}" for k, v in self.knobs.items())


def parse_take(text, dial_max=10.0):
    """'gain=5,bass=3' -> Take({'gain': 5, 'bass': 3}, {'gain': 0.5, 'bass': 0.3})."""
    knobs, positions = {}, {}
    for item in str(text).split(","):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not KNOB_NAME.match(name):
            raise CaptureError(f"--take {text!r}: expected KNOB=VALUE[,KNOB=VALUE] (a knob name is letters, "
                               "digits and _, e.g. gain=5)")
        try:
            dial = float(value)
        except ValueError:
            raise CaptureError(f"--take {text!r}: {value.strip()!r} is not a number") from None
        if not 0.0 <= dial <= dial_max:
            raise CaptureError(f"--take {text!r}: {name} {dial:g} is outside the dial's 0..{dial_max:g} "
                               "(--dial-max sets its top)")
        if name in knobs:
            raise CaptureError(f"--take {text!r}: {name} is given twice")
        knobs[name], positions[name] = dial, round(dial / dial_max, 6)
    return Take(knobs, positions)


def parse_takes(texts, dial_max=10.0):
    if not texts:
        return [Take()]
    if len(texts) > MAX_TAKES:
        raise CaptureError(f"{len(texts)} takes: at most {MAX_TAKES} in one capture")
    takes = [parse_take(t, dial_max) for t in texts]
    names = sorted(takes[0].knobs)
    for t in takes:
        if sorted(t.knobs) != names:
            raise CaptureError("every --take must set the same knobs (the trainer conditions on the same inputs): "
                               f"{', '.join(names)} vs {', '.join(sorted(t.knobs))}")
    return takes


# --- the sound card -------------------------------------------------------------------------

DEVICE_BUSY = ("another program holds the sound card (a pedal without its control socket?): stop it, or "
               "capture through the playing pedal (its control socket, [control] socket)")


def alsa_device(cfg):
    """The HAT's devices as the engine opens them (firmware/pedal/run.py does the same lookup)."""
    from firmware.platform import alsa, cards
    a = cfg["audio"]
    capture_dev = a["capture_device"] or cards.pcm_device(a["device"])
    playback_dev = a["playback_device"] or cards.pcm_device(a["device"])
    alsa.quiet_alsa_library()

    def open_io():
        try:
            return alsa.AlsaDuplex(capture_dev, playback_dev, a["rate"], a["channels"], a["period"], a["periods"],
                                   a["formats"], a["input_channel"])
        except AudioConfigError as e:
            if "busy" in str(e).lower():
                raise CaptureError(f"{e}: {DEVICE_BUSY}") from None
            raise
    return open_io


class DeviceStream:
    """Takes on the HAT opened by the capture itself (`tubeless capture` with the pedal
    stopped): a duplex stream per take, its loop thread at the audio's priority."""

    def __init__(self, open_io, rt_priority=None):
        self.open_io, self.rt_priority = open_io, rt_priority

    @classmethod
    def of_config(cls, cfg):
        """The config's HAT (alsa_device), at audio.rt_priority when audio.realtime."""
        a = cfg["audio"]
        return cls(alsa_device(cfg), int(a.get("rt_priority", 70)) if a.get("realtime", True) else None)

    @contextlib.contextmanager
    def take(self, send, tail):
        io = self.open_io()
        take = None
        try:
            take = DuplexTake(io, send, tail, self.rt_priority)
            gc.collect()
            gc.disable()                    # no collector pass holding the GIL while the loop runs
            _main_thread_priority(self.rt_priority)
            try:
                yield take
            finally:
                gc.enable()
                if take.running:
                    take.stop()
                    take.join(5.0)
        finally:
            # Never close the device under the loop thread's read: a read that never returns
            # (a device gone) would take the close, and Ctrl-C, down with it. Such a device
            # is left to the process's exit (the loop thread is a daemon).
            if take is None or not take.running:
                io.close()


class EngineStream:
    """Takes through the running pedal's engine (firmware.capture.enginetake): one stream for
    every take, the pedal's own. The caller has switched the engine's send on (SEND_ON)."""

    def __init__(self, shared, period, rate):
        self.shared, self.period, self.rate = shared, int(period), int(rate)

    @contextlib.contextmanager
    def take(self, send, tail):
        take = EngineTake(self.shared, send, tail, self.period, self.rate)
        try:
            yield take
        finally:
            take.stop()


# --- footswitches and the terminal ----------------------------------------------------------

class Footswitches:
    """Any footswitch press sets `pressed`. Without GPIO (no Pi, no pin factory) there are none."""

    def __init__(self, pins, bounce_time=0.02):
        self.pressed = threading.Event()
        self.buttons = []
        for pin in pins:
            try:
                from gpiozero import Button
                button = Button(pin, bounce_time=bounce_time)
            except Exception as e:  # noqa: BLE001 - no GPIO here: the terminal and Ctrl-C remain
                log.debug("footswitch on GPIO %s not available: %s", pin, e)
                continue
            button.when_pressed = lambda *_: self.pressed.set()
            self.buttons.append(button)

    @classmethod
    def from_config(cls, cfg):
        c = cfg["controls"]
        if not c.get("enabled", True):
            return cls([])
        return cls([p for p in (c.get("footswitch1"), c.get("footswitch2")) if p is not None and p >= 0],
                   c.get("bounce_time", 0.02))

    def __bool__(self):
        return bool(self.buttons)

    def take_press(self):
        was = self.pressed.is_set()
        self.pressed.clear()
        return was

    def close(self):
        for b in self.buttons:
            b.close()


class Console:
    """Lines for the player; a live status line on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream=None, every_s=10.0):
        self.stream = stream or sys.stdout
        self.live_ok = self.stream.isatty()
        self.every_s = every_s
        self._last = 0.0
        self._live_shown = False

    def say(self, text):
        self.end_live()
        print(text, file=self.stream, flush=True)

    def live(self, text, force=False):
        if self.live_ok:
            print("\r" + text + "\033[K", end="", file=self.stream, flush=True)
            self._live_shown = True
        elif force or time.monotonic() - self._last >= self.every_s:
            print(text, file=self.stream, flush=True)
            self._last = time.monotonic()

    def state(self, **fields):
        """What the page shows (RemoteConsole); a terminal has the lines."""

    def end_live(self):
        if self._live_shown:
            print(file=self.stream, flush=True)
            self._live_shown = False


class Prompt:
    """Wait for the player: a stomp, or Enter on the standard input."""

    def __init__(self, console, footswitches, stdin=None, wait=True):
        self.console, self.footswitches, self.wait_enabled = console, footswitches, wait
        self.stdin = stdin if stdin is not None else sys.stdin

    def wait(self, text):
        if not self.wait_enabled:
            self.console.say(text)
            return
        ways = (["stomp"] if self.footswitches else []) + ["press Enter"]
        self.console.say(f"{text}, then {' or '.join(ways)}")
        self.footswitches.take_press()
        while True:
            if self.footswitches.take_press():
                return
            try:
                ready, _, _ = select.select([self.stdin], [], [], POLL_S)
            except (ValueError, OSError):   # no usable standard input
                ready = []
                if not self.footswitches:
                    raise CaptureError("no footswitch and no terminal to confirm a take: run with --no-wait") from None
                time.sleep(POLL_S)
            if ready:
                if self.stdin.readline() == "" and not self.footswitches:
                    raise CaptureError("the standard input closed while waiting for the player: run with --no-wait")
                return


# --- the session ----------------------------------------------------------------------------

@dataclass
class CaptureOptions:
    out: str = "~/tubeless-captures"
    takes: list = field(default_factory=lambda: [Take()])
    val_seconds: float = 15.0
    playing_seconds: float = 150.0
    seed: int = 0
    wait: bool = True
    level_check: bool = True
    hat_gain_db: object = None       # as the player or the web page set it; None: not known
    dial_max: float = 10.0
    take_retries: int = 0            # a take the stream broke (an xrun, a busy pedal) played again


class Aborted(Exception):
    """The player stopped the capture (a stomp, Ctrl-C): the session unwinds, nothing is kept."""


class CaptureSession:
    """`stream`: DeviceStream or EngineStream; `prompt`: how the player answers (a stomp or
    Enter by default; the pedal's page and footswitches in firmware.pedal.capturing)."""

    def __init__(self, cfg, options, stream, console=None, footswitches=None, stdin=None, prompt=None):
        self.cfg, self.options, self.stream = cfg, options, stream
        a = cfg["audio"]
        self.rate, self.period = int(a["rate"]), int(a["period"])
        self.max_latency = int(MAX_LATENCY_S * self.rate)
        self.console = console or Console()
        self.footswitches = footswitches if footswitches is not None else Footswitches([])
        self.prompt = prompt or Prompt(self.console, self.footswitches, stdin, options.wait)

    # one take, watched from here
    def _play(self, send, label, show):
        with self.stream.take(send, self.max_latency) as take:
            self.footswitches.take_press()
            take.start()
            try:
                while take.running:
                    time.sleep(POLL_S)
                    take.poll()
                    if self.footswitches.take_press():
                        raise Aborted("a stomp")
                    show(take)
            except BaseException:       # an abort, Ctrl-C, anything: the loop ends before its stream closes
                take.stop()
                take.join(5.0)
                raise
            take.join()
        if take.error is not None:
            raise take.error
        return take

    def _live_level(self, take):
        end = take.frames
        window = take.recorded[max(0, end - self.rate // 10):end]
        lv = measure.Levels.of(window)
        self.console.state(phase="level check", peak_db=_db(lv.peak_db), rms_db=_db(lv.rms_db))
        self.console.live(f"level check: input peak {checks._fmt_db(lv.peak_db)} dBFS, "
                          f"RMS {checks._fmt_db(lv.rms_db)} dBFS")

    def level_check(self):
        tone = capture_signal.level_check_tone(sample_rate=self.rate)
        xruns = 0
        while True:
            take = self._play(tone, "level check", self._live_level)
            if take.broken_at is not None:          # cheap to repeat: only a take must be refused
                xruns += 1
                if xruns > LEVEL_CHECK_RETRIES:
                    raise CaptureError("the audio stream dropped a period in every level check (xruns): stop what "
                                       "else runs on the pedal and try again")
                continue
            verdict = checks.level_verdict(tone, take.recorded, self.max_latency)
            lv = verdict.levels
            self.console.state(phase="level checked", peak_db=_db(lv.peak_db), rms_db=_db(lv.rms_db),
                               level_ok=bool(verdict.ok), level_message=verdict.message or "good")
            self.console.say(f"level check: input peak {checks._fmt_db(lv.peak_db)} dBFS, "
                             f"RMS {checks._fmt_db(lv.rms_db)} dBFS" + (f": {verdict.message}" if verdict.message
                                                                         else ": good"))
            if verdict.ok:
                return verdict
            if not self.options.wait:
                raise CaptureError(verdict.message)
            self.prompt.wait("change it, to check again")

    def _progress(self, index, count):
        def show(take):
            done, total = take.frames / self.rate, take.total / self.rate
            self.console.state(phase="capturing", take=index, takes=count, done_s=round(done, 1),
                               total_s=round(total, 1))
            self.console.live(f"take {index}/{count}: {clock_text(done)} of {clock_text(total)}, "
                              f"{clock_text(total - done)} left")
        return show

    def run(self):
        o = self.options
        audio, layout = capture_signal.generate(o.val_seconds, o.playing_seconds, o.seed, self.rate)
        folder = CaptureFolder(o.out, needed_bytes(len(audio) + self.max_latency, len(o.takes)))
        try:
            folder.write_wav("di.wav", audio, self.rate)
            folder.write_layout("di.wav", layout)
            takes = []
            for i, take in enumerate(o.takes, 1):
                if take.knobs:
                    self.console.state(level_ok=None, level_message=None)     # the last take's check is over
                    self.prompt.wait(f"take {i}/{len(o.takes)}: set {take.describe()} on the amp")
                level = self.level_check() if o.level_check else None
                self.console.say(f"take {i}/{len(o.takes)}: capturing {clock_text(len(audio) / self.rate)} "
                                 "(a stomp or Ctrl-C aborts)")
                for attempt in range(o.take_retries + 1):
                    played = self._play(audio, f"take {i}", self._progress(i, len(o.takes)))
                    if played.broken_at is None or attempt == o.take_retries:
                        break
                    self.console.say(f"take {i}/{len(o.takes)}: {played.why or 'an xrun'}: playing it again")
                broke = (played.why or checks.DROPPED) if played.broken_at is not None else None
                self.console.state(phase="checking", take_frames=int(played.frames), take_broken=broke)
                result = checks.check_take(audio, played.recorded, layout, self.rate, self.max_latency,
                                           played.broken_at, why=played.why)
                name = "amp.wav" if len(o.takes) == 1 else f"amp-{i}.wav"
                folder.write_wav(name, result.aligned, self.rate)
                for w in result.warnings:
                    self.console.say(f"warning: {w}")
                self.console.say(f"take {i}/{len(o.takes)}: latency {result.latency} samples "
                                 f"({1000 * result.latency / self.rate:.2f} ms), return peak "
                                 f"{result.levels.peak_db:.1f} dBFS, RMS {result.levels.rms_db:.1f} dBFS")
                takes.append(self._take_json(name, take, result, level))
            stamp = time.time()
            record = self._capture_json(audio, layout, takes, folder_name(stamp))
            folder.write_json("capture.json", record)
            path = folder.commit(stamp)
        except BaseException:
            folder.discard()
            raise
        self.console.say(f"wrote {path}")
        self.console.say("train it: cd " + path + " && " + " ".join(record["fit"]))
        return path

    def _take_json(self, name, take, result, level):
        return {"file": name, "knobs": dict(take.knobs), "positions": dict(take.positions),
                "latency_samples": result.latency, "aligned_by_samples": result.shift,
                "latency_by_blip": result.per_blip, "levels": result.levels.to_json(),
                "level_check": level.levels.to_json() if level is not None else None,
                "validation_copies_esr": None if np.isnan(result.validation_esr) else result.validation_esr}

    def _capture_json(self, audio, layout, takes, name):
        a = self.cfg["audio"]
        model = f"{name}.npz"
        if len(takes) == 1 and not takes[0]["knobs"]:
            fit = ["tubeless-train", "fit", "di.wav", takes[0]["file"], "-o", model]
        else:
            fit = ["tubeless-train", "fit", "di.wav"]
            for t in takes:
                fit += ["--capture", t["file"] + ":" + ",".join(f"{k}={v:g}" for k, v in t["positions"].items())]
            fit += ["-o", model]
        return {"format": CAPTURE_FORMAT, "version": CAPTURE_VERSION,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "sample_rate": self.rate, "period": self.period, "periods": int(a["periods"]),
                "input_channel": int(a["input_channel"]), "hat_input_gain_db": self.options.hat_gain_db,
                "dial_max": self.options.dial_max,
                "signal": {"file": "di.wav", "layout": "di.json", "frames": len(audio),
                           "seconds": round(len(audio) / self.rate, 3), "seed": self.options.seed,
                           "levels": measure.Levels.of(audio).to_json()},
                "takes": takes, "fit": fit}


def _main_thread_priority(rt_priority):
    """Ten below the loop thread, as the engine's command thread: while this thread holds the
    GIL (a progress line), nothing of lower priority may stall it and so the loop."""
    if rt_priority is None:
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(max(1, rt_priority - 10)))
    except (OSError, AttributeError):
        pass


def _db(value):
    """A level for JSON: -inf (silence) as None."""
    return None if not np.isfinite(value) else round(float(value), 1)


def clock_text(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"

"""A capture run by the playing pedal: the page's Capture view, `tubeless ctl capture`, and
`tubeless capture` while the pedal runs (docs/capture.md).

The engine keeps its one duplex stream: while a capture runs it plays the capture signal
instead of the tone chain's output (firmware.capture.enginetake) and the return is its input.
So every take and level check shares one clock, and nothing is stopped, reopened or
reloaded. The session (firmware.capture.session: level check, takes, checks, the folder)
runs in a thread of this process, never in the engine's; the player answers its prompts
with the page's Continue, `ctl capture continue` or a stomp, and aborts with Abort or a
stomp during a take.

The output is muted for the whole capture and stays muted after it: the input is the amp's
return then, and the output goes to the amp, so the pedal playing would feed the amp back
into itself. The player unmutes once the guitar is plugged in again.
"""
import logging
import threading
import time
from collections import deque

from firmware.capture import session
from firmware.capture.enginetake import SETTLE_S
from firmware.core.errors import CaptureError, UserError
from firmware.ipc import shared as sh

log = logging.getLogger(__name__)

MUTE_RAMP_S = 0.1        # the chain's mute has ramped down before the signal takes the output
LINES = 12               # the session's last lines in the status


class _Answers:
    """The player's answers: `continue` at a prompt, `abort` at any time. Stands for the
    session's footswitches (take_press: abort) and its prompt (wait: continue)."""

    def __init__(self, capture):
        self.capture = capture
        self.go = threading.Event()
        self.abort = threading.Event()
        self.why = "aborted"

    # the session's footswitches
    def take_press(self):
        return self.abort.is_set()

    def __bool__(self):
        return True

    def close(self):
        pass

    # the session's prompt
    def wait(self, text):
        self.go.clear()
        self.capture._update(phase="waiting", prompt=text)
        self.capture._say(text)
        while not self.go.wait(0.1):
            if self.abort.is_set():
                raise session.Aborted(self.why)
        self.capture._update(prompt=None)


class _Console:
    """The session's lines and live state, kept for the status (and the log)."""

    def __init__(self, capture):
        self.capture = capture
        self.stream = True

    def say(self, text):
        self.capture._say(text)

    def live(self, text, force=False):
        pass

    def state(self, **fields):
        self.capture._update(**fields)

    def end_live(self):
        pass


class PedalCapture:
    """start(...) -> status; proceed(); abort(); stomp() (a footswitch: True when taken);
    status(); active(); close(). `set_mute(on)` is the pedal's; start() is called from its
    control thread, the session runs in a thread of its own."""

    def __init__(self, cfg, shared, folder, set_mute):
        self.cfg, self.shared, self.folder, self.set_mute = cfg, shared, folder, set_mute
        self._lock = threading.Lock()
        self._thread = None
        self._answers = None
        self._state = {"phase": "idle"}
        self._lines = deque(maxlen=LINES)
        self._said = 0

    # --- the control thread ---------------------------------------------------------------
    def start(self, takes=(), dial_max=10.0, hat_gain_db=None, val_seconds=15.0, playing_seconds=150.0,
              level_check=True, recording=False):
        if self.active():
            raise CaptureError("a capture is running: continue or abort it first")
        if recording:
            raise CaptureError("a recording is running: stop it before capturing")
        if not self.shared.counters[sh.RUNNING]:
            raise CaptureError("the audio is not running: nothing can be captured")
        options = session.CaptureOptions(out=self.folder, takes=session.parse_takes(list(takes), dial_max),
                                         val_seconds=val_seconds, playing_seconds=playing_seconds,
                                         hat_gain_db=hat_gain_db, dial_max=dial_max, take_retries=2,
                                         level_check=level_check)
        self._answers = _Answers(self)
        self._lines.clear()
        self._said = 0
        with self._lock:
            self._state = {"phase": "starting", "takes": len(options.takes), "take": 0, "prompt": None,
                           "started": time.time()}
        self.set_mute(True)
        self._thread = threading.Thread(target=self._run, args=(options, self._answers), name="capture",
                                        daemon=True)
        self._thread.start()
        return self.status()

    def proceed(self):
        if not self.active():
            raise CaptureError("no capture is running")
        self._answers.go.set()
        return self.status()

    def abort(self, why="aborted from the page"):
        if self.active():
            self._answers.why = why
            self._answers.abort.set()
        return self.status()

    def close(self, timeout=5.0):
        self.abort("the pedal stopped")
        if self._thread is not None:
            self._thread.join(timeout)

    # --- any thread -------------------------------------------------------------------------
    def active(self):
        return self._thread is not None and self._thread.is_alive()

    def stomp(self):
        """A footswitch while a capture runs: at a prompt it is Continue, otherwise Abort (as in
        `tubeless capture`). False when no capture runs: the switch does its own job."""
        if not self.active():
            return False
        with self._lock:
            waiting = self._state.get("prompt") is not None
        if waiting:
            self._answers.go.set()
        else:
            self._answers.why = "a stomp"
            self._answers.abort.set()
        return True

    def status(self):
        with self._lock:
            out = dict(self._state)
            out["lines"] = list(self._lines)
            out["said"] = self._said
        out["on"] = self.active()
        return out

    # --- the capture's thread ---------------------------------------------------------------
    def _update(self, **fields):
        with self._lock:
            self._state.update(fields)

    def _say(self, text):
        log.info("capture: %s", text)
        with self._lock:
            self._lines.append(text)
            self._said += 1

    def _run(self, options, answers):
        c = self.shared.counters
        a = self.cfg["audio"]
        result = {}
        try:
            time.sleep(MUTE_RAMP_S)
            c[sh.SEND_END] = c[sh.FRAMES]      # nothing to send yet: silence
            c[sh.SEND_ON] = 1
            time.sleep(SETTLE_S)
            stream = session.EngineStream(self.shared, a["period"], a["rate"])
            run = session.CaptureSession(self.cfg, options, stream, console=_Console(self), footswitches=answers,
                                         prompt=answers)
            path = run.run()
            result = {"phase": "done", "folder": path.rsplit("/", 1)[-1], "path": path}
        except session.Aborted as e:
            result = {"phase": "aborted", "error": f"aborted ({e}): nothing was written"}
        except (CaptureError, UserError) as e:
            result = {"phase": "failed", "error": str(e)}
        except Exception as e:  # noqa: BLE001 - one line for the page; the whole story in the log
            log.exception("capture failed")
            result = {"phase": "failed", "error": f"the capture failed: {type(e).__name__}"}
        finally:
            c[sh.SEND_ON] = 0
            result.update(prompt=None, ended=time.time())
            self._update(**result)
            if result.get("error"):
                self._say(result["error"])

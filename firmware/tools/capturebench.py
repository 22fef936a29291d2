"""Phase 12 of `tubeless bench --realtime`: a capture through the playing pedal for the whole
phase (firmware.pedal.capturing), started as the page starts one: the engine plays the capture
signal instead of its sound and the control process sends it, copies the return and checks
every frame. The bench's device has no amp behind it (its return is silence), so no level
check, and the capture ends refused as silent; what the phase reports is whether the take
itself played whole: every frame sent as meant, no xrun, nothing behind."""
import os
import time

from firmware.pedal.control import request

FIXED_S = 30.5          # the capture signal's parts besides the validation copies and the guitar
VAL_S = 2.0


def capture_phase(what, state, seconds=20.0):
    sock = os.path.join(state if what == "start" else state["work"], "control.sock")
    if what == "start":
        playing = max(1.0, seconds - FIXED_S - 2 * VAL_S)
        reply = request(sock, {"cmd": "capture", "action": "start", "val_seconds": VAL_S,
                               "playing_seconds": playing, "level_check": False})
        return {"work": state, "error": reply.get("error"), "t0": time.monotonic()}
    deadline = time.monotonic() + 60.0
    cap = {}
    while time.monotonic() < deadline:
        cap = request(sock, {"cmd": "capture"}).get("capture") or {}
        if not cap.get("on"):
            break
        time.sleep(0.1)
    else:
        request(sock, {"cmd": "capture", "action": "abort"})
    request(sock, {"cmd": "mute", "on": False})          # the capture leaves the output muted
    state.update(seconds=time.monotonic() - state["t0"], capture=cap)
    return state


def summary(state):
    """The phase's one line about the capture."""
    if state.get("error"):
        return f"the capture did not start: {state['error']}"
    cap = state.get("capture") or {}
    frames = cap.get("take_frames")
    if frames is None:
        return f"the capture never finished a take: {cap.get('phase')}, {cap.get('error')}"
    broken = [line.split(": ", 1)[1].removesuffix(": playing it again") for line in cap.get("lines", [])
              if line.endswith("playing it again")]
    again = f", after {len(broken)} broken tr{'y' if len(broken) == 1 else 'ies'} ({'; '.join(broken)})" if broken else ""
    if cap.get("take_broken"):
        return f"the take BROKE at frame {frames}: {cap['take_broken']}{again}"
    return (f"the take played whole: {frames} frames ({frames / 48000:.1f} s) sent as meant and copied back{again}; "
            f"then, as expected with no amp: {cap.get('error')}")

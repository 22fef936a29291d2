"""Phase 11 of `tubeless bench --realtime`: a recording of what is played running all the
phase long (firmware.pedal.recorder), started and stopped through the control channel as
the page's button does; the phase's report says what the two files hold."""
import json
import os
import time

from firmware.pedal.control import request


def record_phase(what, state):
    sock = os.path.join(state if what == "start" else state["work"], "control.sock")
    if what == "start":
        before = request(sock, {"cmd": "status"})["status"]["frames"]
        reply = request(sock, {"cmd": "record", "on": True})
        after = request(sock, {"cmd": "status"})["status"]["frames"]
        return {"work": state, "name": (reply.get("record") or {}).get("name"), "error": reply.get("error"),
                "t0": time.monotonic(), "played": [before, after]}
    state["seconds"] = time.monotonic() - state["t0"]
    before = request(sock, {"cmd": "status"})["status"]["frames"]
    request(sock, {"cmd": "record", "on": False})
    after = request(sock, {"cmd": "status"})["status"]["frames"]
    # the frames the engine played while it recorded, within the two requests' spans
    state["played"] = [before - state["played"][1], after - state["played"][0]]
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and request(sock, {"cmd": "status"})["status"]["record"]["on"]:
        time.sleep(0.05)
    if state["name"]:
        folder = os.path.join(state["work"], "recordings", state["name"])
        import soundfile as sf
        state["frames"] = [sf.info(os.path.join(folder, f)).frames for f in ("di.wav", "out.wav")]
        with open(os.path.join(folder, "recording.json"), encoding="utf-8") as f:
            state["stopped"] = json.load(f).get("stopped")
    return state


def summary(state):
    """The phase's one line about the recording."""
    if not state.get("name"):
        return f"the recording did not start: {state.get('error')}"
    di, out = state.get("frames", (0, 0))
    same = "the same length" if di == out else f"LENGTHS DIFFER ({di} and {out} frames)"
    lo, hi = state["played"]
    whole = "every frame played" if lo <= di <= hi else f"FRAMES LOST: the engine played {lo}-{hi}"
    why = f", stopped by itself: {state['stopped']}" if state.get("stopped") else ""
    return (f"recorded {di} frames ({di / 48000:.1f} s, {state['seconds']:.1f} s of wall time) into di.wav and "
            f"out.wav, {same}, {whole}{why}")

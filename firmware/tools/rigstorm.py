"""Phase 8 of `tubeless bench --realtime`: the whole rig on while the amp model plays, every
parameter swept and every block switched through the control channel, as a player turning
knobs and stomping on the page or a MIDI board (about 100 changes a second)."""
import os
import threading
import time

from firmware.dsp import rig
from firmware.pedal.control import ControlConnection
from firmware.tools import phasethread

CHANGES_PER_S = 100.0
TOGGLE_EVERY_S = 1.5          # each block goes off and on again, trails and all


def _requests(k, t):
    """The k-th change at time t: the parameters in turn, each on a 3 s triangle over its range
    (the blocks are toggled by the phase's loop)."""
    names = rig.names()
    name = names[k % len(names)]
    _, p = rig.resolve(name)
    phase = (t / 3.0 + k / len(names)) % 2.0
    value = p.lo + (p.hi - p.lo) * (phase if phase < 1.0 else 2.0 - phase)
    return {"cmd": "set", "param": name, "value": round(value, 4)}


def rig_phase(what, state):
    if what == "start":
        st = {"stop": threading.Event(), "sent": 0, "errors": 0, "toggles": 0}

        def run():
            conn = ControlConnection(os.path.join(state, "control.sock"))

            def send(msg):
                reply = conn.request(msg)
                if not reply.get("ok"):
                    st["errors"] += 1
                    st.setdefault("error", f"{msg}: {reply.get('error')}")     # the first, for the report

            try:
                for b in rig.BLOCKS:
                    send({"cmd": "toggle", "block": b.NAME, "on": True})
                t0 = time.monotonic()
                next_toggle = t0 + TOGGLE_EVERY_S
                while not st["stop"].is_set():
                    now = time.monotonic()
                    due = int((now - t0) * CHANGES_PER_S) - st["sent"]
                    for _ in range(max(0, due)):
                        send(_requests(st["sent"], now - t0))
                        st["sent"] += 1
                    if now >= next_toggle:
                        b = rig.BLOCKS[st["toggles"] % len(rig.BLOCKS)]
                        send({"cmd": "toggle", "block": b.NAME, "on": False})
                        send({"cmd": "tap"})
                        time.sleep(0.25)
                        send({"cmd": "toggle", "block": b.NAME, "on": True})
                        send({"cmd": "tap"})
                        st["toggles"] += 1
                        next_toggle += TOGGLE_EVERY_S
                    time.sleep(0.01)
                for b in rig.BLOCKS:           # as the pedal starts: the next phases play without the rig
                    send({"cmd": "toggle", "block": b.NAME, "on": b.DEFAULT_ON})
            finally:
                conn.close()
        return phasethread.start(run, st)
    return phasethread.stop(state)

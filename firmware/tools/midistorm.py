"""Phase 7 of `tubeless bench --realtime`: a storm of MIDI Control Changes through the running
pedal's control socket."""
import json
import os
import socket
import threading
import time

from firmware.ipc import messages
from firmware.tools import phasethread


def storm_phase(what, state, rate=400.0):
    """`tubeless bench --realtime`'s MIDI phase (rtbench's hook for phase 7): `rate` Control Changes a
    second, sweeps of the expression (drive), volume (level), knob2 and gate CCs, sent to
    the running pedal as `midi` control messages every ~20 ms (what arrived since the last
    one), so they go through the pedal's own MIDI thread, mapping and smoothing and
    Pedal.submit. Only the sequencer's read is not exercised: a container has none."""
    if what == "start":
        st = {"stop": threading.Event(), "sent": 0, "replies": 0, "errors": 0}
        cfg = {"cc": [(11, 0, 127), (7, 80, 127), (12, 0, 127), (13, 0, 30)]}   # (CC, low, high)

        def run():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(os.path.join(state, "control.sock"))
            f = s.makefile("rb")
            t0 = time.monotonic()
            try:
                while not st["stop"].is_set():
                    due = int((time.monotonic() - t0) * rate) - st["sent"]
                    if due > 0:
                        events = []
                        for i in range(st["sent"], st["sent"] + min(due, messages.MAX_MIDI_EVENTS)):
                            control, lo, hi = cfg["cc"][i % 4]
                            phase = (i / rate) % 2.0          # a 2 s triangle
                            v = lo + (hi - lo) * (phase if phase < 1 else 2 - phase)
                            events.append({"type": "cc", "control": control, "value": int(round(v))})
                        s.sendall(messages.encode({"cmd": "midi", "events": events}))
                        reply = json.loads(f.readline())
                        st["sent"] += len(events)
                        st["replies"] += 1
                        st["errors"] += 0 if reply.get("ok") else 1
                    time.sleep(0.02)
            finally:
                s.close()
        return phasethread.start(run, st)
    return phasethread.stop(state)

"""The thread a `bench --realtime` phase hook runs its load in (the MIDI storm, the rig's):
started with the phase, stopped and its rate taken when the phase ends."""
import threading
import time


def start(run, st):
    """Run `run()` in a daemon thread; `st` (a dict with a "stop" Event) is the hook's state."""
    st["thread"] = threading.Thread(target=run, daemon=True)
    st["t0"] = time.monotonic()
    st["thread"].start()
    return st


def stop(st):
    """End the phase's thread; st["rate"] becomes what it sent a second."""
    st["stop"].set()
    st["thread"].join(15)
    st["rate"] = st["sent"] / max(1e-9, time.monotonic() - st["t0"])
    return st

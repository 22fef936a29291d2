"""Phase 10 of `tubeless bench --realtime`: an outsider on the network beside the pedal.

`tubeless web` runs beside the bench's pedal as on the Pi (its own process, nice 10, its own
descriptor limit as the unit sets it). While the pedal plays, for the whole phase:

- idle connections: 800 sockets from 40 addresses that never send a byte, opened again as
  the page closes them (the flood that once took the page down for 45 s);
- a login flood: wrong passwords from 20 other addresses, as fast as the page answers them,
  four at a time (the flood that once locked the real player out);
- zip floods: the player's own session uploading, every second, a 30 KB zip that would
  unpack to 18 MB of zeros (members refused against one byte budget before they are written);
- and the player: from 127.0.0.1, the page's status request twice a second, each timed.

The phase passes when the audio has no xruns beyond the device's own and the player's every
request is answered; its log line says how many and the slowest.
"""
import io
import os
import resource
import threading
import time
import zipfile

from firmware.testing.web import Client, free_port, idle_flood, start_web, stop
from firmware.web.auth import write_password

PASSWORD = "bench-password"
IDLE = 800
IDLE_SOURCES = [f"127.0.1.{i}" for i in range(10, 50)]
LOGIN_SOURCES = [f"127.0.2.{i}" for i in range(10, 30)]
PLAYER_EVERY_S = 0.5


def hostile_phase(event, arg):
    """The hook for rtbench.run_realtime: ("start", work folder) -> state; ("stop", state)."""
    if event == "start":
        work = arg
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = IDLE + 200
        if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        write_password(f"{work}/web-password", PASSWORD)
        port = free_port()
        proc = start_web(f"{work}/pedal.toml", f"{work}/web-password", port, f"{work}/web.log", nice=10)
        player, uploader = Client(port, timeout=10), Client(port, timeout=30)
        for c in (player, uploader):
            status, _ = c.login(PASSWORD)
            if status != 200:
                stop(proc)
                raise RuntimeError(f"bench: web login failed ({status})")
        state = {"proc": proc, "port": port, "stop": threading.Event(), "answered": 0, "failed": 0,
                 "slowest_ms": 0.0, "wrong_logins": 0, "zips": 0, "idle_opened": 0, "error": None, "threads": []}
        for target, args in ((_idle, ()), (_player, (player,)), (_zips, (uploader,))) + tuple(
                (_logins, (src,)) for src in LOGIN_SOURCES[:4]):
            t = threading.Thread(target=target, args=(state, *args), daemon=True)
            t.start()
            state["threads"].append(t)
        return state
    state = arg
    state["stop"].set()
    for t in state["threads"]:
        t.join(15)
    stop(state["proc"])
    state.pop("threads")
    state.pop("proc")
    return state


def _idle(state):
    socks = []
    try:
        while not state["stop"].is_set():
            alive = []
            for s in socks:             # the page closes idle ones after its timeout: open them again
                try:
                    if s.recv(1) == b"":
                        s.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            socks = alive
            try:
                fresh = idle_flood(state["port"], IDLE - len(socks), IDLE_SOURCES)
            except OSError as e:        # out of descriptors here: hold what is open
                state["error"] = state["error"] or f"idle flood: {e}"
                fresh = []
            socks += fresh
            state["idle_opened"] += len(fresh)
            state["stop"].wait(1.0)
    finally:
        for s in socks:
            s.close()


def _logins(state, source):
    c = Client(state["port"], source=source, timeout=10)
    k = 0
    while not state["stop"].is_set():
        try:
            c.request("POST", "/api/login", {"password": f"guess-{k}"}, csrf=False)
            state["wrong_logins"] += 1
        except OSError:
            state["stop"].wait(0.05)
        k += 1


def _bomb():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(20):
            z.writestr(f"bomb{i:02d}.nam", bytes(900 << 10))
    return buf.getvalue()


def _zips(state, client):
    data = _bomb()
    k = 0
    while not state["stop"].is_set():
        t0 = time.monotonic()
        try:
            client.upload([(f"flood{k:03d}.zip", data)])
            state["zips"] += 1
        except OSError:
            pass
        k += 1
        state["stop"].wait(max(0.0, 1.0 - (time.monotonic() - t0)))


def _player(state, client):
    while not state["stop"].is_set():
        t0 = time.monotonic()
        try:
            status, _, _ = client.get("/api/session")
            ok = status == 200
        except OSError:
            ok = False
        ms = 1000 * (time.monotonic() - t0)
        state["answered" if ok else "failed"] += 1
        state["slowest_ms"] = max(state["slowest_ms"], ms)
        state["stop"].wait(max(0.0, PLAYER_EVERY_S - ms / 1000))


def summary(state):
    return (f"the page answered {state['answered']} of {state['answered'] + state['failed']} of the player's "
            f"requests, the slowest in {state['slowest_ms']:.0f} ms, beside {state['idle_opened']} idle connections "
            f"opened, {state['wrong_logins']} wrong logins and {state['zips']} zip floods"
            + (f"; {state['error']}" if state.get("error") else ""))

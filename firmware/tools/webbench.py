"""Phase 6 of `tubeless bench --realtime`: the web page open and uploading.

`tubeless web` runs beside the bench's pedal as it does on the Pi (its own process, nice 10);
a client logs in, keeps the live stream open (status twice a second, the library every 2 s:
what an open page costs) and uploads a model through the page every second (a copy of one
in the bench's library under a new name, which the librarian then checks)."""
import os
import threading
import time

from firmware.testing.web import Client, free_port, start_web, stop
from firmware.web.auth import write_password

PASSWORD = "bench-password"


def web_phase(event, arg):
    """The hook for rtbench.run_realtime: ("start", work folder) -> state; ("stop", state)."""
    if event == "start":
        work = arg
        write_password(f"{work}/web-password", PASSWORD)
        port = free_port()
        proc = start_web(f"{work}/pedal.toml", f"{work}/web-password", port, f"{work}/web.log", nice=10)
        client = Client(port)
        status, _ = client.login(PASSWORD)
        if status != 200:
            stop(proc)
            raise RuntimeError(f"bench: web login failed ({status})")
        state = {"proc": proc, "stop": threading.Event(), "uploads": 0, "events": 0, "errors": 0}
        models = f"{work}/models"
        sources = sorted(n for n in os.listdir(models) if n.endswith((".nam", ".json")) and not n.startswith("web"))
        threading.Thread(target=_stream, args=(client, state), daemon=True).start()
        threading.Thread(target=_uploads, args=(client, models, sources, state), daemon=True).start()
        return state
    state = arg
    state["stop"].set()
    time.sleep(0.3)
    stop(state["proc"])
    return state


def _stream(client, state):
    import http.client
    conn = http.client.HTTPConnection(client.host, client.port, timeout=5)
    try:
        conn.request("GET", "/api/events", headers={"Cookie": client.cookie})
        r = conn.getresponse()
        while not state["stop"].is_set():
            line = r.readline()
            if not line:
                break
            state["events"] += line.startswith(b"event:")
    except OSError:
        state["errors"] += 1
    finally:
        conn.close()


def _uploads(client, models, sources, state):
    k = 0
    while not state["stop"].is_set() and sources:
        t0 = time.monotonic()
        src = sources[k % len(sources)]
        with open(os.path.join(models, src), "rb") as f:
            data = f.read()
        try:
            status, _, _ = client.upload([(f"web{k:03d}{os.path.splitext(src)[1]}", data)])
            state["uploads"] += status == 200
            state["errors"] += status != 200
        except OSError:
            state["errors"] += 1
        k += 1
        state["stop"].wait(max(0.0, 1.0 - (time.monotonic() - t0)))

"""A player with a big library (issue 27): thousands of models in the folder, many pages open.

- The librarian's list travels as one generation in pages, none near the message limit
  whatever the count or the names, and the pedal takes a generation only whole.
- A scan that fails reaches the page and `ctl models` as one line, instead of uploads
  staying "checking" forever.
- `models` is a page of the library, searched on the pedal's side, bounded in bytes.
- Against the real processes (`tubeless run` on a JACK dummy device, its librarian, `tubeless
  web`) with 2,000 models: list, search, play, upload one more, each answered within a
  second; bursts of control connections and 50 open pages never see "not running".
"""
import json
import os
import random
import socket
import threading
import time

import pytest
from helpers import start_pedal_process, wait_status, write_pedal_config

from firmware.core.errors import MessageError
from firmware.ipc import messages
from firmware.ipc.lines import LineReader
from firmware.librarian.librarian import Librarian
from firmware.pedal.control import ControlConnection, all_models, request
from firmware.pedal.links import LocalLibrarian
from firmware.testing.models import make_model, write_model

BIG = 2000


def long_entry(i):
    """A library entry as long as the librarian may make one: a 255-byte file name, a
    200-character model name, both outside ASCII (each character escaped in the JSON)."""
    file = f"{i:05d}-" + "ü" * 121 + ".npz"                     # 6 + 242 + 4 = 252 bytes
    return {"path": "/srv/tubeless/models/" + file, "file": file, "stamp": [1234, 1700000000000000000, i, None],
            "model": f"/var/cache/tubeless/models/{i:032x}.npz", "ir": None, "ir_file": None,
            "name": "Ампер " * 33 + "x" * 2, "architecture": "WaveNet", "sample_rate": 48000, "num_knobs": 0,
            "format": "nam", "bytes": 300000, "sizes": None, "size": None}


# --- the librarian's list, in pages -----------------------------------------------------
def test_no_library_message_nears_the_limit_whatever_the_count():
    entries = [long_entry(i) for i in range(BIG)]
    lines = [messages.encode(m) for m in messages.library_pages(7, entries, "/cache/ir.npy")]
    assert max(len(line) for line in lines) <= messages.PAGE_BYTES + 200 < messages.MAX_LINE // 2
    # through the pipe's reader in odd chunks, then put together: the same list, once
    data = b"".join(lines)
    reader, assembler, out = LineReader(), messages.LibraryAssembler(), []
    for k in range(0, len(data), 4093):
        for msg in reader.feed(data[k:k + 4093]):
            got = assembler.feed(msg)
            if got is not None:
                out.append(got)
    assert len(out) == 1 and out[0]["ev"] == "library" and out[0]["generation"] == 7
    assert out[0]["entries"] == entries and out[0]["global_ir"] == "/cache/ir.npy"


def test_an_entry_longer_than_its_limit_is_refused_not_sent():
    e = long_entry(0) | {"name": "x" * messages.ENTRY_BYTES}
    with pytest.raises(MessageError):
        list(messages.library_pages(1, [e], None))


def test_the_pedal_takes_a_generation_only_whole():
    entries = [long_entry(i) for i in range(300)]
    first = list(messages.library_pages(1, entries, None))
    second = list(messages.library_pages(2, entries[:10], None))
    a = messages.LibraryAssembler()
    # a librarian that died half-way through its list, then a new one: only the new list
    out = [a.feed(m) for m in first[:3] + second]
    done = [m for m in out if m is not None]
    assert [(m["ev"], len(m["entries"])) for m in done] == [("library", 10)]
    # a list whose pages do not add up to its count: one error, and nothing taken
    a = messages.LibraryAssembler()
    broken = first[:1] + first[2:]                     # a page lost
    out = [m for m in (a.feed(m) for m in broken) if m is not None]
    assert [m["ev"] for m in out] == ["scan_failed"] and "keeps its list" in out[0]["error"]
    # more entries than any library may hold: refused at its begin, its pages ignored
    a = messages.LibraryAssembler(max_entries=100)
    out = [m for m in (a.feed(m) for m in first) if m is not None]
    assert [m["ev"] for m in out] == ["scan_failed"]


def test_a_librarian_with_hundreds_of_long_named_models_reaches_the_pedal(tmp_path):
    """The issue's failure: at about 140 models the one library message passed 64 KiB and
    never arrived. Here through the real encoding and line reader of the pipe."""
    d = tmp_path / "models"
    d.mkdir()
    for i in range(400):
        write_model(d / f"{i:04d}-{'ö' * 100}.npz", arch="Linear", taps=4, seed=i, name=f"{i:04d} " + "Ж" * 190)
    lib = Librarian(d, tmp_path / "cache")
    link = LocalLibrarian(lib)
    queued = link._events                  # what the link reads: each message as the pipe carries it
    lib.emit = lambda m: queued.extend(LineReader().feed(messages.encode(m)))
    link.poll(0.0)
    libs = [m for m in link.events() if m.get("ev") == "library"]
    assert len(libs) >= 1 and len(libs[-1]["entries"]) == 400
    assert [e["file"] for e in libs[-1]["entries"]] == sorted(os.listdir(d))


def test_a_file_whose_entry_would_not_fit_is_refused_in_one_line(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a.npz", arch="Linear", taps=4, seed=1, name="A")
    write_model(d / "huge.npz", arch="Linear", taps=4, seed=2, name="H")
    events = []
    lib = Librarian(d, tmp_path / "cache", emit=events.append)
    real = lib.loader
    # a converter that makes a name no file format allows: the librarian's own guard holds
    lib.loader = lambda p: make_model("Linear", taps=4, name="n" * 20000) if p.endswith("huge.npz") else real(p)
    entries = lib.scan(settle=False)
    assert [e["file"] for e in entries] == ["a.npz"]
    refused = [e for e in events if e.get("ev") == "rejected"]
    assert len(refused) == 1 and refused[0]["path"].endswith("huge.npz") and "byte limit" in refused[0]["error"]
    assert "\n" not in refused[0]["error"]


# --- a scan that fails, on the page -------------------------------------------------------
def test_a_failed_scan_is_one_line_for_ctl_and_the_page_and_keeps_the_list(small_pedal, tmp_path, monkeypatch):
    pedal, engine, cfg = small_pedal("AB")
    lib = pedal.librarian.librarian
    before = pedal.handle({"cmd": "models", "limit": 0})["revision"]
    write_model(os.path.join(cfg["models"]["directory"], "new.npz"), arch="Linear", taps=4, seed=9, name="N")

    def broken():
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(lib.library, "_listing", broken)
    pedal.librarian.poll(10.0)
    pedal.tick()
    reply = pedal.handle({"cmd": "models"})
    assert reply["ok"] and [m["file"] for m in reply["models"]] == ["a.npz", "b.npz"]     # the list stays
    assert "could not be scanned" in reply["library_error"] and "Input/output error" in reply["library_error"]
    # the upload the page is waiting for: refused with that line, not "checking" forever
    assert {"file": "new.npz", "error": "not checked: " + reply["library_error"]} in reply["rejected"]
    assert reply["revision"] != before                 # a page that keeps the list fetches it again
    # the next good scan clears it and the file comes in
    monkeypatch.undo()
    for t in (20.0, 30.0):
        pedal.librarian.poll(t)
    pedal.tick()
    reply = pedal.handle({"cmd": "models"})
    assert reply["library_error"] is None and [m["file"] for m in reply["models"]] == ["a.npz", "b.npz", "new.npz"]
    assert not reply["rejected"]


# --- `models`: a page, searched on the pedal's side ---------------------------------------
def test_models_pages_are_bounded_and_cover_the_library_once(small_pedal):
    pedal, engine, cfg = small_pedal("A")
    entries = [long_entry(i) for i in range(BIG)]
    pedal._on_library({"ev": "library", "entries": entries, "global_ir": None})
    got, offset, sizes = [], 0, []
    while offset is not None:
        reply = pedal.handle({"cmd": "models", "offset": offset})
        sizes.append(len(messages.encode(reply)))
        got += reply["models"]
        offset = reply["next"]
    assert [m["file"] for m in got] == [e["file"] for e in entries]
    assert [m["index"] for m in got] == list(range(1, BIG + 1))
    assert max(sizes) < messages.MAX_LINE and len(sizes) > 1
    assert "path" not in got[0] and "model" not in got[0]          # no server paths
    # a search: the pedal's own filter, any case, with each model's place in the whole list
    reply = pedal.handle({"cmd": "models", "search": "01999-Ü", "limit": 10})
    assert [m["index"] for m in reply["models"]] == [2000] and reply["total"] == 1 and reply["count"] == BIG
    reply = pedal.handle({"cmd": "models", "search": "000", "offset": 5, "limit": 3})
    want = [i + 1 for i, e in enumerate(entries) if "000" in f"{e['name']} {e['file']} {e['architecture']}".lower()]
    assert [m["index"] for m in reply["models"]] == want[5:8] and reply["total"] == len(want)
    assert reply["next"] == 8
    head = pedal.handle({"cmd": "models", "limit": 0})
    assert head["models"] == [] and head["total"] == BIG
    assert pedal.handle({"cmd": "models", "limit": 5000})["ok"] is False


def test_ctl_models_lists_every_page(small_pedal, tmp_path):
    """`ctl models` against a control socket whose library is larger than any one reply."""
    from firmware.pedal.control import ControlServer
    pedal, engine, cfg = small_pedal("A")
    pedal._on_library({"ev": "library", "entries": [long_entry(i) for i in range(500)], "global_ir": None})
    server = ControlServer(str(tmp_path / "ctl.sock"), pedal).start()
    stop = threading.Event()

    def control_thread():                  # what Pedal.control_loop does, faster
        while not stop.wait(0.005):
            pedal.tick()
    ticker = threading.Thread(target=control_thread)
    ticker.start()
    try:
        with ControlConnection(server.path) as conn:
            found, last = all_models(conn)
        assert len(found) == 500 and last["next"] is None
        from helpers import run_tubeless
        out = run_tubeless("ctl", "models", "00499", "--socket", server.path)
        assert out.returncode == 0, out.stderr
        assert " 500  " in out.stdout and "1 of 500 models match" in out.stdout
    finally:
        stop.set()
        ticker.join()
        server.close()


def test_the_control_loop_answers_each_request_as_it_comes_not_at_its_next_tick(small_pedal):
    """A client paging through a big library sends a request per page: each one waited for
    the loop's next tick (20 ms: 2.5 s for 100 pages). With a tick of a minute here, every
    page is answered at once, housekeeping still runs only on its ticks, and stop() ends
    the loop at once."""
    pedal, engine, cfg = small_pedal("A")
    pedal._on_library({"ev": "library", "entries": [long_entry(i) for i in range(500)], "global_ir": None})
    ticks = []
    tick = pedal.tick
    pedal.tick = lambda *a, **k: (ticks.append(1), tick(*a, **k))[1]
    loop = threading.Thread(target=pedal.control_loop, kwargs={"period_s": 60.0})
    loop.start()
    try:
        found, offset, pages = [], 0, 0
        while offset is not None:
            reply = pedal.submit({"cmd": "models", "offset": offset}).wait(timeout=10.0)
            assert reply["ok"], reply
            found += reply["models"]
            offset, pages = reply["next"], pages + 1
        assert len(found) == 500 and pages > 10
        assert ticks == []                        # answered between the ticks, none run early
    finally:
        pedal.stop()
        loop.join(timeout=10.0)
    assert not loop.is_alive()


# --- the real processes, 2,000 models ------------------------------------------------------
def _jack_env(folder):
    from firmware.tools.rtbench import jack_alsa_conf, jack_available
    if not jack_available():
        pytest.skip("needs jackd and ALSA's jack plugin (apt-get install jackd2 libasound2-plugins)")
    name = f"tubeless-scale{os.getpid()}"
    conf = folder / "jack.conf"
    conf.write_text(jack_alsa_conf("tubeless_jack"))
    return name, {"JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1",
                  "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"}


@pytest.fixture(scope="module")
def big_pedal(tmp_path_factory):
    """jackd (dummy) -> `tubeless run` with 2,000 small models (its librarian converts them)
    -> `tubeless web`. Yields {"sock", "models", "port", "client", "cfg"}."""
    import subprocess

    from firmware.testing.web import Client, free_port, start_web, stop
    from firmware.web import auth
    pytest.importorskip("aiohttp")
    pytest.importorskip("alsaaudio")
    folder = tmp_path_factory.mktemp("big")
    name, env = _jack_env(folder)
    mp = pytest.MonkeyPatch()
    procs, jack = [], None
    try:
        for k, v in env.items():
            mp.setenv(k, v)
        jack = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "48000", "-p", "64"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from firmware.tools.rtbench import wait_for_jack
        if not wait_for_jack(name, jack):
            pytest.skip("jackd did not start")
        models = folder / "models"
        models.mkdir()
        for i in range(BIG):
            long = "-" + "ü" * 100 if i % 10 == 0 else ""
            write_model(models / f"m{i:04d}{long}.npz", arch="Linear", taps=4, seed=i,
                        name=f"Capture {i:04d}" + (" Ж" * 90 if long else ""))
        cfg = write_pedal_config(folder, models, "tubeless_jack", status_file="")
        procs.append(start_pedal_process(cfg, folder / "pedal.log"))
        wait_status(folder / "ctl.sock", lambda s: s["models"] == BIG and s["frames"] > 4800, timeout=900,
                    proc=procs[0], log=folder / "pedal.log")
        pw = folder / "password"
        auth.write_password(str(pw), "a-big-library")
        port = free_port()
        procs.append(start_web(cfg, pw, port, folder / "web.log"))
        client = Client(port)
        assert client.login("a-big-library")[0] == 200
        yield {"sock": str(folder / "ctl.sock"), "models": models, "port": port, "client": client, "folder": folder}
    finally:
        for p in reversed(procs):
            stop(p)
        if jack is not None:
            jack.terminate()
            jack.wait(10)
        mp.undo()


def test_2000_models_list_search_and_play_within_a_second(big_pedal):
    sock = big_pedal["sock"]
    t = time.monotonic()
    with ControlConnection(sock) as conn:
        found, last = all_models(conn)
    took = time.monotonic() - t
    assert len(found) == BIG and [m["index"] for m in found] == list(range(1, BIG + 1))
    assert took < 1.0, f"listing {BIG} models took {took:.2f} s"
    assert sorted(m["file"] for m in found) == sorted(os.listdir(big_pedal["models"]))
    t = time.monotonic()
    reply = request(sock, {"cmd": "models", "search": "capture 1234"})
    assert time.monotonic() - t < 1.0 and [m["file"] for m in reply["models"]] == ["m1234.npz"]
    reply = request(sock, {"cmd": "select", "name": "m1999"})
    assert reply["ok"] and reply["selected"]["file"] == "m1999.npz"
    wait_status(sock, lambda s: s["model_file"] == "m1999.npz", timeout=30)
    # the page: the whole list, and its search
    client = big_pedal["client"]
    t = time.monotonic()
    status, data, _ = client.get("/api/models")
    took = time.monotonic() - t
    assert status == 200 and len(data["models"]) == BIG and took < 1.0, (status, took)
    assert next(m for m in data["models"] if m["playing"])["file"] == "m1999.npz"
    status, data, _ = client.get("/api/models?search=CAPTURE%200007")
    assert status == 200 and [m["file"] for m in data["models"]] == ["m0007.npz"]


def test_2000_models_and_one_more_upload(big_pedal):
    client = big_pedal["client"]
    path = big_pedal["folder"] / "extra.npz"
    write_model(path, arch="Linear", taps=4, seed=77, name="The one more")
    status, data, _ = client.upload([("zz-one-more.npz", path.read_bytes())])
    assert status == 200 and data["results"][0]["status"] == "checking", data
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, data, _ = client.get("/api/models")
        if status == 200 and any(m["file"] == "zz-one-more.npz" for m in data["models"]):
            break
        time.sleep(0.2)
    assert status == 200 and len(data["models"]) == BIG + 1 and data["models"][-1]["name"] == "The one more"
    assert data["library_error"] is None


def test_bursts_of_control_connections_are_all_answered(big_pedal):
    """A connection per request from many clients at once: what the page did, what `ctl` in
    a loop does. The listen backlog of 5 refused 28 of 100 of these."""
    sock, failures, done = big_pedal["sock"], [], []

    def client():
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)                   # as asyncio connects: a full backlog refuses at once
            try:
                s.connect(sock)
                s.setblocking(True)
                s.settimeout(10)
                s.sendall(b'{"cmd": "status"}\n')
                line = s.makefile("rb").readline()
                done.append(json.loads(line)["ok"])
            except OSError as e:
                failures.append(repr(e))
            finally:
                s.close()

    start = threading.Barrier(50 + 1)
    threads = [threading.Thread(target=lambda: (start.wait(), client())) for _ in range(50)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join(60)
    assert not failures, f"{len(failures)} of 200 refused: {failures[:3]}"
    assert done == [True] * 200


def test_fifty_open_pages_never_see_the_pedal_down(big_pedal):
    """50 pages' live streams and their library requests at once, for four seconds: not one
    "down" event, not one refused request."""
    import http.client
    port, cookie = big_pedal["port"], big_pedal["client"].cookie
    events, errors = [], []

    def page(k):
        # ten phones' addresses, five pages each (the page's own guard allows 32 per address)
        source = (f"127.0.0.{2 + k % 10}", 0)
        seen = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=source)
        try:
            conn.request("GET", "/api/events", headers={"Cookie": cookie})
            r = conn.getresponse()
            end = time.monotonic() + 4.0
            while time.monotonic() < end:
                line = r.fp.readline()
                if not line:
                    break
                if line.startswith(b"event: "):
                    seen.append(line[7:].strip().decode())
            events.append(seen)
            if k % 5 == 0:
                c2 = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=source)
                c2.request("GET", "/api/models", headers={"Cookie": cookie})
                r2 = c2.getresponse()
                body = json.loads(r2.read())
                if r2.status != 200 or len(body["models"]) < BIG:
                    errors.append((r2.status, body.get("error")))
                c2.close()
        except OSError as e:
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=page, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors[:3]
    assert len(events) == 50
    for seen in events:
        assert seen.count("status") >= 2 and "down" not in seen, seen


def test_a_full_page_of_random_searches_stays_bounded(big_pedal):
    rng = random.Random(27)
    with ControlConnection(big_pedal["sock"]) as conn:
        for _ in range(20):
            q = rng.choice(["", "capture", "ü" * rng.randint(1, 50), "0", "zz", "Ж Ж", "linear"])
            reply = conn.request({"cmd": "models", "search": q, "offset": rng.randint(0, 2100)})
            assert reply["ok"] and len(messages.encode(reply)) < messages.MAX_LINE

"""The web page against anyone on the network without the password (issue 27): idle and
slow connections, login floods, zips that unpack or list too much, hostile names, and the
security headers on every response. `tubeless web` runs as a process on 127.0.0.1; the
"others on the network" connect from 127.0.0.2 and up (all of 127/8 is loopback on
Linux), the player from 127.0.0.1. Limits are small where the test sets them (the upload
size, the process's descriptor limit), so nothing here needs big files; each test is
bounded in time."""
import asyncio
import contextlib
import http.client
import io
import os
import resource
import socket
import struct
import threading
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
from firmware.testing.web import Client, free_port, idle_flood, start_web, stop  # noqa: E402
from firmware.web import auth, connections, files  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


class Web:
    def __init__(self, proc, port, models, log, password_file):
        self.proc, self.port, self.models, self.log, self.password_file = proc, port, models, log, password_file

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def proc_field(self, name, where="status"):
        with open(f"/proc/{self.proc.pid}/{where}") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        raise KeyError(name)

    def log_text(self):
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def nofile_for_children(limit):
    """The soft descriptor limit `limit` for processes started inside (they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def web_page(tmp_path, max_upload_mb=1, nofile=None, password_hash=None):
    models = tmp_path / "models"
    models.mkdir()
    cfg = tmp_path / "pedal.toml"
    cfg.write_text(f'[models]\ndirectory = "{models}"\n[control]\nsocket = "{tmp_path}/none.sock"\n'
                   f'[web]\nmax_upload_mb = {max_upload_mb}\n')
    pw = tmp_path / "password"
    auth.write_password(str(pw), PASSWORD)
    if password_hash is not None:
        pw.write_text(password_hash + "\n")
    port = free_port()
    log = tmp_path / "web.log"
    with nofile_for_children(nofile):
        proc = start_web(cfg, pw, port, log)
    try:
        yield Web(proc, port, models, log, pw)
    finally:
        stop(proc)


@pytest.fixture
def web(tmp_path):
    with web_page(tmp_path) as w:
        yield w


def need_descriptors(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            pytest.skip(f"needs {n} file descriptors here (hard limit {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def request_from(source, port, method, path, body=None, headers=None, timeout=20):
    """One request from the address `source`: (status, parsed JSON or None, headers)."""
    return Client(port, source=source, timeout=timeout).request(method, path, body, headers, csrf=False)


def the_player_gets_in(port, within_s=10.0):
    """The player, from 127.0.0.1, logs in and loads the page within `within_s`."""
    t0 = time.monotonic()
    status, data, headers = request_from("127.0.0.1", port, "POST", "/api/login", {"password": PASSWORD},
                                         timeout=within_s)
    assert status == 200, data
    cookie = {"Cookie": headers["Set-Cookie"].split(";")[0]}
    assert request_from("127.0.0.1", port, "GET", "/api/session", headers=cookie, timeout=within_s)[0] == 200
    assert request_from("127.0.0.1", port, "GET", "/", timeout=within_s)[0] == 200
    took = time.monotonic() - t0
    assert took < within_s, f"the page took {took:.1f} s to answer"


# --- connections ------------------------------------------------------------------------------
def test_idle_connections_from_one_address_leave_the_page_answering(tmp_path):
    """1,100 connections that send nothing, twice the process's descriptors: the page still
    answers, the process holds a bounded number of them, and the log stays quiet."""
    need_descriptors(1400)
    with web_page(tmp_path, nofile=512) as w:
        cap = connections.connection_cap(512)
        socks = idle_flood(w.port, 1100, ["127.0.0.2"])
        try:
            time.sleep(1.5)
            the_player_gets_in(w.port)
            assert w.fds() < cap + 40, (w.fds(), cap)
        finally:
            for s in socks:
                s.close()
        text = w.log_text()
        assert "out of system resource" not in text and "Traceback" not in text
        assert len(text) < 20_000


def test_idle_connections_from_many_addresses_leave_the_page_answering(tmp_path):
    """The same from 40 addresses, each below its own share: the cap holds all together, the
    addresses holding the most give theirs up, the player's connection is not one of them."""
    need_descriptors(1500)
    with web_page(tmp_path, nofile=512) as w:
        socks = idle_flood(w.port, 1200, [f"127.0.0.{i}" for i in range(10, 50)])
        try:
            time.sleep(1.5)
            the_player_gets_in(w.port)
            assert w.fds() < connections.connection_cap(512) + 40
        finally:
            for s in socks:
                s.close()


def test_descriptors_running_out_anyway_is_one_log_line_not_hundreds(tmp_path):
    """With too few descriptors for even one accept burst, asyncio runs out while accepting
    and logs it for every connection in the backlog, every retry: one line per 10 s here,
    and the page comes back."""
    need_descriptors(800)
    with web_page(tmp_path, nofile=64) as w:
        socks = idle_flood(w.port, 500, ["127.0.0.2"])
        try:
            time.sleep(3.0)
            text = w.log_text()
            lines = [ln for ln in text.splitlines() if "out of system resource" in ln or "cannot accept" in ln]
            assert len(lines) <= 2, f"{len(lines)} lines, {len(text)} bytes of log"
            assert "Traceback" not in text
        finally:
            for s in socks:
                s.close()
        the_player_gets_in(w.port)


def test_connections_that_send_nothing_or_too_slowly_are_closed(web):
    """Idle, a request head sent a byte a second, a login body that never ends: each closed
    (or answered) within about HEADER_S / the body's limit, while the player's page answers."""
    idle = socket.create_connection(("127.0.0.1", web.port), timeout=30, source_address=("127.0.0.2", 0))
    slow = socket.create_connection(("127.0.0.1", web.port), timeout=30, source_address=("127.0.0.3", 0))
    body = socket.create_connection(("127.0.0.1", web.port), timeout=30, source_address=("127.0.0.4", 0))
    body.sendall(b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"password\": \"")
    t0 = time.monotonic()
    head = b"GET /api/session HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100      # never ends
    closed, sent = {}, 0
    while len(closed) < 3 and time.monotonic() - t0 < 16:
        for name, s in (("idle", idle), ("slow", slow), ("body", body)):
            if name in closed:
                continue
            s.settimeout(0.05)
            try:
                got = s.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                got = b""
            closed[name] = (time.monotonic() - t0, got[:40])
        if "slow" not in closed and time.monotonic() - t0 >= sent:      # a byte a second
            with contextlib.suppress(OSError):
                slow.send(head[sent:sent + 1])
            sent += 1
        time.sleep(0.2)
    for s in (idle, slow, body):
        s.close()
    assert set(closed) == {"idle", "slow", "body"}, closed
    assert closed["idle"][0] < connections.HEADER_S + 3 and closed["slow"][0] < connections.HEADER_S + 3
    assert closed["idle"][1] == b"" and closed["slow"][1] == b""
    assert closed["body"][1].startswith(b"HTTP/1.1 400"), closed["body"]
    the_player_gets_in(web.port)


class FakeTransport:
    def __init__(self, addr):
        self.addr, self.closed = addr, None

    def get_extra_info(self, key):
        return (self.addr, 40000) if key == "peername" else None

    def get_write_buffer_size(self):
        return 0

    def close(self):
        self.closed = "closed"

    def abort(self):
        self.closed = "aborted"


def test_guard_evicts_the_floods_own_and_never_a_running_request():
    now = [0.0]
    g = connections.ConnectionGuard(cap=5, per_address=2, clock=lambda: now[0])

    def conn(addr):
        t = FakeTransport(addr)
        now[0] += 0.01
        return t, g.opened(t)

    a1, a2 = conn("A")[0], conn("A")[0]
    b1 = conn("B")[0]
    a3, ok = conn("A")                       # over A's share: A's longest idle goes
    assert ok and a1.closed and not a2.closed and not b1.closed
    c1, d1 = conn("C")[0], conn("D")[0]      # 5: the cap
    e1, ok = conn("E")                       # over the cap: the address holding the most (A) gives one up
    assert ok and a2.closed and not any(t.closed for t in (a3, b1, c1, d1))
    g.request_started(b1)                    # running requests stay
    g.request_started(c1)
    g.request_started(d1)
    g.request_started(e1)
    g.request_started(a3)
    _, ok = conn("F")                        # nothing idle to give up: the new one is refused
    assert not ok and not any(t.closed for t in (a3, b1, c1, d1, e1)) and len(g) == 5
    g.request_ended(a3)
    now[0] += connections.HEADER_S + 1
    g.sweep()                                # a3 has been served: its idle time is IDLE_S
    assert not a3.closed and not b1.closed
    now[0] += connections.IDLE_S
    g.sweep()
    assert a3.closed and not b1.closed       # b1 still runs its request (a live stream, an upload)
    g.request_ended(b1)
    g.closed(c1)
    new, ok = conn("G")
    now[0] += connections.HEADER_S + 0.5
    g.sweep()
    assert ok and new.closed                 # no request head in HEADER_S
    assert g.counts["evicted"] == 2 and g.counts["refused"] == 1


def test_unit_gives_the_page_its_full_connection_cap():
    unit = (ROOT / "systemd" / "tubeless-web.service").read_text()
    lines = dict(ln.split("=", 1) for ln in unit.splitlines() if "=" in ln and not ln.startswith("#"))
    assert connections.connection_cap(int(lines["LimitNOFILE"])) == connections.MAX_CONNECTIONS


# --- logins -----------------------------------------------------------------------------------
def test_concurrent_wrong_passwords_are_counted_before_they_are_checked(web):
    """100 wrong passwords at once from one address: only the free ones are checked, the
    rest are turned away before their scrypt runs."""
    n, statuses = 100, []
    barrier = threading.Barrier(n)

    def guess():
        barrier.wait()
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=60)
        try:
            conn.request("POST", "/api/login", body=b'{"password": "wrong-password"}',
                         headers={"Content-Type": "application/json"})
            statuses.append(conn.getresponse().status)
        except (OSError, http.client.HTTPException):
            statuses.append("dropped")           # beyond the address's share of connections
        finally:
            conn.close()

    threads = [threading.Thread(target=guess) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(statuses) == n
    assert statuses.count(403) <= auth.LoginLimiter.FREE, sorted(statuses)
    assert set(statuses) <= {403, 429, 503, "dropped"} and 429 in statuses, statuses


def test_others_wrong_passwords_do_not_lock_out_the_player(web):
    """Wrong guesses from 35 other addresses, past the global limit: the player (an address
    with no failures) still logs in; an address that has failed waits."""
    for i in range(35):
        status, _, _ = request_from(f"127.0.0.{10 + i}", web.port, "POST", "/api/login", {"password": f"guess-{i}"})
        assert status == 403
    status, data, _ = request_from("127.0.0.1", web.port, "POST", "/api/login", {"password": PASSWORD})
    assert status == 200, data
    status, data, _ = request_from("127.0.0.10", web.port, "POST", "/api/login", {"password": PASSWORD})
    assert status == 429 and "try again" in data["error"]


def test_limiter_global_cap_spares_addresses_that_did_not_fail():
    now = [0.0]
    lim = auth.LoginLimiter(clock=lambda: now[0])
    assert lim.begin("x") == 0 and lim.begin("x") == 0 and lim.begin("x") == 0   # each counted at once
    assert lim.wait_s("x") == 0 and lim._fails["x"][0] == 3
    for i in range(lim.GLOBAL):
        assert lim.begin(f"10.0.0.{i}") == 0
        lim.done(f"10.0.0.{i}", False)
    assert lim.wait_s("10.0.0.1") > 50          # failed: waits for the minute
    assert lim.begin("player") == 0             # never failed: tries
    lim.done("player", True)
    assert lim.wait_s("player") == 0
    now[0] += 61
    assert lim.wait_s("10.0.0.1") == 0


def test_password_change_checks_off_the_event_loop_and_rate_limited(tmp_path):
    """/api/password: its scrypt runs beside the event loop (a slow hash here: the page
    answers meanwhile), a few at a time, and wrong current passwords count as wrong logins."""
    import hashlib
    import secrets
    salt = secrets.token_bytes(16)
    slow = {"n": 2 ** 15, "r": 8, "p": 4}       # a few hundred ms a check
    h = hashlib.scrypt(PASSWORD.encode(), salt=salt, dklen=32, maxmem=64 << 20, **slow)
    stored = f"scrypt${slow['n']}${slow['r']}${slow['p']}${salt.hex()}${h.hex()}"
    with web_page(tmp_path, password_hash=stored) as w:
        client = Client(w.port)
        t0 = time.monotonic()
        assert client.login(PASSWORD)[0] == 200
        one_check = time.monotonic() - t0
        statuses = []

        def wrong():
            statuses.append(client.post("/api/password", {"current": "not-it-at-all", "new": "another-one-1"})[0])

        threads = [threading.Thread(target=wrong) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        t0 = time.monotonic()
        assert client.get("/api/session")[0] == 200
        answered = time.monotonic() - t0
        for t in threads:
            t.join(60)
        assert statuses == [403] * 3
        assert answered < max(0.3, one_check / 2), (answered, one_check)
        for _ in range(auth.LoginLimiter.FREE - 3):
            assert client.post("/api/password", {"current": "not-it-at-all", "new": "another-one-1"})[0] == 403
        status, data, _ = client.post("/api/password", {"current": PASSWORD, "new": "another-one-1"})
        assert status == 429 and "try again" in data["error"]


# --- zips -------------------------------------------------------------------------------------
def test_zip_members_count_against_one_budget_before_they_are_written(tmp_path):
    """20 members of 900 KiB of zeros in a 30 KB zip, max_upload_mb = 1: the members of the
    upload's zips together unpack to at most 1 MB, a member that would pass it is refused
    before it is written, and the process writes about what it keeps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(20):
            z.writestr(f"m{i:02d}.nam", bytes(900 << 10))
    with web_page(tmp_path, max_upload_mb=1) as w:
        client = Client(w.port)
        client.login(PASSWORD)
        before = w.proc_field("wchar", "io")
        status, data, _ = client.upload([("pack.zip", buf.getvalue()), ("more.zip", buf.getvalue())])
        written = w.proc_field("wchar", "io") - before
        assert status == 200, data
        kept = [r for r in data["results"] if r["status"] == "checking"]
        refused = [r for r in data["results"] if r["status"] == "refused"]
        assert len(kept) == 1 and len(refused) == 39
        assert all("together" in r["error"] for r in refused), refused[:2]
        assert written < (900 << 10) + 2 * len(buf.getvalue()) + (256 << 10), written
        assert sorted(os.listdir(w.models)) == ["m00.nam"]


def central_directory_only(n, count=None, zip64=False):
    """A zip of n entries as zipfile reads it when it opens one: the directory alone."""
    cd = b"".join(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0)
                  + b"m%07d.nam" % i for i in range(n))
    entries = n if count is None else count
    if not zip64:
        return cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(cd), 0, 0)
    return (cd + struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, len(cd), 0)
            + struct.pack("<4sLQL", b"PK\x06\x07", 0, len(cd), 1)
            + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def test_zip_with_a_huge_directory_is_refused_before_it_is_parsed(tmp_path):
    """60,000 and 150,000 entries (zip64), and 150,000 behind a record claiming one: each
    refused from its end record, the process's peak memory unmoved (zipfile would build an
    object per entry first: +36 MB for 150,000)."""
    with web_page(tmp_path, max_upload_mb=9) as w:
        client = Client(w.port)
        client.login(PASSWORD)
        small = io.BytesIO()
        with zipfile.ZipFile(small, "w") as z:
            z.writestr("warm.nam", b"{}")
        assert client.upload([("warm.zip", small.getvalue())])[0] == 200     # the upload path's own memory
        peak = w.proc_field("VmHWM")
        results = []
        for data, says in [(central_directory_only(60_000), "entries"),
                           (central_directory_only(150_000, zip64=True), "entries"),
                           (central_directory_only(150_000, count=1), "directory")]:
            status, reply, _ = client.upload([("many.zip", data)])
            assert status == 200, reply
            results.append((reply["results"], says))
        grown = (w.proc_field("VmHWM") - peak) >> 10
        assert grown < 12, f"peak memory grew {grown} MB"
        for (result,), says in results:
            assert result["status"] == "refused" and says in result["error"], result
        assert sorted(os.listdir(w.models)) == ["warm.nam"]


def test_zip_directory_check_reads_what_zipfile_reads(tmp_path):
    """Honest zips pass (a comment, folders, zip64 records as zipfile writes them); too
    many entries are refused; a file with no end record is refused as unreadable."""
    p = tmp_path / "a.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.comment = b"made on the pedal's page " * 100           # the end record is not at the very end
        z.writestr("pack/", b"")
        for i in range(150):
            with z.open(f"pack/amps/m{i}.nam", "w", force_zip64=i % 2 == 0) as f:
                f.write(b"{}")
    files.check_zip_directory(p, "a.zip")
    for n in (10, files.ZIP_MAX_ENTRIES + 1):
        for zip64 in (False, True):
            p.write_bytes(central_directory_only(n, zip64=zip64))
            assert len(zipfile.ZipFile(p).infolist()) == n             # zipfile reads the same records
            if n <= files.ZIP_MAX_ENTRIES:
                files.check_zip_directory(p, "a.zip")
            else:
                with pytest.raises(files.FileError, match="entries"):
                    files.check_zip_directory(p, "a.zip")
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(files.FileError, match="not a readable zip"):
        files.check_zip_directory(p, "a.zip")


# --- names --------------------------------------------------------------------------------------
def raw_upload(client, disposition, data=b"{}"):
    boundary = "----hostile"
    body = (f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: application/octet-stream\r\n\r\n"
            .encode("utf-8", "surrogateescape") + data + f"\r\n--{boundary}--\r\n".encode())
    return client.request("POST", "/api/upload", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                          json_body=False)


def test_hostile_upload_names_get_one_line_never_a_500(web):
    client = Client(web.port)
    client.login(PASSWORD)
    # a NUL in the part's header: the whole upload is malformed, nothing is kept
    status, data, _ = raw_upload(client, 'form-data; name="files"; filename="x\x00y.nam"')
    assert status == 400 and "\n" not in data["error"], data
    # a NUL by RFC 5987 encoding, a name of 116 four-byte characters (464 bytes): refused each
    status, data, _ = raw_upload(client, "form-data; name=\"files\"; filename*=UTF-8''x%00y.nam")
    assert status == 200 and data["results"][0]["status"] == "refused", data
    guitar = "\U0001F3B8" * 116 + ".nam"
    for bad in ([("ok.nam", b"{}"), (guitar, b"{}")], [(guitar, b"{}"), ("ok2.nam", b"{}")]):
        status, data, _ = client.upload(bad)
        assert status == 200, data
        by = {r["file"][:10]: r for r in data["results"]}
        assert by[guitar[:10]]["status"] == "refused" and "255 bytes" in by[guitar[:10]]["error"]
        assert all(r["status"] == "checking" for r in data["results"] if not r["file"].startswith(guitar[:10]))
    assert sorted(os.listdir(web.models)) == ["ok.nam", "ok2.nam"]
    # the same in a zip, and names the page sends: a rename whose extension takes it past
    # 255 bytes, a lone surrogate (JSON can carry one; no file name can)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(guitar, b"{}")
    status, data, _ = client.upload([("p.zip", buf.getvalue())])
    assert status == 200 and data["results"][0]["status"] == "refused"
    for to in ("\U0001F3B8" * 63 + "abc", "\ud800x"):
        status, data, _ = client.post("/api/rename", {"file": "ok.nam", "to": to})
        assert status == 400 and "\n" not in data["error"], (to, status, data)
    assert sorted(os.listdir(web.models)) == ["ok.nam", "ok2.nam"]
    assert "Traceback" not in web.log_text()


# --- headers and Origin ---------------------------------------------------------------------------
HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options")


def test_every_response_carries_the_security_headers(web):
    client = Client(web.port)
    responses = {"401 no session": client.get("/api/models"),
                 "404": client.get("/nope"),
                 "405": client.request("PUT", "/api/login", {}),
                 "413 login body": client.request("POST", "/api/login", b'{"password": "' + b"x" * 100_000 + b'"}',
                                                  headers={"Content-Type": "application/json"}, json_body=False)}
    client.login(PASSWORD)
    responses["403 csrf"] = client.post("/api/delete", {"file": "x"}, csrf=False)
    responses["403 origin"] = client.post("/api/delete", {"file": "x"}, headers={"Origin": "http://evil.example"})
    for what, (status, _, headers) in responses.items():
        assert str(status) == what.split()[0], (what, status)
        assert all(h in headers for h in HEADERS), (what, headers)
    assert responses["413 login body"][1]["ok"] is False
    # a request aiohttp cannot parse gets its answer from aiohttp alone: the headers too
    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as s:
        s.sendall(b"GARBAGE / HTTP/1.1\r\n\r\n")
        reply = s.recv(8192).decode("latin-1")
    assert reply.startswith("HTTP/1.") and " 400 " in reply.splitlines()[0]
    assert all(f"\r\n{h}: " in reply for h in HEADERS), reply


def test_a_handler_failing_is_a_one_line_500_with_the_headers(tmp_path):
    """The guard's last resort, in this process (nothing in the app fails on purpose)."""
    from aiohttp.test_utils import TestClient, TestServer

    from firmware.core.config import load_config
    from firmware.web.app import WebApp
    cfg = load_config(None)
    cfg["models"]["directory"] = str(tmp_path)

    async def boom(request):
        raise RuntimeError("a bug\nwith two lines")

    async def go():
        w = WebApp(cfg, password_file=str(tmp_path / "pw"))
        app = w.app()
        app.router.add_get("/boom", boom)
        async with TestClient(TestServer(app)) as c:
            r = await c.get("/boom")
            return r.status, await r.json(), r.headers

    status, data, headers = asyncio.run(go())
    assert status == 500 and "\n" not in data["error"] and "bug" not in data["error"]
    assert all(h in headers for h in HEADERS)


def test_origin_null_is_refused_and_the_pages_own_origin_passes(web):
    client = Client(web.port)
    client.login(PASSWORD)
    (web.models / "keep.npz").write_bytes(b"x")
    status, data, _ = client.post("/api/delete", {"file": "keep.npz"}, headers={"Origin": "null"})
    assert status == 403, data
    assert (web.models / "keep.npz").exists()
    status, _, headers = client.post("/api/delete", {"file": "keep.npz"},
                                     headers={"Origin": f"http://127.0.0.1:{web.port}"})
    assert status == 200 and not (web.models / "keep.npz").exists()
    # the page's Referrer-Policy keeps a browser sending its real Origin on its own changes
    assert headers["Referrer-Policy"] == "same-origin"


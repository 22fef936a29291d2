"""For the tests and the real-time bench: start `tubeless web` as a process, and a small
HTTP client that keeps the session cookie and sends the CSRF token."""
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(config, password_file, port, log_path, env=None, nice=0):
    """`tubeless web` on 127.0.0.1:port; returns the process once it answers."""
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "firmware", "web", "--config", str(config), "--host", "127.0.0.1",
                             "--port", str(port), "--password-file", str(password_file)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True, preexec_fn=(lambda: os.nice(nice)) if nice else None)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                raise RuntimeError(f"tubeless web stopped: {f.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError("tubeless web did not start listening within 60 s")


def stop(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def multipart(files):
    """[(field, filename, bytes)] -> (body, content type)."""
    boundary = "----tubeless" + secrets.token_hex(8)
    out = []
    for field, name, data in files:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                   f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


class Client:
    """HTTP/1.1 to the page: keeps the session cookie, sends the CSRF token on changes."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=60):
        self.port, self.host = port, host
        self.source = source              # the address to connect from (127.0.0.2: another client)
        self.timeout = timeout
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, csrf=True, json_body=True):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf and method != "GET":
            h.setdefault("X-CSRF-Token", self.csrf)
        if body is not None and json_body and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                          source_address=(self.source, 0) if self.source else None)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith("tubeless_session="):
                self.cookie = v.split(";")[0]
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        return r.status, parsed, dict(r.getheaders())

    def login(self, password):
        status, data, _ = self.request("POST", "/api/login", {"password": password})
        if status == 200:
            self.csrf = data["csrf"]
        return status, data

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, {} if body is None else body, **kw)

    def upload(self, files, **kw):
        body, ctype = multipart([("files", n, d) for n, d in files])
        return self.request("POST", "/api/upload", body, headers={"Content-Type": ctype}, json_body=False, **kw)


def idle_flood(port, n, sources, host="127.0.0.1"):
    """n connections that never send anything, from the addresses `sources` in turn (an
    outsider tying up the page's descriptors): the sockets, for the caller to close."""
    import socket
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.bind((sources[i % len(sources)], 0))
        s.connect_ex((host, port))
        socks.append(s)
    return socks

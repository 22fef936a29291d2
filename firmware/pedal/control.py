"""The control channel: a Unix socket into the running pedal (docs/processes.md).

One JSON object per line each way (firmware.ipc.messages): `{"cmd": "next"}` ->
`{"ok": true, ...}`. The socket belongs to the service's user and group (mode 0660), so the
web page and MIDI processes in that group can use it and nobody else can. Each request
goes through `Pedal.submit`, the same entry the footswitches use.
"""
import logging
import os
import socket
import socketserver
import threading
import time

from firmware.core.errors import ControlError
from firmware.ipc import messages

log = logging.getLogger(__name__)
BACKLOG = 128          # connections waiting to be accepted (a page opening, several phones at once)
MAX_CLIENTS = 64       # connections served at once: each holds a thread


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30                        # a connection that sends nothing for this long is closed

    def handle(self):
        server = self.server
        if not server.admit():
            try:
                self.wfile.write(messages.encode({"ok": False, "error": f"the pedal has {server.max_clients} "
                                                  "control connections open already: try again"}))
            except OSError:
                pass
            return
        try:
            self._serve(server.pedal)
        finally:
            server.leave()

    def _serve(self, pedal):
        while True:
            try:
                line = self.rfile.readline(messages.MAX_LINE + 1)
            except (OSError, socket.timeout):
                return
            if not line:
                return
            try:
                if len(line) > messages.MAX_LINE:
                    raise messages.MessageError(f"message over the {messages.MAX_LINE}-byte limit")
                msg = messages.check_control(messages.decode(line))
                reply = pedal.submit(msg).wait(self.server.reply_timeout)
                out = messages.encode(reply)
            except messages.MessageError as e:
                out = messages.encode({"ok": False, "error": str(e)})
            try:
                self.wfile.write(out)
            except OSError:
                return
            if len(line) > messages.MAX_LINE:
                return          # the rest of an oversized line is not a message


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The control socket: a thread per connection, at most max_clients at once (the web page
    keeps a few open, each `ctl` one); its listen backlog holds a burst of connections that
    arrive together (socketserver's default of 5 refused them: the page saw "not running")."""
    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, path, pedal, mode=0o660, reply_timeout=5.0, max_clients=MAX_CLIENTS):
        self.pedal = pedal
        self.reply_timeout = reply_timeout
        self.max_clients = max_clients
        self.clients = 0
        self._clients_lock = threading.Lock()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)             # a stale socket of a previous run
        super().__init__(path, _Handler)
        os.chmod(path, mode)
        self.path = path
        self.thread = None

    def admit(self):
        with self._clients_lock:
            if self.clients >= self.max_clients:
                return False
            self.clients += 1
            return True

    def leave(self):
        with self._clients_lock:
            self.clients -= 1

    def start(self):
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="tubeless-control-socket", daemon=True)
        self.thread.start()
        return self

    def close(self):
        self.shutdown()
        self.server_close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class ControlConnection:
    """One connection to the pedal for any number of requests (`tubeless ctl models` pages
    through the library on one). Connecting retries while the socket's backlog is full."""

    def __init__(self, path, timeout=10.0):
        self.path = os.fspath(path)
        self.timeout = timeout
        self._sock = None
        self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _connect(self):
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
                break
            except BlockingIOError:              # the backlog is full: the pedal is busy, not gone
                s.close()
                if time.monotonic() + delay > deadline:
                    raise ControlError(f"{self.path}: the pedal is too busy to answer") from None
                time.sleep(delay)
                delay = min(0.1, delay * 2)
            except OSError as e:
                s.close()
                raise ControlError(f"{self.path}: {e.strerror or e} (is the pedal running? `tubeless run`)") from None
        self._sock, self._file = s, s.makefile("rb")

    def request(self, msg):
        """Send one message; returns the reply dict."""
        if self._sock is None:
            self._connect()
        try:
            self._sock.sendall(messages.encode(msg))
            line = self._file.readline(messages.MAX_LINE + 1)
        except OSError as e:
            self.close()
            raise ControlError(f"{self.path}: {e}") from None
        if not line:
            self.close()
            raise ControlError(f"{self.path}: the pedal closed the connection")
        return messages.decode(line)

    def close(self):
        if self._sock is not None:
            self._file.close()
            self._sock.close()
            self._sock = self._file = None


def request(path, msg, timeout=10.0):
    """Send one message to the pedal at socket `path`; returns the reply dict."""
    with ControlConnection(path, timeout) as conn:
        return conn.request(msg)


def all_models(conn, search=None, limit=None):
    """Every page of a `models` request on one ControlConnection -> (the models, the last
    reply). Starts again (at most a few times) when the library changed between pages."""
    for _ in range(5):
        msg = {"cmd": "models", "offset": 0}
        if search:
            msg["search"] = search
        if limit is not None:
            msg["limit"] = limit
        out, first = [], None
        while True:
            reply = conn.request(msg)
            if not reply.get("ok"):
                return out, reply
            if first is None:
                first = reply.get("revision")
            elif reply.get("revision") != first:
                break                             # the library moved: take it again from the top
            out += reply.get("models", [])
            if reply.get("next") is None:
                return out, reply
            msg["offset"] = reply["next"]
    return out, reply

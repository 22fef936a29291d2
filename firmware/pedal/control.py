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

from firmware.core.errors import ControlError
from firmware.ipc import messages

log = logging.getLogger(__name__)


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def handle(self):
        pedal = self.server.pedal
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
            except messages.MessageError as e:
                reply = {"ok": False, "error": str(e)}
            try:
                self.wfile.write(messages.encode(reply))
            except OSError:
                return
            if len(line) > messages.MAX_LINE:
                return          # the rest of an oversized line is not a message


class ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path, pedal, mode=0o660, reply_timeout=5.0):
        self.pedal = pedal
        self.reply_timeout = reply_timeout
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)             # a stale socket of a previous run
        super().__init__(path, _Handler)
        os.chmod(path, mode)
        self.path = path
        self.thread = None

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


def request(path, msg, timeout=10.0):
    """Send one message to the pedal at socket `path`; returns the reply dict."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError as e:
        raise ControlError(f"{path}: {e.strerror or e} (is the pedal running? `tubeless run`)") from None
    try:
        s.sendall(messages.encode(msg))
        f = s.makefile("rb")
        line = f.readline(messages.MAX_LINE + 1)
    except OSError as e:
        raise ControlError(f"{path}: {e}") from None
    finally:
        s.close()
    if not line:
        raise ControlError(f"{path}: the pedal closed the connection")
    return messages.decode(line)

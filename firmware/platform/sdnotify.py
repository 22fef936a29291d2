"""A tiny sd_notify client: tells systemd the pedal is ready, alive, and what it is doing.

The unit (systemd/tubeless.service) is `Type=notify` with `WatchdogSec=`, so systemd waits
for READY=1 before it calls the pedal started, and restarts it when WATCHDOG=1 stops coming.
Outside systemd ($NOTIFY_SOCKET unset: a shell, a test, `tubeless run` on a desktop) every
call is a silent no-op, so the pedal can call these unconditionally.

API (all return True when a datagram was sent, False when there is nowhere to send it or
sending failed; none of them raises, because a lost notification must never stop the audio):

    from firmware.platform import sdnotify

    sdnotify.status("loading model Plexi.npz")   # free text shown by `systemctl status`
    sdnotify.ready("playing Plexi.npz")          # READY=1 (+ STATUS=...) once audio runs
    interval = sdnotify.watchdog_interval()      # seconds between pings, or None if no watchdog
    sdnotify.watchdog()                          # WATCHDOG=1: call every `interval` seconds
    sdnotify.stopping()                          # STOPPING=1 on a clean shutdown
    sdnotify.notify("RELOADING=1", "STATUS=...") # any other fields, sent as one datagram

Call them from the control thread, never from the audio callback: a send is a system call.
Ping the watchdog from the loop that would stall if the audio stalled (e.g. after checking
that the audio thread's block counter moved), or the watchdog proves nothing. systemd arms
the watchdog only after READY=1; before that TimeoutStartSec= bounds JIT warm-up.

`Notifier(socket_path)` is the same thing bound to an explicit address (tests use it).
Addresses starting with '@' are Linux abstract-namespace sockets, as systemd documents.
"""
import logging
import os
import socket

log = logging.getLogger(__name__)

# systemd ignores a whole datagram with an invalid line; newlines would split STATUS.
_FORBIDDEN_IN_VALUE = ("\n", "\r")


class Notifier:
    """Sends sd_notify datagrams to one socket address; a no-op when the address is empty."""

    def __init__(self, socket_path=None):
        self.address = _socket_address(socket_path) if socket_path else None
        self._sock = None
        self._warned = False

    @property
    def enabled(self):
        return self.address is not None

    def notify(self, *fields):
        """Send `fields` ("KEY=VALUE" strings) as one datagram. Returns True if it was sent."""
        if not fields:
            raise ValueError("notify() needs at least one KEY=VALUE field")
        for field in fields:
            if "=" not in field or field.startswith("="):
                raise ValueError(f"sd_notify field {field!r} is not KEY=VALUE")
        if self.address is None:
            return False
        payload = "\n".join(fields).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload, self.address)
            return True
        except OSError as e:
            # Log once: a dead socket would otherwise flood the journal at watchdog rate.
            if not self._warned:
                log.warning("sd_notify to %s failed: %s", self.address, e)
                self._warned = True
            return False

    def ready(self, status=None):
        return self.notify("READY=1", *([_status_field(status)] if status is not None else []))

    def watchdog(self):
        return self.notify("WATCHDOG=1")

    def status(self, text):
        return self.notify(_status_field(text))

    def stopping(self):
        return self.notify("STOPPING=1")

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status_field(text):
    text = str(text)
    for ch in _FORBIDDEN_IN_VALUE:
        text = text.replace(ch, " ")
    return "STATUS=" + text


def _socket_address(path):
    """$NOTIFY_SOCKET as sendto() wants it: '@name' is the abstract name '\\0name'."""
    if path.startswith("@"):
        return "\0" + path[1:]
    if not path.startswith("/"):
        raise ValueError(f"NOTIFY_SOCKET={path!r}: expected an absolute path or an '@' abstract name")
    return path


def watchdog_interval(environ=None):
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, as sd_watchdog_enabled()
    advises. None when systemd set no watchdog, or set it for another process."""
    environ = os.environ if environ is None else environ
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None
    return value / 2e6 if value > 0 else None


_default = None
_default_source = None


def _notifier():
    # Read $NOTIFY_SOCKET on each call (cheap), not at import, so tests and wrappers can set it.
    global _default, _default_source
    path = os.environ.get("NOTIFY_SOCKET") or None
    if _default is None or path != _default_source:
        if _default is not None:
            _default.close()
        try:
            _default = Notifier(path)
        except ValueError as e:
            log.warning("sd_notify disabled: %s", e)
            _default = Notifier(None)
        _default_source = path
    return _default


def notify(*fields):
    return _notifier().notify(*fields)


def ready(status=None):
    return _notifier().ready(status)


def watchdog():
    return _notifier().watchdog()


def status(text):
    return _notifier().status(text)


def stopping():
    return _notifier().stopping()

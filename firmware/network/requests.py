"""The web page's changes to the hotspot, carried to the root hotspot service as files.

The page runs as its own unprivileged user and cannot change NetworkManager's profiles; the
service runs as root and can. Between them: a folder of the page's own (0700), one small
JSON file per request, named by a random id, written whole then renamed in. The service
reads at most a few per tick, each within a byte limit, through the folder's descriptor
and never following a link, checks every field, acts, deletes the file and answers in its
status file under the same id. So the page can ask for exactly four things (settings,
mode, a known network) and nothing else of root, and a flood of files costs bounded work.
"""
import json
import os
import re
import secrets
import stat

from firmware.core.errors import HotspotError
from firmware.network import keyfile, settings

REQUESTS_DIR = "/var/lib/tubeless-web/hotspot"
MAX_REQUEST = 2048
PER_TICK = 8
NAME = re.compile(r"^[0-9a-f]{32}\.json$")
OPS = {"set": {"ssid", "password", "mode"}, "add_network": {"ssid", "password"}}


def check(req):
    """A request as the service will act on it, or HotspotError saying why not."""
    if not isinstance(req, dict) or req.get("op") not in OPS:
        raise HotspotError(f"a request is one of: {', '.join(OPS)}")
    extra = set(req) - OPS[req["op"]] - {"op"}
    if extra:
        raise HotspotError(f"{req['op']}: unknown field {sorted(extra)[0]!r}")
    if req["op"] == "set":
        if not set(req) - {"op"}:
            raise HotspotError("set: nothing to change")
        if "ssid" in req:
            keyfile.check_ssid(req["ssid"])
        if "password" in req:
            keyfile.check_passphrase(req["password"])
        if "mode" in req and req["mode"] not in settings.MODES:
            raise HotspotError(f"mode: one of {', '.join(settings.MODES)}")
    else:
        keyfile.check_ssid(req.get("ssid"))
        password = req.get("password", "")
        if not isinstance(password, str):
            raise HotspotError("add_network: the password is text")
        if password:
            keyfile.check_passphrase(password, "network password")
    return req


def submit(req, folder=REQUESTS_DIR):
    """The page's side: write one checked request; returns its id."""
    check(req)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    rid = secrets.token_hex(16)
    tmp = os.path.join(folder, f".{rid}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(req, f)
        os.replace(tmp, os.path.join(folder, f"{rid}.json"))
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    return rid


def withdraw(rid, folder=REQUESTS_DIR):
    """The page's side: take back a request the service never picked up. True if it was there."""
    try:
        os.unlink(os.path.join(folder, f"{rid}.json"))
        return True
    except FileNotFoundError:
        return False


def take(folder=REQUESTS_DIR, limit=PER_TICK):
    """The service's side: [(id, request or HotspotError)] for up to `limit` requests, each
    file removed once read. A folder that is a link, or writable by others, is refused."""
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise HotspotError(f"{folder}: cannot open the request folder: {e.strerror}") from None
    out = []
    try:
        st = os.fstat(dfd)
        if st.st_mode & 0o022:
            raise HotspotError(f"{folder}: writable by others: requests ignored")
        names = sorted(n for n in os.listdir(dfd) if NAME.match(n))
        for name in names[:limit]:
            rid = name[:-5]
            try:
                out.append((rid, check(_read(dfd, name))))
            except HotspotError as e:
                out.append((rid, e))
            finally:
                try:
                    os.unlink(name, dir_fd=dfd)
                except FileNotFoundError:
                    pass
    finally:
        os.close(dfd)
    return out


def _read(dfd, name):
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
    except OSError as e:
        raise HotspotError(f"request {name}: cannot open ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise HotspotError(f"request {name}: not a regular file")
        data = f.read(MAX_REQUEST + 1)
    if len(data) > MAX_REQUEST:
        raise HotspotError(f"request {name}: larger than {MAX_REQUEST} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HotspotError(f"request {name}: not JSON") from None

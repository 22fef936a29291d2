"""The page's password, sessions, CSRF tokens and the login rate limit.

The password is stored as an scrypt hash (hashlib, no extra dependency) in a file of the
web service's own (mode 0600). Sessions live in this process's memory only: a restart of
the web service logs every phone out, and nothing secret is ever written besides the hash.
"""
import asyncio
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from firmware.core.errors import PasswordError

SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}          # ~50 ms on a Pi 4: fine for a login, slow for a guesser
MIN_PASSWORD = 8


def hash_password(password):
    salt = secrets.token_bytes(16)
    h = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${h.hex()}"


def check_password(password, stored):
    try:
        kind, n, r, p, salt, want = stored.strip().split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p),
                             maxmem=64 << 20)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), want)


def write_password(path, password):
    """Store the hash of a new password (atomically, mode 0600)."""
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 256:
        raise PasswordError("a password of at most 256 characters")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".password-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(hash_password(password) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def new_password():
    """A password a player can type on a phone: four groups of four lowercase letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"          # no 0/o, 1/l/i
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


class Sessions:
    """token -> (csrf token, expiry). The cookie carries the token; every change carries the
    csrf token in a header, which a page of another site cannot read or send."""

    def __init__(self, lifetime_s=30 * 24 * 3600, limit=64):
        self.lifetime_s = lifetime_s
        self.limit = limit
        self._s = {}

    def new(self):
        self._expire()
        while len(self._s) >= self.limit:                 # the oldest goes
            self._s.pop(min(self._s, key=lambda k: self._s[k][1]))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._s[token] = (csrf, time.monotonic() + self.lifetime_s)
        return token, csrf

    def csrf(self, token):
        """The session's csrf token, or None when there is no such (live) session."""
        if not token:
            return None
        s = self._s.get(token)
        if s is None or s[1] < time.monotonic():
            self._s.pop(token, None)
            return None
        return s[0]

    def drop(self, token):
        self._s.pop(token, None)

    def drop_all_but(self, token):
        self._s = {k: v for k, v in self._s.items() if k == token}

    def _expire(self):
        now = time.monotonic()
        self._s = {k: v for k, v in self._s.items() if v[1] >= now}


class LoginLimiter:
    """Failed logins per client address: the first FREE are free, then each further try
    must wait twice as long as the one before (1 s, 2 s, 4 s ... at most 5 min); a success
    clears the address. All addresses together: beyond GLOBAL failures a minute, an address
    that has failed must wait until the minute has room again (a guesser with many
    addresses still gets nowhere), while one that has not failed still gets its try (wrong
    guesses from elsewhere never lock out the player). A try counts as a failure from the
    moment it is let through (`begin`, checked and counted in one step), before its
    password is checked: tries sent at once cannot all slip past the limit."""
    FREE = 5
    MAX_WAIT = 300.0
    GLOBAL = 30
    MAX_ADDRESSES = 4096

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._fails = {}                 # address -> (count, time of the last try counted)
        self._recent = deque()           # (time, address) of the failures (and tries running), the last minute

    def wait_s(self, addr):
        """Seconds this address must still wait before it may try (0: may try now)."""
        now = self.clock()
        while self._recent and now - self._recent[0][0] >= 60.0:
            self._recent.popleft()
        count, last = self._fails.get(addr, (0, 0.0))
        wait = 0.0
        if count >= self.FREE:
            wait = min(self.MAX_WAIT, 2.0 ** (count - self.FREE)) - (now - last)
        if count and len(self._recent) >= self.GLOBAL:
            wait = max(wait, 60.0 - (now - self._recent[0][0]))
        return max(0.0, wait)

    def begin(self, addr):
        """Let a try through and count it as a failure (0), or the seconds to wait (nothing
        counted). No await may come between this and the check it allows."""
        wait = self.wait_s(addr)
        if wait > 0:
            return wait
        now = self.clock()
        count, _ = self._fails.get(addr, (0, 0.0))
        self._fails[addr] = (count + 1, now)
        self._recent.append((now, addr))
        if len(self._fails) > self.MAX_ADDRESSES:          # forget the oldest addresses
            for a in sorted(self._fails, key=lambda a: self._fails[a][1])[:self.MAX_ADDRESSES // 4]:
                del self._fails[a]
        return 0.0

    def done(self, addr, ok):
        """The try `begin` let through: a success clears the address (a failure stays counted)."""
        if ok:
            self._fails.pop(addr, None)
            self._recent = deque(r for r in self._recent if r[1] != addr)


class PasswordChecks:
    """scrypt off the event loop: AT_ONCE checks at a time (each ~50 ms and 16 MiB on a Pi 4),
    at most QUEUE more waiting; `full()` says when a new one must be turned away."""
    AT_ONCE = 2
    QUEUE = 16

    def __init__(self):
        self._pool = ThreadPoolExecutor(self.AT_ONCE, thread_name_prefix="scrypt")
        self._pending = 0

    def full(self):
        return self._pending >= self.AT_ONCE + self.QUEUE

    async def run(self, fn, *args):
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._pending -= 1

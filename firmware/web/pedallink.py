"""How the web page reaches the pedal: its control socket (firmware.pedal.control) through a
few persistent connections, the live status shared by every open page, and the library
kept whole here, fetched in pages only when the pedal says it changed.

A connection per request (what the page did) meant a burst of them at the pedal's listen
backlog whenever several phones were open, and each one refused showed "pedal not running".
Here at most `size` connections are open, each carries one request at a time, and a
request waits for a free one. Fifty open pages ask the pedal about as often as one: their
status and library checks are shared (Recent).
"""
import asyncio
import errno
import logging
import time

from firmware.core.errors import PedalDown
from firmware.ipc import commands, messages

log = logging.getLogger(__name__)

POOL_SIZE = 4            # connections to the pedal at most (it serves 64)
IDLE_S = 20.0            # a connection unused this long is closed (the pedal closes its side at 30 s)


class _Conn:
    __slots__ = ("reader", "writer", "used")

    def __init__(self, reader, writer):
        self.reader, self.writer, self.used = reader, writer, time.monotonic()

    def close(self):
        self.writer.close()


class ControlPool:
    """`await pool(msg)` -> the pedal's reply (a dict), or PedalDown in one line."""

    def __init__(self, path, size=POOL_SIZE, timeout=10.0, idle_s=IDLE_S):
        self.path = path
        self.timeout = timeout
        self.idle_s = idle_s
        self.size = size
        self._free = []                  # idle connections, the most recent last
        self._slots = None               # a Semaphore, made in the event loop that uses it

    async def __call__(self, msg):
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except asyncio.TimeoutError:
            raise PedalDown("the pedal did not answer in time (busy)") from None
        try:
            return await self._request(msg)
        finally:
            self._slots.release()

    async def _request(self, msg):
        line = messages.encode(msg)
        conn = self._take()
        if conn is not None:
            try:
                return self._keep(conn, await self._exchange(conn, line))
            except (OSError, EOFError):
                conn.close()             # closed at the pedal's end (a restart, its idle limit): once more
        conn = await self._open()
        try:
            return self._keep(conn, await self._exchange(conn, line))
        except (OSError, EOFError) as e:
            conn.close()
            raise PedalDown(f"the pedal did not answer ({type(e).__name__})") from None

    def _take(self):
        now = time.monotonic()
        while self._free:
            conn = self._free.pop()
            if now - conn.used < self.idle_s:
                return conn
            conn.close()
        return None

    def _keep(self, conn, reply):
        conn.used = time.monotonic()
        self._free.append(conn)
        return reply

    async def _open(self):
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.path, limit=messages.MAX_LINE + 1), self.timeout)
                return _Conn(reader, writer)
            except OSError as e:
                # a full backlog is a busy pedal, not a missing one: try again a little later
                if e.errno in (errno.EAGAIN, errno.ENOTCONN) and time.monotonic() + delay < deadline:
                    await asyncio.sleep(delay)
                    delay = min(0.1, 2 * delay)
                    continue
                why = e.strerror or type(e).__name__
            except asyncio.TimeoutError:
                why = "timed out"
            # the page shows it: the socket's path is for the log
            log.debug("no answer at %s: %s", self.path, why)
            raise PedalDown("the pedal is not running (it will show here once it starts)") from None

    async def _exchange(self, conn, line):
        try:
            conn.writer.write(line)
            await conn.writer.drain()
            reply = await asyncio.wait_for(conn.reader.readline(), self.timeout)
        except asyncio.TimeoutError:
            conn.close()                 # a late reply would answer the next request
            raise PedalDown("the pedal did not answer in time") from None
        except ValueError:               # a line over the limit
            conn.close()
            raise PedalDown("the pedal's reply was too long") from None
        if not reply:
            raise EOFError("closed")
        return messages.decode(reply)

    def close(self):
        for conn in self._free:
            conn.close()
        self._free = []


class Recent:
    """`await recent()`: fetch() shared by every caller, at most once per max_age seconds;
    callers that come while one runs wait for that one. An error is not kept."""

    def __init__(self, fetch, max_age=0.25):
        self.fetch = fetch
        self.max_age = max_age
        self._value = None
        self._at = -float("inf")
        self._running = None

    async def __call__(self):
        if time.monotonic() - self._at < self.max_age:
            return self._value
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh())
        running = self._running
        return await asyncio.shield(running)

    async def _refresh(self):
        try:
            self._value = await self.fetch()
            self._at = time.monotonic()
            return self._value
        finally:
            self._running = None

    def forget(self):
        """The next call fetches (after a change this page made)."""
        self._at = -float("inf")


class Library:
    """The pedal's library, whole, for the page: a `models` request of no models tells its
    revision; the pages are fetched again only when it moved (a change of the library, of
    what plays, of the refused files). `await library()` -> {"models", "rejected",
    "library_error", "count", "revision"}."""

    def __init__(self, ctl, max_age=0.25, tries=5):
        self.ctl = ctl
        self.tries = tries
        self._have = None                # the whole library as last fetched
        self.recent = Recent(self._current, max_age)

    async def __call__(self):
        return await self.recent()

    async def _current(self):
        head = _ok(await self.ctl(commands.request("models", limit=0)))
        if self._have is not None and head["revision"] == self._have["revision"]:
            return self._have
        for _ in range(self.tries):
            got = await self._pages()
            if got is not None:
                self._have = got
                return got
        raise PedalDown("the library kept changing while the page read it: try again")

    async def _pages(self):
        """Every page of one revision, or None when it changed on the way."""
        models, offset, first = [], 0, None
        while True:
            reply = _ok(await self.ctl(commands.request("models", offset=offset)))
            if first is None:
                first = reply
            elif reply["revision"] != first["revision"]:
                return None
            models += reply["models"]
            if reply.get("next") is None:
                return {"models": models, "rejected": first["rejected"], "library_error": first.get("library_error"),
                        "count": first["count"], "revision": first["revision"],
                        "rejected_total": first.get("rejected_total", len(first["rejected"]))}
            offset = reply["next"]

    def forget(self):
        self.recent.forget()


def _ok(reply):
    if not reply.get("ok"):
        raise PedalDown(f"the pedal refused the library request: {reply.get('error')}")
    return reply

"""The web page's TCP connections, bounded: a cap on how many are open (all together and per
client address), a time limit on a connection that sends no request, and the server loop
that puts them in front of aiohttp.

aiohttp holds a connection that never sends a request for as long as its keep-alive
timeout (or forever, in older versions), so a few hundred idle sockets from anyone on the
network used up the process's file descriptors. Here every connection is registered when
it is accepted. One beyond its address's share, or beyond the cap, first closes the
longest-idle connection of the address holding the most (so a flood from one address
pushes out only its own); when every one of those is busy with a request, the new one is
closed at once. A connection that has not sent a whole request head HEADER_S after it
opened, or sends nothing IDLE_S after its last response, is closed. A request being
handled (the page's live stream, an upload) is never closed here.
"""
import asyncio
import logging
import resource
import time
from collections import Counter

from aiohttp import web

log = logging.getLogger(__name__)

HEADER_S = 10.0             # from the connection to its first request's head
IDLE_S = 30.0               # a kept-alive connection between requests
PER_ADDRESS = 32            # a phone's browser opens about 6
MAX_CONNECTIONS = 512
BACKLOG = 128               # asyncio accepts up to this many in one go, before any is seen here
RESERVE_FDS = 64            # the log, the event loop, the listening sockets, the executor's files
SWEEP_S = 1.0


def connection_cap(nofile=None):
    """How many connections this process may hold with its descriptor limit: a connection
    whose request runs may hold two more descriptors (the pedal's control socket, a file
    being read or written), and one accept burst comes in before any is counted."""
    if nofile is None:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile == resource.RLIM_INFINITY:
        nofile = 1 << 20
    return max(16, min(MAX_CONNECTIONS, (nofile - BACKLOG - RESERVE_FDS) // 3))


class _Conn:
    __slots__ = ("addr", "busy", "served", "since", "transport")

    def __init__(self, transport, addr, now):
        self.transport, self.addr, self.since, self.busy, self.served = transport, addr, now, 0, 0


class ConnectionGuard:
    def __init__(self, cap=None, per_address=PER_ADDRESS, header_s=HEADER_S, idle_s=IDLE_S, clock=time.monotonic):
        self.cap = connection_cap() if cap is None else cap
        self.per_address = max(1, min(per_address, self.cap))
        self.header_s, self.idle_s, self.clock = header_s, idle_s, clock
        self._conns = {}                 # transport -> _Conn
        self._addrs = {}                 # address -> {transport: _Conn}
        self.counts = Counter()          # refused, evicted, timed out

    def __len__(self):
        return len(self._conns)

    def factory(self, make_protocol, error_headers=None):
        """A protocol factory for loop.create_server around aiohttp's. error_headers(request,
        response): called on the responses aiohttp makes up itself (a request it cannot
        parse), which no middleware or signal of the app sees."""
        classes = {}

        def make():
            inner = make_protocol()
            if error_headers is not None:
                cls = type(inner)
                if cls not in classes:
                    classes[cls] = _with_error_headers(cls, error_headers)
                inner.__class__ = classes[cls]
            return _Guarded(self, inner)
        return make

    # --- the connections' lives (called by _Guarded and the app's middleware) -------------
    def opened(self, transport):
        """Register a new connection; False: refused (the caller closes it)."""
        peer = transport.get_extra_info("peername")
        addr = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else str(peer)
        mine = self._addrs.get(addr, {})
        if len(mine) >= self.per_address:
            room = self._evict(mine.values())
        elif len(self._conns) >= self.cap:
            room = any(self._evict(self._addrs[a].values())
                       for a in sorted(self._addrs, key=lambda a: len(self._addrs[a]), reverse=True))
        else:
            room = True
        if not room:
            self.counts["refused"] += 1
            return False
        conn = _Conn(transport, addr, self.clock())
        self._conns[transport] = conn
        self._addrs.setdefault(addr, {})[transport] = conn
        return True

    def closed(self, transport):
        conn = self._conns.pop(transport, None)
        if conn is not None:
            mine = self._addrs[conn.addr]
            del mine[transport]
            if not mine:
                del self._addrs[conn.addr]

    def request_started(self, transport):
        conn = self._conns.get(transport)
        if conn is not None:
            conn.busy += 1

    def request_ended(self, transport):
        conn = self._conns.get(transport)
        if conn is not None:
            conn.busy -= 1
            conn.served += 1
            conn.since = self.clock()

    def sweep(self):
        """Close the connections that have been idle too long."""
        now = self.clock()
        for conn in list(self._conns.values()):
            if not conn.busy and now - conn.since > (self.idle_s if conn.served else self.header_s):
                self._drop(conn, "timed out")

    async def sweeping(self, every=SWEEP_S):
        while True:
            await asyncio.sleep(every)
            self.sweep()

    def _evict(self, conns):
        idle = [c for c in conns if not c.busy]
        if not idle:
            return False
        self._drop(min(idle, key=lambda c: c.since), "evicted")
        return True

    def _drop(self, conn, why):
        self.closed(conn.transport)
        self.counts[why] += 1
        if conn.transport.get_write_buffer_size():
            conn.transport.abort()               # a peer that does not read would keep it open
        else:
            conn.transport.close()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's registration."""
    __slots__ = ("_guard", "_inner", "_live", "_transport")

    def __init__(self, guard, inner):
        self._guard, self._inner, self._transport, self._live = guard, inner, None, False

    def connection_made(self, transport):
        self._transport = transport
        if not self._guard.opened(transport):
            transport.abort()
            return
        self._live = True
        self._inner.connection_made(transport)

    def connection_lost(self, exc):
        self._guard.closed(self._transport)
        if self._live:
            self._live = False
            self._inner.connection_lost(exc)

    def data_received(self, data):
        if self._live:
            self._inner.data_received(data)

    def eof_received(self):
        return self._inner.eof_received() if self._live else None

    def pause_writing(self):
        if self._live:
            self._inner.pause_writing()

    def resume_writing(self):
        if self._live:
            self._inner.resume_writing()


def _with_error_headers(cls, add):
    class WithErrorHeaders(cls):
        __slots__ = ()                   # the same layout: the class of a made handler can change to it

        def handle_error(self, request, *args, **kwargs):
            resp = super().handle_error(request, *args, **kwargs)
            add(request, resp)
            return resp
    return WithErrorHeaders


class QuietAcceptErrors:
    """The event loop's exception handler. When descriptors run out anyway, asyncio logs
    "socket.accept() out of system resource" with a traceback for every connection waiting
    in the backlog, every time it retries (hundreds of MB a minute): here that is one line
    every `every` s, with the count of the ones left out. Everything else as asyncio would."""

    def __init__(self, every=10.0, clock=time.monotonic):
        self.every, self.clock = every, clock
        self._last, self._left_out = None, 0

    def __call__(self, loop, context):
        if not str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            loop.default_exception_handler(context)
            return
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            self._left_out += 1
            return
        log.error("cannot accept a connection: %s (%d more since the last report)",
                  context.get("exception"), self._left_out)
        self._last, self._left_out = now, 0


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite, its connections through a ConnectionGuard."""

    def __init__(self, runner, host, port, guard, backlog=BACKLOG, error_headers=None):
        super().__init__(runner, backlog=backlog)
        self._where, self._guard, self._error_headers = (host, port), guard, error_headers

    @property
    def name(self):
        return f"http://{self._where[0] or '0.0.0.0'}:{self._where[1]}"

    async def start(self):
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.factory(self._runner.server, self._error_headers), self._where[0], self._where[1],
            backlog=self._backlog, reuse_address=True)


async def run(app, host, port, guard, before_stop=None, error_headers=None):
    """Serve `app` until SIGTERM or SIGINT (what web.run_app did, with the guard in front)."""
    import signal
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(QuietAcceptErrors())
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_S)
    await runner.setup()
    sweeper = None
    try:
        await GuardedSite(runner, host, port, guard, error_headers=error_headers).start()
        sweeper = asyncio.create_task(guard.sweeping())
        await stop.wait()
    finally:
        if sweeper is not None:
            sweeper.cancel()
        if before_stop is not None:
            before_stop()
        await runner.cleanup()

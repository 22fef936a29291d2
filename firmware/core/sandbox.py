"""Process limits: the sandbox in which `tubeless convert/import/render` parse a file (a child
process with an address-space and a CPU-time limit) and which the librarian uses too:
whatever the checks of a file miss cannot take the machine down."""
import contextlib
import json
import logging
import math
import os
import resource
import select
import signal
import sys
import tempfile
import threading
import warnings

from firmware.core.limits import active, size_text

log = logging.getLogger(__name__)


def address_space_in_use():
    """This process's virtual size in bytes (VmSize), or 0 where /proc is not there."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def set_address_space_limit(extra_bytes):
    """RLIMIT_AS = what the process uses now + extra_bytes (never above an existing hard
    limit): past it, allocations fail with MemoryError instead of swapping the Pi to death.
    Relative to the start, as a process with NumPy and Numba loaded already maps ~0.3-0.5 GB
    that it never touches."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = address_space_in_use() + int(extra_bytes)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    return want


def cpu_seconds_used():
    """CPU time this process has used (all its threads, user and system), in seconds."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


class CpuLimit:
    """RLIMIT_CPU over a section of this process: past `seconds` of CPU time the kernel
    stops it with SIGXCPU, so a parse that never ends cannot hold the machine. Time spent
    inside `uncharged()` (compiling kernels: the program's own work, not the file's) moves
    the deadline on by what it took, and while in it the limit is lifted, so a compile that
    is slow here (a Pi, an emulator) is never what stops a file."""

    def __init__(self, seconds):
        self.seconds = int(seconds)
        self.uncharged_s = 0.0
        self._lock = threading.Lock()
        self._depth = 0
        self._since = 0.0
        self._start = None
        self._saved = None

    def __enter__(self):
        global _in_force
        self._saved = resource.getrlimit(resource.RLIMIT_CPU)
        # The limit counts whole seconds: from the next whole second of what is used now.
        self._start = int(cpu_seconds_used()) + 1 + self.seconds
        self._apply(self._start)
        _in_force = self
        return self

    def __exit__(self, *exc):
        global _in_force
        _in_force = None
        resource.setrlimit(resource.RLIMIT_CPU, self._saved)

    def _apply(self, soft):
        hard = self._saved[1]
        if hard != resource.RLIM_INFINITY:
            soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def pause(self):
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._since = cpu_seconds_used()
                self._apply(resource.RLIM_INFINITY)

    def resume(self):
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self.uncharged_s += cpu_seconds_used() - self._since
                # rounded up once over the total, not per compile (dozens of them)
                self._apply(self._start + math.ceil(self.uncharged_s))


_in_force = None          # the CpuLimit of this process's limited section, if one is running


@contextlib.contextmanager
def uncharged():
    """CPU time spent in the block is not charged to the CPU limit in force (a no-op where
    none is): for what the program does for itself, such as compiling its kernels."""
    limit = _in_force
    if limit is None:
        yield
        return
    limit.pause()
    try:
        yield
    finally:
        limit.resume()


def cpu_time_limit(seconds):
    """Within the block, the process is killed by SIGXCPU once it has used `seconds` more
    CPU time, less what it spent `uncharged()`; the limit is lifted after it."""
    return CpuLimit(seconds)


class _RecordWriter(logging.Handler):
    """In the child: each log record as a JSON line, for the parent to log again."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def emit(self, record):
        try:
            self.stream.write(json.dumps({"name": record.name, "levelno": record.levelno,
                                          "levelname": record.levelname, "msg": record.getMessage()}) + "\n")
        except Exception:  # noqa: BLE001 - logging must never fail the work
            pass


def _redirect(out, err, records):
    """In the child: stdout and stderr go to files, log records to `records` only (every
    handler the parent has sees them there, once, in `_replay`)."""
    root = logging.getLogger()
    for logger in [root] + [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    root.addHandler(_RecordWriter(records))
    sys.stdout, sys.stderr = out, err


def _replay(records):
    """In the parent: the child's log records, through this process's own handlers."""
    for line in records:
        try:
            fields = json.loads(line)
            record = logging.makeLogRecord({**fields, "args": None, "exc_info": None})
        except (ValueError, TypeError):
            continue
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


class _LiveRecords:
    """In the parent: the child's log records as they arrive through a pipe, each logged
    here at once, so a progress line ("compiling kernels, first run only") is seen when the
    child says it, not when the child ends. A record longer than MAX_LINE is dropped."""

    MAX_LINE = 1 << 16

    def __init__(self, fd):
        self.fd = fd
        self._partial = b""

    def pump(self, timeout):
        """Replay what arrives within `timeout` s; False once the child closed its end."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        chunk = os.read(self.fd, 65536)
        if not chunk:
            return False
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        if len(self._partial) > self.MAX_LINE:
            self._partial = b""                  # its tail is not JSON either: skipped below
        _replay(line.decode("utf-8", "replace") for line in lines)
        return True


def _wait(pid, records):
    """The child's exit status, its log records replayed while it runs; Ctrl-C here is
    passed on to it (it ends the way it would on its own)."""
    open_ = True
    while True:
        try:
            while open_:
                open_ = records.pump(None)
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue
        except KeyboardInterrupt:
            os.kill(pid, signal.SIGINT)


def run_limited(func, what, memory_bytes=None, cpu_seconds=None):
    """func() in a forked child with an address-space limit (and, when given, a CPU-time
    limit over the whole run, compiling kernels not counted: see CpuLimit); its exit status.
    A child that a limit kills is reported here in one line naming `what`, exit status 2.
    func() returns an exit status and prints its own errors. Where fork is not available,
    func() runs here, unlimited."""
    lim = active()
    memory_bytes = lim.parse_memory_bytes if memory_bytes is None else memory_bytes
    if not hasattr(os, "fork"):
        return func()
    sys.stdout.flush()
    sys.stderr.flush()
    # The child's output comes back through files and is written here, to whatever
    # sys.stdout/sys.stderr are in this process (a terminal, or a test's capture); its log
    # records come through a pipe, as they are made.
    captured = tuple(tempfile.TemporaryFile("w+", encoding="utf-8") for _ in range(2))   # out, err
    rfd, wfd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # "fork() in a multi-threaded process"
        pid = os.fork()
    if pid == 0:                                              # the child
        code = 70
        try:
            os.close(rfd)
            records = os.fdopen(wfd, "w", encoding="utf-8", buffering=1)
            _redirect(*captured, records)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            set_address_space_limit(memory_bytes)
            if cpu_seconds:
                with cpu_time_limit(cpu_seconds):
                    code = func()
            else:
                code = func()
        except MemoryError:
            print(f"tubeless: error: {what}: ran out of the memory limit "
                  f"({size_text(memory_bytes)} above the start)", file=sys.stderr)
            code = 2
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:                            # noqa: BLE001 - last resort, one line
            print(f"tubeless: error: {what}: {type(e).__name__}: {e}", file=sys.stderr)
            code = 2
        finally:
            try:
                for stream in (sys.stdout, sys.stderr) + captured:
                    stream.flush()
            finally:
                os._exit(code if isinstance(code, int) else 0)
    os.close(wfd)
    try:
        status = _wait(pid, _LiveRecords(rfd))
    finally:
        os.close(rfd)
    for stream, into in zip(captured, (sys.stdout, sys.stderr)):
        stream.seek(0)
        into.write(stream.read())
        into.flush()
        stream.close()
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    sig = os.WTERMSIG(status)
    if sig == signal.SIGXCPU:
        message = (f"took more than the limit of {cpu_seconds or lim.parse_cpu_seconds} s of CPU time "
                   "(compiling kernels not counted)")
    elif sig == signal.SIGINT:
        return 130
    elif sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        message = (f"the process was stopped by {signal.Signals(sig).name} "
                   f"(memory limit {size_text(memory_bytes)} above the start)")
    else:
        message = f"the process was stopped by signal {sig}"
    print(f"tubeless: error: {what}: {message}", file=sys.stderr)
    return 2

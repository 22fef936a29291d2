"""Process limits: the sandbox in which `tubeless convert/import/render` parse a file (a child
process with an address-space and a CPU-time limit) and which the librarian uses too:
whatever the checks of a file miss cannot take the machine down."""
import contextlib
import json
import logging
import os
import resource
import signal
import sys
import tempfile
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


@contextlib.contextmanager
def cpu_time_limit(seconds):
    """Within the block, the process is killed by SIGXCPU once it has used `seconds` more
    CPU time (what a parse that never ends meets); the limit is lifted after it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    used = resource.getrusage(resource.RUSAGE_SELF)
    start = int(used.ru_utime + used.ru_stime) + 1
    want = start + int(seconds)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (want, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


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


def run_limited(func, what, memory_bytes=None, cpu_seconds=None):
    """func() in a forked child with an address-space limit (and, when given, a CPU-time
    limit over the whole run); its exit status. A child that a limit kills is reported here
    in one line naming `what`, exit status 2. func() returns an exit status and prints its
    own errors. Where fork is not available, func() runs here, unlimited."""
    lim = active()
    memory_bytes = lim.parse_memory_bytes if memory_bytes is None else memory_bytes
    if not hasattr(os, "fork"):
        return func()
    sys.stdout.flush()
    sys.stderr.flush()
    # The child's output comes back through files and is written here, to whatever
    # sys.stdout/sys.stderr are in this process (a terminal, or a test's capture).
    captured = tuple(tempfile.TemporaryFile("w+", encoding="utf-8") for _ in range(3))   # out, err, log
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # "fork() in a multi-threaded process"
        pid = os.fork()
    if pid == 0:                                              # the child
        code = 70
        try:
            _redirect(*captured)
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
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except KeyboardInterrupt:
            os.kill(pid, signal.SIGINT)
    for stream in captured:
        stream.seek(0)
    _replay(captured[2])
    for stream, into in zip(captured, (sys.stdout, sys.stderr)):
        into.write(stream.read())
        into.flush()
    for stream in captured:
        stream.close()
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    sig = os.WTERMSIG(status)
    if sig == signal.SIGXCPU:
        message = f"took more than the limit of {cpu_seconds or lim.parse_cpu_seconds} s of CPU time"
    elif sig == signal.SIGINT:
        return 130
    elif sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        message = (f"the process was stopped by {signal.Signals(sig).name} "
                   f"(memory limit {size_text(memory_bytes)} above the start)")
    else:
        message = f"the process was stopped by signal {sig}"
    print(f"tubeless: error: {what}: {message}", file=sys.stderr)
    return 2

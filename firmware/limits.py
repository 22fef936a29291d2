"""How much a model file may make the pedal spend, checked before anything is allocated.

Players copy files from strangers straight onto the pedal, so a file's numbers are claims
to check, not sizes to allocate: a 2 KB `.nam` can claim a billion LSTM layers or a 2^31
dilation. Every architecture states what its config implies (`models.cost`: memory,
multiply-adds per sample, prewarm length, layers; computed from the numbers alone), and
`check_model` refuses a config beyond the limits below with a `LimitError` (a
`ModelFileError`: one line naming the file and the field) before a weight is read.

The defaults are sized for a Raspberry Pi 4 with 1 GB that holds a few models at once
(playing, fading in, the neighbours), and are generous for every real file: measured
with `models.cost` at the largest block the firmware builds with (CHECK_BLOCK):

    file                              memory   work/sample   prewarm   layers
    NAM A1 standard (corpus)          19.5 MiB      14,040     4,093       20
    NAM A2 (corpus, post-head 6/15/16) 14.2 MiB     12,328     6,347       23
    LSTM-80 (1 layer) / 3 layers       0.3 / 1.1    27,040 / 131,520   24,000   1 / 3
    AIDA-X LSTM-12, GuitarML LSTM-20   0.02 MiB      2,040    24,000        1

What the limits keep out (issue 11): an LSTM of 10^9 layers, a WaveNet dilation of 2^26
(13.5 GB) or 2^31, 10^5 channels, a Linear model of 10^9 taps.

`tubeless convert/import/render` also run in a child process with an address-space limit
and a CPU-time limit on the parsing (`run_limited`, `cpu_time_limit`), the same sandbox
the pedal's library worker uses: whatever the checks miss cannot take the machine down.
"""
import contextlib
import dataclasses
import json
import logging
import os
import resource
import signal
import struct
import sys
import tempfile
import warnings
import zipfile

import numpy as np

from . import models
from .modelfile import ModelFileError

log = logging.getLogger(__name__)

MiB = 1 << 20
# The largest block any part of the firmware builds a model with (loudness.measure), so a
# config's memory is checked at its worst. The pedal itself runs blocks of 64-256.
CHECK_BLOCK = 4096


class LimitError(ModelFileError):
    """A model file beyond a resource limit. The message names the file, the field and the limit."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Every limit, in one place; `configure()` replaces the defaults (e.g. from a config file)."""
    json_bytes: int = 16 * MiB          # a .nam/.json file: A2 (the largest real one) is 0.65 MB;
                                        # 16 MiB of numbers parsed into an array peaks at +208 MB
    npz_bytes: int = 64 * MiB           # a .npz file, as stored (compressed or not)
    npz_members: int = 16384            # arrays in a .npz (512 layers x up to 20 arrays + 4)
    npz_unpacked_bytes: int = 96 * MiB  # sum of the members' declared (uncompressed) sizes
    header_bytes: int = 1 * MiB         # the .npz JSON header
    reference_samples: int = 1 << 18   # reference pair length (ours: 2048; AIDA-X: 2048)
    model_memory_bytes: int = 64 * MiB  # what a model's config implies at CHECK_BLOCK (3x A1 standard)
    work_per_sample: int = 150_000      # multiply-adds per sample (10x A1 standard, LSTM-80 x3)
    prewarm_samples: int = 1 << 18      # NAM prewarm / receptive field (5.5 s at 48 kHz; LSTM at
                                        # 384 kHz prewarms 192,000)
    convert_work: int = 10 ** 10        # work/sample x (prewarm + 1 s + reference): one pass of
                                        # verifying or measuring (~1 s here, ~10 s on a Pi 4)
    layers: int = 512                   # layers in all (A2: 23), list lengths in a config
    nesting: int = 2                    # condition_dsp / SlimmableContainer levels (real: 1)
    parse_memory_bytes: int = 1024 * MiB  # address space a parsing process may add to its start
    parse_cpu_seconds: int = 600        # CPU time to parse, convert and verify one file, Numba
                                        # compiling the kernels included (40 s here with a cold
                                        # cache; `tubeless warm` at install fills it)

    @classmethod
    def from_mapping(cls, mapping):
        """Limits from a config section ({name: number}); unknown names are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(mapping) - names
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(names))})")
        values = {}
        for key, value in mapping.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"limit '{key}' must be a positive number, got {value!r}")
            values[key] = int(value)
        return cls(**values)


DEFAULT = Limits()
_active = DEFAULT


def active():
    """The limits in force (DEFAULT unless `configure` changed them)."""
    return _active


def configure(limits=None, **overrides):
    """Replace the limits in force: a Limits, a mapping, and/or keyword overrides."""
    global _active
    base = limits if isinstance(limits, Limits) else Limits.from_mapping(limits or {})
    _active = dataclasses.replace(base, **overrides) if overrides else base
    return _active


def _size(n):
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


def check_count(path, field, n, limit=None):
    """Refuse a list (layers, dilations, kernel sizes) longer than the layer limit, before
    anything is made per entry."""
    limit = active().layers if limit is None else limit
    if n > limit:
        raise LimitError(path, f"'{field}' has {n} entries, more than the limit of {limit}")


def check_model(path, architecture, config, sample_rate=48000, limits=None):
    """The models.Cost of a config, or a LimitError naming the field that breaks a limit.

    Call it with the config the pedal will build (ours, after an importer's conversion)
    before reading or converting weights. A config that is malformed (wrong types,
    unknown architecture) is a ModelFileError too."""
    lim = limits or active()
    try:
        cost = models.cost(architecture, config, CHECK_BLOCK, sample_rate)
    except (models.ModelConfigError, KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise ModelFileError(path, f"bad config: {e}") from None
    except RecursionError:
        raise ModelFileError(path, "config is nested too deeply") from None

    def refuse(kind, need, limit):
        field, claimed = cost.fields[kind]
        raise LimitError(path, f"'{field}' = {claimed}: the model would need {need}, more than the limit of {limit}")

    if cost.layers > lim.layers:
        refuse("layers", f"{cost.layers} layers", lim.layers)
    if cost.memory_bytes > lim.model_memory_bytes:
        refuse("memory", f"{_size(cost.memory_bytes)} of memory", _size(lim.model_memory_bytes))
    if cost.work_per_sample > lim.work_per_sample:
        refuse("work", f"{cost.work_per_sample:,} multiply-adds a sample", f"{lim.work_per_sample:,}")
    if cost.prewarm_samples > lim.prewarm_samples:
        refuse("prewarm", f"a prewarm (receptive field) of {cost.prewarm_samples:,} samples",
               f"{lim.prewarm_samples:,}")
    one_pass = cost.work_per_sample * (cost.prewarm_samples + int(sample_rate) + 2048)
    if one_pass > lim.convert_work:
        field, claimed = cost.fields["work"]
        raise LimitError(path, f"'{field}' = {claimed}: checking the model would take {one_pass:.2g} multiply-adds "
                               f"a pass ({cost.work_per_sample:,} a sample), more than the limit of "
                               f"{lim.convert_work:.2g}")
    return cost


# --- JSON --------------------------------------------------------------------------------
def parse_json(path, data, what=None):
    """json.loads of untrusted bytes: any failure, deep nesting included, is a ModelFileError
    ("<what> is not valid JSON", or "not valid JSON" without `what`)."""
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)
    except RecursionError:
        raise ModelFileError(path, f"{what + ' JSON' if what else 'JSON'} is nested too deeply "
                                   "(refused before Python's recursion limit)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(path, f"{what + ' is not' if what else 'not'} valid JSON: {e}") from None


# --- .npz (a zip of .npy members) ----------------------------------------------------------
def _zip_entry_count(path, f, size):
    """Entries the zip's end-of-central-directory record declares, read before zipfile
    builds an object per entry (a 64 MB zip can hold half a million tiny members)."""
    tail = min(size, 65536 + 22)
    f.seek(size - tail)
    buf = f.read(tail)
    at = buf.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(buf):
        raise ModelFileError(path, "not a valid model file (truncated or not .npz): no zip directory")
    entries = struct.unpack("<H", buf[at + 10:at + 12])[0]
    return entries


def open_npz(path, f, size, allowed, limits=None):
    """(ZipFile, {member name without .npy: ZipInfo}) of an .npz file, checked from its
    directory alone: entry count, names (`allowed(name)` must accept each), no duplicates,
    declared sizes within the limits. Nothing is inflated here."""
    lim = limits or active()
    entries = _zip_entry_count(path, f, size)
    if entries >= min(lim.npz_members, 0xFFFF):
        raise LimitError(path, f"the .npz has {entries} members, more than the limit of {lim.npz_members}")
    f.seek(0)
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error) as e:
        raise ModelFileError(path, f"not a valid model file (truncated or not .npz): {e}") from None
    members, total = {}, 0
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or not allowed(name[:-4]):
            raise ModelFileError(path, f"unknown member '{name}' in the .npz (a model file holds header.npy, "
                                       "weights/*.npy and reference/*.npy only)")
        if name[:-4] in members:
            raise ModelFileError(path, f"member '{name}' appears twice in the .npz")
        if info.flag_bits & 0x1:
            raise ModelFileError(path, f"member '{name}' is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(path, f"member '{name}' uses an unsupported compression")
        total += info.file_size
        members[name[:-4]] = info
    if total > lim.npz_unpacked_bytes:
        raise LimitError(path, f"the .npz members declare {_size(total)} unpacked, more than the limit of "
                               f"{_size(lim.npz_unpacked_bytes)}")
    return zf, members


def read_npy(path, zf, info, max_bytes, expect_dtype=None, expect_shape=None):
    """One .npy member as an array: its header is read first, and the data only when the
    header's shape and dtype match what is expected, fit `max_bytes` and agree with the
    size the zip directory declares. Object arrays are never read (no pickle)."""
    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    if info.file_size > max_bytes + 4096:
        raise LimitError(path, f"member '{name}' declares {_size(info.file_size)}, more than the limit of "
                               f"{_size(max_bytes)} for it")
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=4096)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=4096)
            else:
                raise ValueError(f"unknown .npy version {version}")
            header_len = f.tell()
            if dtype.hasobject or dtype.itemsize == 0 or dtype.kind not in "biuf":
                raise ModelFileError(path, f"member '{name}' has dtype {dtype}: only plain numbers are read")
            if expect_dtype is not None and dtype != np.dtype(expect_dtype):
                raise ModelFileError(path, f"'{name}' is {dtype}, expected {np.dtype(expect_dtype)}")
            if expect_shape is not None and tuple(shape) != tuple(expect_shape):
                raise ModelFileError(path, f"'{name}' has shape {tuple(shape)}, expected {tuple(expect_shape)}")
            count = 1
            for s in shape:
                count *= int(s)
            nbytes = count * dtype.itemsize
            if nbytes > max_bytes:
                raise LimitError(path, f"member '{name}' claims {_size(nbytes)}, more than the limit of "
                                       f"{_size(max_bytes)} for it")
            if header_len + nbytes != info.file_size:
                raise ModelFileError(path, f"member '{name}' is {info.file_size} bytes, its header says "
                                           f"{header_len + nbytes}: truncated or corrupt")
            buf = bytearray(nbytes)
            got = f.readinto(buf) if nbytes else 0
            if got != nbytes or f.read(1):
                raise ModelFileError(path, f"member '{name}' is truncated or corrupt")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, SyntaxError, TypeError, struct.error,
            NotImplementedError, RuntimeError) as e:   # bad CRC, bad deflate data, bad .npy header
        raise ModelFileError(path, f"member '{name}' is truncated or corrupt: {e}") from None
    array = np.frombuffer(buf, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


# --- process limits (the CLI's sandbox; the library worker uses the same) -----------------
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
                  f"({_size(memory_bytes)} above the start)", file=sys.stderr)
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
                   f"(memory limit {_size(memory_bytes)} above the start)")
    else:
        message = f"the process was stopped by signal {sig}"
    print(f"tubeless: error: {what}: {message}", file=sys.stderr)
    return 2

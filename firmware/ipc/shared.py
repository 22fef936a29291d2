"""The memory the engine (audio process) shares with the pedal (control process).

One fixed-size block, mapped by both: the tone chain's parameter targets and state (the
pedal writes a target as a single store; the audio thread smooths towards it), the engine's
counters and two rings of per-block timings. Nothing in it needs a lock: each field has one
writer, and an 8-byte aligned store is atomic on every CPU the pedal runs on.

Writers: params/state before the audio starts and params afterwards (pedal); counters
BLOCKS, FRAMES, INPUT_POS and the timing, input and output rings (audio thread: per block,
its compute time and the frames the device had delivered beyond the block's period when it
started; the raw guitar input and the pedal's output, for the tuner and the recorder:
INPUT_POS counts the frames in them, stored after both); the `send` ring and counters
SEND_ON, SEND_END (pedal: a capture's signal, played instead of the tone chain's output while
SEND_ON is set, frame k of the audio clock at send[k % ring] for every k below SEND_END,
silence beyond it); every other counter (the engine's command thread, a few hundred times a
second).
"""
import mmap
import os
import tempfile

import numpy as np

from firmware.dsp import kernels as dsp
from firmware.dsp import rig

RING = 4096                        # blocks of timings kept (a power of two)
# The guitar's and the output's last 2.7 s at 48 kHz (a power of two): the tuner reads the
# newest 0.3 s, the recorder (firmware.pedal.recorder) what came since its last look, which
# may be a card's stall of a second or two late.
INPUT_RING = 1 << 17

# counters (int64)
(BLOCKS, FRAMES, OVERRUNS, UNDERRUNS, FAULTS, FAULT_SLOT, CURRENT_SLOT, INCOMING_SLOT, PENDING_SLOT,
 CLIPS, SWITCHES, SAMPLES, LAST_SWITCH_DONE, REALTIME, RUNNING, PERIOD, RATE, HEARTBEAT, INPUT_POS,
 STOMP_SLOT, STOMP_FAULTS, SEND_ON, SEND_END) = range(23)
N_COUNTERS = 32
NO_SLOT = -1

_LAYOUT = (("params", np.float64, dsp.N_PARAMS), ("state", np.float64, dsp.N_STATE),
           ("rig", np.float64, rig.N_TARGETS),
           ("counters", np.int64, N_COUNTERS), ("cpu_ns", np.int64, RING), ("late_frames", np.int64, RING),
           ("input", np.float32, INPUT_RING), ("output", np.float32, INPUT_RING),
           ("output_r", np.float32, INPUT_RING), ("send", np.float32, INPUT_RING))
SIZE = sum(np.dtype(t).itemsize * n for _, t, n in _LAYOUT)


class SharedBlock:
    """`params`, `state`, `rig` (the rig blocks' targets), `counters`, `cpu_ns`, `late_frames`, `input`,
    `output`, `output_r` (stereo_out's right channel) and `send` (a capture's signal) as numpy views of one mapping:
    a file both processes map (`path`), or anonymous memory for a single process."""

    def __init__(self, path=None, create=False):
        self.path = path
        if path is None:
            self._map = mmap.mmap(-1, SIZE)
        else:
            flags = os.O_RDWR | (os.O_CREAT if create else 0)
            fd = os.open(path, flags, 0o600)
            try:
                if create:
                    os.ftruncate(fd, SIZE)
                elif os.fstat(fd).st_size != SIZE:
                    raise ValueError(f"{path}: shared block is {os.fstat(fd).st_size} bytes, expected {SIZE}")
                self._map = mmap.mmap(fd, SIZE)
            finally:
                os.close(fd)
        offset = 0
        for name, dtype, n in _LAYOUT:
            setattr(self, name, np.frombuffer(self._map, dtype, n, offset))
            offset += np.dtype(dtype).itemsize * n
        if create or path is None:
            self.counters[:] = 0
            for k in (FAULT_SLOT, CURRENT_SLOT, INCOMING_SLOT, PENDING_SLOT):
                self.counters[k] = NO_SLOT

    @classmethod
    def create_file(cls, directory=None):
        """A new shared block in a fresh file (in /dev/shm when there is one)."""
        directory = directory or ("/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
                                  else tempfile.gettempdir())
        fd, path = tempfile.mkstemp(prefix="tubeless-engine-", suffix=".shm", dir=directory)
        os.close(fd)
        return cls(path, create=True)

    def unlink(self):
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def recent(self, ring):
        """The filled part of a ring (int64), oldest block first."""
        blocks = int(self.counters[BLOCKS])
        k = min(blocks, RING)
        return ring[np.arange(blocks - k, blocks) & (RING - 1)]

    def recent_input(self, n):
        """The guitar's last n samples (n <= INPUT_RING), oldest first: a copy."""
        pos = int(self.counters[INPUT_POS])
        n = min(n, INPUT_RING, pos)
        return self.input[np.arange(pos - n, pos) & (INPUT_RING - 1)].copy()

    def cpu_stats(self, period_s):
        return summary(self.recent(self.cpu_ns), period_s * 1e9)

    def late_stats(self, period_s):
        """Lateness as a share of a period (frames waiting / period)."""
        period = int(self.counters[PERIOD]) or 1
        return summary(self.recent(self.late_frames), period)


def summary(values, period):
    """p50, p99, p99.9 and max as fractions of a period (values and period in one unit)."""
    t = np.asarray(values, np.float64) / float(period)
    if len(t) == 0:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    p50, p99, p999 = np.percentile(t, [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p999": float(p999), "max": float(t.max())}

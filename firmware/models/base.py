"""What every architecture shares: the `process(input, output, n)` contract and its buffers."""
from typing import NamedTuple

import numpy as np

from firmware.core.errors import ModelConfigError


class Cost(NamedTuple):
    """What a config implies, computed from its numbers alone (nothing allocated): every
    architecture's `cost(config, max_block)` states it, and firmware/core/limits.py checks it."""
    memory_bytes: int          # weights (twice: as read and packed) + history + block buffers
    work_per_sample: int       # multiply-adds (and activations) per output sample
    prewarm_samples: int       # silence run after reset (NAM's receptive field / 0.5 s)
    layers: int                # layers in all (WaveNet: every array's; post-head convs)
    fields: dict               # {"memory"|"work"|"prewarm"|"layers": (config field, value)}:
                               # what drives each figure, for an error that names the field


class Model:
    """A neural audio model that streams: state carries over from one block to the next.

    Subclasses allocate every buffer in `__init__`; `process` allocates nothing and may be
    called with any n (blocks longer than `max_block` are split), so the output never
    depends on how the input was cut into blocks.
    """

    architecture = "?"

    def __init__(self, config, weights, sample_rate=48000, max_block=2048):
        self.config = config
        self.sample_rate = int(sample_rate)
        self.max_block = int(max_block)
        self.num_knobs = 0
        self.knobs = np.zeros(2, np.float32)

    # --- the contract -------------------------------------------------------------------
    def process(self, input, output, n):
        """Write n output samples for n input samples (1-D float32 arrays, n <= len)."""
        if n <= self.max_block:            # the pedal's case: one block, no slicing
            self._process_block(input, output, n)
            return
        done = 0
        while done < n:
            m = min(self.max_block, n - done)
            self._process_block(input[done:done + m], output[done:done + m], m)
            done += m

    def _process_block(self, input, output, n):
        raise NotImplementedError

    def reset(self):
        """Back to the initial state (silence history, stored initial recurrent state)."""
        raise NotImplementedError

    @property
    def prewarm_samples(self):
        """Samples of silence a faithful player runs after reset (NAM's prewarm)."""
        return 0

    def prewarm(self):
        """Run `prewarm_samples` of silence so the first real sample sees settled state."""
        left = self.prewarm_samples
        if left <= 0:
            return
        silence = np.zeros(self.max_block, np.float32)
        scratch = np.empty(self.max_block, np.float32)
        while left > 0:
            m = min(left, self.max_block)
            self._process_block(silence[:m], scratch[:m], m)
            left -= m

    def set_knob(self, index, value):
        """Set a conditioned model's knob input (0..1 as trained). Takes effect next block."""
        if not 0 <= index < self.num_knobs:
            raise IndexError(f"model has {self.num_knobs} knob input(s), not {index + 1}")
        self.knobs[index] = value

    def render(self, x, block=None, prewarm=True):
        """Convenience for offline use: reset, prewarm, process a whole array."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty_like(x)
        self.reset()
        if prewarm:
            self.prewarm()
        step = block or self.max_block
        for s in range(0, len(x), step):
            m = min(step, len(x) - s)
            self.process(x[s:s + m], y[s:s + m], m)
        return y


def require(config, key, where):
    """config[key], or a ModelConfigError naming `where.key`."""
    if key not in config:
        raise ModelConfigError(f"missing config field '{where}.{key}'")
    return config[key]


def positive_int(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ModelConfigError(f"'{where}' must be a positive integer, got {value!r}")
    return int(value)


def pack_weights(shapes, weights, skip=()):
    """All weights of `shapes` (in its order, bar names starting with a prefix in `skip`) as
    one flat float32 array, and each one's offset in it: what the table-driven kernels read."""
    flat, offsets, total = [], {}, 0
    for name, shape in shapes.items():
        if name.startswith(tuple(skip)):
            continue
        arr = np.ascontiguousarray(weights[name], dtype=np.float32).reshape(-1)
        if arr.size != int(np.prod(shape)):
            raise ModelConfigError(f"weight '{name}' has {arr.size} values, expected shape {shape}")
        offsets[name] = total
        flat.append(arr)
        total += arr.size
    return (np.concatenate(flat) if flat else np.zeros(0, np.float32)), offsets

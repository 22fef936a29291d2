"""The contract every block of the rig keeps (tone stack, boost, delay, reverb...).

A block is one small class:

- `__init__(sample_rate, max_block, targets=None)` allocates everything it will ever use
  (before the audio starts); `process(x, y, n)` allocates nothing (x and y may be the same
  array) and runs one compiled kernel.
- Its parameters are `PARAMS`, each a `Param` (name, range, unit, default): one table the
  control side, the docs and the checks all read. The control side writes *targets*, one
  float64 store each (`targets`: slot 0 is on/off, then one per parameter, in `PARAMS`
  order); in the pedal that array is a view of the shared block, so a knob turned on the
  phone reaches the audio thread as one store. The kernel smooths every target per sample.
- On/off is click-free: a ramp of `RAMP_MS` between the dry signal and the block's output.
  A block with `TRAILS` (delay, reverb) instead fades its *input* when switched off and lets
  what it holds ring out.
- When it is off and its ramp has ended, a block costs nothing (`process` copies x to y,
  or leaves y alone when it is x).
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from firmware.core.errors import MessageError

RAMP_MS = 10.0          # on/off crossfade
SMOOTH_MS = 20.0        # one-pole time constant of every parameter
ON = 0                  # targets[ON]: 1.0 on, 0.0 off


class Param(NamedTuple):
    name: str           # "bass", "time_ms": addressed as "<block>.<name>" ("delay.time_ms")
    lo: float
    hi: float
    default: float
    unit: str           # "" for a 0..1 knob, else "ms", "s", "dB", "Hz"
    doc: str


class Block:
    NAME = ""           # the control name: "tonestack", "delay"...
    PARAMS = ()         # Param, ... in targets order (after ON)
    DEFAULT_ON = False
    TRAILS = False
    N_STATE = 0         # the kernel's own float64 state (smoothed values, filter memories)

    def __init__(self, sample_rate, max_block, targets=None):
        self.sample_rate = int(sample_rate)
        self.max_block = int(max_block)
        self.targets = np.zeros(self.n_targets()) if targets is None else targets
        if len(self.targets) != self.n_targets():
            raise ValueError(f"{self.NAME}: targets must hold {self.n_targets()} values")
        self.state = np.zeros(max(1, self.N_STATE))
        self.ramp_step = 1.0 / max(1.0, RAMP_MS * 1e-3 * self.sample_rate)
        self.smooth = 1.0 - np.exp(-1.0 / (SMOOTH_MS * 1e-3 * self.sample_rate))
        # the ramp's position 0..1 (1: fully on); the audio thread's own
        self.ramp = np.zeros(1)
        if targets is None:
            self.set_defaults()

    # --- the control side: single stores --------------------------------------------------
    @classmethod
    def n_targets(cls):
        return 1 + len(cls.PARAMS)

    @classmethod
    def param(cls, name):
        """The Param called `name`, or a MessageError listing this block's parameters."""
        for p in cls.PARAMS:
            if p.name == name:
                return p
        raise MessageError(f"{cls.NAME} has no parameter {name!r} (known: {', '.join(p.name for p in cls.PARAMS)})")

    @classmethod
    def slot(cls, name):
        """Where parameter `name` sits in the targets (after ON); MessageError if unknown."""
        return 1 + cls.PARAMS.index(cls.param(name))

    @classmethod
    def default_targets(cls):
        """[on, p0, p1, ...] at their defaults."""
        return np.array([1.0 if cls.DEFAULT_ON else 0.0] + [p.default for p in cls.PARAMS])

    @classmethod
    def check(cls, name, value):
        """value as a float within the parameter's range, or a one-line MessageError."""
        p = cls.param(name)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise MessageError(f"{cls.NAME}.{name}: {value!r} is not a number") from None
        if not p.lo <= v <= p.hi:
            unit = f" {p.unit}" if p.unit else ""
            raise MessageError(f"{cls.NAME}.{name}: {v:g} is outside {p.lo:g}..{p.hi:g}{unit}")
        return v

    def set(self, name, value):
        self.targets[self.slot(name)] = self.check(name, value)

    def get(self, name):
        return float(self.targets[self.slot(name)])

    def set_on(self, on):
        self.targets[ON] = 1.0 if on else 0.0

    @property
    def on(self):
        return bool(self.targets[ON] > 0.5)

    def set_defaults(self):
        self.targets[:] = self.default_targets()

    def settle(self):
        """Offline: start at the targets (no ramp, no smoothing from the previous values)."""
        self.ramp[0] = 1.0 if self.on else 0.0
        self.settle_state()

    # --- the audio side ----------------------------------------------------------------------
    def process(self, x, y, n):
        """n samples of x into y (x may be y). A resting block passes x through untouched."""
        if self.resting():
            if x is not y:
                copy_into(x, y, n)
            return
        self.run(x, y, n)

    def resting(self):
        """Off, and its ramp has ended (a block with trails: and its tail has rung out)."""
        return self.ramp[0] <= 0.0 and self.targets[ON] <= 0.5

    def run(self, x, y, n):
        """Subclasses: the block's kernel over n samples."""
        raise NotImplementedError

    def reset(self):
        """Silence whatever the block holds (filter memories, delay lines)."""
        self.state[:] = 0.0
        self.settle_state()

    def settle_state(self):
        """Subclasses: the smoothed values jump to their targets."""


@njit(cache=True)
def ramp_toward(ramp, on, step):
    """The on/off ramp's next value for one sample."""
    r = ramp[0]
    if on > 0.5:
        r = r + step if r + step < 1.0 else 1.0
    else:
        r = r - step if r - step > 0.0 else 0.0
    ramp[0] = r
    return r


@njit(cache=True)
def copy_into(x, y, n):
    for i in range(n):
        y[i] = x[i]

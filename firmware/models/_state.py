"""A model's kernel arguments as one object, and its block kernel bound once.

Numba's dispatcher works out the type of every argument on every call, 16 to 19 of them
for a block of an LSTM, GRU or WaveNet. A family's block kernel that takes its buffers as
one structref (`RecurrentState`, `WaveNetState`), called through the compiled entry
resolved when the model is built (`bind`), unboxes one object a block instead: 64-frame
blocks of WaveNet nano went from 8.9-9.5 to 7.5-8.2 us, feather from 16-18.6 to 14.7 us,
LSTM-16 from 7.0 to 6.9 us (2026-12-02). The structref holds the same arrays the model
holds, not copies: what the model writes into them in place (knobs, reset state) the
kernel sees.
"""
import numpy as np
from numba import njit, typeof
from numba.core import types
from numba.core.typing.typeof import Purpose
from numba.experimental import structref


STATE_BYTES = 8192         # the structref and what binding it allocates: in each family's cost


@structref.register
class RecurrentStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class RecurrentState(structref.StructRefProxy):
    """An LSTM's or GRU's arrays and constants (lstm.LSTM lays them out; a GRU's input-side
    and recurrent-side biases are B and B2, and c is unused)."""


RECURRENT_FIELDS = ("WT", "B", "B2", "h", "c", "knobs", "n_knobs", "head_w", "head_b", "skip", "in_gain",
                    "out_gain", "gates", "beff")
structref.define_proxy(RecurrentState, RecurrentStateType, list(RECURRENT_FIELDS))


# Made by cached kernels, not by calling the proxy class: its constructor is a jitted
# function Numba compiles anew in every process (a compile at each start, after `warm` too).
@njit(cache=True)
def new_recurrent_state(WT, B, B2, h, c, knobs, n_knobs, head_w, head_b, skip, in_gain, out_gain, gates, beff):
    return RecurrentState(WT, B, B2, h, c, knobs, n_knobs, head_w, head_b, skip, in_gain, out_gain, gates, beff)


@structref.register
class WaveNetStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class WaveNetState(structref.StructRefProxy):
    """A WaveNet's tables, history and block buffers (wavenet.model.WaveNet lays them out)."""


WAVENET_FIELDS = ("x", "y", "W", "AT", "LT", "LF", "RT", "PT", "hist", "pos", "z", "ybuf", "headout", "tmp",
                  "scratch", "head_scale")
structref.define_proxy(WaveNetState, WaveNetStateType, list(WAVENET_FIELDS))


@njit(cache=True)
def new_wavenet_state(x, y, W, AT, LT, LF, RT, PT, hist, pos, z, ybuf, headout, tmp, scratch, head_scale):
    return WaveNetState(x, y, W, AT, LT, LF, RT, PT, hist, pos, z, ybuf, headout, tmp, scratch, head_scale)


def bind(kernel, *args):
    """`kernel`'s compiled entry for exactly these arguments' types (compiled, or loaded from
    the cache, now: call it with n = 0). The dispatcher itself where Numba keys it otherwise."""
    kernel(*args)
    compiled = kernel.overloads.get(tuple(typeof(a, Purpose.argument) for a in args))
    return kernel if compiled is None else compiled.entry_point


def any_layout(n=1):
    """A float32 array Numba types as any-layout (a strided view): what a block kernel is
    bound for, so that whatever view a caller passes is read by its strides."""
    return np.zeros(2 * n, np.float32)[::2]

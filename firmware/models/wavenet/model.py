"""The WaveNet model: the kernel's tables and buffers, built once from a config and its weights.

`WaveNet.__init__` turns the config into the integer tables the kernel reads (their
columns are in kernel.py), packs every weight (and the per-channel PReLU slopes) into
one float32 array, lays the rings out in one history array and allocates every
per-block buffer, so playing a block allocates nothing.
"""
from typing import NamedTuple

import numpy as np

from firmware.models import activations as act
from firmware.models._state import any_layout, bind, new_wavenet_state
from firmware.models.base import Model, ModelConfigError, pack_weights
from firmware.models.wavenet.kernel import (
    A_C,
    A_FIRST,
    A_HDIL,
    A_HEAD_B,
    A_HEAD_W,
    A_HIN,
    A_HK,
    A_HOUT,
    A_HRING,
    A_IN,
    A_NCOLS,
    A_NLAYERS,
    A_RECH_W,
    F_B,
    F_SHIFT,
    F_W,
    FILM_CONV_PRE,
    L_1X1_B,
    L_1X1_W,
    L_1X1_WT,
    L_ACT,
    L_ACT_SLOPES,
    L_B,
    L_C,
    L_COND,
    L_CONV_B,
    L_CONV_W,
    L_CONV_WT,
    L_DIL,
    L_FAST,
    L_FILM,
    L_FRING,
    L_FT,
    L_GATING,
    L_HH_B,
    L_HH_OUT,
    L_HH_W,
    L_K,
    L_MIX_W,
    L_NCOLS,
    L_RING,
    L_SEC,
    L_SEC_SLOPES,
    L_Z,
    P_NCOLS,
    R_SPAN,
    wavenet_block,
    wavenet_state_mono,
)
from firmware.models.wavenet.params import (
    ARCHITECTURE,
    FILM_SLOTS,
    GATING,
    _activation_spec,
    _alias_safe_row_length,
    _arrays,
    _films,
    _frames,
    _post_head_layers,
    activation_slopes,
    receptive_field,
    weight_shapes,
)


class _Heights(NamedTuple):
    """The most rows a layer needs in each per-block buffer (each at least 1)."""
    z: int          # a layer's z: B rows, 2B when gated or blended
    channels: int
    head: int       # an array's head input or output
    film: int       # one FiLM's (scale; shift)
    cond: int       # condition channels


def _slopes(config, arrays):
    """{name: float32 slopes} of every per-channel PReLU: they travel in W beside the
    weights, one per row."""
    slopes = {}
    for a, arr in enumerate(arrays):
        B = arr.get("bottleneck", arr["channels"])
        for i, layer in enumerate(arr["layers"]):
            q = f"arrays/{a}/layers/{i}/"
            for key in ("activation", "secondary_activation"):
                if key == "activation" or layer.get("gating", "none") != "none":
                    found = activation_slopes(layer.get(key), B, q + key)
                    if found is not None:
                        slopes[q + key + "/slopes"] = found
    post = config.get("post_head")
    if post:
        cin = arrays[-1]["head_size"]
        for i, (cout, _) in enumerate(_post_head_layers(post, cin)):
            found = activation_slopes(post["activation"], cin, "config.post_head.activation")
            if found is not None:
                slopes[f"post_head/{i}/activation/slopes"] = found
            cin = cout
    return slopes


def _layer_row(LT, LF, li, arr, layer, q, offsets, shapes, rings):
    """Fill row li of the layer table (and its activations' parameters in LF) for one
    layer, whose weights are named from `q`; its ring (and its FiLM'd input's) go on
    `rings`. Returns (Z, the rows of its largest FiLM, or 1)."""
    C = arr["channels"]
    B = arr.get("bottleneck", C)
    head1x1 = arr.get("head1x1")
    maxf = 1
    gating = GATING[layer.get("gating", "none")]
    Z = 2 * B if gating else B
    kind, params = _activation_spec(layer["activation"], q)
    LT[li, L_C], LT[li, L_B], LT[li, L_Z] = C, B, Z
    LT[li, L_K], LT[li, L_DIL] = layer["kernel_size"], layer["dilation"]
    LT[li, L_GATING], LT[li, L_ACT] = gating, kind
    LF[li, :4] = params
    if gating:
        sec, sparams = _activation_spec(layer.get("secondary_activation") or "Sigmoid", q)
        LT[li, L_SEC] = sec
        LF[li, 4:] = sparams
    LT[li, L_COND] = arr["condition_size"]
    LT[li, L_CONV_W] = offsets[q + "conv/weight"]
    LT[li, L_CONV_B] = offsets[q + "conv/bias"]
    LT[li, L_MIX_W] = offsets[q + "mixin/weight"]
    LT[li, L_1X1_W] = offsets.get(q + "layer1x1/weight", -1)
    LT[li, L_1X1_B] = offsets.get(q + "layer1x1/bias", -1)
    LT[li, L_HH_OUT] = head1x1 or 0
    LT[li, L_HH_W] = offsets.get(q + "head1x1/weight", -1)
    LT[li, L_HH_B] = offsets.get(q + "head1x1/bias", -1)
    LT[li, L_ACT_SLOPES] = offsets.get(q + "activation/slopes", -1)
    LT[li, L_SEC_SLOPES] = offsets.get(q + "secondary_activation/slopes", -1)
    LT[li, L_RING] = len(rings)
    span = layer["dilation"] * (layer["kernel_size"] - 1)
    rings.append((C, span))
    flags = 0
    for slot, spec in _films(layer, q).items():
        j = FILM_SLOTS.index(slot)
        flags |= 1 << j
        col = L_FT + 3 * j
        LT[li, col + F_W] = offsets[f"{q}film/{slot}/weight"]
        LT[li, col + F_B] = offsets[f"{q}film/{slot}/bias"]
        LT[li, col + F_SHIFT] = int(bool(spec.get("shift", True)))
        maxf = max(maxf, shapes[f"{q}film/{slot}/bias"][0])
    LT[li, L_FILM] = flags
    LT[li, L_FAST] = int(flags == 0 and gating == 0 and arr["condition_size"] == 1
                         and LT[li, L_1X1_W] >= 0 and not head1x1 and kind in act.VECTOR_KINDS)
    if flags & FILM_CONV_PRE:
        LT[li, L_FRING] = len(rings)
        rings.append((C, span))
    return Z, maxf


def _tables(arrays, shapes, weights, offsets, base):
    """The kernel's array, layer and activation tables (AT, LT, LF), the rings they use
    [(rows, span)], the fused layers' transposed weights (to follow the `base` floats
    already in W) and the _Heights of the per-block buffers."""
    transposed = []  # the fused layers' weights, laid out for the register tiles
    n_layers = sum(len(a["layers"]) for a in arrays)
    LT = np.full((n_layers, L_NCOLS), -1, np.int64)
    LF = np.zeros((n_layers, 8), np.float32)
    AT = np.full((len(arrays), A_NCOLS), -1, np.int64)
    rings = []  # (rows, span)
    maxz = maxc = maxh = maxf = maxcond = 1
    li = 0
    for a, arr in enumerate(arrays):
        C = arr["channels"]
        B = arr.get("bottleneck", C)
        head1x1 = arr.get("head1x1")
        hin = head1x1 if head1x1 else B
        p = f"arrays/{a}/"
        AT[a, A_FIRST] = li
        AT[a, A_NLAYERS] = len(arr["layers"])
        AT[a, A_IN] = arr["input_size"]
        AT[a, A_C] = C
        AT[a, A_HIN] = hin
        AT[a, A_HOUT] = arr["head_size"]
        AT[a, A_HK] = arr.get("head_kernel_size", 1)
        AT[a, A_HDIL] = arr.get("head_dilation", 1)
        AT[a, A_RECH_W] = offsets[p + "rechannel/weight"]
        AT[a, A_HEAD_W] = offsets[p + "head/weight"]
        AT[a, A_HEAD_B] = offsets.get(p + "head/bias", -1)
        for i, layer in enumerate(arr["layers"]):
            q = f"{p}layers/{i}/"
            Z, film_rows = _layer_row(LT, LF, li, arr, layer, q, offsets, shapes, rings)
            if LT[li, L_FAST]:
                LT[li, L_CONV_WT] = base + sum(e.size for e in transposed)
                transposed.append(np.asarray(weights[q + "conv/weight"], np.float32).transpose(1, 2, 0).ravel())
                LT[li, L_1X1_WT] = base + sum(e.size for e in transposed)
                transposed.append(np.asarray(weights[q + "layer1x1/weight"], np.float32)[:, :, 0].T.ravel())
            maxz = max(maxz, Z)
            maxf = max(maxf, film_rows)
            maxcond = max(maxcond, arr["condition_size"])
            li += 1
        AT[a, A_HRING] = len(rings)
        rings.append((hin, (AT[a, A_HK] - 1) * AT[a, A_HDIL]))
        maxc = max(maxc, C)
        maxh = max(maxh, hin, arr["head_size"])
    return AT, LT, LF, rings, transposed, _Heights(maxz, maxc, maxh, maxf, maxcond)


def _post_head_table(config, arrays, LF, offsets, rings):
    """The post-stack head's table PT (no rows: none), LF with a row of activation
    parameters per conv added, and its convs [(out_channels, kernel)]. One ring per conv,
    holding its (activated) input, goes on `rings`."""
    n_layers = LF.shape[0]
    post = config.get("post_head")
    post_layers = _post_head_layers(post, arrays[-1]["head_size"]) if post else []
    PT = np.full((len(post_layers), P_NCOLS), -1, np.int64)
    if post_layers:
        LF = np.concatenate([LF, np.zeros((len(post_layers), 8), np.float32)])
    cin = arrays[-1]["head_size"]
    for i, (cout, k) in enumerate(post_layers):
        kind, params = _activation_spec(post["activation"], "config.post_head.activation")
        PT[i] = (cin, cout, k, len(rings), offsets[f"post_head/{i}/weight"], offsets[f"post_head/{i}/bias"], kind,
                 n_layers + i, offsets.get(f"post_head/{i}/activation/slopes", -1))
        LF[n_layers + i, :4] = params
        rings.append((cin, k - 1))
        cin = cout
    return PT, LF, post_layers


def _ring_table(rings):
    """The ring table RT (per ring: its first row in the history array, rows, span) and
    the rows of them all."""
    RT = np.zeros((len(rings), 3), np.int64)
    row = 0
    for j, (rows, span) in enumerate(rings):
        RT[j] = (row, rows, span)
        row += rows
    return RT, row


def _check_condition(condition_model, cond_size):
    """A condition_dsp must give the layers' condition channels; none means the input (1)."""
    if condition_model is not None:
        if getattr(condition_model, "out_channels", 1) != cond_size:
            raise ModelConfigError(
                f"condition_dsp gives {getattr(condition_model, 'out_channels', 1)} channels, "
                f"layers expect condition_size {cond_size}")
    elif cond_size != 1:
        raise ModelConfigError(f"condition_size {cond_size} needs a condition_dsp")


class WaveNet(Model):
    architecture = ARCHITECTURE

    def __init__(self, config, weights, sample_rate=48000, max_block=2048, condition_model=None):
        super().__init__(config, weights, sample_rate, max_block)
        shapes = weight_shapes(config)
        arrays = _arrays(config)
        self.head_scale = np.float32(config.get("head_scale", 1.0))
        self._condition_model = condition_model
        slopes = _slopes(config, arrays)
        self._W, offsets = pack_weights(dict(shapes, **{k: v.shape for k, v in slopes.items()}),
                                        dict(weights, **slopes))
        AT, LT, LF, rings, transposed, heights = _tables(arrays, shapes, weights, offsets, len(self._W))
        if transposed:
            self._W = np.concatenate([self._W] + transposed).astype(np.float32)
        PT, LF, post_layers = _post_head_table(config, arrays, LF, offsets, rings)
        RT, rows = _ring_table(rings)
        self._AT, self._LT, self._LF, self._RT = AT, LT, LF, RT
        self._PT = PT
        self.out_channels = int(post_layers[-1][0] if post_layers else arrays[-1]["head_size"])
        m = _frames(self.max_block)
        self._allocate(rows, m, heights, film_used=bool(np.any(LT[:, L_FILM])))
        self._cond_size = int(arrays[0]["condition_size"])
        _check_condition(condition_model, self._cond_size)
        self._cond = self._x if condition_model is None else np.zeros((self._cond_size, m), np.float32)
        self._rf = receptive_field(config)
        if condition_model is None:
            self._state = new_wavenet_state(self._x, self._y, self._W, self._AT, self._LT, self._LF, self._RT, self._PT,
                                       self._hist, self._pos, self._z, self._ybuf, self._headout, self._tmp,
                                       self._scratch, self.head_scale)
            # any layout: a strided view is read by its strides (see models._state)
            self._run = bind(wavenet_state_mono, any_layout(), any_layout(), 0, self._state)

    def _allocate(self, rows, m, heights, film_used):
        """The history (rows x capacity) and every per-block buffer (m frames)."""
        # One history array for all rings: capacity = the longest span + room for several
        # blocks, so the copy that makes room happens rarely.
        longest = int(self._RT[:, R_SPAN].max())
        capacity = _alias_safe_row_length(longest + max(longest, 4 * m))
        self._hist = np.zeros((rows, capacity), np.float32)
        self._pos = self._RT[:, R_SPAN].copy()
        # FiLM scratch (a single column when no layer has FiLM).
        self._scratch = np.zeros((4 * max(heights), m if film_used else 1), np.float32)
        self._z = np.zeros((heights.z, m), np.float32)
        self._ybuf = np.zeros((heights.channels, m), np.float32)
        self._headout = np.zeros((heights.head, m), np.float32)
        self._tmp = np.zeros(m, np.float32)
        self._x = np.zeros((1, m), np.float32)
        self._y = np.zeros((self.out_channels, m), np.float32)
        self._xin = np.zeros((1, m), np.float32)      # process_multi's input, padded to whole tiles

    @property
    def prewarm_samples(self):
        extra = self._condition_model.prewarm_samples if self._condition_model is not None else 0
        return self._rf + extra

    def reset(self):
        self._hist[:] = 0.0
        self._pos[:] = self._RT[:, R_SPAN]
        if self._condition_model is not None:
            self._condition_model.reset()

    def process_multi(self, x, y, n):
        """x: (1, >=n) input, y: (out_channels, >=n) output; n <= max_block."""
        xin = self._xin
        xin[:, :n] = x[:, :n]
        if self._condition_model is not None:
            self._condition_model.process_multi(xin, self._cond, n)
            cond = self._cond
        else:
            cond = xin
        wavenet_block(xin, cond, self._y, n, self._W, self._AT, self._LT, self._LF, self._RT, self._PT, self._hist,
                      self._pos, self._z, self._ybuf, self._headout, self._tmp, self._scratch, self.head_scale)
        y[:, :n] = self._y[:, :n]

    def _process_block(self, input, output, n):
        if self._condition_model is None:
            self._run(input, output, n, self._state)
            return
        self._x[0, :n] = input[:n]
        self.process_multi(self._x, self._y, n)
        output[:n] = self._y[0, :n]

"""WaveNet as NeuralAmpModelerCore defines it (classic "A1" presets and the 0.6/0.7 additions).

One compiled kernel serves every WaveNet: the layer structure travels as integer tables
and all weights as one flat float32 array, so a new model file of any size, depth or
dilation pattern reuses the cached machine code instead of compiling again.

Per layer array (C channels, bottleneck B, Z = B or 2B when gated/blended):

    h = rechannel @ x                         (array 0: x is the input; later: previous h)
    head = 0 (array 0) or previous array's head output
    for each layer:  z = conv_dilated(h) + bias + mixin @ condition
                     a = act(z)  |  act(z[:B]) * sec(z[B:])  |  blend
                     head += a  (or head1x1 @ a + b)
                     h = h + layer1x1 @ a + b  (or h when layer1x1 is inactive)
    head_out = causal conv of head (kernel head_kernel_size) + optional bias
    output = head_scale * head_out of the last array

Each layer's input is kept in a ring, channel-major `[C, capacity]` rows of one history
array; when the write position nears the end, the last `span` frames move to the front,
so every dilated tap is one contiguous slice and no index wraps inside the inner loop.
"""
import numpy as np

from ._jit import kernel
from . import activations as act
from ._gemm import conv_acc, fill_rows, gemm_acc, matmul_acc
from .base import Model, ModelConfigError, positive_int, require

ARCHITECTURE = "WaveNet"

# Layer table columns.
(L_C, L_B, L_Z, L_K, L_DIL, L_GATING, L_ACT, L_SEC, L_COND, L_CONV_W, L_CONV_B, L_MIX_W,
 L_1X1_W, L_1X1_B, L_HH_OUT, L_HH_W, L_HH_B, L_RING, L_NCOLS) = range(19)
# Array table columns.
(A_FIRST, A_NLAYERS, A_IN, A_C, A_HIN, A_HOUT, A_HK, A_HDIL, A_RECH_W, A_HEAD_W, A_HEAD_B,
 A_HRING, A_NCOLS) = range(13)
# Ring table columns: first row in the history array, rows, history span in frames.
R_ROW, R_ROWS, R_SPAN = range(3)

GATING = {"none": 0, "gated": 1, "blended": 2}


@kernel
def wavenet_block(x, cond, y, n, W, AT, LT, LF, RT, hist, pos, z, ybuf, headout, tmp, head_scale):
    """Run one block of n frames. x: (in, >=n) input; cond: (cond, >=n); y: (out, >=n).

    hist: every ring stacked as rows of one (rows, capacity) array, so a ring is a row
    offset and no view has to be built per layer.
    """
    cap = hist.shape[1]
    # Make room in every ring so this block's frames land in one contiguous run.
    for j in range(RT.shape[0]):
        if pos[j] + n > cap:
            span = RT[j, R_SPAN]
            p = pos[j]
            for r in range(RT[j, R_ROW], RT[j, R_ROW] + RT[j, R_ROWS]):
                row = hist[r]
                for t in range(span):
                    row[t] = row[p - span + t]
            pos[j] = span

    for a in range(AT.shape[0]):
        C = AT[a, A_C]
        hin = AT[a, A_HIN]
        hrow = RT[AT[a, A_HRING], R_ROW]
        ph = pos[AT[a, A_HRING]]
        first = AT[a, A_FIRST]
        nl = AT[a, A_NLAYERS]

        # Head accumulator for this block starts at zero or at the previous array's head.
        if a == 0:
            fill_rows(hist, hrow, ph, hin, W, -1, n)
        else:
            for r in range(hin):
                hist[hrow + r, ph:ph + n] = headout[r, :n]

        # Rechannel into the first layer's ring.
        row0 = RT[LT[first, L_RING], R_ROW]
        p0 = pos[LT[first, L_RING]]
        fill_rows(hist, row0, p0, C, W, -1, n)
        if a == 0:
            gemm_acc(hist, row0, p0, C, W, AT[a, A_RECH_W], AT[a, A_IN], 1, x, 0, 0, AT[a, A_IN], n)
        else:
            gemm_acc(hist, row0, p0, C, W, AT[a, A_RECH_W], AT[a, A_IN], 1, ybuf, 0, 0, AT[a, A_IN], n)

        for li in range(first, first + nl):
            B = LT[li, L_B]
            Z = LT[li, L_Z]
            K = LT[li, L_K]
            d = LT[li, L_DIL]
            row = RT[LT[li, L_RING], R_ROW]
            p = pos[LT[li, L_RING]]

            # z = bias + input mixin of the condition + dilated causal conv of h.
            nc = LT[li, L_COND]
            if nc == 1:
                # One condition channel (the usual case): bias and mixin in a single pass.
                c0 = cond[0, :n]
                for r in range(Z):
                    zr = z[r, :n]
                    bias = W[LT[li, L_CONV_B] + r]
                    m = W[LT[li, L_MIX_W] + r]
                    for t in range(n):
                        zr[t] = bias + m * c0[t]
            else:
                fill_rows(z, 0, 0, Z, W, LT[li, L_CONV_B], n)
                gemm_acc(z, 0, 0, Z, W, LT[li, L_MIX_W], nc, 1, cond, 0, 0, nc, n)
            conv_acc(z, 0, 0, Z, W, LT[li, L_CONV_W], C, K, hist, row, p, d, n)

            # Activation (plain, gated or blended); the result is z[:B].
            gating = LT[li, L_GATING]
            for r in range(B):
                if gating == 2:
                    tmp[:n] = z[r, :n]
                act.apply_row(z[r], n, LT[li, L_ACT], LF[li, 0], LF[li, 1], LF[li, 2], LF[li, 3])
                if gating != 0:
                    g = z[B + r]
                    act.apply_row(g, n, LT[li, L_SEC], LF[li, 4], LF[li, 5], LF[li, 6], LF[li, 7])
                    zr = z[r]
                    if gating == 1:
                        for t in range(n):
                            zr[t] = zr[t] * g[t]
                    else:
                        for t in range(n):
                            zr[t] = g[t] * zr[t] + (np.float32(1.0) - g[t]) * tmp[t]

            # Skip path into the head accumulator.
            hh = LT[li, L_HH_OUT]
            if hh > 0:
                if LT[li, L_HH_B] >= 0:
                    for r in range(hh):
                        bias = W[LT[li, L_HH_B] + r]
                        acc = hist[hrow + r, ph:ph + n]
                        for t in range(n):
                            acc[t] += bias
                matmul_acc(hist, hrow, ph, hh, W, LT[li, L_HH_W], z, 0, 0, B, n)
            else:
                for r in range(B):
                    acc = hist[hrow + r, ph:ph + n]
                    zr = z[r, :n]
                    for t in range(n):
                        acc[t] += zr[t]

            # Residual path: the next layer's ring, or ybuf after the array's last layer.
            if li == first + nl - 1:
                dst = ybuf
                drow0 = 0
                q = 0
            else:
                dst = hist
                drow0 = RT[LT[li + 1, L_RING], R_ROW]
                q = pos[LT[li + 1, L_RING]]
            b1 = LT[li, L_1X1_B]
            for r in range(C):
                src = hist[row + r, p:p + n]
                drow = dst[drow0 + r, q:q + n]
                bias = W[b1 + r] if b1 >= 0 else np.float32(0.0)
                for t in range(n):
                    drow[t] = src[t] + bias
            if LT[li, L_1X1_W] >= 0:
                matmul_acc(dst, drow0, q, C, W, LT[li, L_1X1_W], z, 0, 0, B, n)

        # Head rechannel: a causal conv over the accumulated head (kernel >= 1).
        hout = AT[a, A_HOUT]
        fill_rows(headout, 0, 0, hout, W, AT[a, A_HEAD_B], n)
        conv_acc(headout, 0, 0, hout, W, AT[a, A_HEAD_W], hin, AT[a, A_HK], hist, hrow, ph, AT[a, A_HDIL], n)

    last_out = AT[AT.shape[0] - 1, A_HOUT]
    for r in range(last_out):
        yr = y[r, :n]
        hr = headout[r, :n]
        for t in range(n):
            yr[t] = head_scale * hr[t]

    for j in range(RT.shape[0]):
        pos[j] += n


def _alias_safe_row_length(n):
    """A row length >= n whose byte stride is not close to a multiple of 4 KiB.

    Rows a multiple of 4 KiB apart make the loads of one output row and the stores of
    the next look alike to the CPU ("4K aliasing"): the 1x1 convolution into the history
    ran at 3 GMAC/s instead of 12 with 2048-float rows.
    """
    n = -(-n // 16) * 16
    while not 256 <= (n * 4) % 4096 <= 3840:
        n += 16
    return n


def _activation_spec(spec, where):
    """(id, 4 float params) from a NAM-style activation name or object."""
    if spec is None:
        raise ModelConfigError(f"missing activation at '{where}'")
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ModelConfigError(f"bad activation at '{where}': {spec!r}")
    try:
        kind = act.activation_id(spec["type"])
    except KeyError as e:
        raise ModelConfigError(f"{where}: {e.args[0]}") from None
    params = [0.0, 0.0, 0.0, 0.0]
    if kind == act.LEAKYRELU:
        params[0] = float(spec.get("negative_slope", 0.01))
    elif kind == act.PRELU:
        slopes = spec.get("negative_slopes", spec.get("negative_slope", 0.01))
        slopes = np.atleast_1d(np.asarray(slopes, dtype=np.float64))
        if not np.all(slopes == slopes[0]):
            raise ModelConfigError(f"{where}: PReLU with per-channel slopes is not supported")
        params[0] = float(slopes[0])
    elif kind == act.LEAKYHARDTANH:
        params = [float(spec.get("min_val", -1.0)), float(spec.get("max_val", 1.0)),
                  float(spec.get("min_slope", 0.01)), float(spec.get("max_slope", 0.01))]
    return kind, params


def _arrays(config):
    arrays = require(config, "layer_arrays", "config")
    if not isinstance(arrays, list) or not arrays:
        raise ModelConfigError("'config.layer_arrays' must be a non-empty list")
    return arrays


def weight_shapes(config):
    """Every weight array this config needs, in file order: {name: shape}."""
    shapes = {}
    prev_head = None
    prev_channels = None
    for a, arr in enumerate(_arrays(config)):
        w = f"config.layer_arrays[{a}]"
        n_in = positive_int(require(arr, "input_size", w), w + ".input_size")
        n_cond = positive_int(require(arr, "condition_size", w), w + ".condition_size")
        C = positive_int(require(arr, "channels", w), w + ".channels")
        B = positive_int(arr.get("bottleneck", C), w + ".bottleneck")
        head_size = positive_int(require(arr, "head_size", w), w + ".head_size")
        hk = positive_int(arr.get("head_kernel_size", 1), w + ".head_kernel_size")
        head1x1 = arr.get("head1x1")
        hin = positive_int(head1x1, w + ".head1x1") if head1x1 else B
        layer1x1 = bool(arr.get("layer1x1", True))
        if not layer1x1 and B != C:
            raise ModelConfigError(f"{w}: layer1x1 inactive needs bottleneck == channels")
        if a > 0 and n_in != prev_channels:
            raise ModelConfigError(f"{w}.input_size ({n_in}) != channels of the previous array ({prev_channels})")
        if a > 0 and hin != prev_head:
            raise ModelConfigError(f"{w}: head input ({hin}) != head_size of the previous array ({prev_head})")
        if a == 0 and n_in != 1:
            raise ModelConfigError(f"{w}.input_size must be 1 (mono audio), got {n_in}")
        layers = require(arr, "layers", w)
        if not isinstance(layers, list) or not layers:
            raise ModelConfigError(f"'{w}.layers' must be a non-empty list")
        p = f"arrays/{a}/"
        shapes[p + "rechannel/weight"] = (C, n_in, 1)
        for i, layer in enumerate(layers):
            lw = f"{w}.layers[{i}]"
            K = positive_int(require(layer, "kernel_size", lw), lw + ".kernel_size")
            positive_int(require(layer, "dilation", lw), lw + ".dilation")
            gating = layer.get("gating", "none")
            if gating not in GATING:
                raise ModelConfigError(f"{lw}.gating must be one of {sorted(GATING)}, got {gating!r}")
            _activation_spec(layer.get("activation"), lw + ".activation")
            if gating != "none":
                _activation_spec(layer.get("secondary_activation") or "Sigmoid", lw + ".secondary_activation")
            Z = 2 * B if gating != "none" else B
            q = f"{p}layers/{i}/"
            shapes[q + "conv/weight"] = (Z, C, K)
            shapes[q + "conv/bias"] = (Z,)
            shapes[q + "mixin/weight"] = (Z, n_cond, 1)
            if layer1x1:
                shapes[q + "layer1x1/weight"] = (C, B, 1)
                shapes[q + "layer1x1/bias"] = (C,)
            if head1x1:
                shapes[q + "head1x1/weight"] = (hin, B, 1)
                shapes[q + "head1x1/bias"] = (hin,)
        shapes[p + "head/weight"] = (head_size, hin, hk)
        if arr.get("head_bias", False):
            shapes[p + "head/bias"] = (head_size,)
        prev_head, prev_channels = head_size, C
    return shapes


def receptive_field(config):
    """NAM's prewarm length: 1 + sum over arrays of (dilations x (kernel - 1)) + head kernel - 1."""
    rf = 1
    for arr in _arrays(config):
        for layer in arr["layers"]:
            rf += layer["dilation"] * (layer["kernel_size"] - 1)
        rf += (arr.get("head_kernel_size", 1) - 1) * arr.get("head_dilation", 1)
    return rf


class WaveNet(Model):
    architecture = ARCHITECTURE

    def __init__(self, config, weights, sample_rate=48000, max_block=2048, condition_model=None):
        super().__init__(config, weights, sample_rate, max_block)
        shapes = weight_shapes(config)
        arrays = _arrays(config)
        self.head_scale = np.float32(config.get("head_scale", 1.0))
        self._condition_model = condition_model

        flat, offsets = [], {}
        total = 0
        for name, shape in shapes.items():
            arr = np.ascontiguousarray(weights[name], dtype=np.float32).reshape(-1)
            if arr.size != int(np.prod(shape)):
                raise ModelConfigError(f"weight '{name}' has {arr.size} values, expected shape {shape}")
            offsets[name] = total
            flat.append(arr)
            total += arr.size
        self._W = np.concatenate(flat) if flat else np.zeros(0, np.float32)

        n_layers = sum(len(a["layers"]) for a in arrays)
        LT = np.full((n_layers, L_NCOLS), -1, np.int64)
        LF = np.zeros((n_layers, 8), np.float32)
        AT = np.full((len(arrays), A_NCOLS), -1, np.int64)
        rings = []  # (rows, span)
        maxz = maxc = maxh = 1
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
                LT[li, L_RING] = len(rings)
                rings.append((C, layer["dilation"] * (layer["kernel_size"] - 1)))
                maxz = max(maxz, Z)
                li += 1
            AT[a, A_HRING] = len(rings)
            rings.append((hin, (AT[a, A_HK] - 1) * AT[a, A_HDIL]))
            maxc = max(maxc, C)
            maxh = max(maxh, hin, arr["head_size"])

        # One history array for all rings: capacity = the longest span + room for several
        # blocks, so the copy that makes room happens rarely.
        RT = np.zeros((len(rings), 3), np.int64)
        row = 0
        for j, (rows, span) in enumerate(rings):
            RT[j] = (row, rows, span)
            row += rows
        longest = int(RT[:, R_SPAN].max())
        capacity = _alias_safe_row_length(longest + max(longest, 4 * self.max_block))
        self._hist = np.zeros((row, capacity), np.float32)
        self._pos = RT[:, R_SPAN].copy()
        self._AT, self._LT, self._LF, self._RT = AT, LT, LF, RT
        m = self.max_block
        self._z = np.zeros((maxz, m), np.float32)
        self._ybuf = np.zeros((maxc, m), np.float32)
        self._headout = np.zeros((maxh, m), np.float32)
        self._tmp = np.zeros(m, np.float32)
        self._x = np.zeros((1, m), np.float32)
        self.out_channels = int(arrays[-1]["head_size"])
        self._y = np.zeros((self.out_channels, m), np.float32)
        self._cond_size = int(arrays[0]["condition_size"])
        if condition_model is not None:
            if getattr(condition_model, "out_channels", 1) != self._cond_size:
                raise ModelConfigError(
                    f"condition_dsp gives {getattr(condition_model, 'out_channels', 1)} channels, "
                    f"layers expect condition_size {self._cond_size}")
        elif self._cond_size != 1:
            raise ModelConfigError(f"condition_size {self._cond_size} needs a condition_dsp")
        self._cond = self._x if condition_model is None else np.zeros((self._cond_size, m), np.float32)
        self._rf = receptive_field(config)

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
        if self._condition_model is not None:
            self._condition_model.process_multi(x, self._cond, n)
            cond = self._cond
        else:
            cond = x
        wavenet_block(x, cond, y, n, self._W, self._AT, self._LT, self._LF, self._RT, self._hist,
                      self._pos, self._z, self._ybuf, self._headout, self._tmp, self.head_scale)

    def _process_block(self, input, output, n):
        self._x[0, :n] = input[:n]
        self.process_multi(self._x, self._y, n)
        output[:n] = self._y[0, :n]

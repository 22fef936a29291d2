"""WaveNet configs as numbers: parsing and checks, activation specs, weight shapes,
receptive field and cost. Nothing here allocates a model's buffers or compiles a kernel,
so the importers and the budget check can ask a config's size before a weight is read.

A config (see the package's docstring): `{"layer_arrays": [array, ...], "head_scale": s,
"post_head": {...}}`; each array names its channels, bottleneck, head and layers, each
layer its kernel size, dilation, activation, gating and FiLM slots.
"""
import numpy as np

from firmware.models import activations as act
from firmware.models._state import STATE_BYTES
from firmware.models.base import Cost, ModelConfigError, positive_int, require

ARCHITECTURE = "WaveNet"

GATING = {"none": 0, "gated": 1, "blended": 2}
# NAM's FiLM slots, in its weight order; bit i of a layer's L_FILM flags is slot i.
FILM_SLOTS = ("conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
              "activation_pre_film", "activation_post_film", "layer1x1_post_film", "head1x1_post_film")


def _frames(max_block):
    """Columns of a per-block buffer: max_block rounded up to whole 16-frame tiles."""
    return -(-int(max_block) // 16) * 16


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
        # One slope for every channel, or one per channel (NAM's "negative_slopes"): the
        # first stands in here; activation_slopes gives the rest.
        params[0] = float(_prelu_slopes(spec, where)[0])
    elif kind == act.LEAKYHARDTANH:
        params = [float(spec.get("min_val", -1.0)), float(spec.get("max_val", 1.0)),
                  float(spec.get("min_slope", 0.01)), float(spec.get("max_slope", 0.01))]
    return kind, params


def _prelu_slopes(spec, where):
    # As Core reads it: "negative_slope" wins over "negative_slopes"; neither means 0.01.
    if "negative_slope" in spec:
        value = spec["negative_slope"]
    else:
        value = spec.get("negative_slopes", 0.01)
    try:
        slopes = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise ModelConfigError(f"{where}: PReLU slopes must be numbers, got {value!r}") from None
    if slopes.ndim != 1 or slopes.size == 0 or not np.all(np.isfinite(slopes)):
        raise ModelConfigError(f"{where}: PReLU slopes must be a non-empty list of finite numbers")
    return slopes


def activation_slopes(spec, channels, where):
    """The per-channel slopes of a PReLU with more than one distinct slope, as float32
    (checked to be one per channel), or None when `spec`'s parameters serve every channel."""
    if isinstance(spec, str) or not isinstance(spec, dict) or act.activation_id(spec.get("type")) != act.PRELU:
        return None
    slopes = _prelu_slopes(spec, where)
    if np.all(slopes == slopes[0]):
        return None
    if slopes.size != channels:
        raise ModelConfigError(f"{where}: PReLU has {slopes.size} slopes for {channels} channels")
    return slopes.astype(np.float32)


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
            activation_slopes(layer.get("activation"), B, lw + ".activation")
            if gating != "none":
                _activation_spec(layer.get("secondary_activation") or "Sigmoid", lw + ".secondary_activation")
                activation_slopes(layer.get("secondary_activation"), B, lw + ".secondary_activation")
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
            dims = {"conv_pre_film": C, "conv_post_film": Z, "input_mixin_pre_film": n_cond,
                    "input_mixin_post_film": Z, "activation_pre_film": Z, "activation_post_film": B,
                    "layer1x1_post_film": C, "head1x1_post_film": hin}
            for slot, spec in _films(layer, lw).items():
                if slot == "layer1x1_post_film" and not layer1x1:
                    raise ModelConfigError(f"{lw}.film.{slot} needs layer1x1")
                if slot == "head1x1_post_film" and not head1x1:
                    raise ModelConfigError(f"{lw}.film.{slot} needs head1x1")
                rows = dims[slot] * (2 if spec.get("shift", True) else 1)
                shapes[f"{q}film/{slot}/weight"] = (rows, n_cond, 1)
                shapes[f"{q}film/{slot}/bias"] = (rows,)
        shapes[p + "head/weight"] = (head_size, hin, hk)
        if arr.get("head_bias", False):
            shapes[p + "head/bias"] = (head_size,)
        prev_head, prev_channels = head_size, C
    post = config.get("post_head")
    if post:
        cin = prev_head
        for i, (cout, k) in enumerate(_post_head_layers(post, prev_head)):
            # The head's one activation comes before each of its convs, on cin channels.
            activation_slopes(post["activation"], cin, f"config.post_head.activation (before conv {i})")
            shapes[f"post_head/{i}/weight"] = (cout, cin, k)
            shapes[f"post_head/{i}/bias"] = (cout,)
            cin = cout
    return shapes


def _films(layer, where):
    """{slot: {"shift": bool}} of a layer's active FiLM slots, checked."""
    films = layer.get("film") or {}
    if not isinstance(films, dict):
        raise ModelConfigError(f"'{where}.film' must be an object")
    for slot, spec in films.items():
        if slot not in FILM_SLOTS:
            raise ModelConfigError(f"'{where}.film.{slot}' is not a FiLM slot (known: {', '.join(FILM_SLOTS)})")
        if not isinstance(spec, dict):
            raise ModelConfigError(f"'{where}.film.{slot}' must be an object")
    return {slot: films[slot] for slot in FILM_SLOTS if slot in films}


def _post_head_layers(post, in_channels):
    """[(out_channels, kernel_size)] of the post-stack head's convs, checked."""
    w = "config.post_head"
    if not isinstance(post, dict):
        raise ModelConfigError(f"'{w}' must be an object")
    kernels = require(post, "kernel_sizes", w)
    if not isinstance(kernels, list) or not kernels:
        raise ModelConfigError(f"'{w}.kernel_sizes' must be a non-empty list")
    channels = positive_int(require(post, "channels", w), w + ".channels")
    out = positive_int(require(post, "out_channels", w), w + ".out_channels")
    _activation_spec(require(post, "activation", w), w + ".activation")
    return [(out if i == len(kernels) - 1 else channels, positive_int(k, f"{w}.kernel_sizes[{i}]"))
            for i, k in enumerate(kernels)]


def receptive_field(config):
    """NAM's prewarm length: 1 + sum over arrays of (dilations x (kernel - 1)) + head kernel - 1,
    + (kernel - 1) of each post-stack head conv."""
    rf = 1
    for arr in _arrays(config):
        for layer in arr["layers"]:
            rf += layer["dilation"] * (layer["kernel_size"] - 1)
        rf += (arr.get("head_kernel_size", 1) - 1) * arr.get("head_dilation", 1)
    if config.get("post_head"):
        rf += sum(k - 1 for k in config["post_head"]["kernel_sizes"])
    return rf


def cost(config, max_block=2048, sample_rate=48000):
    """The memory and per-sample work this config implies (see base.Cost), computed the
    way __init__ sizes its buffers but from the numbers alone, so a file that claims a
    2^31 dilation or 10^5 channels is refused before anything is allocated."""
    arrays = _arrays(config)
    weights = work = layers = 0
    prewarm = 1
    rings = []                                   # (rows, span) as __init__ makes them
    maxz = maxc = maxh = maxf = 1
    film_used = False
    widest = deepest = ("config.layer_arrays[0].channels", 0)
    longest, longest_span = ("config.layer_arrays[0].layers[0].dilation", 0), -1
    for a, arr in enumerate(arrays):
        w = f"config.layer_arrays[{a}]"
        if not isinstance(arr, dict):
            raise ModelConfigError(f"'{w}' must be an object")
        n_in = positive_int(require(arr, "input_size", w), w + ".input_size")
        nc = positive_int(require(arr, "condition_size", w), w + ".condition_size")
        C = positive_int(require(arr, "channels", w), w + ".channels")
        B = positive_int(arr.get("bottleneck", C), w + ".bottleneck")
        hout = positive_int(require(arr, "head_size", w), w + ".head_size")
        hk = positive_int(arr.get("head_kernel_size", 1), w + ".head_kernel_size")
        hdil = positive_int(arr.get("head_dilation", 1), w + ".head_dilation")
        hin = positive_int(arr["head1x1"], w + ".head1x1") if arr.get("head1x1") else B
        layer_list = require(arr, "layers", w)
        if not isinstance(layer_list, list):
            raise ModelConfigError(f"'{w}.layers' must be a list")
        weights += C * n_in + hout * hin * hk + hout
        work += C * n_in + hout * hin * hk
        widest = max(widest, (w + ".channels", C), (w + ".bottleneck", B), (w + ".head1x1", hin),
                     (w + ".head_size", hout), key=lambda f: f[1])
        for i, layer in enumerate(layer_list):
            lw = f"{w}.layers[{i}]"
            if not isinstance(layer, dict):
                raise ModelConfigError(f"'{lw}' must be an object")
            K = positive_int(require(layer, "kernel_size", lw), lw + ".kernel_size")
            d = positive_int(require(layer, "dilation", lw), lw + ".dilation")
            Z = B if layer.get("gating", "none") == "none" else 2 * B
            per = Z * C * K + Z + Z * nc + (C * B + C if arr.get("layer1x1", True) else 0)
            per += hin * B + hin if arr.get("head1x1") else 0
            films = layer.get("film") or {}
            for slot in films if isinstance(films, dict) else ():
                rows = 2 * max(C, Z, nc, hin)
                per += rows * nc + rows
                maxf = max(maxf, rows)
                film_used = True
            weights += per
            work += per + Z                      # + one activation per z row
            span = d * (K - 1)
            prewarm += span
            rings.append((C, span))
            if isinstance(films, dict) and "conv_pre_film" in films:
                rings.append((C, span))
            if span > longest_span:
                longest, longest_span = (lw + ".dilation", d), span
            deepest = (w + ".layers", layers + i + 1)
            maxz = max(maxz, Z)
        layers += len(layer_list)
        rings.append((hin, (hk - 1) * hdil))
        prewarm += (hk - 1) * hdil
        if (hk - 1) * hdil > longest_span:
            longest, longest_span = (w + ".head_kernel_size", hk), (hk - 1) * hdil
        maxc, maxh = max(maxc, C), max(maxh, hin, hout)
    post = config.get("post_head")
    if post:
        cin = require(arrays[-1], "head_size", "config.layer_arrays[-1]")
        for i, (cout, k) in enumerate(_post_head_layers(post, cin)):
            weights += cout * cin * k + cout
            work += cout * cin * k + cout
            rings.append((cin, k - 1))
            prewarm += k - 1
            if k - 1 > longest_span:
                longest, longest_span = (f"config.post_head.kernel_sizes[{i}]", k), k - 1
            widest = max(widest, ("config.post_head.channels", cout), key=lambda f: f[1])
            cin = cout
            layers += 1
            deepest = ("config.post_head.kernel_sizes", layers)
    rows = sum(r for r, _ in rings)
    span = max(s for _, s in rings)
    m = _frames(max_block)
    capacity = span + max(span, 4 * m) + 1024               # _alias_safe_row_length adds < 1024
    history = rows * capacity
    height = max(maxz, maxf, maxc, maxh)
    buffers = (maxz + maxc + maxh + 4) * m + 4 * height * (m if film_used else 1)
    memory = (4 * (2 * weights + history + buffers) + 8 * (45 * layers + 16 * len(arrays) + 3 * len(rings))
              + STATE_BYTES)
    drives_memory = longest if history * 4 > weights else widest
    return Cost(memory, work, prewarm, layers,
                {"memory": drives_memory, "work": widest, "prewarm": longest, "layers": deepest})

"""NAM WaveNets, classic ("A1") and the 0.6/0.7 layout ("A2"), to the pedal's WaveNet config
(firmware/models/wavenet) and its named weights.

The .nam config is read and checked field by field (`_layer_array`), the file's weight
order is laid out from it (`_wavenet_file_layout`) and the flat list cut along it
(`_read_convs`); a grouped convolution becomes a block-diagonal dense one. The last
weight is the head scale, which Core uses instead of `config.head_scale`. A slimmable
WaveNet is cut to one width by `slimmable`.
"""
import numpy as np

from firmware.core import limits
from firmware.importers._common import field, integer
from firmware.importers.nam import slimmable
from firmware.models import ModelConfigError, budget, modelfile
from firmware.models.wavenet import GATING, weight_shapes
from firmware.models.wavenet.params import _activation_spec

FILM_KEYS = ("conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
             "activation_pre_film", "activation_post_film", "layer1x1_post_film", "head1x1_post_film")


def convert_wavenet(config, flat, path, where, width=None):
    """(config, weights, widths): widths is None, or for a slimmable WaveNet the
    metadata["submodel"] entry describing its widths and the one imported."""
    w = where + "config"
    if config.get("in_channels", 1) != 1:
        raise modelfile.ModelFileError(path, f"'{w}.in_channels' must be 1 (mono audio), got {config['in_channels']!r}")
    layers = field(config, "layers", path, w, list)
    if not layers:
        raise modelfile.ModelFileError(path, f"'{w}.layers' is empty")
    limits.check_count(path, w + ".layers", len(layers))
    parsed = [_layer_array(lc, path, f"{w}.layers[{i}]") for i, lc in enumerate(layers)]
    arrays = [arr for arr, _ in parsed]
    cfg = {"layer_arrays": arrays}
    if config.get("head") is not None:
        cfg["post_head"] = _post_head(config["head"], path, w + ".head")
    try:
        weight_shapes(cfg)
    except ModelConfigError as e:
        raise modelfile.ModelFileError(path, f"'{w}' cannot be played: {e}") from None
    budget.check_model(path, "WaveNet", cfg)      # before a weight is cut out or densified
    if any(g["slimmable"] for _, g in parsed):
        slimmable.check(cfg, [g for _, g in parsed], path, w)
    weights = _read_convs(flat, _wavenet_file_layout(cfg, [g for _, g in parsed]), path, where, extra=1)
    # Core takes the head scale from the last weight, not from config.head_scale.
    cfg["head_scale"] = float(flat[-1])
    allowed = [g["slimmable"] for _, g in parsed]
    if not any(allowed):
        return cfg, weights, None
    return slimmable.slim(cfg, weights, allowed, width, path, w)


def _post_head(head, path, w):
    """The post-stack head (NAM's detail::Head): per kernel size, activation then conv."""
    if not isinstance(head, dict):
        raise modelfile.ModelFileError(path, f"'{w}' must be an object")
    kernels = field(head, "kernel_sizes", path, w, list)
    if not kernels:
        raise modelfile.ModelFileError(path, f"'{w}.kernel_sizes' is empty")
    limits.check_count(path, w + ".kernel_sizes", len(kernels))
    post = {"channels": integer(field(head, "channels", path, w), path, w + ".channels"),
            "out_channels": integer(field(head, "out_channels", path, w), path, w + ".out_channels"),
            "activation": field(head, "activation", path, w),
            "kernel_sizes": [integer(k, path, f"{w}.kernel_sizes[{i}]") for i, k in enumerate(kernels)]}
    if post["out_channels"] != 1:
        raise modelfile.ModelFileError(path, f"'{w}.out_channels' must be 1 (mono output), got {post['out_channels']}")
    try:
        _activation_spec(post["activation"], w + ".activation")
    except ModelConfigError as e:
        raise modelfile.ModelFileError(path, str(e)) from None
    return post


def _wavenet_file_layout(cfg, groups):
    """The .nam weight order of a WaveNet: [(our name or None to drop, out, in, kernel, groups, bias)].

    Per array: rechannel; per layer conv, mixin, layer1x1, head1x1, then the FiLM slots in
    NAM's order; the head rechannel. Then the post-stack head's convs."""
    layout = []
    for a, (arr, g) in enumerate(zip(cfg["layer_arrays"], groups)):
        p = f"arrays/{a}/"
        C, B, nc = arr["channels"], arr["bottleneck"], arr["condition_size"]
        hin = arr.get("head1x1") or B
        layout.append((p + "rechannel", C, arr["input_size"], 1, 1, False))
        for i, layer in enumerate(arr["layers"]):
            q = f"{p}layers/{i}/"
            Z = B if layer["gating"] == "none" else 2 * B
            layout.append((q + "conv", Z, C, layer["kernel_size"], g["conv"], True))
            layout.append((q + "mixin", Z, nc, 1, g["mixin"], False))
            if arr.get("layer1x1", True):
                layout.append((q + "layer1x1", C, B, 1, g["layer1x1"], True))
            if arr.get("head1x1"):
                layout.append((q + "head1x1", hin, B, 1, g["head1x1"], True))
            dims = {"conv_pre_film": C, "conv_post_film": Z, "input_mixin_pre_film": nc, "input_mixin_post_film": Z,
                    "activation_pre_film": Z, "activation_post_film": B, "layer1x1_post_film": C,
                    "head1x1_post_film": hin}
            kept = layer.get("film", {})
            for slot, (shift, film_groups) in g["film"].items():
                name = f"{q}film/{slot}" if slot in kept else None
                layout.append((name, dims[slot] * (2 if shift else 1), nc, 1, film_groups, True))
        layout.append((p + "head", arr["head_size"], hin, arr.get("head_kernel_size", 1), 1,
                       bool(arr.get("head_bias"))))
    post = cfg.get("post_head")
    if post:
        cin = cfg["layer_arrays"][-1]["head_size"]
        for i, k in enumerate(post["kernel_sizes"]):
            cout = post["out_channels"] if i == len(post["kernel_sizes"]) - 1 else post["channels"]
            layout.append((f"post_head/{i}", cout, cin, k, 1, True))
            cin = cout
    return layout


def _read_convs(flat, layout, path, where, extra=0):
    """Named dense (out, in, k) weights and biases read in file order; a grouped conv's
    (out, in / groups, k) weights become a block-diagonal dense one."""
    for name, out, inp, k, g, bias in layout:
        if inp % g or out % g:
            raise modelfile.ModelFileError(
                path, f"grouped convolution {name or 'FiLM'}: {inp} inputs and {out} outputs do not divide "
                      f"into {g} groups")
    need = sum(out * (inp // g) * k + (out if bias else 0) for _, out, inp, k, g, bias in layout) + extra
    if flat.size != need:
        raise modelfile.ModelFileError(path, f"'{where}weights' has {flat.size} values, the config needs {need}")
    weights, pos = {}, 0
    for name, out, inp, k, g, bias in layout:
        per_in, per_out = inp // g, out // g
        n = out * per_in * k
        packed = flat[pos:pos + n].reshape(out, per_in, k)
        pos += n
        if g == 1:
            dense = packed.copy()
        else:
            dense = np.zeros((out, inp, k), np.float32)
            for j in range(g):
                dense[j * per_out:(j + 1) * per_out, j * per_in:(j + 1) * per_in] = packed[j * per_out:(j + 1) * per_out]
        if name is not None:
            weights[name + "/weight"] = dense
        if bias:
            if name is not None:
                weights[name + "/bias"] = flat[pos:pos + out].copy()
            pos += out
    return weights


def _per_layer(value, n, path, name):
    """A per-layer list: a list of n entries, or one value repeated."""
    if isinstance(value, list):
        if len(value) != n:
            raise modelfile.ModelFileError(path, f"'{name}' has {len(value)} entries, the array has {n} layers")
        return list(value)
    return [value] * n


def _layer_array(lc, path, w):
    if not isinstance(lc, dict):
        raise modelfile.ModelFileError(path, f"'{w}' must be an object")
    groups = {"conv": integer(lc.get("groups_input", 1), path, w + ".groups_input"),
              "mixin": integer(lc.get("groups_input_mixin", 1), path, w + ".groups_input_mixin"),
              "layer1x1": 1, "head1x1": 1, "film": {}}
    for key in FILM_KEYS:
        # As Core reads them: absent or false is off; an object is on unless "active": false.
        spec = lc.get(key)
        if spec is None or spec is False:
            continue
        if not isinstance(spec, dict):
            raise modelfile.ModelFileError(path, f"field '{w}.{key}' must be an object or false")
        if field(spec, "active", path, w + "." + key, bool) if "active" in spec else True:
            shift = field(spec, "shift", path, w + "." + key, bool) if "shift" in spec else True
            groups["film"][key] = (shift, integer(spec.get("groups", 1), path, f"{w}.{key}.groups"))
    channels = integer(field(lc, "channels", path, w), path, w + ".channels")
    groups["slimmable"] = slimmable.allowed_channels(lc.get("slimmable"), channels, path, w + ".slimmable")
    arr = {
        "input_size": integer(field(lc, "input_size", path, w), path, w + ".input_size"),
        "condition_size": integer(field(lc, "condition_size", path, w), path, w + ".condition_size"),
        "channels": channels,
        "bottleneck": integer(lc.get("bottleneck", channels), path, w + ".bottleneck"),
    }

    head = lc.get("head")
    if head is not None:
        if not isinstance(head, dict):
            raise modelfile.ModelFileError(path, f"'{w}.head' must be an object")
        arr["head_size"] = integer(field(head, "out_channels", path, w + ".head"), path, w + ".head.out_channels")
        arr["head_kernel_size"] = integer(field(head, "kernel_size", path, w + ".head"), path, w + ".head.kernel_size")
        arr["head_bias"] = bool(field(head, "bias", path, w + ".head", bool))
        for key in ("head_dilation", "dilation"):
            if key in head:
                arr["head_dilation"] = integer(head[key], path, f"{w}.head.{key}")
    else:
        arr["head_size"] = integer(field(lc, "head_size", path, w), path, w + ".head_size")
        arr["head_kernel_size"] = 1
        arr["head_bias"] = bool(field(lc, "head_bias", path, w, bool))

    layer1x1 = lc.get("layer1x1")
    if layer1x1 is not None:
        active = bool(field(layer1x1, "active", path, w + ".layer1x1", bool))
        if active:
            groups["layer1x1"] = integer(layer1x1.get("groups", 1), path, w + ".layer1x1.groups")
        arr["layer1x1"] = active
    if "layer1x1_post_film" in groups["film"] and not arr.get("layer1x1", True):
        raise modelfile.ModelFileError(path, f"'{w}.layer1x1_post_film' is active but layer1x1 is not")
    head1x1 = lc.get("head1x1")
    if head1x1 is not None and field(head1x1, "active", path, w + ".head1x1", bool):
        groups["head1x1"] = integer(head1x1.get("groups", 1), path, w + ".head1x1.groups")
        arr["head1x1"] = integer(field(head1x1, "out_channels", path, w + ".head1x1"), path,
                                 w + ".head1x1.out_channels")

    dilations = field(lc, "dilations", path, w, list)
    n = len(dilations)
    if n == 0:
        raise modelfile.ModelFileError(path, f"'{w}.dilations' is empty")
    limits.check_count(path, w + ".dilations", n)
    if "kernel_sizes" in lc and "kernel_size" in lc:
        raise modelfile.ModelFileError(path, f"'{w}' has both kernel_size and kernel_sizes")
    if "kernel_sizes" in lc:
        kernels = _per_layer(field(lc, "kernel_sizes", path, w, list), n, path, w + ".kernel_sizes")
    else:
        kernels = [field(lc, "kernel_size", path, w)] * n
    activations = _per_layer(field(lc, "activation", path, w), n, path, w + ".activation")

    if "gating_mode" in lc:
        gating = _per_layer(lc["gating_mode"], n, path, w + ".gating_mode")
        secondary = _per_layer(lc.get("secondary_activation"), n, path, w + ".secondary_activation")
    elif "gated" in lc:
        gated = field(lc, "gated", path, w, bool)
        gating = ["gated" if gated else "none"] * n
        secondary = [None] * n
    else:
        gating, secondary = ["none"] * n, [None] * n

    arr["layers"] = []
    for i in range(n):
        if gating[i] not in GATING:
            raise modelfile.ModelFileError(
                path, f"'{w}.gating_mode' entry {i} is {gating[i]!r} (expected one of {sorted(GATING)})")
        layer = {"kernel_size": integer(kernels[i], path, f"{w}.kernel_sizes[{i}]"),
                 "dilation": integer(dilations[i], path, f"{w}.dilations[{i}]"),
                 "activation": activations[i], "gating": gating[i]}
        if gating[i] != "none":
            layer["secondary_activation"] = secondary[i] if secondary[i] is not None else "Sigmoid"
        # layer1x1_post_film applies whenever layer1x1 is active, under every gating mode (as
        # NAM's trainer does and Core since its PR #322); head1x1_post_film with a head1x1 only.
        film = {slot: {"shift": shift} for slot, (shift, _) in groups["film"].items()}
        if film:
            layer["film"] = film
        try:
            _activation_spec(layer["activation"], f"{w}.activation (layer {i})")
            if gating[i] != "none":
                _activation_spec(layer["secondary_activation"], f"{w}.secondary_activation (layer {i})")
        except ModelConfigError as e:
            raise modelfile.ModelFileError(path, str(e)) from None
        arr["layers"].append(layer)
    if not arr.get("head1x1"):
        # Neither Core nor the trainer builds (or stores) this FiLM without a head1x1.
        groups["film"].pop("head1x1_post_film", None)
        for layer in arr["layers"]:
            layer.get("film", {}).pop("head1x1_post_film", None)
    return arr, groups

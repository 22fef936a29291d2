"""Neural Amp Modeler `.nam` files (format 0.5 to 0.7) as NeuralAmpModelerCore reads them.

A `.nam` file is JSON: `version`, `architecture`, `config`, a flat `weights` list,
optional `sample_rate` (missing means 48 kHz) and `metadata`. Supported architectures:

- `WaveNet`, classic ("A1", `head_size`/`head_bias`, one kernel size, `gated`) and the
  0.6/0.7 layout ("A2": `head` object with a kernel, `kernel_sizes`, per-layer
  activations and `gating_mode`, `bottleneck`, `layer1x1`, `head1x1`, grouped
  convolutions, FiLM slots, a post-stack `head`, a nested `condition_dsp` model). The
  last weight is the head scale, which Core uses instead of `config.head_scale`. With
  `layer1x1` inactive the residual is the layer's input, as in Core (NAM's trainer adds
  the activation there instead; see docs/importers.md). Grouped convolutions become
  block-diagonal dense weights. `layer1x1_post_film` applies under every gating mode, as
  in NAM's trainer and in Core since its PR #322 (Core before it applied it in blended
  layers only). Every activation of Core's `activations.cpp`, PReLU with per-channel
  slopes included, in layers, secondary (gating) slots, the post-stack head, ConvNets and
  a `condition_dsp`.
- `LSTM`: per layer concat(W_ih, W_hh), one bias, then the initial h and c; then the head.
- `Linear`: taps (the first multiplies the newest sample, as Core plays it), then a bias.
- `ConvNet`: kernel-2 dilated convs (bias, or batchnorm folded into weight and bias with
  its running statistics, as Core does), an activation, then a 1x1 head.
- `SlimmableContainer`: several sizes of one capture; the largest plays, as in Core.
- Slimmable (channel-sliced, `"slimmable": {"method": "slice_channels_uniform"}`)
  WaveNets: the full width plays; a narrower one is cut from the full weights the way
  Core's SlimmableWavenet and NAM's trainer cut it (the first channels of every
  convolution).

Either kind of slimmable file reports its sizes in `metadata["submodel"]` (see
`submodel_sizes`); `submodel` picks one. Refused with the reason: multi-channel input,
and what Core itself refuses.
"""
import numpy as np

from firmware.core import limits
from firmware.importers import registry
from firmware.importers._common import array, field, integer, sample_rate
from firmware.importers._common import metadata as source_metadata
from firmware.models import ModelConfigError, budget, convnet, modelfile, wavenet

FORMAT = "nam"
SUPPORTED_VERSIONS = ((0, 5), (0, 6), (0, 7))
DEFAULT_SAMPLE_RATE = 48000
SLIMMABLE_METHOD = "slice_channels_uniform"
FILM_KEYS = ("conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
             "activation_pre_film", "activation_post_film", "layer1x1_post_film", "head1x1_post_film")


def looks_like(doc):
    return isinstance(doc, dict) and "architecture" in doc and "config" in doc and "weights" in doc


def convert(doc, path, submodel=None):
    """A ModelFile of a parsed `.nam` file (no reference pair: `save` makes one).

    `submodel`: for a SlimmableContainer, the index of the submodel to import; for a
    slimmable WaveNet, the index of the width, narrowest first (default: the largest, which
    is what NAM's plugin plays). Either way `metadata["submodel"]` lists the sizes."""
    architecture, config, weights, rate, metadata = _convert(doc, path, "", submodel)
    if submodel is not None and "submodel" not in metadata:
        raise modelfile.ModelFileError(path, "--submodel: this file has one size (it is neither a "
                                             "SlimmableContainer nor a slimmable WaveNet)")
    meta = source_metadata(metadata, path, FORMAT, version=doc.get("version"), architecture=doc.get("architecture"))
    return modelfile.ModelFile(architecture=architecture, config=config, weights=weights, sample_rate=rate,
                               metadata=meta, knobs=[], prewarm=True, path=path)


def _convert(doc, path, where, submodel=None):
    """(architecture, config, weights, sample_rate, metadata) of one .nam model object."""
    if where.count("config.") > limits.active().nesting:
        raise limits.LimitError(path, f"'{where.rstrip('.')}' nests models more than {limits.active().nesting} deep")
    _check_version(doc, path, where)
    architecture = field(doc, "architecture", path, where.rstrip("."), str)
    config = field(doc, "config", path, where.rstrip("."), dict)
    rate = (sample_rate(doc["sample_rate"], path, where + "sample_rate")
            if doc.get("sample_rate") is not None else DEFAULT_SAMPLE_RATE)
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}

    if architecture == "SlimmableContainer":
        chosen, index = _pick_submodel(config, path, where, submodel)
        inner = f"{where}config.submodels[{index}].model."
        model = field(chosen, "model", path, inner[:-len(".model.")], dict)
        if model.get("sample_rate") is None:
            model = dict(model, sample_rate=rate)
        arch, cfg, weights, rate, meta = _convert(model, path, inner)
        meta = dict(meta)
        meta.pop("submodel", None)  # a slimmable WaveNet inside plays at its full width
        meta["submodel"] = {"kind": "SlimmableContainer", "index": index, "max_value": chosen.get("max_value"),
                            "count": len(config["submodels"]),
                            "sizes": [{"max_value": sub.get("max_value"),
                                       "architecture": (sub.get("model") or {}).get("architecture")}
                                      for sub in config["submodels"]]}
        return arch, cfg, weights, rate, meta

    flat = array(field(doc, "weights", path, where.rstrip("."), list), path, where + "weights")
    if flat.ndim != 1:
        raise modelfile.ModelFileError(path, f"field '{where}weights' must be a flat list of numbers")
    if architecture == "WaveNet":
        cfg, weights, widths = _wavenet(config, flat, path, where, submodel)
        if widths is not None:
            metadata = dict(metadata, submodel=widths)
        nested = config.get("condition_dsp")
        if nested is not None:
            inner = where + "config.condition_dsp."
            if not isinstance(nested, dict):
                raise modelfile.ModelFileError(path, f"field '{inner[:-1]}' must be an object")
            n_arch, n_cfg, n_weights, n_rate, _ = _convert(nested, path, inner)
            if n_arch != "WaveNet":
                raise modelfile.ModelFileError(
                    path, f"'{inner}architecture' is {n_arch}: only a WaveNet condition_dsp is supported")
            if n_rate != rate:
                raise modelfile.ModelFileError(
                    path, f"'{inner}sample_rate' ({n_rate}) differs from the model's ({rate})")
            cfg["condition_dsp"] = {"architecture": n_arch, "config": n_cfg}
            weights.update({"condition_dsp/" + k: v for k, v in n_weights.items()})
    elif architecture == "LSTM":
        cfg, weights = _lstm(config, flat, path, where)
    elif architecture == "Linear":
        cfg, weights = _linear(config, flat, path, where)
    elif architecture == "ConvNet":
        cfg, weights = _convnet(config, flat, path, where)
    else:
        raise modelfile.ModelFileError(path, f"'{where}architecture' {architecture!r} is not a NAM architecture "
                                             "this firmware knows (WaveNet, LSTM, Linear, ConvNet, "
                                             "SlimmableContainer)")
    return architecture, cfg, weights, rate, metadata


def _check_version(doc, path, where):
    version = field(doc, "version", path, where.rstrip("."), str)
    try:
        major_minor = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        raise modelfile.ModelFileError(path, f"'{where}version' {version!r} is not a version number") from None
    if major_minor not in SUPPORTED_VERSIONS:
        raise modelfile.ModelFileError(
            path, f"'{where}version' {version} is not supported (this firmware reads .nam 0.5.x to 0.7.x)")


def _pick_submodel(config, path, where, submodel):
    subs = field(config, "submodels", path, where + "config", list)
    if not subs or not all(isinstance(s, dict) for s in subs):
        raise modelfile.ModelFileError(path, f"'{where}config.submodels' must be a non-empty list of objects")
    if submodel is None:
        def key(i):
            value = subs[i].get("max_value")
            return value if isinstance(value, (int, float)) and not isinstance(value, bool) else float("-inf")
        index = max(range(len(subs)), key=key)
    elif not 0 <= submodel < len(subs):
        raise modelfile.ModelFileError(path, f"submodel {submodel} does not exist (the file has {len(subs)}: "
                                             f"0 to {len(subs) - 1})")
    else:
        index = submodel
    return subs[index], index


def _split(flat, shapes, path, where, extra=0):
    """Cut the flat weight list into named arrays, in file order; `extra` trailing floats stay."""
    need = sum(int(np.prod(s)) for s in shapes.values()) + extra
    if flat.size != need:
        raise modelfile.ModelFileError(
            path, f"'{where}weights' has {flat.size} values, the config needs {need}")
    weights, offset = {}, 0
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        weights[name] = flat[offset:offset + n].reshape(shape).copy()
        offset += n
    return weights


def submodel_sizes(metadata):
    """The sizes a slimmable file offers, as short labels, and the index of the one a
    ModelFile plays: ([label, ...], index); ([], None) for a file of one size.

    `metadata["submodel"]` (written by the importer, kept in the pedal's .npz) holds
    `kind` ("SlimmableContainer" or "slimmable WaveNet"), `index`, `count` and `sizes`:
    per size, `channels` (per layer array) for a slimmable WaveNet, `max_value` and
    `architecture` for a container. `tubeless import --submodel N` picks size N."""
    sub = metadata.get("submodel") if isinstance(metadata, dict) else None
    if not isinstance(sub, dict) or not isinstance(sub.get("sizes"), list):
        return [], None
    labels = []
    for size in sub["sizes"]:
        size = size if isinstance(size, dict) else {}
        channels = size.get("channels")
        if isinstance(channels, list) and len(channels) == 1:
            labels.append(f"{channels[0]} channel" + ("" if channels[0] == 1 else "s"))
        elif isinstance(channels, list):
            labels.append("channels " + "/".join(str(c) for c in channels) + " (per layer array)")
        else:
            labels.append(f"{size.get('architecture') or '?'} up to {size.get('max_value')}")
    return labels, sub.get("index")


# --- WaveNet ----------------------------------------------------------------------------
def _wavenet(config, flat, path, where, width=None):
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
        wavenet.weight_shapes(cfg)
    except ModelConfigError as e:
        raise modelfile.ModelFileError(path, f"'{w}' cannot be played: {e}") from None
    budget.check_model(path, "WaveNet", cfg)      # before a weight is cut out or densified
    if any(g["slimmable"] for _, g in parsed):
        _check_slimmable(cfg, [g for _, g in parsed], path, w)
    weights = _read_convs(flat, _wavenet_file_layout(cfg, [g for _, g in parsed]), path, where, extra=1)
    # Core takes the head scale from the last weight, not from config.head_scale.
    cfg["head_scale"] = float(flat[-1])
    allowed = [g["slimmable"] for _, g in parsed]
    if not any(allowed):
        return cfg, weights, None
    return _slimmed(cfg, weights, allowed, [g for _, g in parsed], width, path, w)


def _check_slimmable(cfg, groups, path, w):
    """What neither Core nor the trainer can slice is refused before the weights are read."""
    for a, (arr, g) in enumerate(zip(cfg["layer_arrays"], groups)):
        wa = f"{w}.layers[{a}]"
        if any(n != 1 for n in (g["conv"], g["mixin"], g["layer1x1"], g["head1x1"])) or any(
                fg != 1 for _, fg in g["film"].values()):
            raise modelfile.ModelFileError(path, f"'{wa}': a slimmable WaveNet with grouped convolutions cannot "
                                                 "be sliced (NAM Core refuses it too)")
        if arr.get("head_kernel_size", 1) != 1:
            raise modelfile.ModelFileError(path, f"'{wa}.head.kernel_size' must be 1 in a slimmable WaveNet "
                                                 "(as NAM Core requires)")
    if cfg.get("post_head"):
        raise modelfile.ModelFileError(path, f"'{w}.head': a slimmable WaveNet with a post-stack head is not "
                                             "supported (nor by NAM Core)")


def _slim_widths(cfg, allowed):
    """Every width of a slimmable WaveNet, narrowest first: [(channels per array, value)].

    Core (and the trainer) map a size value v in [0, 1] to allowed[min(floor(v * n), n - 1)]
    in each slimmable array; the widths are the intervals between the breakpoints i / n,
    each named by its midpoint (the value Core's SetSlimmableSize takes to play it)."""
    cuts = sorted({i / len(a) for a in allowed if a for i in range(1, len(a))})
    bounds = [0.0] + cuts + [1.0]
    widths = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        v = (lo + hi) / 2
        widths.append(([a[min(int(np.floor(v * len(a))), len(a) - 1)] if a else arr["channels"]
                        for arr, a in zip(cfg["layer_arrays"], allowed)], v))
    return [(list(c), v) for c, v in widths]


def _slimmed(cfg, weights, allowed, groups, width, path, w):
    """The chosen width of a slimmable WaveNet: the first channels of every convolution, as
    Core's SlimmableWavenet cuts them (and NAM's trainer, for what it can train)."""
    arrays = cfg["layer_arrays"]
    widths = _slim_widths(cfg, allowed)
    if width is None:
        width = len(widths) - 1
    elif not 0 <= width < len(widths):
        raise modelfile.ModelFileError(path, f"submodel {width} does not exist (this slimmable WaveNet has "
                                             f"{len(widths)} widths: 0 to {len(widths) - 1})")
    channels = widths[width][0]
    info = {"kind": "slimmable WaveNet", "index": width, "count": len(widths),
            "sizes": [{"channels": c, "slimmable_size": round(v, 6)} for c, v in widths]}
    if channels == [arr["channels"] for arr in arrays]:
        return cfg, weights, info

    cfg = dict(cfg, layer_arrays=[dict(arr) for arr in arrays])
    arrays = cfg["layer_arrays"]
    out = {}
    for a, arr in enumerate(arrays):
        p = f"arrays/{a}/"
        C, B = arr["channels"], arr["bottleneck"]
        sc = channels[a]
        sb = max(1, B * sc // C) if arr.get("layer1x1", True) else sc
        s_in = arr["input_size"] if a == 0 else channels[a - 1]
        # As Core: an array's head feeds the next array's channels; the last keeps its own.
        s_head = arr["head_size"] if a == len(arrays) - 1 else channels[a + 1]
        s_hin = arr.get("head1x1") or sb
        out[p + "rechannel/weight"] = weights[p + "rechannel/weight"][:sc, :s_in]
        for i, layer in enumerate(arr["layers"]):
            q = f"{p}layers/{i}/"
            sz = sb if layer["gating"] == "none" else 2 * sb
            rows = {"conv": sz, "mixin": sz, "layer1x1": sc}
            for name, r in rows.items():
                if q + name + "/weight" in weights:
                    out[q + name + "/weight"] = weights[q + name + "/weight"][:r]
                if q + name + "/bias" in weights:
                    out[q + name + "/bias"] = weights[q + name + "/bias"][:r]
            out[q + "conv/weight"] = out[q + "conv/weight"][:, :sc]
            if q + "layer1x1/weight" in weights:
                out[q + "layer1x1/weight"] = out[q + "layer1x1/weight"][:, :sb]
            if q + "head1x1/weight" in weights:
                out[q + "head1x1/weight"] = weights[q + "head1x1/weight"][:, :sb]
                out[q + "head1x1/bias"] = weights[q + "head1x1/bias"]
            film_rows = {"conv_pre_film": sc, "conv_post_film": sz, "input_mixin_pre_film": None,
                         "input_mixin_post_film": sz, "activation_pre_film": sz, "activation_post_film": sb,
                         "layer1x1_post_film": sc, "head1x1_post_film": None}
            for slot, spec in layer.get("film", {}).items():
                r = film_rows[slot]
                r = None if r is None else r * (2 if spec["shift"] else 1)
                for part in ("weight", "bias"):
                    key = f"{q}film/{slot}/{part}"
                    out[key] = weights[key][:r]
            layer = arr["layers"][i] = dict(layer)
            for key, rows_cut in (("activation", sb), ("secondary_activation", sb)):
                spec = layer.get(key)
                if isinstance(spec, dict) and isinstance(spec.get("negative_slopes"), list) \
                        and "negative_slope" not in spec and len(spec["negative_slopes"]) > 1:
                    layer[key] = dict(spec, negative_slopes=spec["negative_slopes"][:rows_cut])
        out[p + "head/weight"] = weights[p + "head/weight"][:s_head, :s_hin]
        if p + "head/bias" in weights:
            out[p + "head/bias"] = weights[p + "head/bias"][:s_head]
        arr.update(channels=sc, bottleneck=sb, input_size=s_in, head_size=s_head)
    out.update({k: v for k, v in weights.items() if k.startswith("condition_dsp/")})
    try:
        wavenet.weight_shapes(cfg)
    except ModelConfigError as e:
        raise modelfile.ModelFileError(path, f"'{w}' cannot be played at width {width} ({channels}): {e}") from None
    return cfg, {k: np.ascontiguousarray(v) for k, v in out.items()}, info


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
        wavenet._activation_spec(post["activation"], w + ".activation")
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


def _allowed_channels(spec, channels, path, w):
    """The channel counts a slimmable layer array allows (ascending, the last = channels), or
    None when it is not slimmable. As Core: no object or no method means not slimmable;
    no allowed_channels means 1 to channels."""
    if not isinstance(spec, dict) or not spec.get("method"):
        return None
    if spec["method"] != SLIMMABLE_METHOD:
        raise modelfile.ModelFileError(path, f"'{w}.method' {spec['method']!r} is not supported (only "
                                             f"{SLIMMABLE_METHOD!r}, as in NAM Core)")
    kwargs = spec.get("kwargs") if isinstance(spec.get("kwargs"), dict) else {}
    if kwargs.get("allowed_channels") is None:
        return list(range(1, channels + 1))
    allowed = field(kwargs, "allowed_channels", path, w + ".kwargs", list)
    allowed = [integer(c, path, f"{w}.kwargs.allowed_channels[{i}]") for i, c in enumerate(allowed)]
    if not allowed or any(b <= a for a, b in zip(allowed, allowed[1:])) or allowed[-1] != channels:
        raise modelfile.ModelFileError(path, f"'{w}.kwargs.allowed_channels' must rise and end at the array's "
                                             f"{channels} channels, got {allowed}")
    return allowed


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
    groups["slimmable"] = _allowed_channels(lc.get("slimmable"), channels, path, w + ".slimmable")
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
        if gating[i] not in wavenet.GATING:
            raise modelfile.ModelFileError(
                path, f"'{w}.gating_mode' entry {i} is {gating[i]!r} (expected one of {sorted(wavenet.GATING)})")
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
            wavenet._activation_spec(layer["activation"], f"{w}.activation (layer {i})")
            if gating[i] != "none":
                wavenet._activation_spec(layer["secondary_activation"], f"{w}.secondary_activation (layer {i})")
        except ModelConfigError as e:
            raise modelfile.ModelFileError(path, str(e)) from None
        arr["layers"].append(layer)
    if not arr.get("head1x1"):
        # Neither Core nor the trainer builds (or stores) this FiLM without a head1x1.
        groups["film"].pop("head1x1_post_film", None)
        for layer in arr["layers"]:
            layer.get("film", {}).pop("head1x1_post_film", None)
    return arr, groups


# --- LSTM -------------------------------------------------------------------------------
def _lstm(config, flat, path, where):
    w = where + "config"
    n_in = integer(field(config, "input_size", path, w), path, w + ".input_size")
    if n_in != 1:
        raise modelfile.ModelFileError(path, f"'{w}.input_size' must be 1 for a NAM LSTM, got {n_in}")
    H = integer(field(config, "hidden_size", path, w), path, w + ".hidden_size")
    L = integer(config.get("num_layers", 1), path, w + ".num_layers")
    cfg = {"input_size": n_in, "hidden_size": H, "num_layers": L, "initial_state": True}
    budget.check_model(path, "LSTM", cfg)
    # File order per layer: W = [W_ih | W_hh] (4H, in + H), b (4H), h0 (H), c0 (H); then head w (H), b (1).
    file_shapes = {}
    for layer in range(L):
        p = f"layers/{layer}/"
        file_shapes[p + "weight"] = (4 * H, (n_in if layer == 0 else H) + H)
        file_shapes[p + "bias"] = (4 * H,)
        file_shapes[p + "h0"] = (H,)
        file_shapes[p + "c0"] = (H,)
    file_shapes["head/weight"] = (1, H)
    file_shapes["head/bias"] = (1,)
    raw = _split(flat, file_shapes, path, where)
    weights = {}
    for layer in range(L):
        p = f"layers/{layer}/"
        W = raw.pop(p + "weight")
        n = W.shape[1] - H
        weights[p + "weight_ih"] = np.ascontiguousarray(W[:, :n])
        weights[p + "weight_hh"] = np.ascontiguousarray(W[:, n:])
    weights.update(raw)
    return cfg, weights


# --- Linear -----------------------------------------------------------------------------
def _linear(config, flat, path, where):
    w = where + "config"
    n = integer(field(config, "receptive_field", path, w), path, w + ".receptive_field")
    bias = bool(config.get("bias", False))
    cfg = {"receptive_field": n, "bias": bias}
    budget.check_model(path, "Linear", cfg)
    shapes = {"taps": (n,)}
    if bias:
        shapes["bias"] = (1,)
    return cfg, _split(flat, shapes, path, where)


# --- ConvNet ----------------------------------------------------------------------------
def _convnet(config, flat, path, where):
    w = where + "config"
    C = integer(field(config, "channels", path, w), path, w + ".channels")
    dilations = field(config, "dilations", path, w, list)
    if not dilations:
        raise modelfile.ModelFileError(path, f"'{w}.dilations' is empty")
    limits.check_count(path, w + ".dilations", len(dilations))
    dilations = [integer(d, path, f"{w}.dilations[{i}]") for i, d in enumerate(dilations)]
    batchnorm = bool(field(config, "batchnorm", path, w, bool)) if "batchnorm" in config else False
    activation = field(config, "activation", path, w)
    try:
        wavenet._activation_spec(activation, w + ".activation")
    except ModelConfigError as e:
        raise modelfile.ModelFileError(path, str(e)) from None
    cfg = {"channels": C, "dilations": dilations, "activation": activation}
    budget.check_model(path, "ConvNet", cfg)
    # File order per block: conv weight (C, in, 2), its bias unless batchnorm, else the
    # batchnorm's running mean, running var, weight, bias (C each) and eps; then the head.
    shapes = {}
    for i in range(len(dilations)):
        p = f"layers/{i}/"
        shapes[p + "weight"] = (C, 1 if i == 0 else C, convnet.KERNEL_SIZE)
        if batchnorm:
            for name in ("running_mean", "running_var", "bn_weight", "bn_bias"):
                shapes[p + name] = (C,)
            shapes[p + "eps"] = (1,)
        else:
            shapes[p + "bias"] = (C,)
    shapes["head/weight"] = (1, C)
    shapes["head/bias"] = (1,)
    raw = _split(flat, shapes, path, where)
    if batchnorm:
        for i in range(len(dilations)):
            p = f"layers/{i}/"
            # Core: scale = weight / sqrt(eps + var), loc = bias - scale * mean, after a bias-free conv.
            var = raw.pop(p + "running_var").astype(np.float64)
            eps = float(raw.pop(p + "eps")[0])
            if np.any(eps + var <= 0):
                raise modelfile.ModelFileError(path, f"'{where}weights': batchnorm {i} has a variance + eps <= 0")
            scale = raw.pop(p + "bn_weight").astype(np.float64) / np.sqrt(eps + var)
            loc = raw.pop(p + "bn_bias") - scale * raw.pop(p + "running_mean")
            raw[p + "weight"] = (raw[p + "weight"] * scale[:, None, None]).astype(np.float32)
            raw[p + "bias"] = loc.astype(np.float32)
    cfg_shapes = convnet.weight_shapes(cfg)
    return cfg, {name: raw[name] for name in cfg_shapes}


registry.register(FORMAT, looks_like, convert, options={"submodel": "submodel"},
                  refusals={"sample_rate": "a .nam file states its own sample rate; --sample-rate is for GuitarML and AIDA-X files"})

"""Slimmable NAM files: several sizes of one capture in one file.

- `SlimmableContainer`: a list of whole models, each with a `max_value`; the largest plays
  (as in Core), `submodel` picks another.
- Slimmable WaveNets (`"slimmable": {"method": "slice_channels_uniform"}` in a layer
  array): one set of full-width weights; a narrower width is cut from them the way Core's
  SlimmableWavenet and NAM's trainer cut it (the first channels of every convolution).
  `slim_widths` lists the widths a config offers and `slim` cuts one: the importer plays
  the full width unless told otherwise; `tubeless bench` measures every width.
"""
import numpy as np

from firmware.importers._common import field, integer
from firmware.models import ModelConfigError, modelfile
from firmware.models.wavenet import weight_shapes

SLIMMABLE_METHOD = "slice_channels_uniform"


# --- SlimmableContainer -----------------------------------------------------------------
def pick_submodel(config, path, where, submodel):
    """(submodel object, index) of a SlimmableContainer's config: `submodel`, or the one
    with the largest max_value when it is None."""
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


def container_info(config, index):
    """metadata["submodel"] of a SlimmableContainer whose submodel `index` was imported."""
    chosen = config["submodels"][index]
    return {"kind": "SlimmableContainer", "index": index, "max_value": chosen.get("max_value"),
            "count": len(config["submodels"]),
            "sizes": [{"max_value": sub.get("max_value"),
                       "architecture": (sub.get("model") or {}).get("architecture")}
                      for sub in config["submodels"]]}


# --- Slimmable WaveNet ------------------------------------------------------------------
def allowed_channels(spec, channels, path, w):
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


def check(cfg, groups, path, w):
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


def slim_widths(cfg, allowed):
    """Every width of a slimmable WaveNet, narrowest first: [(channels per array, value)].

    cfg: a WaveNet config (firmware/models/wavenet); allowed: per layer array, the channel
    counts it allows (ascending, the last = its channels), or None when it is not slimmable.

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


def slim(cfg, weights, allowed, width, path, w):
    """(config, weights, info) of width `width` of a slimmable WaveNet (an index into
    `slim_widths`; None: the full width): the first channels of every convolution, as Core's
    SlimmableWavenet cuts them (and NAM's trainer, for what it can train). info is the
    metadata["submodel"] entry: the widths and the one cut.

    cfg and weights: the full width's; allowed: as for slim_widths; path and w (the
    config's field name) name the file in errors (ModelFileError)."""
    arrays = cfg["layer_arrays"]
    widths = slim_widths(cfg, allowed)
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
        weight_shapes(cfg)
    except ModelConfigError as e:
        raise modelfile.ModelFileError(path, f"'{w}' cannot be played at width {width} ({channels}): {e}") from None
    return cfg, {k: np.ascontiguousarray(v) for k, v in out.items()}, info

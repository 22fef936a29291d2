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

The package: `wavenet` (WaveNet configs and weights), `slimmable` (SlimmableContainer,
slimmable WaveNets: their widths and the slimming), `others` (LSTM, Linear, ConvNet);
here the document's envelope (version, architecture, sample rate, nesting) and the
format's registration.
"""
from firmware.core import limits
from firmware.importers import registry
from firmware.importers._common import array, field, sample_rate
from firmware.importers._common import metadata as source_metadata
from firmware.importers.nam import slimmable
from firmware.importers.nam.others import convert_convnet, convert_linear, convert_lstm
from firmware.importers.nam.wavenet import FILM_KEYS, convert_wavenet
from firmware.models import modelfile

FORMAT = "nam"
SUPPORTED_VERSIONS = ((0, 5), (0, 6), (0, 7))
DEFAULT_SAMPLE_RATE = 48000

__all__ = ["FILM_KEYS", "FORMAT", "convert", "looks_like", "submodel_sizes"]


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
        chosen, index = slimmable.pick_submodel(config, path, where, submodel)
        inner = f"{where}config.submodels[{index}].model."
        model = field(chosen, "model", path, inner[:-len(".model.")], dict)
        if model.get("sample_rate") is None:
            model = dict(model, sample_rate=rate)
        arch, cfg, weights, rate, meta = _convert(model, path, inner)
        meta = dict(meta)
        meta.pop("submodel", None)  # a slimmable WaveNet inside plays at its full width
        meta["submodel"] = slimmable.container_info(config, index)
        return arch, cfg, weights, rate, meta

    flat = array(field(doc, "weights", path, where.rstrip("."), list), path, where + "weights")
    if flat.ndim != 1:
        raise modelfile.ModelFileError(path, f"field '{where}weights' must be a flat list of numbers")
    if architecture == "WaveNet":
        cfg, weights, widths = convert_wavenet(config, flat, path, where, submodel)
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
        cfg, weights = convert_lstm(config, flat, path, where)
    elif architecture == "Linear":
        cfg, weights = convert_linear(config, flat, path, where)
    elif architecture == "ConvNet":
        cfg, weights = convert_convnet(config, flat, path, where)
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


registry.register(FORMAT, looks_like, convert, options={"submodel": "submodel"},
                  refusals={"sample_rate": "a .nam file states its own sample rate; --sample-rate is for GuitarML and AIDA-X files"})

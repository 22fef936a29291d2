"""The one loader every caller uses (render, the librarian, `tubeless models`, the tests):
any model file the pedal plays -> ModelFile, told apart by content, not by name. The
pedal's own `.npz` goes to `modelfile.load`; a NAM, GuitarML or AIDA-X document to the
format registered for it, then through the limits and the loudness check."""
import os

from firmware.core.errors import ModelFileError
from firmware.importers import loudness, registry
from firmware.importers._common import read_json
from firmware.models import budget, modelfile

OPTION_FLAGS = {"sample_rate": "--sample-rate", "submodel": "--submodel"}


def detect(doc, path):
    """The registered Format of a parsed JSON document; ModelFileError when none fits."""
    for fmt in registry.formats():
        if fmt.looks_like(doc):
            return fmt
    raise ModelFileError(
        path, "not a model format this firmware imports (NAM .nam, GuitarML JSON, AIDA-X JSON): "
              f"top-level fields are {sorted(doc)[:8]}")


def import_file(path, sample_rate=None, submodel=None, verify=True):
    """A ModelFile of a NAM, GuitarML or AIDA-X file.

    `sample_rate` overrides the rate of a GuitarML or AIDA-X file (GuitarML files do not
    carry one); `submodel` picks a size of a slimmable NAM file (default: the largest; the
    sizes are in `metadata["submodel"]`, see `nam.submodel_sizes`).
    An AIDA-X file brings its own reference pair, checked here unless `verify` is false;
    NAM and GuitarML files bring none, and `ModelFile.save` makes one with our kernel."""
    path = os.fspath(path)
    doc = read_json(path)
    fmt = detect(doc, path)
    given = {"sample_rate": sample_rate, "submodel": submodel}
    options = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in fmt.options:
            raise ModelFileError(path, fmt.refusals[name])
        options[fmt.options[name]] = value
    if "verify" in fmt.options:
        options[fmt.options["verify"]] = verify
    return with_loudness(fmt.convert(doc, path, **options))


def with_loudness(mf):
    """Check the whole model (a condition_dsp included) against the limits, then settle its
    `metadata.loudness`: measured on our standard input when the source format has none
    (GuitarML, AIDA-X, some NAM files) or states one that is implausible or far quieter
    than the model plays (see loudness.settle), so the pedal levels every model alike and
    no file sets its own gain. A model that plays NaN is refused here, by its file name."""
    budget.check_model(mf.path, mf.architecture, mf.config, mf.sample_rate)
    loudness.settle(mf, fill=True)
    return mf


def load(path, verify=True, sample_rate=None, submodel=None, imported_only=False):
    """A ModelFile of any model file the pedal plays: our own `.npz`, or whatever
    `import_file` reads. The import options (`sample_rate` for GuitarML/AIDA-X, `submodel`
    for a slimmable NAM file) are refused for an `.npz`, which was imported with them
    already; with `imported_only` (a library's preference for every file in a folder) they
    are ignored for it instead."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
    except OSError as e:
        raise ModelFileError(path, f"cannot read: {e.strerror}") from None
    options = {k: v for k, v in (("sample_rate", sample_rate), ("submodel", submodel)) if v is not None}
    if magic == b"PK":
        if options and not imported_only:
            flags = " and ".join(OPTION_FLAGS[k] for k in options)
            raise ModelFileError(path, f"{flags}: for a model file being imported (.nam, .json, .aidax); "
                                       "this one was imported already (use `tubeless import` again to change it)")
        return modelfile.load(path, verify=verify)
    return import_file(path, verify=verify, **options)

"""Importers of the community's model files: NAM `.nam`, GuitarML and AIDA-X JSON.

Each turns a foreign file into a `ModelFile` (the pedal's own format, see
`firmware/models/modelfile.py`) that plays sample for sample as the format's reference player
does. The format is told from the content, not the file name. `tubeless import` writes
the result as `.npz`; `load` lets any command take either kind of file.
"""
import argparse
import os
import sys

from firmware.core import limits
from firmware.importers import loudness
from firmware.models import modelfile
from firmware.importers import aidax, guitarml, nam
from firmware.importers.nam import submodel_sizes  # noqa: F401  (the sizes of a slimmable file, for `tubeless models`)
from firmware.importers._common import read_json
from firmware.core import sandbox
from firmware.models import budget

# Formats in detection order. Each module has looks_like(doc) and convert(doc, path, ...).
FORMATS = (nam, guitarml, aidax)


def detect(doc, path):
    """The format module of a parsed JSON document; ModelFileError when none fits."""
    for module in FORMATS:
        if module.looks_like(doc):
            return module
    raise modelfile.ModelFileError(
        path, "not a model format this firmware imports (NAM .nam, GuitarML JSON, AIDA-X JSON): "
              f"top-level fields are {sorted(doc)[:8]}")


def import_file(path, sample_rate=None, submodel=None, verify=True):
    """A ModelFile of a NAM, GuitarML or AIDA-X file.

    `sample_rate` overrides the rate of a GuitarML or AIDA-X file (GuitarML files do not
    carry one); `submodel` picks a size of a slimmable NAM file (default: the largest; the
    sizes are in `metadata["submodel"]`, see `submodel_sizes`).
    An AIDA-X file brings its own reference pair, checked here unless `verify` is false;
    NAM and GuitarML files bring none, and `ModelFile.save` makes one with our kernel."""
    path = os.fspath(path)
    doc = read_json(path)
    fmt = detect(doc, path)
    if fmt is nam:
        if sample_rate is not None:
            raise modelfile.ModelFileError(path, "a .nam file states its own sample rate; --sample-rate is for "
                                                 "GuitarML and AIDA-X files")
        return _with_loudness(nam.convert(doc, path, submodel=submodel))
    if submodel is not None:
        raise modelfile.ModelFileError(path, "--submodel is only meaningful for a slimmable NAM file")
    if fmt is aidax:
        return _with_loudness(aidax.convert(doc, path, sample_rate, verify=verify))
    return _with_loudness(guitarml.convert(doc, path, sample_rate))


def _with_loudness(mf):
    """Check the whole model (a condition_dsp included) against the limits, then settle its
    `metadata.loudness`: measured on our standard input when the source format has none
    (GuitarML, AIDA-X, some NAM files) or states one that is implausible or far quieter
    than the model plays (see loudness.settle), so the pedal levels every model alike and
    no file sets its own gain. A model that plays NaN is refused here, by its file name."""
    budget.check_model(mf.path, mf.architecture, mf.config, mf.sample_rate)
    loudness.settle(mf, fill=True)
    return mf


def load(path, verify=True, **options):
    """A ModelFile of any model file the pedal plays: our own `.npz`, or whatever
    `import_file` reads (told apart by content, not by name)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
    except OSError as e:
        raise modelfile.ModelFileError(path, f"cannot read: {e.strerror}") from None
    if magic == b"PK":
        if any(v is not None for v in options.values()):
            raise modelfile.ModelFileError(path, "this is the pedal's own model file: import options "
                                                 f"({', '.join(k for k, v in options.items() if v is not None)}) "
                                                 "apply to the file it was imported from")
        return modelfile.load(path, verify=verify)
    return import_file(path, verify=verify, **options)


# --- `tubeless import` ------------------------------------------------------------------
def register(subparsers):
    p = subparsers.add_parser(
        "import", help="convert NAM, GuitarML or AIDA-X model files to the pedal's format",
        description="Convert NAM (.nam), GuitarML (.json) or AIDA-X (.json/.aidax) model files into the "
                    "pedal's model file (.npz), checked to play the way the format's own player does.")
    p.add_argument("inputs", nargs="+", metavar="FILE", help="model file(s) to import")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="OUT.npz", help="output file (one input only)")
    out.add_argument("-d", "--out-dir", metavar="DIR",
                     help="write each model as DIR/<input name>.npz (default: beside its input)")
    p.add_argument("--sample-rate", type=int, metavar="HZ",
                   help="sample rate of a GuitarML/AIDA-X model (GuitarML files do not state one; "
                        "default 44100 for GuitarML)")
    p.add_argument("--submodel", type=int, metavar="N",
                   help="which size of a slimmable NAM file to import: a SlimmableContainer's submodel, or a "
                        "slimmable WaveNet's width, narrowest first (default: the largest)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=_run)

    c = subparsers.add_parser(
        "convert", help="convert one NAM, GuitarML or AIDA-X model file: IN OUT.npz (= import IN -o OUT.npz)",
        description="Convert one NAM (.nam), GuitarML (.json) or AIDA-X (.json/.aidax) model file into the "
                    "pedal's model file; the same as `tubeless import IN -o OUT.npz`.")
    c.add_argument("input", metavar="IN", help="model file to convert")
    c.add_argument("output", metavar="OUT.npz", help="output file")
    c.add_argument("--sample-rate", type=int, metavar="HZ", help="sample rate of a GuitarML/AIDA-X model")
    c.add_argument("--submodel", type=int, metavar="N",
                   help="which size of a slimmable NAM file (SlimmableContainer or slimmable WaveNet) to convert")
    c.add_argument("-f", "--force", action="store_true", help="overwrite an existing output file")
    c.set_defaults(func=lambda args: _run(argparse.Namespace(
        inputs=[args.input], output=args.output, out_dir=None, sample_rate=args.sample_rate,
        submodel=args.submodel, force=args.force)))


def destinations(inputs, output=None, out_dir=None):
    """[(input, output path, note or None)]: each input's .npz, `<stem>.npz` beside it or in
    out_dir. Inputs that would share an output (amp.nam and amp.json) are each given a
    distinct one, `<stem>-<extension>.npz`, and a note that says so."""
    if output:
        return [(src, output, None) for src in inputs]
    plain = {}
    for src in inputs:
        stem = os.path.splitext(os.path.basename(src))[0]
        plain[src] = os.path.join(out_dir or os.path.dirname(src) or ".", stem + ".npz")
    clashes = {}
    for src, dst in plain.items():
        clashes.setdefault(os.path.abspath(dst), []).append(src)
    result = []
    for src in inputs:
        dst = plain[src]
        others = [o for o in clashes[os.path.abspath(dst)] if o != src]
        if not others:
            result.append((src, dst, None))
            continue
        stem, ext = os.path.splitext(os.path.basename(src))
        distinct = os.path.join(os.path.dirname(dst), f"{stem}-{ext.lstrip('.') or 'file'}.npz")
        result.append((src, distinct, f"{os.path.basename(dst)} would also be the output of "
                                      f"{', '.join(others)}: written as {os.path.basename(distinct)}"))
    return result


def _run(args):
    from firmware.tools.cli import CliError

    if args.output and len(args.inputs) > 1:
        raise CliError("--output takes one input; use --out-dir for several")
    if len(set(map(os.path.abspath, args.inputs))) != len(args.inputs):
        raise CliError("the same input is named twice")
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
    failed = 0
    single = len(args.inputs) == 1
    for src, dst, note in destinations(args.inputs, args.output, args.out_dir):
        problem = None
        if os.path.abspath(dst) == os.path.abspath(src):
            problem = f"{src}: output would overwrite the input"
        elif os.path.isdir(dst):
            problem = f"{dst}: is a folder, not a file name"
        elif os.path.exists(dst) and not args.force:
            problem = f"{dst} exists (use --force to overwrite)"
        if problem:
            if single:
                raise CliError(problem)
            # one file's problem does not stop the batch: say so and go on
            print(f"tubeless: error: {problem}; skipped", file=sys.stderr)
            failed += 1
            continue
        if note:
            print(f"tubeless: note: {note}", file=sys.stderr)
        # Each file is parsed in a child process under the memory and CPU-time limits: one
        # that breaks them is reported by name and the batch goes on.
        if sandbox.run_limited(lambda: _convert_one(src, dst, args), what=src,
                              cpu_seconds=limits.active().parse_cpu_seconds):
            if single:
                return 2
            failed += 1
    if failed and not single:
        print(f"tubeless: {failed} of {len(args.inputs)} files not imported (see above)", file=sys.stderr)
    return 1 if failed else 0


def _convert_one(src, dst, args):
    """Import src and write dst (atomically; nothing left behind on failure): exit status."""
    from firmware.core.outputs import OutputError
    try:
        mf = import_file(src, sample_rate=args.sample_rate, submodel=args.submodel)
        mf.save(dst, force=args.force)
        try:
            err = modelfile.load(dst, verify=False).verify()
        except modelfile.ModelFileError:
            os.unlink(dst)
            raise
    except (modelfile.ModelFileError, OutputError) as e:
        print(f"tubeless: error: {e}", file=sys.stderr)
        return 2
    print(describe(mf, src, dst, err))
    return 0


def describe(mf, src, dst, err):
    """What `import` says of one file. The last figure is the saved file's self-check: it
    replays the reference pair stored in it (the one the AIDA-X file brings; for NAM and
    GuitarML, made by our kernel on import), which proves the file intact, not that it plays
    like the format's own player: that is what tests/test_importers.py measures."""
    source = mf.metadata.get("source", {})
    knobs = ", ".join(k["name"] for k in mf.knobs) or "none"
    if source.get("format") == "aidax":
        check = f"self-check: replays the reference output stored in the AIDA-X file to {err:.2g}"
    else:
        check = f"self-check of the saved file: its stored reference replays to {err:.2g}"
    line = (f"{src} -> {dst}\n  {mf.name!r}: {source.get('format', '?')} {mf.architecture}, "
            f"{sum(w.size for w in mf.weights.values())} weights, {mf.sample_rate} Hz, knobs: {knobs}")
    labels, index = nam.submodel_sizes(mf.metadata)
    if labels:
        line += f"\n  sizes (--submodel N): " + ", ".join(
            f"{i}: {label}" + (" [imported]" if i == index else "") for i, label in enumerate(labels))
    return f"{line}\n  {check}"

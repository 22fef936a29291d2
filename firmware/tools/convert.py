"""`tubeless import` and `tubeless convert`: community model files (NAM, GuitarML, AIDA-X)
into the pedal's own `.npz`, each parsed in a sandboxed child process."""
import argparse
import os
import sys

from firmware.core import limits, sandbox
from firmware.core.errors import ModelFileError, OutputError, UserError
from firmware.importers import import_file, nam
from firmware.models import modelfile


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
    if args.output and len(args.inputs) > 1:
        raise UserError("--output takes one input; use --out-dir for several")
    if len(set(map(os.path.abspath, args.inputs))) != len(args.inputs):
        raise UserError("the same input is named twice")
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
                raise UserError(problem)
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
    try:
        mf = import_file(src, sample_rate=args.sample_rate, submodel=args.submodel)
        mf.save(dst, force=args.force)
        try:
            err = modelfile.load(dst, verify=False).verify()
        except ModelFileError:
            os.unlink(dst)
            raise
    except (ModelFileError, OutputError) as e:
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
        line += "\n  sizes (--submodel N): " + ", ".join(
            f"{i}: {label}" + (" [imported]" if i == index else "") for i, label in enumerate(labels))
    return f"{line}\n  {check}"

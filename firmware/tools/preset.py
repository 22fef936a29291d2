"""`tubeless preset`: the presets folder from the command line (docs/presets.md).

    tubeless preset list                      the banks, the presets, the files not played
    tubeless preset check FILE...             read presets as the pedal does: one line each
    tubeless preset export NAME -o rig.zip    the preset with its models and IR, to share
    tubeless preset import rig.zip            unpack a shared rig into the pedal's folders

The folders are the config's (`[models] directory`, `[presets] directory`), or --models and
--presets. The pedal picks up what lands in them by itself."""
import os

from firmware.core.config import load_config
from firmware.core.errors import PresetError
from firmware.presets import bundle
from firmware.presets import format as fmt
from firmware.presets.store import PresetFolder, presets_directory


def _folders(args):
    cfg = load_config(args.config)
    if args.models:
        cfg["models"]["directory"] = args.models
    if args.presets:
        cfg.setdefault("presets", {})["directory"] = args.presets
    return presets_directory(cfg), cfg["models"]["directory"]


def cmd_list(args):
    presets_dir, _ = _folders(args)
    folder = PresetFolder(presets_dir)
    folder.poll()
    for b in folder.banks():
        print(f"bank {b.name}: " + (", ".join(b.presets) if not b.is_setlist else "the models folder's order"))
    for name, p in sorted(folder.presets.items(), key=lambda kv: kv[0].lower()):
        snaps = f", {len(p.snapshots)} snapshot(s)" if p.snapshots else ""
        print(f"  {name}: {p.amp or '(the playing model)'}" + (f" + {p.drive_model}" if p.drive_model else "")
              + (f", IR {p.ir}" if p.ir else "") + snaps)
    for f, why in sorted((k, v) for k, v in folder.errors.items() if isinstance(k, str)):
        print(f"  not played: {why}")
    return 0


def cmd_check(args):
    bad = 0
    for path in args.files:
        try:
            p = fmt.read(path)
            print(f"{path}: ok ({p.amp or 'no amp'}, {len(p.snapshots)} snapshot(s))")
        except PresetError as e:
            print(f"{e}")
            bad += 1
    return 2 if bad else 0


def cmd_export(args):
    presets_dir, models_dir = _folders(args)
    path = args.name if args.name.endswith(fmt.EXTENSION) and os.path.isfile(args.name) else None
    if path is None:
        folder = PresetFolder(presets_dir)
        folder.poll()
        path = folder.path_of(folder.find(args.name).name)
    members = bundle.export_rig(path, models_dir, args.output, force=args.force)
    print(f"{args.output}: " + ", ".join(members))
    return 0


def cmd_import(args):
    presets_dir, models_dir = _folders(args)
    for kind, name, what in bundle.import_rig(args.zip, presets_dir, models_dir, force=args.force):
        print(f"{kind} {name}: {what}")
    return 0


def register(sub):
    p = sub.add_parser("preset", help="presets: list, check, export and import a rig (docs/presets.md)")
    ps = p.add_subparsers(dest="preset_command", required=True, metavar="ACTION")

    def common(q):
        q.add_argument("--config", help="TOML config (its [models] and [presets] folders)")
        q.add_argument("--models", metavar="DIR", help="the models folder")
        q.add_argument("--presets", metavar="DIR", help="the presets folder (default: presets beside the models)")

    q = ps.add_parser("list", help="the banks and presets, and the files the pedal does not play")
    common(q)
    q.set_defaults(func=cmd_list)
    q = ps.add_parser("check", help="read preset files as the pedal does: one line each")
    q.add_argument("files", nargs="+", metavar="FILE.toml")
    q.set_defaults(func=cmd_check)
    q = ps.add_parser("export", help="a preset with its models and IR as a zip, to share")
    q.add_argument("name", metavar="NAME", help="a preset of the presets folder (or a .toml file)")
    q.add_argument("-o", "--output", required=True, metavar="RIG.zip")
    q.add_argument("-f", "--force", action="store_true", help="overwrite RIG.zip if it exists")
    common(q)
    q.set_defaults(func=cmd_export)
    q = ps.add_parser("import", help="unpack a shared rig zip into the models and presets folders")
    q.add_argument("zip", metavar="RIG.zip")
    q.add_argument("-f", "--force", action="store_true", help="replace files of the same name that differ")
    common(q)
    q.set_defaults(func=cmd_import)


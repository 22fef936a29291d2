"""One preset file: a whole sound in human-readable TOML (docs/presets.md).

    version = 1
    amp = "Plexi.nam"            # the amp model, a file of the models folder
    drive_model = ""             # the drive slot's model ("" = none)
    ir = "4x12 V30.wav"          # the cabinet IR, a file of the models folder's irs/ ("" = none)
    [controls]                   # the pots' controls: drive, level 0..1, gate dB, knob2, pot_assign
    [rig.BLOCK]                  # every block's on/off and parameters (docs/rig.md)
    [[snapshots]]                # variations of the parameters: name, [snapshots.controls], [snapshots.rig.BLOCK]

Everything read is checked: the file's size before it is parsed, every value against the
rig's parameter table (`firmware.dsp.rig`) with one line naming the key, model and IR names
confined to plain file names of the pedal's folders. Keys this firmware does not know at
the top or in a table of their own are kept: `Preset.document()` writes them back as read.
"""
import copy
import math
import os
import tomllib
from dataclasses import dataclass, field

from firmware.core.errors import MessageError, PresetError
from firmware.dsp import rig
from firmware.presets import tomlw

VERSION = 1                       # the format this firmware writes and reads (a newer one is refused)
EXTENSION = ".toml"
MAX_BYTES = 64 << 10              # a preset is a few hundred bytes; anything this big is not one
MAX_SNAPSHOTS = 8                 # PiPedal has six; a board's row of switches at most
MAX_NAME = 64                     # a preset's or snapshot's name (the LEDs and the page show it)
MAX_DEPTH = 16                    # nesting of the tables and arrays a preset may carry
FILE_NAME_BYTES = 255
# the models the library plays (firmware.importers.library.EXTENSIONS: not imported, so that the
# command table, which the audio process reads, never reaches the importers; a test compares them)
MODEL_EXTENSIONS = (".npz", ".nam", ".json", ".aidax")
# the pots' controls and their ranges (the third pot's assignment is `pot_assign`)
CONTROLS = {"drive": (0.0, 1.0), "level": (0.0, 1.0), "knob2": (0.0, 1.0), "gate": (-100.0, 0.0)}
POT_ROLES = ("knob2", "gate")     # besides any rig parameter
KNOWN = ("version", "amp", "drive_model", "ir", "controls", "rig", "snapshots")
HEADER = "tubeless preset (docs/presets.md). Edit freely: the pedal checks it when the file changes."


@dataclass
class Settings:
    """What a preset or a snapshot sets: {control: value}, pot_assign, and the rig as
    {block: {"on": bool, param: value}} (qualified names only)."""
    controls: dict = field(default_factory=dict)
    pot_assign: str = None
    rig: dict = field(default_factory=dict)

    def rig_settings(self):
        """[(block, on) or (block.param, value)], as RigControls.apply takes them."""
        out = []
        for block, table in self.rig.items():
            for k, v in table.items():
                out.append((block, v) if k == "on" else (f"{block}.{k}", v))
        return out

    def over(self, base):
        """These settings on top of `base` (a snapshot over its preset)."""
        r = copy.deepcopy(base.rig)
        for block, table in self.rig.items():
            r.setdefault(block, {}).update(table)
        return Settings({**base.controls, **self.controls},
                        self.pot_assign if self.pot_assign is not None else base.pot_assign, r)

    def differences(self, base):
        """What these settings change against `base`: the snapshot that gives these."""
        r = {}
        for block, table in self.rig.items():
            d = {k: v for k, v in table.items() if base.rig.get(block, {}).get(k) != v}
            if d:
                r[block] = d
        return Settings({k: v for k, v in self.controls.items() if base.controls.get(k) != v},
                        self.pot_assign if self.pot_assign != base.pot_assign else None, r)

    def table(self):
        out = {}
        if self.controls or self.pot_assign is not None:
            out["controls"] = {**self.controls, **({"pot_assign": self.pot_assign} if self.pot_assign else {})}
        if self.rig:
            out["rig"] = copy.deepcopy(self.rig)
        return out


@dataclass
class Snapshot:
    name: str
    settings: Settings
    extra: dict = field(default_factory=dict)     # its keys this firmware does not know


@dataclass
class Preset:
    name: str                                     # the file's name without .toml
    amp: str = ""                                 # "" = no model named: the one playing stays
    drive_model: str = ""
    ir: str = None                                # None: not named (the IR stays); "": none
    settings: Settings = field(default_factory=Settings)
    snapshots: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)     # top-level keys this firmware does not know

    def snapshot_settings(self, n):
        """The settings of snapshot n (1-based; 0: the preset's own)."""
        if n == 0:
            return self.settings
        if not 1 <= n <= len(self.snapshots):
            raise PresetError(f"preset {self.name!r} has {len(self.snapshots)} snapshot(s), no snapshot {n}")
        return self.snapshots[n - 1].settings.over(self.settings)

    def models(self):
        """The files of the models folder this preset plays."""
        return [m for m in (self.amp, self.drive_model) if m]

    def document(self):
        """The TOML document: the known keys as they are now, the unknown ones as read."""
        doc = {"version": VERSION, "amp": self.amp, "drive_model": self.drive_model}
        if self.ir is not None:
            doc["ir"] = self.ir
        doc.update(copy.deepcopy(self.extra))
        doc.update(self.settings.table())
        if self.snapshots:
            doc["snapshots"] = [{"name": s.name, **copy.deepcopy(s.extra), **s.settings.table()}
                                for s in self.snapshots]
        return doc

    def dumps(self):
        return tomlw.dumps(self.document(), header=HEADER)


# --- checks -------------------------------------------------------------------------------
def check_name(name, what="preset"):
    """A preset's (or bank's) name: it becomes a file name, so no folders, no leading dot."""
    if not isinstance(name, str) or not name.strip():
        raise PresetError(f"a {what} needs a name")
    if name != name.strip() or len(name) > MAX_NAME:
        raise PresetError(f"{what} name {name[:MAX_NAME]!r}: at most {MAX_NAME} characters, no spaces around it")
    if name.startswith(".") or any(c in name for c in "/\\:*?\"<>|") or any(ord(c) < 0x20 or ord(c) == 0x7F
                                                                          for c in name):
        raise PresetError(f"{what} name {name!r}: no leading dot, no / \\ : * ? \" < > | or control characters")
    return name


def check_file_name(where, value, extensions, folder):
    """A model's or IR's name: a plain file name of `folder` (never a path out of it)."""
    if not isinstance(value, str):
        raise PresetError(f"{where}: must be a file name in the {folder}, not {value!r}")
    if value == "":
        return value
    if (value in (".", "..") or value.startswith(".") or any(c in value for c in "/\\\0")
            or any(ord(c) < 0x20 for c in value) or len(value.encode("utf-8", "replace")) > FILE_NAME_BYTES):
        raise PresetError(f"{where}: {value[:80]!r} is not a plain file name in the {folder} "
                          "(no folders, no leading dot)")
    if not value.lower().endswith(extensions):
        raise PresetError(f"{where}: {value[:80]!r} is not a {' '.join(extensions)} file")
    return value


def _number(where, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PresetError(f"{where}: must be a number, not {v!r}")
    v = float(v)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise PresetError(f"{where}: {v:g} is outside {lo:g}..{hi:g}")
    return v


def _depth(v, where, d=0):
    if d > MAX_DEPTH:
        raise PresetError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    for x in v.values() if isinstance(v, dict) else v if isinstance(v, list) else ():
        _depth(x, where, d + 1)


def _settings(table, where, allow):
    """Settings of a preset's (or a snapshot's) [controls] and [rig] tables."""
    s = Settings()
    controls = table.get("controls", {})
    if not isinstance(controls, dict):
        raise PresetError(f"{where}controls: must be a table")
    for k, v in controls.items():
        if k == "pot_assign":
            if not isinstance(v, str) or (v not in POT_ROLES and not _is_param(v)):
                raise PresetError(f"{where}controls.pot_assign: {v!r} is not knob2, gate or a rig parameter "
                                  "(docs/rig.md)")
            s.pot_assign = v if v in POT_ROLES else rig.check(v, rig.resolve(v)[1].default)[0]
        elif k in CONTROLS:
            s.controls[k] = _number(f"{where}controls.{k}", v, *CONTROLS[k])
        else:
            raise PresetError(f"{where}controls.{k}: unknown control (known: {', '.join(CONTROLS)}, pot_assign)")
    table_rig = table.get("rig", {})
    if not isinstance(table_rig, dict):
        raise PresetError(f"{where}rig: must be a table of blocks")
    for block, params in table_rig.items():
        if block not in rig.BY_NAME:
            raise PresetError(f"{where}rig.{block}: unknown block (known: {', '.join(rig.BY_NAME)})")
        if not isinstance(params, dict):
            raise PresetError(f"{where}rig.{block}: must be a table (on = true, PARAM = VALUE)")
        out = s.rig.setdefault(block, {})
        for k, v in params.items():
            if k == "on":
                if not isinstance(v, bool):
                    raise PresetError(f"{where}rig.{block}.on: must be true or false, not {v!r}")
                out["on"] = v
                continue
            try:
                cls, p = rig.resolve(f"{block}.{k}")
            except MessageError:
                raise PresetError(f"{where}rig.{block}.{k}: unknown parameter (known: "
                                  f"{', '.join(p.name for p in rig.BY_NAME[block].PARAMS)})") from None
            out[p.name] = _number(f"{where}rig.{block}.{k}", v, p.lo, p.hi)
    unknown = set(table) - set(allow)
    return s, {k: table[k] for k in table if k in unknown}


def _is_param(name):
    try:
        rig.resolve(name)
        return True
    except MessageError:
        return False


def parse(text, name, where=None):
    """A Preset from TOML text (str or bytes); PresetError in one line naming the key."""
    where = where or f"{name}{EXTENSION}"
    check_name(name)
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_BYTES:
            raise PresetError(f"{where}: {len(text)} bytes, more than a preset's {MAX_BYTES}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PresetError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if len(text) > MAX_BYTES:
        raise PresetError(f"{where}: more than a preset's {MAX_BYTES} bytes")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PresetError(f"{where}: not valid TOML: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise PresetError(f"{where}: nested too deeply") from None
    _depth(doc, where)
    version = doc.get("version", VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PresetError(f"{where}: version must be a whole number from 1, not {version!r}")
    if version > VERSION:
        raise PresetError(f"{where}: format version {version}, newer than this firmware's {VERSION}: update the pedal")
    lib = "models folder"
    p = Preset(name,
               amp=check_file_name(f"{where}: amp", doc.get("amp", ""), MODEL_EXTENSIONS, lib),
               drive_model=check_file_name(f"{where}: drive_model", doc.get("drive_model", ""),
                                           MODEL_EXTENSIONS, lib),
               ir=None if "ir" not in doc else check_file_name(f"{where}: ir", doc["ir"], (".wav",),
                                                                "models folder's irs/"))
    p.settings, _ = _settings(doc, f"{where}: ", KNOWN)
    p.extra = {k: v for k, v in doc.items() if k not in KNOWN}
    snaps = doc.get("snapshots", [])
    if not isinstance(snaps, list) or any(not isinstance(s, dict) for s in snaps):
        raise PresetError(f"{where}: snapshots must be [[snapshots]] tables")
    if len(snaps) > MAX_SNAPSHOTS:
        raise PresetError(f"{where}: {len(snaps)} snapshots, at most {MAX_SNAPSHOTS}")
    for i, s in enumerate(snaps, 1):
        at = f"{where}: snapshots[{i}]."
        for k in ("amp", "drive_model", "ir"):
            if k in s:
                raise PresetError(f"{at}{k}: a snapshot changes parameters only, not models (make it a preset)")
        sname = s.get("name", f"snapshot {i}")
        if not isinstance(sname, str) or not sname.strip() or len(sname) > MAX_NAME:
            raise PresetError(f"{at}name: a name of 1..{MAX_NAME} characters, not {sname!r}")
        settings, extra = _settings(s, at, ("name", "controls", "rig"))
        p.snapshots.append(Snapshot(sname, settings, extra))
    return p


def read(path):
    """The Preset of a file, read no further than MAX_BYTES; PresetError in one line."""
    path = os.fspath(path)
    base = os.path.basename(path)
    if not base.endswith(EXTENSION):
        raise PresetError(f"{base}: a preset is a {EXTENSION} file")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise PresetError(f"{base}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise PresetError(f"{base}: more than a preset's {MAX_BYTES} bytes")
    return parse(data, base[:-len(EXTENSION)], base)

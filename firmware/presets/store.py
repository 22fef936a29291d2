"""The presets folder: the presets and banks it holds, watched like the models folder, and
every change to it written atomically.

    presets/
        verse.toml  chorus.toml  solo.toml     one preset per file (firmware.presets.format)
        banks/
            Sunday.txt                         a bank: preset names, one a line, in playing order

Without bank files every preset is in one bank, "all", by name. The models' own order
(the models folder's setlist.txt) is always there as the last bank, "setlist": each model
an implicit preset that keeps the settings as they are, so a pedal without presets plays
exactly as before them.

`poll()` looks at the files' sizes and modification times and reads only what changed
(on the control side, never the audio thread); a broken file is one log line per version
and keeps its last good reading out of play. Writes go to a hidden temporary name in the
folder, are flushed, then renamed over the old file: after a power cut every preset is
either the old or the new one.
"""
import logging
import os
from dataclasses import dataclass

from firmware.core.errors import OutputError, PresetError
from firmware.core.outputs import atomic_path
from firmware.presets import format as fmt

log = logging.getLogger(__name__)

BANKS = "banks"
BANK_EXTENSION = ".txt"
SETLIST = "setlist"               # the models' own order (setlist.txt of the models folder)
ALL = "all"                       # every preset by name, when there is no bank file
MAX_PRESETS = 1000
MAX_BANKS = 64
MAX_BANK_ENTRIES = 128
MAX_BANK_BYTES = 16 << 10


@dataclass(frozen=True)
class Bank:
    name: str
    presets: tuple                # preset names in playing order (those that exist)
    file: str = None              # its bank file (None: an implicit bank)

    @property
    def is_setlist(self):
        return self.name == SETLIST and self.file is None


SETLIST_BANK = Bank(SETLIST, ())


def presets_directory(cfg):
    """The presets folder: [presets] directory, or "presets" beside the models folder."""
    d = (cfg.get("presets") or {}).get("directory") or ""
    if d:
        return d
    models = os.path.abspath(cfg["models"]["directory"])
    return os.path.join(os.path.dirname(models), "presets")


def _visible(name, ext):
    return name.endswith(ext) and not name.startswith(".") and len(name) > len(ext)


def parse_bank(text, name):
    """The preset names of a bank file: one a line, `#` comments, blanks skipped."""
    out = []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.endswith(fmt.EXTENSION):
            entry = entry[:-len(fmt.EXTENSION)]
        if entry not in out:
            out.append(entry)
    if len(out) > MAX_BANK_ENTRIES:
        raise PresetError(f"bank {name}: {len(out)} presets, at most {MAX_BANK_ENTRIES}")
    return out


class PresetFolder:
    """The presets and banks of one folder. Not thread-safe: one owner (the pedal's control
    thread, or a command) polls and writes."""

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.presets = {}             # name -> Preset (the last good reading of a file that is well)
        self.errors = {}              # file name -> why it is not played
        self.bank_files = {}          # bank name -> [preset names] as the file lists them
        self.version = 0              # counts the changes poll() saw
        self._stamps = {}             # file path -> (size, mtime_ns) last read

    # --- reading ----------------------------------------------------------------------
    def _listing(self, folder, ext, limit):
        try:
            names = sorted(n for n in os.listdir(folder) if _visible(n, ext))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as e:
            log.warning("presets: cannot list %s: %s", folder, e.strerror or e)
            return []
        if len(names) > limit:
            key = ("too many", folder)
            if self.errors.get(key) != len(names):
                log.warning("presets: %d files in %s, only the first %d (by name) are used", len(names), folder, limit)
                self.errors[key] = len(names)
            names = names[:limit]
        return names

    def _stat(self, path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def poll(self):
        """Read what changed since the last poll; True when anything did."""
        changed = False
        seen = set()
        for n in self._listing(self.directory, fmt.EXTENSION, MAX_PRESETS):
            path = os.path.join(self.directory, n)
            seen.add(path)
            stamp = self._stat(path)
            if stamp is None or self._stamps.get(path) == stamp:
                continue
            self._stamps[path] = stamp
            changed = True
            name = n[:-len(fmt.EXTENSION)]
            try:
                self.presets[name] = fmt.read(path)
                if self.errors.pop(n, None) is not None:
                    log.info("preset %s: readable again", name)
            except PresetError as e:
                self.presets.pop(name, None)
                self.errors[n] = str(e)
                log.warning("preset skipped: %s", e)
        banks_dir = os.path.join(self.directory, BANKS)
        for n in self._listing(banks_dir, BANK_EXTENSION, MAX_BANKS):
            path = os.path.join(banks_dir, n)
            seen.add(path)
            stamp = self._stat(path)
            if stamp is None or self._stamps.get(path) == stamp:
                continue
            self._stamps[path] = stamp
            changed = True
            self._read_bank(path, n[:-len(BANK_EXTENSION)])
        for path in [p for p in self._stamps if p not in seen]:
            del self._stamps[path]
            changed = True
            base = os.path.basename(path)
            if os.path.dirname(path) == banks_dir:
                self.bank_files.pop(base[:-len(BANK_EXTENSION)], None)
                self.errors.pop(f"{BANKS}/{base}", None)
            else:
                self.presets.pop(base[:-len(fmt.EXTENSION)], None)
                self.errors.pop(base, None)
        if changed:
            self.version += 1
        return changed

    def _read_bank(self, path, name):
        key = f"{BANKS}/{os.path.basename(path)}"
        try:
            if name in (SETLIST, ALL):
                raise PresetError(f"bank {name}: the name is the pedal's own bank; rename the file")
            fmt.check_name(name, "bank")
            with open(path, "rb") as f:
                data = f.read(MAX_BANK_BYTES + 1)
            if len(data) > MAX_BANK_BYTES:
                raise PresetError(f"bank {name}: more than {MAX_BANK_BYTES} bytes")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise PresetError(f"bank {name}: not UTF-8 text") from None
            self.bank_files[name] = parse_bank(text, name)
            self.errors.pop(key, None)
        except (PresetError, OSError) as e:
            self.bank_files.pop(name, None)
            why = str(e) if isinstance(e, PresetError) else f"bank {name}: cannot read: {e.strerror or e}"
            self.errors[key] = why
            log.warning("bank skipped: %s", why)

    # --- what plays ---------------------------------------------------------------------
    def banks(self):
        """The banks in order: the bank files by name (or "all"), then the setlist."""
        if self.bank_files:
            out = [Bank(name, tuple(p for p in names if p in self.presets),
                        os.path.join(self.directory, BANKS, name + BANK_EXTENSION))
                   for name, names in sorted(self.bank_files.items(), key=lambda kv: kv[0].lower())]
        elif self.presets:
            out = [Bank(ALL, tuple(sorted(self.presets, key=str.lower)))]
        else:
            out = []
        return out + [SETLIST_BANK]

    def bank(self, ref):
        """A bank by name or 1-based number; PresetError otherwise."""
        banks = self.banks()
        if isinstance(ref, str) and ref.isdigit():
            n = int(ref)
            if 1 <= n <= len(banks):
                return banks[n - 1]
            raise PresetError(f"no bank {n}: there are {len(banks)} ({', '.join(b.name for b in banks)})")
        for b in banks:
            if b.name == ref or b.name.lower() == str(ref).lower():
                return b
        raise PresetError(f"no bank {ref!r} (known: {', '.join(b.name for b in banks)})")

    def find(self, ref, bank=None):
        """A preset by name, or by its 1-based number in `bank`; PresetError otherwise."""
        if bank is not None and isinstance(ref, str) and ref.isdigit():
            n = int(ref)
            if 1 <= n <= len(bank.presets):
                return self.presets[bank.presets[n - 1]]
            raise PresetError(f"no preset {n} in bank {bank.name!r} (it has {len(bank.presets)})")
        if ref in self.presets:
            return self.presets[ref]
        low = str(ref).lower()
        for name, p in self.presets.items():
            if name.lower() == low:
                return p
        why = self.errors.get(f"{ref}{fmt.EXTENSION}")
        raise PresetError(why or f"no preset {ref!r} in {self.directory}")

    # --- writing ----------------------------------------------------------------------
    def path_of(self, name):
        return os.path.join(self.directory, fmt.check_name(name) + fmt.EXTENSION)

    def _write_text(self, path, text, replace):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with atomic_path(path, force=replace) as tmp:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
        except OutputError as e:
            raise PresetError(str(e)) from None

    def save(self, preset, replace=True):
        """Write a preset (atomically); replace=False refuses an existing one. Read back
        at once, so what is in the folder is what the pedal holds."""
        path = self.path_of(preset.name)
        if not replace and os.path.lexists(path):
            raise PresetError(f"preset {preset.name!r} exists: choose another name, or save over it")
        text = preset.dumps()
        if len(text.encode("utf-8")) > fmt.MAX_BYTES:
            raise PresetError(f"preset {preset.name!r}: more than {fmt.MAX_BYTES} bytes")
        self._write_text(path, text, True)
        self.poll()
        return self.presets[preset.name]

    def rename(self, name, to):
        old, new = self.find(name).name, fmt.check_name(to)
        src, dst = self.path_of(old), self.path_of(new)
        if old.lower() == new.lower():
            os.replace(src, dst)                  # only the case changes
        else:
            try:
                os.link(src, dst)                 # never over a preset that appeared meanwhile
            except FileExistsError:
                raise PresetError(f"preset {new!r} exists") from None
            os.unlink(src)
        self.poll()
        self._rewrite_banks(lambda names: [new if n == old else n for n in names])

    def delete(self, name):
        old = self.find(name).name
        os.unlink(self.path_of(old))
        self.poll()
        self._rewrite_banks(lambda names: [n for n in names if n != old])

    def duplicate(self, name, to):
        src = self.find(name)
        p = fmt.parse(src.dumps(), fmt.check_name(to))
        self.save(p, replace=False)
        self._rewrite_banks(lambda names: _after(names, src.name, p.name))
        return self.presets[p.name]

    def write_bank(self, name, presets):
        """A bank file with these presets in this order (each must exist)."""
        fmt.check_name(name, "bank")
        if name in (SETLIST, ALL):
            raise PresetError(f"bank {name!r} is the pedal's own; choose another name")
        missing = [p for p in presets if p not in self.presets]
        if missing:
            raise PresetError(f"bank {name}: no preset {missing[0]!r}")
        if len(presets) > MAX_BANK_ENTRIES:
            raise PresetError(f"bank {name}: {len(presets)} presets, at most {MAX_BANK_ENTRIES}")
        self._write_bank_file(name, list(dict.fromkeys(presets)))

    def _write_bank_file(self, name, presets):
        text = f"# tubeless bank {name}: one preset a line, in playing order\n" + "".join(f"{p}\n" for p in presets)
        self._write_text(os.path.join(self.directory, BANKS, name + BANK_EXTENSION), text, True)
        self.poll()

    def add_to_bank(self, bank, preset):
        """Append a preset to a bank file (an implicit bank has none to change)."""
        if bank is not None and bank.file is not None and preset not in self.bank_files.get(bank.name, ()):
            self._write_bank_file(bank.name, self.bank_files.get(bank.name, []) + [preset])

    def _rewrite_banks(self, edit):
        """Every bank file through `edit` (names -> names): a renamed or deleted preset
        follows in the banks (entries naming no preset yet stay as the user wrote them)."""
        for name, names in list(self.bank_files.items()):
            new = edit(list(names))
            if new != names:
                self._write_bank_file(name, new)


def _after(names, name, new):
    if name not in names or new in names:
        return names
    i = names.index(name)
    return names[:i + 1] + [new] + names[i + 1:]


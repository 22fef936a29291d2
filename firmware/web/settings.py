"""The settings a player changes on the page, saved into the pedal's TOML config.

The config file is the user's (install.sh writes it with every key commented out), so it
is edited line by line: the key's line in its section is replaced (or added under the
section's header, or the section appended), every other line stays as it was. A
ConfigEdit gathers the changes and checks them before anything is applied: the new text
is parsed again and must give back every new value (so a value TOML cannot hold is
refused before the pedal takes it); write() then replaces the file (temp file in the same
folder, then rename).
"""
import os
import re
import subprocess
import tempfile
import tomllib

from firmware.core.errors import SettingsError
from firmware.platform import cards as cards_mod

# what a TOML basic string must escape: the quote, the backslash and the control
# characters but tab (U+0000..U+001F, U+007F); every other character is written as itself
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(s):
    """s as a TOML basic string. Any Unicode goes in as itself (the file is UTF-8): JSON's
    escapes would spell a character beyond U+FFFF as two surrogates, which TOML refuses.
    A lone surrogate has no UTF-8 at all: refused."""
    out = []
    for ch in s:
        c = ord(ch)
        if 0xD800 <= c <= 0xDFFF:
            raise SettingsError(f"{s[:40]!r}: a name with a broken character in it cannot be saved")
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif (c < 0x20 and ch != "\t") or c == 0x7F:
            out.append(f"\\u{c:04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return toml_string(v)
    raise SettingsError(f"cannot store {v!r}")


class ConfigEdit:
    """Changes to one TOML config file: set() each key (checked at once: the whole new text
    must parse and read back every value set), then write() them all, atomically. Errors
    name the file, never its folder (the page shows them)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        try:
            with open(self.path, encoding="utf-8") as f:
                self.lines = f.read().splitlines()
        except FileNotFoundError:
            self.lines = []
        except (OSError, UnicodeDecodeError) as e:
            raise SettingsError(f"{self.name}: cannot be read ({getattr(e, 'strerror', None) or e})") from None
        self.values = {}

    def set(self, section, key, value):
        line = f"{key} = {_toml_value(value)}"
        lines = self.lines
        key_re = re.compile(rf"^\s*#?\s*{re.escape(key)}\s*=")
        start = next((i for i, ln in enumerate(lines) if ln.strip() == f"[{section}]"), None)
        if start is None:
            lines += ["", f"[{section}]", line]
        else:
            end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
            live = [i for i in range(start + 1, end) if key_re.match(lines[i]) and not lines[i].lstrip().startswith("#")]
            commented = [i for i in range(start + 1, end) if key_re.match(lines[i])]
            if live:
                lines[live[0]] = line
            elif commented:
                lines.insert(commented[0] + 1, line)      # under the commented default, which documents it
            else:
                lines.insert(start + 1, line)
        self.values[(section, key)] = value
        self._check()
        return self

    def text(self):
        return "\n".join(self.lines) + "\n"

    def _check(self):
        try:
            parsed = tomllib.loads(self.text())
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"{self.name} would not read back after the change ({e}); left as it was") from None
        for (section, key), value in self.values.items():
            got = parsed.get(section, {}).get(key) if isinstance(parsed.get(section), dict) else None
            if got != value:
                raise SettingsError(f"{self.name}: {section}.{key} would read {got!r}, not {value!r}; left as it was")

    def write(self):
        d = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".config-", dir=d)
        except OSError as e:
            raise SettingsError(f"{self.name}: cannot be written ({e.strerror})") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.text())
            try:
                os.chmod(tmp, os.stat(self.path).st_mode & 0o777)
            except OSError:
                os.chmod(tmp, 0o664)
            os.replace(tmp, self.path)
        except OSError as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise SettingsError(f"{self.name}: cannot be written ({e.strerror})") from None


def set_config_value(path, section, key, value):
    """Set [section] key = value in the TOML file at path, atomically."""
    ConfigEdit(path).set(section, key, value).write()


# --- the HAT's input gain (the same controls as scripts/hat-mixer.sh sets) -----------------
# card id -> (control names, dB -> value, range in dB). From hats.sh; pisound has a knob.
HAT_GAIN = {
    "sndrpihifiberry": (("PGA Gain Left", "PGA Gain Right"),
                        lambda g: f"{max(-12.0, min(40.0, round(g * 2) / 2)):.1f}dB", (-12.0, 40.0)),
    "Zero": (("Mixin PGA Volume",), lambda g: _both(max(0, min(15, int((g + 4.5) / 1.5 + 0.5)))), (-4.5, 18.0)),
    "IQaudIOCODEC": (("Mixin PGA Volume",), lambda g: _both(max(0, min(15, int((g + 4.5) / 1.5 + 0.5)))),
                     (-4.5, 18.0)),
    "audioinjectorpi": (("Capture Volume",), lambda g: _both(max(0, min(31, int((g + 34.5) / 1.5 + 0.5)))),
                        (-34.5, 12.0)),
}


def _both(v):
    return f"{v},{v}"


def present_cards():
    """ALSA card ids present (platform.cards reads /proc/asound/cards)."""
    try:
        return [card.id for card in cards_mod.list_cards()]
    except OSError:
        return []


def gain_control(cards=None):
    """(card id, controls, to_value, range) of the HAT present, or (None, reason)."""
    cards = present_cards() if cards is None else cards
    for card in cards:
        if card in HAT_GAIN:
            return (card, *HAT_GAIN[card])
    if "pisound" in cards:
        return None, "Pisound sets its input gain with the knob on the board"
    return None, "no codec HAT with an input gain control on this pedal"


def set_input_gain(db, cards=None, amixer="amixer"):
    """Set the HAT's input gain now (amixer); SettingsError when there is none."""
    found = gain_control(cards)
    if found[0] is None:
        raise SettingsError(found[1])
    card, controls, to_value, (lo, hi) = found
    if not lo <= db <= hi:
        raise SettingsError(f"input gain {db:g} dB is outside this HAT's {lo:g}..{hi:g} dB")
    for name in controls:
        try:
            r = subprocess.run([amixer, "-q", "-c", card, "cset", f"name={name}", to_value(db)],
                               capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SettingsError(f"amixer: {e}") from None
        if r.returncode != 0:
            raise SettingsError(f"amixer could not set '{name}' on card {card}: "
                                f"{(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return card

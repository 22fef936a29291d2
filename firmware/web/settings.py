"""The settings a player changes on the page, saved into the pedal's TOML config.

The config file is the user's (install.sh writes it with every key commented out), so it
is edited line by line: the key's line in its section is replaced (or added under the
section's header, or the section appended), every other line stays as it was. The result
is parsed again and must give the new value before it replaces the file (temp file in the
same folder, then rename).
"""
import json
import os
import re
import subprocess
import tempfile
import tomllib

from firmware.core.errors import SettingsError
from firmware.platform import cards as cards_mod


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return json.dumps(v)              # a TOML basic string is a JSON string for these
    raise SettingsError(f"cannot store {v!r}")


def set_config_value(path, section, key, value):
    """Set [section] key = value in the TOML file at path, atomically."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    except OSError as e:
        raise SettingsError(f"{path}: {e.strerror}") from None
    line = f"{key} = {_toml_value(value)}"
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
    text = "\n".join(lines) + "\n"
    try:
        got = tomllib.loads(text)[section][key]
    except (tomllib.TOMLDecodeError, KeyError) as e:
        raise SettingsError(f"{path}: would not parse after the change ({e}); left as it was") from None
    if got != value:
        raise SettingsError(f"{path}: {section}.{key} would read {got!r}, not {value!r}; left as it was")
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            st = os.stat(path)
            os.chmod(tmp, st.st_mode & 0o777)
        except OSError:
            os.chmod(tmp, 0o664)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise SettingsError(f"{path}: cannot write: {e.strerror}") from None


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

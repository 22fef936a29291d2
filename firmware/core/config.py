"""Pedal configuration: TOML, defaults in default_config.toml (package data)."""
import copy
import os
import tomllib
from importlib import resources

from firmware.core.errors import ConfigError


def defaults():
    text = resources.files(__package__).joinpath("default_config.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


# Tables whose keys are not listed in default_config.toml: their owner checks them (the
# rig's against its parameter table, firmware.dsp.rig, when the pedal starts).
OPEN_TABLES = ("rig", "midi.cc_rig")


def _merge(base, over, where=""):
    for key, value in over.items():
        if key not in base:
            raise ConfigError(f"unknown config key '{where}{key}'")
        if f"{where}{key}" in OPEN_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"config '{where}{key}' must be a table")
            base[key] = copy.deepcopy(value)
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config '{where}{key}' must be a table")
            _merge(base[key], value, f"{where}{key}.")
        else:
            base[key] = value
    return base


def load_config(path=None, overrides=None):
    cfg = defaults()
    if path:
        try:
            with open(path, "rb") as f:
                user = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: {e}") from None
        _merge(cfg, user)
    if overrides:
        _merge(cfg, copy.deepcopy(overrides))
    a = cfg["audio"]
    if a["periods"] not in (2, 3, 4):
        raise ConfigError("audio.periods must be 2 or 3")
    if a["input_channel"] >= a["channels"]:
        raise ConfigError("audio.input_channel must be below audio.channels")
    return cfg


def tone_settings(cfg):
    t = dict(cfg["tone"])
    t["drive_range_db"] = tuple(t["drive_range_db"])
    t["level_range_db"] = tuple(t["level_range_db"])
    t["stereo_out"] = bool(cfg["audio"].get("stereo_out", False))
    return t


def captures_directory(cfg):
    """Where the playing pedal's captures go (firmware.pedal.capturing; `tubeless capture`
    with the pedal stopped takes --out): [capture] directory, or "captures" beside the models
    folder."""
    d = (cfg.get("capture") or {}).get("directory") or ""
    if d:
        return d
    return os.path.join(os.path.dirname(os.path.abspath(cfg["models"]["directory"])), "captures")


def recordings_directory(cfg):
    """Where recordings of what is played go (firmware.pedal.recorder; the web page lists
    them): [record] directory, or "recordings" beside the models folder."""
    d = (cfg.get("record") or {}).get("directory") or ""
    if d:
        return d
    models = os.path.abspath(cfg["models"]["directory"])
    return os.path.join(os.path.dirname(models), "recordings")

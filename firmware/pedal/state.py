"""The pedal's persistent state (last model, bypass, settings the pots do not hold, the
bank, preset and snapshot playing).

Saved atomically: write a temp file in the same directory, fsync, rename over the old
file, fsync the directory. A power cut at any moment leaves either the old or the new
file, never a mix; a corrupt or missing file means defaults, with one log line.
"""
import json
import logging
import os
import tempfile

log = logging.getLogger(__name__)

DEFAULT_STATE = {"model": None, "bypass": False, "gate_threshold_db": None, "knob2": None, "rig": None,
                 "stomp": None, "bank": None, "preset": None, "snapshot": 0}


def load_state(path):
    state = dict(DEFAULT_STATE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        state.update({k: v for k, v in data.items() if k in DEFAULT_STATE})
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:
        log.warning("state file %s unreadable (%s): starting from defaults", path, e)
    return state


def save_state(path, state):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    data = json.dumps(state, indent=1, sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass

"""Writing an output file so that nothing half-written is ever seen or left behind.

Every command that writes (render, convert, import, capture, plots, simulate) goes
through `atomic_path`: the data goes to a unique temporary name in the target folder,
which is renamed onto the output only when complete; on any failure the temporary file
is removed. An existing output is replaced only when the caller says so (`--force`).
"""
import contextlib
import os
import tempfile

from firmware.core.errors import OutputError


def check_output(path, force=False):
    """Refuse, before any work is done, an output that cannot be written."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a folder, not a file name")
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: the folder {folder} is not writable")
    if os.path.lexists(path) and not force:
        raise OutputError(f"{path} exists (use --force to overwrite)")
    return path


@contextlib.contextmanager
def atomic_path(path, force=False, mode=0o644):
    """Yield a temporary file name beside `path`; on success it becomes `path`.

    mode: the file is meant to be shared (the pedal's service user reads what an SSH user
    wrote); mkstemp would leave it owner-only."""
    path = check_output(path, force)
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp" + suffix, dir=folder)
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror}") from None
    try:
        os.fchmod(fd, mode)
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if not force and os.path.lexists(path):
            raise OutputError(f"{path} exists (use --force to overwrite)")
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)

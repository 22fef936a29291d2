"""Reading and writing WAV files for offline use (render, simulate, bench)."""
import logging
import os

import numpy as np
import soundfile as sf

from firmware.core.errors import AudioFileError

log = logging.getLogger(__name__)


def read_mono(path, expected_rate=None):
    """(samples as float32 mono, sample rate). Any bit depth; stereo uses channel 0 with a warning."""
    if os.path.isdir(path):
        raise AudioFileError(f"{path}: is a folder, not a WAV file")
    try:
        data, rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as e:
        raise AudioFileError(f"{path}: cannot read audio: {e}") from None
    except MemoryError:
        raise AudioFileError(f"{path}: too large to read into memory") from None
    if data.shape[1] > 1:
        log.warning("%s has %d channels: using the first", path, data.shape[1])
    if expected_rate is not None and rate != expected_rate:
        raise AudioFileError(f"{path}: sample rate {rate} Hz, but the model runs at {expected_rate} Hz "
                             "(resample the file first)")
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: no samples")
    return np.ascontiguousarray(data[:, 0]), rate


def write(path, samples, rate, subtype="FLOAT", force=True):
    """Write a mono WAV atomically (a unique temp name in the target folder, then rename;
    nothing left behind on failure), 32-bit float by default. A path that cannot be
    written, or an existing file without `force`, is an outputs.OutputError naming it."""
    from firmware.core.outputs import OutputError, atomic_path
    with atomic_path(path, force=force) as tmp:
        try:
            sf.write(tmp, np.asarray(samples, np.float32), rate, subtype=subtype, format="WAV")
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
            raise OutputError(f"{path}: cannot write audio: {e}") from None

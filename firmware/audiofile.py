"""Reading and writing WAV files for offline use (render, simulate, bench)."""
import logging
import os

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)


class AudioFileError(ValueError):
    """A WAV file that cannot be used; the message names the file."""


def read_mono(path, expected_rate=None):
    """(samples as float32 mono, sample rate). Any bit depth; stereo uses channel 0 with a warning."""
    try:
        data, rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioFileError(f"{path}: cannot read audio: {e}") from None
    if data.shape[1] > 1:
        log.warning("%s has %d channels: using the first", path, data.shape[1])
    if expected_rate is not None and rate != expected_rate:
        raise AudioFileError(f"{path}: sample rate {rate} Hz, but the model runs at {expected_rate} Hz "
                             "(resample the file first)")
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: no samples")
    return np.ascontiguousarray(data[:, 0]), rate


def write(path, samples, rate, subtype="FLOAT"):
    """Write a mono WAV atomically (temp name + rename), 32-bit float by default."""
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
    sf.write(tmp, np.asarray(samples, np.float32), rate, subtype=subtype, format="WAV")
    os.replace(tmp, path)

"""The tubeless model file: one `.npz` per model (see docs/model-format.md, the contract).

Written by `training/` and the importers, read by the pedal. Everything in it is a plain
array: a UTF-8 JSON header stored as uint8, float32 weights under `weights/<name>`, and a
short reference input/output pair under `reference/` that proves the file is intact.
Files arrive over the network, so they are loaded with `allow_pickle=False`, size-capped,
and every array is checked against what the architecture needs before anything runs.
"""
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import models

FORMAT = "tubeless-model"
VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_FILE_BYTES = 64 * 1024 * 1024
REFERENCE_LENGTH = 2048
DEFAULT_TOLERANCE = 1e-4
WEIGHT_PREFIX = "weights/"
HEADER_KEY = "header"
REF_IN, REF_OUT = "reference/input", "reference/output"


class ModelFileError(ValueError):
    """A model file that cannot be played. The message names the file and the field."""

    def __init__(self, path, message):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


@dataclass
class ModelFile:
    architecture: str
    config: dict
    weights: dict
    sample_rate: int = 48000
    metadata: dict = field(default_factory=dict)
    knobs: list = field(default_factory=list)      # [{"name", "min", "max", "default"}]
    prewarm: bool = True                            # does the reference player prewarm?
    reference_input: np.ndarray = None
    reference_output: np.ndarray = None
    reference_knobs: list = field(default_factory=list)
    tolerance: float = DEFAULT_TOLERANCE
    path: str = "<memory>"

    @property
    def name(self):
        return self.metadata.get("name") or os.path.splitext(os.path.basename(self.path))[0]

    @property
    def num_knobs(self):
        return len(self.knobs)

    def build(self, max_block=2048):
        """A fresh Model of this file, reset (not prewarmed)."""
        try:
            model = models.build(self.architecture, self.config, self.weights, self.sample_rate, max_block)
        except (models.ModelConfigError, KeyError) as e:
            raise ModelFileError(self.path, f"cannot build {self.architecture}: {e}") from None
        for i, knob in enumerate(self.knobs[:model.num_knobs]):
            model.set_knob(i, knob.get("default", 0.5))
        model.reset()
        return model

    def run_reference(self, block=256):
        """Our output for the stored reference input, the way the reference was made."""
        model = self.build(max_block=block)
        for i, v in enumerate(self.reference_knobs[:model.num_knobs]):
            model.set_knob(i, v)
        return model.render(self.reference_input, block=block, prewarm=self.prewarm)

    def verify(self):
        """Raise ModelFileError unless the model reproduces its own reference pair."""
        if self.reference_input is None or self.reference_output is None:
            raise ModelFileError(self.path, "no reference pair to verify against")
        got = self.run_reference()
        err = float(np.max(np.abs(got - self.reference_output))) if len(got) else 0.0
        if not np.isfinite(err) or err > self.tolerance:
            raise ModelFileError(
                self.path, f"reference output does not reproduce (max error {err:.3g} > {self.tolerance:g}): "
                "the file is corrupt or was written for another player")
        return err

    # --- writing ------------------------------------------------------------------------
    def with_reference(self, reference_input=None, reference_output=None, knobs=None):
        """Attach a reference pair; the output is computed by our kernel when not given."""
        self.reference_input = (default_reference_input(self.sample_rate) if reference_input is None
                                else np.ascontiguousarray(reference_input, np.float32))
        if knobs is not None:
            self.reference_knobs = [float(k) for k in knobs]
        elif not self.reference_knobs:
            self.reference_knobs = [float(k.get("default", 0.5)) for k in self.knobs]
        self.reference_output = (self.run_reference() if reference_output is None
                                 else np.ascontiguousarray(reference_output, np.float32))
        return self

    def header(self):
        return {
            "format": FORMAT, "version": VERSION, "architecture": self.architecture,
            "config": self.config, "sample_rate": int(self.sample_rate), "metadata": self.metadata,
            "knobs": self.knobs, "prewarm": bool(self.prewarm),
            "reference": {"knobs": self.reference_knobs, "tolerance": float(self.tolerance)},
        }

    def save(self, path):
        """Write atomically (temp file + rename): a reader never sees half a file."""
        if self.reference_input is None:
            self.with_reference()
        arrays = {HEADER_KEY: np.frombuffer(json.dumps(self.header(), default=_json_default).encode(), np.uint8)}
        for name, value in self.weights.items():
            arrays[WEIGHT_PREFIX + name] = np.ascontiguousarray(value, np.float32)
        arrays[REF_IN] = np.ascontiguousarray(self.reference_input, np.float32)
        arrays[REF_OUT] = np.ascontiguousarray(self.reference_output, np.float32)
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
        try:
            # mkstemp makes the file owner-only; a model file is meant to be shared (the
            # pedal's service user reads what an SSH user wrote). Not via os.umask(): that
            # is process-wide and the pedal imports models on a background thread.
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.path = path
        return path


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def default_reference_input(sample_rate=48000, n=REFERENCE_LENGTH):
    """A deterministic guitar-like test signal: a plucked chord's decay over low-level noise,
    then a louder burst, so both the clean and the driven regions of a model are exercised."""
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(20261125)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (82.4, 123.5, 164.8, 207.7)) / 4
    x = 0.6 * chord * np.exp(-t * 12) + 0.02 * rng.standard_normal(n)
    x[n // 2:] += 0.9 * np.sin(2 * np.pi * 440 * t[n // 2:]) * np.exp(-(t[n // 2:] - t[n // 2]) * 30)
    return np.clip(x, -1, 1).astype(np.float32)


def _require(header, key, path, kind=None):
    if key not in header:
        raise ModelFileError(path, f"header is missing '{key}'")
    value = header[key]
    if kind is not None and not isinstance(value, kind):
        raise ModelFileError(path, f"header field '{key}' must be {kind.__name__ if isinstance(kind, type) else kind}")
    return value


def read_capped(path):
    """The bytes of a model file (ours or a community format), refusing one over the size
    limit before reading it: files arrive over the network."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise ModelFileError(path, f"file is {size / 1e6:.0f} MB, larger than the {MAX_FILE_BYTES >> 20} MB limit")
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ModelFileError(path, f"cannot read: {e.strerror}") from None


def load(path, verify=True):
    """Read and check a model file. Any problem is a ModelFileError naming file and field."""
    path = os.fspath(path)
    data = read_capped(path)
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ModelFileError(path, f"not a valid model file (truncated or not .npz): {e}") from None
    arrays = {}
    for key in npz.files:
        try:
            arrays[key] = npz[key]
        except ValueError as e:  # includes object arrays, refused by allow_pickle=False
            raise ModelFileError(path, f"array '{key}' cannot be read: {e}") from None
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise ModelFileError(path, f"array '{key}' is truncated or corrupt: {e}") from None

    if HEADER_KEY not in arrays:
        raise ModelFileError(path, "no 'header' array: not a tubeless model file")
    try:
        header = json.loads(arrays.pop(HEADER_KEY).astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(path, f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(path, f"header 'format' is {header.get('format') if isinstance(header, dict) else None!r}, expected {FORMAT!r}")
    version = _require(header, "version", path)
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(path, f"format version {version!r} is not supported (this firmware reads {SUPPORTED_VERSIONS})")
    architecture = _require(header, "architecture", path, str)
    config = _require(header, "config", path, dict)
    sample_rate = _require(header, "sample_rate", path, int)
    if not 8000 <= sample_rate <= 384000:
        raise ModelFileError(path, f"header 'sample_rate' {sample_rate} is out of range")
    metadata = header.get("metadata") or {}
    knobs = header.get("knobs") or []
    reference = header.get("reference") or {}

    try:
        expected = models.weight_shapes(architecture, config)
    except (models.ModelConfigError, KeyError, TypeError) as e:
        raise ModelFileError(path, f"bad config: {e}") from None
    weights = {k[len(WEIGHT_PREFIX):]: v for k, v in arrays.items() if k.startswith(WEIGHT_PREFIX)}
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing:
        raise ModelFileError(path, f"missing weight array 'weights/{missing[0]}' ({len(missing)} missing)")
    if extra:
        raise ModelFileError(path, f"unexpected weight array 'weights/{extra[0]}' for this config")
    for name, shape in expected.items():
        w = weights[name]
        if w.dtype != np.float32:
            raise ModelFileError(path, f"'weights/{name}' is {w.dtype}, expected float32")
        if tuple(w.shape) != tuple(shape):
            raise ModelFileError(path, f"'weights/{name}' has shape {tuple(w.shape)}, expected {tuple(shape)}")
        if not np.all(np.isfinite(w)):
            raise ModelFileError(path, f"'weights/{name}' contains NaN or Inf")

    ref_in, ref_out = arrays.get(REF_IN), arrays.get(REF_OUT)
    if ref_in is None or ref_out is None:
        raise ModelFileError(path, "missing 'reference/input' or 'reference/output'")
    if ref_in.ndim != 1 or ref_in.shape != ref_out.shape or ref_in.dtype != np.float32 or ref_out.dtype != np.float32:
        raise ModelFileError(path, "reference arrays must be float32 vectors of equal length")
    if not (np.all(np.isfinite(ref_in)) and np.all(np.isfinite(ref_out))):
        raise ModelFileError(path, "reference arrays contain NaN or Inf")

    mf = ModelFile(architecture=architecture, config=config, weights=weights, sample_rate=sample_rate,
                   metadata=metadata, knobs=knobs, prewarm=bool(header.get("prewarm", True)),
                   reference_input=ref_in, reference_output=ref_out,
                   reference_knobs=list(reference.get("knobs", [])),
                   tolerance=float(reference.get("tolerance", DEFAULT_TOLERANCE)), path=path)
    if verify:
        mf.verify()
    return mf

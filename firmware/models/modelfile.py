"""The tubeless model file: one `.npz` per model (see docs/model-format.md, the contract).

Written by `training/` and the importers, read by the pedal. Everything in it is a plain
array: a UTF-8 JSON header stored as uint8, float32 weights under `weights/<name>`, and a
short reference input/output pair under `reference/` that proves the file is intact.
Files arrive over the network, so nothing in them is trusted: the zip directory is
checked before anything is inflated (known member names, declared sizes), the config's
memory and work are checked against firmware/core/limits.py before a weight is read, every
array's .npy header is checked against the shape the architecture needs before its data
is, nothing is unpickled, and what the header claims (tolerance, loudness, knobs) is
bounded: a file cannot loosen its own check or turn its gain up.
"""
import io
import json
import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from firmware import models
from firmware.core import safeio
from firmware.core.errors import ModelFileError
from firmware.models import budget

FORMAT = "tubeless-model"
VERSION = 1
SUPPORTED_VERSIONS = (1,)
REFERENCE_LENGTH = 2048
DEFAULT_TOLERANCE = 1e-4           # the format's own: a file may state a tighter one, never a looser
MAX_KNOBS = 2
KNOB_RANGE = (-1000.0, 1000.0)         # a knob's trained range (the pedal's pots play 0..1 of it)
NAME_CHARS = 200
# What a header may claim about the level. Outside: dropped with a warning (and measured
# where loudness.settle runs), so no file can set its own gain to +182 dB.
LOUDNESS_RANGE_DB = (-60.0, 6.0)
INPUT_LEVEL_RANGE_DBU = (0.0, 30.0)    # NAM's input_level_dbu; the chain calibrates 12 dBu - this
WEIGHT_PREFIX = "weights/"
HEADER_KEY = "header"
REF_IN, REF_OUT = "reference/input", "reference/output"


log = logging.getLogger(__name__)


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
        except (models.ModelConfigError, KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise ModelFileError(self.path, f"cannot build {self.architecture}: {e}") from None
        except MemoryError:
            raise ModelFileError(self.path, f"cannot build {self.architecture}: out of memory") from None
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
        if not np.all(np.isfinite(got)):
            raise ModelFileError(self.path, "the model produces NaN or Inf on its reference input")
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
        if not np.all(np.isfinite(self.reference_output)):
            # Named by the model it came from: the output file is never written.
            raise ModelFileError(self.path, "the model produces NaN or Inf on the reference input")
        return self

    def header(self):
        return {
            "format": FORMAT, "version": VERSION, "architecture": self.architecture,
            "config": self.config, "sample_rate": int(self.sample_rate), "metadata": self.metadata,
            "knobs": self.knobs, "prewarm": bool(self.prewarm),
            "reference": {"knobs": self.reference_knobs, "tolerance": float(self.tolerance)},
        }

    def save(self, path, force=True):
        """Write atomically (unique temp file in the target folder + rename): a reader never
        sees half a file, and a failure leaves nothing behind. Problems of the model are
        ModelFileErrors naming the model; of the output path, outputs.OutputError."""
        from firmware.core import limits, outputs
        outputs.check_output(path, force)
        if self.reference_input is None:
            self.with_reference()
        try:
            header = json.dumps(self.header(), default=_json_default, allow_nan=False).encode()
        except RecursionError:
            raise ModelFileError(self.path, "metadata is nested too deeply to store") from None
        except (TypeError, ValueError) as e:
            raise ModelFileError(self.path, f"header cannot be stored: {e}") from None
        if len(header) > limits.active().header_bytes:
            raise ModelFileError(self.path, f"header would be {len(header)} bytes, more than the limit of "
                                            f"{limits.active().header_bytes} (metadata too large)")
        arrays = {HEADER_KEY: np.frombuffer(header, np.uint8)}
        for name, value in self.weights.items():
            arrays[WEIGHT_PREFIX + name] = np.ascontiguousarray(value, np.float32)
        arrays[REF_IN] = np.ascontiguousarray(self.reference_input, np.float32)
        arrays[REF_OUT] = np.ascontiguousarray(self.reference_output, np.float32)
        path = os.fspath(path)
        # The mode is set on the file, not via os.umask(): that is process-wide and the
        # pedal imports models on a background thread.
        with outputs.atomic_path(path, force=force, mode=0o644) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
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


def read_capped(path, limit=None):
    """The bytes of a model file (ours or a community format), refusing one over the size
    limit (default: limits' npz_bytes) before reading it: files arrive over the network."""
    from firmware.core import limits
    path = os.fspath(path)
    limit = limits.active().npz_bytes if limit is None else limit
    try:
        if os.path.isdir(path):
            raise ModelFileError(path, "is a folder, not a model file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise limits.LimitError(path, f"file is {size / 1e6:.1f} MB, larger than the limit of "
                                              f"{limit / 1e6:.1f} MB")
            data = f.read(limit + 1)
        if len(data) > limit:           # grew while being read, or not a regular file
            raise limits.LimitError(path, f"file is larger than the limit of {limit / 1e6:.1f} MB")
        return data
    except OSError as e:
        raise ModelFileError(path, f"cannot read: {e.strerror or e}") from None


def _known_member(name):
    return name in (HEADER_KEY, REF_IN, REF_OUT) or (name.startswith(WEIGHT_PREFIX) and len(name) < 300)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _claims(header, path):
    """(metadata, knobs, reference knobs, tolerance, prewarm) of a header, each bounded:
    malformed claims are refused, implausible levels dropped with a warning."""
    metadata = header.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ModelFileError(path, "header field 'metadata' must be an object")
    metadata = dict(metadata)
    if "name" in metadata and not (isinstance(metadata["name"], str) and len(metadata["name"]) <= NAME_CHARS):
        raise ModelFileError(path, f"'metadata.name' must be a string of at most {NAME_CHARS} characters")
    for key, (lo, hi), unit in (("loudness", LOUDNESS_RANGE_DB, "dB"), ("input_level_dbu", INPUT_LEVEL_RANGE_DBU, "dBu")):
        if key in metadata and not (_number(metadata[key]) and lo <= metadata[key] <= hi):
            log.warning("%s: 'metadata.%s' %r is outside %g..%g %s: ignored%s", path, key, metadata[key], lo, hi,
                        unit, " (the level is measured instead)" if key == "loudness" else "")
            del metadata[key]

    knobs = header.get("knobs") or []
    if not isinstance(knobs, list) or len(knobs) > MAX_KNOBS:
        raise ModelFileError(path, f"header field 'knobs' must be a list of at most {MAX_KNOBS} knobs")
    for i, knob in enumerate(knobs):
        w = f"knobs[{i}]"
        if not isinstance(knob, dict) or not isinstance(knob.get("name", ""), str) or len(knob.get("name", "")) > NAME_CHARS:
            raise ModelFileError(path, f"header field '{w}' must be an object with a short 'name'")
        lo, hi, default = knob.get("min", 0.0), knob.get("max", 1.0), knob.get("default", 0.5)
        if not all(_number(v) for v in (lo, hi, default)) or not KNOB_RANGE[0] <= lo <= default <= hi <= KNOB_RANGE[1]:
            raise ModelFileError(path, f"header field '{w}': min {lo!r}, default {default!r}, max {hi!r} must be "
                                       f"numbers with {KNOB_RANGE[0]:g} <= min <= default <= max <= {KNOB_RANGE[1]:g}")

    reference = header.get("reference") or {}
    if not isinstance(reference, dict):
        raise ModelFileError(path, "header field 'reference' must be an object")
    ref_knobs = reference.get("knobs", [])
    if (not isinstance(ref_knobs, list) or len(ref_knobs) > MAX_KNOBS
            or not all(_number(v) and KNOB_RANGE[0] <= v <= KNOB_RANGE[1] for v in ref_knobs)):
        raise ModelFileError(path, f"'reference.knobs' must be a list of at most {MAX_KNOBS} numbers within "
                                   f"{KNOB_RANGE[0]:g}..{KNOB_RANGE[1]:g}")
    tolerance = reference.get("tolerance", DEFAULT_TOLERANCE)
    if not _number(tolerance) or tolerance < 0:
        raise ModelFileError(path, f"'reference.tolerance' must be a number >= 0, got {tolerance!r}")
    if tolerance > DEFAULT_TOLERANCE:
        log.info("%s: 'reference.tolerance' %g is looser than the format's %g: checked at %g",
                 path, tolerance, DEFAULT_TOLERANCE, DEFAULT_TOLERANCE)
        tolerance = DEFAULT_TOLERANCE
    prewarm = header.get("prewarm", True)
    if not isinstance(prewarm, bool):
        raise ModelFileError(path, "header field 'prewarm' must be true or false")
    return metadata, knobs, [float(v) for v in ref_knobs], float(tolerance), prewarm


def load(path, verify=True):
    """Read and check a model file. Any problem is a ModelFileError naming file and field;
    one beyond a resource limit is a limits.LimitError (a ModelFileError too)."""
    from firmware.core import limits
    lim = limits.active()
    path = os.fspath(path)
    data = read_capped(path, lim.npz_bytes)
    zf, members = safeio.open_npz(path, io.BytesIO(data), len(data), _known_member, lim)

    if HEADER_KEY not in members:
        raise ModelFileError(path, "no 'header' array: not a tubeless model file")
    raw = safeio.read_npy(path, zf, members.pop(HEADER_KEY), lim.header_bytes, expect_dtype=np.uint8)
    if raw.ndim != 1:
        raise ModelFileError(path, "'header' must be a vector of bytes")
    header = safeio.parse_json(path, raw.tobytes(), "header")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(path, f"header 'format' is {header.get('format') if isinstance(header, dict) else None!r}, expected {FORMAT!r}")
    version = _require(header, "version", path)
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise ModelFileError(path, f"format version {version!r} is not supported (this firmware reads {SUPPORTED_VERSIONS})")
    architecture = _require(header, "architecture", path, str)
    config = _require(header, "config", path, dict)
    sample_rate = _require(header, "sample_rate", path, int)
    if isinstance(sample_rate, bool) or not 8000 <= sample_rate <= 384000:
        raise ModelFileError(path, f"header 'sample_rate' {sample_rate} is out of range (8000..384000 Hz)")
    metadata, knobs, ref_knobs, tolerance, prewarm = _claims(header, path)

    # What the config implies, before a weight is read.
    budget.check_model(path, architecture, config, sample_rate, lim)
    try:
        expected = models.weight_shapes(architecture, config)
    except (models.ModelConfigError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ModelFileError(path, f"bad config: {e}") from None
    names = {k[len(WEIGHT_PREFIX):] for k in members if k.startswith(WEIGHT_PREFIX)}
    missing = [k for k in expected if k not in names]
    extra = [k for k in names if k not in expected]
    if missing:
        raise ModelFileError(path, f"missing weight array 'weights/{missing[0]}' ({len(missing)} missing)")
    if extra:
        raise ModelFileError(path, f"unexpected weight array 'weights/{extra[0]}' for this config")
    weights = {}
    for name, shape in expected.items():
        w = safeio.read_npy(path, zf, members[WEIGHT_PREFIX + name], lim.model_memory_bytes,
                            expect_dtype=np.float32, expect_shape=shape)
        if not np.all(np.isfinite(w)):
            raise ModelFileError(path, f"'weights/{name}' contains NaN or Inf")
        weights[name] = w

    if REF_IN not in members or REF_OUT not in members:
        raise ModelFileError(path, "missing 'reference/input' or 'reference/output'")
    ref_in, ref_out = (safeio.read_npy(path, zf, members[k], 4 * lim.reference_samples) for k in (REF_IN, REF_OUT))
    if ref_in.ndim != 1 or ref_in.shape != ref_out.shape or ref_in.dtype != np.float32 or ref_out.dtype != np.float32:
        raise ModelFileError(path, "reference arrays must be float32 vectors of equal length")
    if not (np.all(np.isfinite(ref_in)) and np.all(np.isfinite(ref_out))):
        raise ModelFileError(path, "reference arrays contain NaN or Inf")

    mf = ModelFile(architecture=architecture, config=config, weights=weights, sample_rate=sample_rate,
                   metadata=metadata, knobs=knobs, prewarm=prewarm,
                   reference_input=ref_in, reference_output=ref_out,
                   reference_knobs=ref_knobs, tolerance=tolerance, path=path)
    if verify:
        mf.verify()
    return mf

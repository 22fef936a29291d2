"""How much a model file may make the pedal spend, checked before anything is allocated.

Players copy files from strangers straight onto the pedal, so a file's numbers are claims
to check, not sizes to allocate: a 2 KB `.nam` can claim a billion LSTM layers or a 2^31
dilation. Every architecture states what its config implies (`models.cost`: memory,
multiply-adds per sample, prewarm length, layers; computed from the numbers alone), and
`models.budget.check_model` refuses a config beyond the limits below with a `LimitError` (a
`ModelFileError`: one line naming the file and the field) before a weight is read.

The defaults are sized for a Raspberry Pi 4 with 1 GB that holds a few models at once
(playing, fading in, the neighbours), and are generous for every real file: measured
with `models.cost` at the largest block the firmware builds with (CHECK_BLOCK):

    file                              memory   work/sample   prewarm   layers
    NAM A1 standard (corpus)          19.5 MiB      14,040     4,093       20
    NAM A2 (corpus, post-head 6/15/16) 14.2 MiB     12,328     6,347       23
    LSTM-80 (1 layer) / 3 layers       0.3 / 1.1    27,040 / 131,520   24,000   1 / 3
    AIDA-X LSTM-12, GuitarML LSTM-20   0.02 MiB      2,040    24,000        1

What the limits keep out (issue 11): an LSTM of 10^9 layers, a WaveNet dilation of 2^26
(13.5 GB) or 2^31, 10^5 channels, a Linear model of 10^9 taps.

The readers that honour these limits are in `core.safeio`; the process limits
(`tubeless convert/import/render` parse in a child with an address-space and a CPU-time
limit, the sandbox the librarian uses too) in `core.sandbox`.
"""
import dataclasses
import math
import os

from firmware.core.errors import ConfigError, LimitError

MiB = 1 << 20
# The largest block any part of the firmware builds a model with (loudness.measure), so a
# config's memory is checked at its worst. The pedal itself runs blocks of 64-256.
CHECK_BLOCK = 4096


@dataclasses.dataclass(frozen=True)
class Limits:
    """Every limit, in one place; `configure()` replaces the defaults (e.g. from a config file)."""
    json_bytes: int = 16 * MiB          # a .nam/.json file: A2 (the largest real one) is 0.65 MB;
                                        # 16 MiB of numbers parsed into an array peaks at +208 MB
    npz_bytes: int = 64 * MiB           # a .npz file, as stored (compressed or not)
    npz_members: int = 16384            # arrays in a .npz (512 layers x up to 20 arrays + 4)
    npz_unpacked_bytes: int = 96 * MiB  # sum of the members' declared (uncompressed) sizes
    header_bytes: int = 1 * MiB         # the .npz JSON header
    reference_samples: int = 1 << 18   # reference pair length (ours: 2048; AIDA-X: 2048)
    model_memory_bytes: int = 64 * MiB  # what a model's config implies at CHECK_BLOCK (3x A1 standard)
    work_per_sample: int = 150_000      # multiply-adds per sample (10x A1 standard, LSTM-80 x3)
    prewarm_samples: int = 1 << 18      # NAM prewarm / receptive field (5.5 s at 48 kHz; LSTM at
                                        # 384 kHz prewarms 192,000)
    convert_work: int = 10 ** 10        # work/sample x (prewarm + 1 s + reference): one pass of
                                        # verifying or measuring (~1 s here, ~10 s on a Pi 4)
    layers: int = 512                   # layers in all (A2: 23), list lengths in a config
    nesting: int = 2                    # condition_dsp / SlimmableContainer levels (real: 1)
    parse_memory_bytes: int = 1024 * MiB  # address space a parsing process may add to its start
    parse_cpu_seconds: int = 600        # CPU time to parse, convert and verify one file; Numba
                                        # compiling the kernels is not counted (core.sandbox)

    @classmethod
    def from_mapping(cls, mapping):
        """Limits from a config section ({name: number}); unknown names are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(mapping) - names
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(names))})")
        values = {}
        for key, value in mapping.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"limit '{key}' must be a positive number, got {value!r}")
            values[key] = int(value)
        return cls(**values)


DEFAULT = Limits()
# The environment's overrides, "name=value,name=value" (TUBELESS_LIMITS=parse_cpu_seconds=1200
# for a slow machine or an emulator): read at the first `active()`.
ENVIRONMENT = "TUBELESS_LIMITS"
_active = None


def from_environment(environ=None):
    """DEFAULT with the overrides of $TUBELESS_LIMITS; a ConfigError names a bad one."""
    text = (os.environ if environ is None else environ).get(ENVIRONMENT, "").strip()
    if not text:
        return DEFAULT
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = part.partition("=")
        try:
            if not eq:
                raise ValueError
            mapping[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"{ENVIRONMENT}: {part!r} is not NAME=NUMBER") from None
    try:
        return Limits.from_mapping(mapping)
    except ValueError as e:
        raise ConfigError(f"{ENVIRONMENT}: {e}") from None


def active():
    """The limits in force: DEFAULT with $TUBELESS_LIMITS, unless `configure` changed them."""
    global _active
    if _active is None:
        _active = from_environment()
    return _active


def configure(limits=None, **overrides):
    """Replace the limits in force: a Limits, a mapping, and/or keyword overrides."""
    global _active
    base = limits if isinstance(limits, Limits) else Limits.from_mapping(limits or {})
    _active = dataclasses.replace(base, **overrides) if overrides else base
    return _active


def size_text(n):
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


def check_count(path, field, n, limit=None):
    """Refuse a list (layers, dilations, kernel sizes) longer than the layer limit, before
    anything is made per entry."""
    limit = active().layers if limit is None else limit
    if n > limit:
        raise LimitError(path, f"'{field}' has {n} entries, more than the limit of {limit}")

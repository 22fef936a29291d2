"""The training loop: batches, Adam with decay, validation ESR, checkpoints, budget, early stop.

WaveNets train as NAM trains them: random segments of receptive_field - 1 + n input samples
predicting the last n outputs. Recurrent models train with truncated backprop through time:
each batch of sequences first runs a short warm-up without gradients (so the state is what
playing would give), then updates the weights every `tbptt` samples, detaching the state.
"""
import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from .data import esr
from .losses import STFT_FLOOR, TrainingLoss, target_energy
from .models import a2_packed_config, build_torch_model, preset_config

WAVENET_PRESETS = ("standard", "lite", "feather", "nano")
DEFAULT_ARCH = "a2"                 # what NAM's trainer (0.13) makes by default
# NAM's train() levels the amp's recording to -18 dBFS RMS before its loss sees it, so its
# MR-STFT weight is relative to that energy, whatever the capture's level.
NAM_TRAINING_LEVEL_DB = -18.0
ESR_VERDICTS = ((0.01, "great"), (0.035, "not bad"), (0.1, "might sound OK"), (0.3, "probably won't sound great"))
CHECKPOINT_FORMAT = "tubeless-checkpoint"


def verdict(value, stopped_by_budget=False):
    """NAM's words for an ESR. A run the time budget cut short is not blamed on the data."""
    for limit, words in ESR_VERDICTS:
        if value < limit:
            return words
    if stopped_by_budget:
        return "not good yet: the time budget ended the training; give it more time"
    return "not good: check the data"


class TrainingError(ValueError):
    """Options that cannot train (unknown architecture, knobs on a WaveNet, bad checkpoint)."""


def model_spec(arch, num_knobs=0, skip=None):
    """(architecture, config) for a preset name, 'lstm-N', 'gru-N' ('lstm-NxL' for L layers), or
    a JSON file holding {"architecture", "config"}. skip None: the recurrent family's default."""
    if arch == "a2":
        if num_knobs:
            raise TrainingError("conditioned models (knob captures) need a recurrent model: use "
                                "--arch lstm-N or gru-N, not a2")
        return "SlimmableContainer", a2_packed_config()
    if arch in WAVENET_PRESETS:
        if num_knobs:
            raise TrainingError(f"conditioned models (knob captures) need a recurrent model: use "
                                f"--arch lstm-N or gru-N, not {arch}")
        return "WaveNet", preset_config(arch)
    kind, _, size = arch.partition("-")
    if kind in ("lstm", "gru") and size:
        hidden, _, layers = size.partition("x")
        try:
            hidden, layers = int(hidden), int(layers or 1)
        except ValueError:
            raise TrainingError(f"--arch {arch!r}: expected {kind}-N or {kind}-NxLAYERS") from None
        if not (1 <= hidden <= 256 and 1 <= layers <= 4):
            raise TrainingError(f"--arch {arch!r}: hidden size 1..256 and 1..4 layers")
        return kind.upper(), {"input_size": 1 + num_knobs, "hidden_size": hidden, "num_layers": layers,
                              "skip": FAMILY_DEFAULTS["recurrent"]["skip"] if skip is None else skip,
                              "initial_state": True}
    if arch.endswith(".json") and os.path.exists(arch):
        try:
            with open(arch) as f:
                spec = json.load(f)
        except (OSError, ValueError) as e:
            raise TrainingError(f"{arch}: cannot read the architecture file: {e}") from None
        if not isinstance(spec, dict) or "architecture" not in spec or "config" not in spec:
            raise TrainingError(f"{arch}: a custom architecture file holds {{\"architecture\": ..., \"config\": ...}}")
        return spec["architecture"], spec["config"]
    raise TrainingError(f"unknown --arch {arch!r}: use {', '.join(WAVENET_PRESETS)}, lstm-N, gru-N "
                        "or a JSON file with architecture and config")


@dataclass
class CaptureData:
    """One capture's aligned training stretches and validation pair, at fixed knob values."""
    train: list                     # [(x, y)] float32
    validation: tuple               # (x, y)
    knobs: tuple = ()


# Defaults per kind of model: each as the best settings known for it (docs/training-results.md).
FAMILY_DEFAULTS = {
    # NAM 0.13's train(): config_model_packed.json and its learning config, and its MR-STFT's
    # magnitude floor (auraloss's 1e-4 at -18 dBFS; ours at 1e-7 counted the log distance of
    # silent and rolled-off bins, and ended 50-59 % higher on two captures at 10 minutes).
    "a2": dict(batch_size=16, segment=8192, lr=0.004, lr_decay=0.994, weight_decay=3.17e-7, stft_weight=5e-4,
               stft_pre_emphasis=0.0, stft_level_db=NAM_TRAINING_LEVEL_DB, stft_floor=1e-4),
    # NAM's A1 presets as its nam_full_configs train them.
    # (The MR-STFT floor of 1e-7 is the old one: NAM's 1e-4 not measured on these yet.)
    "wavenet": dict(batch_size=16, segment=8192, lr=0.004, lr_decay=0.993, weight_decay=0.0, stft_weight=2e-4,
                    stft_pre_emphasis=0.85, stft_level_db=None, stft_floor=STFT_FLOOR),
    # Recurrent models: burn-in, short truncated-backprop chunks (one update each: 128
    # samples beat 512 by 24-59 % on the two outside captures, lost on the tube circuit
    # until the floor below), short sequences, lr 0.003 (0.01 collapsed on one seed of three
    # captures) held constant (a decay of 0.995 an epoch lost all four 10-minute pairs on
    # three captures, by 10-53 %), a strong pre-emphasised MR-STFT term with NAM's magnitude
    # floor (1e-4: 49 % and 93 % lower ESRs than 1e-7 on the tube circuit and the Blues
    # Deluxe), and no skip (the output is the head's alone, as NAM's and AIDA-X's LSTMs:
    # lower and steadier ESRs on three captures, docs/training-results.md).
    "recurrent": dict(batch_size=16, segment=8192, tbptt=128, warmup=4096, lr=0.003, lr_decay=1.0,
                      weight_decay=0.0, stft_weight=2e-3, stft_pre_emphasis=0.85, stft_level_db=None,
                      skip=False, stft_floor=1e-4),
}


@dataclass
class TrainOptions:
    """None means the model family's default (FAMILY_DEFAULTS)."""
    arch: str = DEFAULT_ARCH
    minutes: float = None           # wall-clock budget, validation included; None: until epochs or early stop
    epochs: int = 200
    patience: int = 20              # epochs without a better validation ESR before stopping
    batch_size: int = None
    segment: int = None             # WaveNet: outputs per segment; recurrent: samples per sequence after burn-in
    tbptt: int = None               # recurrent: samples the gradient reaches back (the state is detached between)
    tbptt_end: int = None           # recurrent: tbptt doubles in equal steps of the run until it reaches this
    updates: str = None             # recurrent: "batch" (one update per batch of segments) or "chunk" (one per tbptt)
    warmup: int = None              # recurrent: state burn-in samples, no gradient
    lr: float = None                # Adam learning rate
    lr_decay: float = None          # ExponentialLR gamma, per epoch (when lr_end is not set)
    lr_end: float = None            # the lr at the end of the run, as a fraction of lr: decayed exponentially
                                    # over the time budget (or the epochs), step by step; replaces lr_decay
    weight_decay: float = None      # Adam's L2 weight decay
    pre_emphasis: float = None      # squared error of pre-emphasised signals (e.g. 0.85)
    stft_weight: float = None       # MR-STFT weight, on the squared error's scale (as NAM's)
    stft_pre_emphasis: float = None  # the MR-STFT sees pre-emphasised signals; 0: plain
    stft_level_db: float = None     # the MR-STFT weight is relative to this RMS level (NAM's train(): -18 dBFS)
    stft_floor: float = None        # the MR-STFT's magnitude floor, at that level (else the recording's)
    loss_energy: str = "dataset"    # divide by the training set's energy, or "batch": each batch's
    seed: int = 0
    device: str = "cpu"
    skip: bool = None               # recurrent: add the input to the output (default: no, as NAM's LSTM)
    knob_names: list = field(default_factory=list)

    def check(self):
        """Raise TrainingError on a value no run can use (before any audio is loaded)."""
        def positive(name, value, what, integer=False):
            if value is None:
                return
            ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            if not ok or (integer and int(value) != value):
                raise TrainingError(f"--{name.replace('_', '-')} {value!r}: {what}")
        positive("minutes", self.minutes, "the wall-clock budget must be more than 0 minutes")
        positive("epochs", self.epochs, "give at least 1 epoch", integer=True)
        positive("patience", self.patience, "give at least 1 epoch of patience", integer=True)
        positive("batch_size", self.batch_size, "give at least 1 segment per batch", integer=True)
        positive("segment", self.segment, "give a positive number of samples", integer=True)
        positive("lr", self.lr, "the learning rate must be more than 0")
        positive("tbptt", self.tbptt, "give a positive number of samples", integer=True)
        positive("tbptt_end", self.tbptt_end, "give a positive number of samples", integer=True)
        positive("stft_floor", self.stft_floor, "give a magnitude above 0 (NAM's auraloss: 1e-4)")
        for name in ("warmup", "stft_weight", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value < math.inf):
                raise TrainingError(f"--{name.replace('_', '-')} {value!r}: give 0 or more")
        if self.updates is not None and self.updates not in ("batch", "chunk"):
            raise TrainingError(f"--updates {self.updates!r}: batch or chunk")
        if self.lr_decay is not None and not 0 < self.lr_decay <= 1:
            raise TrainingError(f"--lr-decay {self.lr_decay!r}: a factor per epoch in (0, 1]")
        if self.lr_end is not None and not (isinstance(self.lr_end, (int, float)) and 0 < self.lr_end <= 1):
            raise TrainingError(f"--lr-end {self.lr_end!r}: the final lr as a fraction of --lr, in (0, 1]")
        for name in ("pre_emphasis", "stft_pre_emphasis"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise TrainingError(f"--{name.replace('_', '-')} {value!r}: a coefficient in 0..1 (e.g. 0.85)")
        return self

    def resolved(self, family):
        o = copy.copy(self)
        for name, value in FAMILY_DEFAULTS[family].items():
            if getattr(o, name) is None:
                setattr(o, name, value)
        o.tbptt = o.tbptt or 512
        o.updates = o.updates or "chunk"
        o.warmup = 0 if o.warmup is None else o.warmup
        return o


@dataclass
class TrainResult:
    module: torch.nn.Module
    validation_esr: float
    epochs: int
    seconds: float
    stopped_because: str
    history: list
    still_improving: bool = False   # stopped by the budget while the ESR was still falling
    budget_seconds: float = None
    best_width_esr: list = None     # a packed model: each width's best validation ESR


# --- batches ------------------------------------------------------------------------------

def polarity(captures):
    """+1 or -1: the sign of the best linear fit of the training recordings to their inputs."""
    fit = 0.0
    for c in captures:
        for x, y in c.train:
            x = np.asarray(x, np.float64)
            fit += float(np.dot(x[..., 0] if x.ndim > 1 else x, np.asarray(y, np.float64)))
    return -1.0 if fit < 0 else 1.0


def _stretches(captures, min_length):
    """(x, y, knobs) of every training stretch long enough for one segment."""
    out = [(x, y, c.knobs) for c in captures for x, y in c.train if len(x) >= min_length]
    if not out:
        raise TrainingError(f"no training stretch holds one segment of {min_length} samples; "
                            "use a shorter --segment or more audio")
    return out


def _features(x, knobs):
    """(T,) audio and knob values -> (T, 1 + knobs) recurrent input."""
    if not knobs:
        return x[:, None]
    return np.concatenate([x[:, None], np.broadcast_to(np.asarray(knobs, np.float32), (len(x), len(knobs)))], axis=1)


def count_batches(stretches, length, batch_size):
    """How many batches `epoch_batches` yields for these stretches."""
    items = sum(len(x) // length for x, _, _ in stretches)
    return items // batch_size if items >= batch_size else 1


def epoch_batches(stretches, length, batch_size, rng):
    """Random non-overlapping segments covering the training audio once, in batches."""
    items = []
    for index, (x, _, _) in enumerate(stretches):
        count = len(x) // length
        offset = rng.integers(0, len(x) - count * length + 1)
        items += [(index, offset + k * length) for k in range(count)]
    order = rng.permutation(len(items))
    starts = range(0, len(order) - batch_size + 1, batch_size) if len(order) >= batch_size else [0]
    for b in starts:
        chosen = [items[i] for i in order[b:b + batch_size]]
        xs = np.stack([_features(stretches[i][0][s:s + length], stretches[i][2]) for i, s in chosen])
        ys = np.stack([stretches[i][1][s:s + length] for i, s in chosen])
        yield xs, ys


# --- validation ---------------------------------------------------------------------------

@torch.no_grad()
def predict(module, x, knobs=(), chunk=96000, device="cpu"):
    """The module's output for a whole signal, as a prewarmed player gives it, in chunks.

    WaveNet: each chunk sees the receptive field of real audio before it (zeros before the
    start), so chunking changes nothing. Recurrent: each chunk starts from the state the
    stream had at its start, carried chunk to chunk, so this is the exact sequential output."""
    module.eval()
    x = np.asarray(x, np.float32)
    if hasattr(module, "receptive_field"):              # WaveNet, packed WaveNets, ConvNet, Linear
        rf = module.receptive_field
        padded = np.concatenate([np.zeros(rf - 1, np.float32), x])
        out = []
        for s in range(0, len(x), chunk):
            piece = torch.from_numpy(padded[s:s + chunk + rf - 1]).to(device)
            out.append(module(piece[None])[0].cpu().numpy())
        return np.concatenate(out)
    features = torch.from_numpy(np.ascontiguousarray(_features(x, knobs))).to(device)
    prewarm = torch.from_numpy(np.ascontiguousarray(_features(np.zeros(24000, np.float32), knobs))).to(device)
    _, state = module(prewarm[None], return_state=True)
    out = []
    for s in range(0, len(x), chunk):
        y, state = module(features[None, s:s + chunk], state, return_state=True)
        out.append(y[0].cpu().numpy())
    return np.concatenate(out)


def validation_esr(module, captures, device="cpu"):
    """Mean ESR over the captures' validation parts (one per knob setting)."""
    return float(np.mean([esr(predict(module, c.validation[0], c.knobs, device=device), c.validation[1])
                          for c in captures]))


# --- the loop -----------------------------------------------------------------------------

def _seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


class Trainer:
    def __init__(self, captures, options, checkpoint_path=None, progress=True, log=print, progress_interval=0.25):
        self.captures = captures
        num_knobs = {len(c.knobs) for c in captures}
        if len(num_knobs) != 1:
            raise TrainingError("every capture must set the same knobs")
        self.num_knobs = num_knobs.pop()
        options.check()
        architecture, config = model_spec(options.arch, self.num_knobs, options.skip)
        self.recurrent = architecture in ("LSTM", "GRU")
        if self.recurrent and config.get("skip"):
            # The skip adds the input to the output: a model starts as a copy of its input. An amp
            # that inverts (an odd number of inverting stages) then starts at the opposite of its
            # target, and the MR-STFT term, blind to the sign, holds it there: it trains a model
            # of the amp upside down (an ESR above 1 against the recording). The polarity is that
            # of the best linear fit of the recording to its input; an output gain of -1 turns the
            # model over, so it starts from the right side.
            self.polarity = polarity(captures)
            if self.polarity < 0:
                config["output_gain"] = -1.0
        else:
            self.polarity = 1.0
        self.packed = architecture == "SlimmableContainer"
        self.family = "recurrent" if self.recurrent else "a2" if self.packed else "wavenet"
        self.options = options.resolved(self.family)
        self.device = torch.device(options.device)
        _seed_everything(options.seed)
        try:
            self.module = build_torch_model(architecture, config).to(self.device)
        except (ValueError, KeyError, TypeError) as e:
            raise TrainingError(f"--arch {options.arch}: cannot build this model: {e}") from None
        if self.packed and self.options.stft_level_db is not None:
            self._level_head_scale(captures)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=self.options.lr,
                                          weight_decay=self.options.weight_decay)
        # With lr_end the lr follows the run's progress (_set_lr), not the epoch count.
        gamma = 1.0 if self.options.lr_end else self.options.lr_decay
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma)
        if self.options.loss_energy not in ("dataset", "batch"):
            raise TrainingError(f"loss_energy must be dataset or batch, not {self.options.loss_energy!r}")
        energy = None
        if self.options.loss_energy == "dataset":
            energy = target_energy([y for c in captures for _, y in c.train], self.options.pre_emphasis)
            if not energy > 0:
                raise TrainingError("the training targets are silent")
        stft_energy = None if self.options.stft_level_db is None else 10 ** (self.options.stft_level_db / 10)
        self.loss = TrainingLoss(self.options.pre_emphasis, self.options.stft_weight, energy,
                                 self.options.stft_pre_emphasis or None, stft_energy=stft_energy,
                                 stft_floor=self.options.stft_floor)
        self.rng = np.random.default_rng(options.seed)
        self.checkpoint_path = checkpoint_path
        self.progress, self.log, self.progress_interval = progress, log, progress_interval
        self._last_refresh = -math.inf
        self.epoch, self.elapsed, self.best_esr, self.best_epoch = 0, 0.0, math.inf, 0
        self.steps = 0                  # optimiser updates so far
        self.best_state = copy.deepcopy(self.module.state_dict())
        # A packed model keeps each width's own best (NAM's PackedBestCheckpoint).
        self.best_width_esr = [math.inf] * len(self.module.submodels) if self.packed else []
        self.history = []

    def _level_head_scale(self, captures):
        """NAM's train() levels the recording to -18 dBFS RMS and trains on that; the same
        model at the recording's own level is the one with head_scale times the level ratio.
        Training it so learns exactly as NAM's does, and the file plays at the amp's level."""
        rms = math.sqrt(target_energy([y for c in captures for _, y in c.train]))
        if not rms > 0:
            raise TrainingError("the training targets are silent")
        ratio = rms / 10 ** (self.options.stft_level_db / 20)
        for sub in self.module.submodels:
            sub.head_scale *= ratio
            sub.config["head_scale"] = sub.head_scale
        self.module.config = {"submodels": [{"max_value": v, "config": copy.deepcopy(m.config)}
                                            for v, m in zip(self.module.max_values, self.module.submodels)]}

    # --- steps --------------------------------------------------------------------------
    def _wavenet_epoch(self):
        """One pass over the training audio; False when the budget stopped it part-way."""
        o, rf = self.options, self.module.receptive_field
        length = rf - 1 + o.segment
        for xs, ys in epoch_batches(_stretches(self.captures, length), length, o.batch_size, self.rng):
            x = torch.from_numpy(xs[..., 0]).to(self.device)
            y = torch.from_numpy(ys[:, rf - 1:]).to(self.device)
            self._step(lambda: self._wavenet_loss(x, y))
            if self._must_stop():
                return False
        return True

    def _wavenet_loss(self, x, y):
        packed = getattr(self.module, "forward_all", None)
        if packed is None:
            return self.loss(self.module(x), y)
        # Every width sees the same batch and adds its own loss, as NAM's packed module trains.
        return sum(self.loss(prediction, y) for prediction in packed(x))

    def _recurrent_epoch(self):
        o = self.options
        length = o.warmup + o.segment
        for xs, ys in epoch_batches(_stretches(self.captures, length), length, o.batch_size, self.rng):
            x, y = torch.from_numpy(xs).to(self.device), torch.from_numpy(ys).to(self.device)
            with torch.no_grad():
                _, state = self.module(x[:, :o.warmup], return_state=True)
            if o.updates == "batch":
                # NAM's way: the whole segment in one update, its gradient truncated every tbptt
                # samples (the state detached between chunks), and ONE loss over the whole
                # segment: the MR-STFT then sees 8192 samples at every resolution, not 512-sample
                # chunks (only its smallest FFT fits a chunk, and a chunk's edges dominate it)
                def whole(state=state):
                    predictions = []
                    for s in range(o.warmup, length, o.tbptt):
                        prediction, state = self.module(x[:, s:s + o.tbptt], state, return_state=True)
                        predictions.append(prediction)
                        state = tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach()
                    return self.loss(torch.cat(predictions, dim=1), y[:, o.warmup:length])
                self._step(whole)
                if self._must_stop():
                    return False
                continue
            tbptt = self._tbptt_now()
            for s in range(o.warmup, length, tbptt):
                def loss():
                    nonlocal state
                    prediction, state = self.module(x[:, s:s + tbptt], state, return_state=True)
                    return self.loss(prediction, y[:, s:s + tbptt])
                self._step(loss)
                state = tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach()
                if self._must_stop():
                    return False
        return True

    def _step(self, compute_loss):
        began = time.monotonic()
        self.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = compute_loss()
        loss.backward()
        self._set_lr()
        self.optimizer.step()
        self.steps += 1
        self._bar_steps += 1
        value = float(loss.detach())
        if math.isfinite(value):
            self._running_loss = value if self._running_loss is None else 0.95 * self._running_loss + 0.05 * value
        self._last_step_seconds = time.monotonic() - began
        self._show()

    def _set_lr(self):
        """lr_end: lr * lr_end ** progress, progress 0..1 through the time budget (a run
        of N minutes decays over its own N minutes, wherever it is) or else the epochs."""
        o = self.options
        if not o.lr_end:
            return
        if self._budget is not None:
            progress = self._now() / self._budget
        else:
            progress = (self._bar_steps + 1) / max(1, self._run_steps)
        lr = o.lr * o.lr_end ** min(1.0, max(0.0, progress))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _tbptt_at(self, progress):
        """tbptt_end: the truncation doubles from tbptt in equal parts of the run (progress
        0..1) until it reaches tbptt_end: short chunks early give many quick updates, long
        ones late let the gradient reach a circuit's slower memory."""
        o = self.options
        if not o.tbptt_end or o.tbptt_end <= o.tbptt:
            return o.tbptt
        levels = 1 + math.ceil(math.log2(o.tbptt_end / o.tbptt))
        level = min(levels - 1, int(max(0.0, progress) * levels))
        return min(o.tbptt_end, o.tbptt << level)

    def _tbptt_now(self):
        """The chunk length for the next batch: by the time budget, or else the epochs."""
        if self._budget is not None:
            return self._tbptt_at(self._now() / self._budget)
        return self._tbptt_at(self.epoch / self.options.epochs)

    # --- the run ------------------------------------------------------------------------
    def _steps_per_epoch(self, epoch=0):
        """Optimiser updates in one epoch (in epoch `epoch`: with tbptt_end its chunks grow)."""
        o = self.options
        if self.recurrent:
            length = o.warmup + o.segment
            per_batch = 1 if o.updates == "batch" else math.ceil(o.segment / self._tbptt_at(epoch / o.epochs))
            return count_batches(_stretches(self.captures, length), length, o.batch_size) * per_batch
        length = self.module.receptive_field - 1 + o.segment
        return count_batches(_stretches(self.captures, length), length, o.batch_size)

    def _steps_until(self, epochs):
        """Optimiser updates in the run's first `epochs` epochs (for the bar and --lr-end)."""
        if not self.options.tbptt_end:                 # every epoch alike
            return epochs * self._steps_per_epoch()
        return sum(self._steps_per_epoch(e) for e in range(epochs))

    def _now(self):
        return time.monotonic() - self._start

    def _must_stop(self):
        """True when one more step and the validation after it would overrun the budget."""
        if self._budget is None:
            return False
        # Margins: a shared machine makes the next validation slower than the last one.
        step = self._last_step_seconds
        return self._now() + 1.5 * step + 1.5 * self._validation_seconds + min(1.0, 0.05 * self._budget) > self._budget

    def _validate(self):
        """Validation ESR (and a checkpoint), timed: the budget keeps room for the next one."""
        began = time.monotonic()
        entry = {"epoch": self.epoch, "steps": self.steps}
        if self.packed:
            widths = [validation_esr(m, self.captures, self.device) for m in self.module.submodels]
            value = widths[-1]                         # the widest is what plays
            entry["esr_widths"] = widths
            for i, e in enumerate(widths):
                if e < self.best_width_esr[i]:
                    self.best_width_esr[i] = e
                    prefix = f"submodels.{i}."
                    self.best_state.update({k: v.detach().clone() for k, v in self.module.state_dict().items()
                                            if k.startswith(prefix)})
        else:
            value = validation_esr(self.module, self.captures, self.device)
        entry.update(seconds=round(self._now(), 1), esr=value)
        self.history.append(entry)
        if value < self.best_esr:
            self.best_esr, self.best_epoch = value, self.epoch
            if not self.packed:
                self.best_state = copy.deepcopy(self.module.state_dict())
        self.elapsed = self._now()
        self._save_checkpoint()
        self._validation_seconds = max(self._validation_seconds, time.monotonic() - began)
        return value

    def _show(self):
        bar = self._bar
        loss = "" if self._running_loss is None else f" loss {self._running_loss:.4g}"
        best = "" if not math.isfinite(self.best_esr) else f" | val ESR best {self.best_esr:.4f}"
        bar.set_postfix_str(f"epoch {self.epoch + 1} step {self.steps}{loss}{best}", refresh=False)
        target = min(round(self._now()), bar.total) if self._budget is not None else min(self._bar_steps, bar.total)
        bar.n = target
        now = time.monotonic()
        if now - self._last_refresh >= self.progress_interval:     # a line per step would flood a log
            bar.refresh()
            self._last_refresh = now

    def run(self):
        o = self.options
        self._budget = o.minutes * 60 if o.minutes else None
        self._start = time.monotonic() - self.elapsed
        self._validation_seconds, self._last_step_seconds = 0.0, 0.0
        self._running_loss = None
        self._run_steps = self._steps_until(o.epochs)
        self._bar_steps = self._steps_until(self.epoch)
        if self._budget is not None:
            total, initial, unit = round(self._budget), min(round(self.elapsed), round(self._budget)), "s"
        else:
            total, initial, unit = self._run_steps, min(self._bar_steps, self._run_steps), "step"
        self._bar = tqdm(total=total, initial=initial, unit=unit, disable=not self.progress, dynamic_ncols=True,
                         bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt}" + unit.replace("step", "") +
                                    " [{elapsed}<{remaining}]{postfix}")
        stopped = "epochs"
        run_epoch = self._recurrent_epoch if self.recurrent else self._wavenet_epoch
        try:
            if not self.history:
                # Where the curve starts, and what one validation costs (the budget keeps room for it).
                self._validate()
            while self.epoch < o.epochs:
                if self._must_stop():
                    stopped = "time budget"
                    break
                finished = run_epoch()
                self.epoch += 1
                self.scheduler.step()
                value = self._validate()
                self._show()
                if not finished:
                    stopped = "time budget"
                    break
                if not np.isfinite(value):
                    stopped = "diverged (non-finite ESR)"
                    break
                if self.epoch - self.best_epoch >= o.patience:
                    stopped = f"no improvement for {o.patience} epochs"
                    break
        finally:
            self._bar.close()
        self.module.load_state_dict(self.best_state)
        self.module.eval()
        still_improving = stopped == "time budget" and len(self.history) > 1 and self.best_epoch == self.history[-1]["epoch"]
        return TrainResult(self.module, self.best_esr, self.epoch, self.elapsed, stopped, self.history,
                           best_width_esr=list(self.best_width_esr),
                           still_improving=still_improving, budget_seconds=self._budget)

    # --- checkpoints --------------------------------------------------------------------
    def _save_checkpoint(self):
        if not self.checkpoint_path:
            return
        state = {"format": CHECKPOINT_FORMAT, "options": asdict(self.options),
                 "architecture": self.module.architecture, "config": self.module.config,
                 "model": self.module.state_dict(), "best_model": self.best_state,
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "epoch": self.epoch, "elapsed": self.elapsed, "best_esr": self.best_esr,
                 "best_epoch": self.best_epoch, "history": self.history, "steps": self.steps,
                 "best_width_esr": self.best_width_esr,
                 "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        tmp = self.checkpoint_path + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def resume(self, path):
        """Continue from a checkpoint of the same architecture. The time budget and epoch
        count include the time and epochs already spent."""
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)   # no pickle: a file is data
        except Exception as e:                          # torch raises many kinds; all mean "not this"
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise TrainingError(f"{path}: cannot read checkpoint: {first}") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise TrainingError(f"{path}: not a tubeless training checkpoint")
        theirs = state.get("config") if isinstance(state.get("config"), dict) else {}
        skipped = bool(theirs.get("skip"))
        if self.recurrent and skipped != bool(self.module.config.get("skip")):
            raise TrainingError(f"{path}: checkpoint is of a model {'with' if skipped else 'without'} the skip: "
                                f"resume with {'--skip' if skipped else '--no-skip'}")
        if state["architecture"] != self.module.architecture or state["config"] != self.module.config:
            raise TrainingError(f"{path}: checkpoint is a {state['architecture']} of another configuration "
                                f"than --arch {self.options.arch}")
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.best_state, self.best_esr, self.best_epoch = state["best_model"], state["best_esr"], state["best_epoch"]
        self.epoch, self.elapsed, self.history = state["epoch"], state["elapsed"], state["history"]
        self.steps = state.get("steps", 0)
        self.best_width_esr = state.get("best_width_esr", self.best_width_esr)
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])

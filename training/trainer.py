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
from .losses import TrainingLoss, target_energy
from .models import build_torch_model, preset_config

WAVENET_PRESETS = ("standard", "lite", "feather", "nano")
ESR_VERDICTS = ((0.01, "great"), (0.035, "not bad"), (0.1, "might sound OK"), (0.3, "probably won't sound great"))
CHECKPOINT_FORMAT = "tubeless-checkpoint"


def verdict(value):
    """NAM's words for an ESR."""
    for limit, words in ESR_VERDICTS:
        if value < limit:
            return words
    return "not good: check the data"


class TrainingError(ValueError):
    """Options that cannot train (unknown architecture, knobs on a WaveNet, bad checkpoint)."""


def model_spec(arch, num_knobs=0, skip=True):
    """(architecture, config) for a preset name, 'lstm-N', 'gru-N' ('lstm-NxL' for L layers), or
    a JSON file holding {"architecture", "config"}."""
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
                              "skip": skip, "initial_state": True}
    if arch.endswith(".json") and os.path.exists(arch):
        with open(arch) as f:
            spec = json.load(f)
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


@dataclass
class TrainOptions:
    arch: str = "feather"
    minutes: float = None           # wall-clock budget; None: until epochs or early stop
    epochs: int = 200
    patience: int = 20              # epochs without a better validation ESR before stopping
    batch_size: int = None          # WaveNet 16, recurrent 32
    segment: int = None             # WaveNet: outputs per segment (8192); recurrent: sequence length
    tbptt: int = 2048               # recurrent: samples per truncated-backprop update
    warmup: int = 1000              # recurrent: state burn-in samples, no gradient
    lr: float = None                # WaveNet 0.004, recurrent 0.005
    lr_decay: float = 0.993         # per epoch
    pre_emphasis: float = None      # squared error of pre-emphasised signals (e.g. 0.85)
    stft_weight: float = 2e-4       # MR-STFT weight, on the squared error's scale (as NAM's)
    stft_pre_emphasis: float = 0.85  # the MR-STFT sees pre-emphasised signals, as NAM's; 0: plain
    loss_energy: str = "dataset"    # divide by the training set's energy, or "batch": each batch's
    seed: int = 0
    device: str = "cpu"
    skip: bool = True               # recurrent: add the input to the output (NAM's LSTM has none)
    knob_names: list = field(default_factory=list)

    def resolved(self, recurrent):
        o = copy.copy(self)
        o.batch_size = o.batch_size or (32 if recurrent else 16)
        o.segment = o.segment or (24000 if recurrent else 8192)
        o.lr = o.lr or (0.005 if recurrent else 0.004)
        return o


@dataclass
class TrainResult:
    module: torch.nn.Module
    validation_esr: float
    epochs: int
    seconds: float
    stopped_because: str
    history: list


# --- batches ------------------------------------------------------------------------------

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
    if module.architecture == "WaveNet":
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
    def __init__(self, captures, options, checkpoint_path=None, progress=True, log=print):
        self.captures = captures
        num_knobs = {len(c.knobs) for c in captures}
        if len(num_knobs) != 1:
            raise TrainingError("every capture must set the same knobs")
        self.num_knobs = num_knobs.pop()
        architecture, config = model_spec(options.arch, self.num_knobs, options.skip)
        self.recurrent = architecture in ("LSTM", "GRU")
        self.options = options.resolved(self.recurrent)
        self.device = torch.device(options.device)
        _seed_everything(options.seed)
        self.module = build_torch_model(architecture, config).to(self.device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=self.options.lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, self.options.lr_decay)
        if self.options.loss_energy not in ("dataset", "batch"):
            raise TrainingError(f"loss_energy must be dataset or batch, not {self.options.loss_energy!r}")
        energy = None
        if self.options.loss_energy == "dataset":
            energy = target_energy([y for c in captures for _, y in c.train], self.options.pre_emphasis)
            if not energy > 0:
                raise TrainingError("the training targets are silent")
        self.loss = TrainingLoss(self.options.pre_emphasis, self.options.stft_weight, energy,
                                 self.options.stft_pre_emphasis or None)
        self.rng = np.random.default_rng(options.seed)
        self.checkpoint_path = checkpoint_path
        self.progress, self.log = progress, log
        self.epoch, self.elapsed, self.best_esr, self.best_epoch = 0, 0.0, math.inf, 0
        self.steps = 0                  # optimiser updates so far
        self.best_state = copy.deepcopy(self.module.state_dict())
        self.history = []

    # --- steps --------------------------------------------------------------------------
    def _wavenet_epoch(self, deadline):
        o, rf = self.options, self.module.receptive_field
        length = rf - 1 + o.segment
        for xs, ys in epoch_batches(_stretches(self.captures, length), length, o.batch_size, self.rng):
            x = torch.from_numpy(xs[..., 0]).to(self.device)
            y = torch.from_numpy(ys[:, rf - 1:]).to(self.device)
            self._step(self.loss(self.module(x), y))
            if time.monotonic() > deadline:
                return False
        return True

    def _recurrent_epoch(self, deadline):
        o = self.options
        length = o.warmup + o.segment
        for xs, ys in epoch_batches(_stretches(self.captures, length), length, o.batch_size, self.rng):
            x, y = torch.from_numpy(xs).to(self.device), torch.from_numpy(ys).to(self.device)
            with torch.no_grad():
                _, state = self.module(x[:, :o.warmup], return_state=True)
            for s in range(o.warmup, length, o.tbptt):
                prediction, state = self.module(x[:, s:s + o.tbptt], state, return_state=True)
                self._step(self.loss(prediction, y[:, s:s + o.tbptt]))
                state = tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach()
            if time.monotonic() > deadline:
                return False
        return True

    def _step(self, loss):
        self.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.steps += 1

    # --- the run ------------------------------------------------------------------------
    def run(self):
        o = self.options
        budget = o.minutes * 60 if o.minutes else None
        start = time.monotonic() - self.elapsed
        deadline = start + budget if budget else math.inf
        bar = tqdm(total=round(budget) if budget else o.epochs, initial=min(round(self.elapsed) if budget else self.epoch,
                                                                             round(budget) if budget else o.epochs),
                   unit="s" if budget else "epoch", disable=not self.progress, dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}")
        stopped = "epochs"
        run_epoch = self._recurrent_epoch if self.recurrent else self._wavenet_epoch
        try:
            while self.epoch < o.epochs:
                finished = run_epoch(deadline)
                self.epoch += 1
                self.scheduler.step()
                value = validation_esr(self.module, self.captures, self.device)
                self.elapsed = time.monotonic() - start
                self.history.append({"epoch": self.epoch, "steps": self.steps, "seconds": round(self.elapsed, 1),
                                     "esr": value})
                if value < self.best_esr:
                    self.best_esr, self.best_epoch = value, self.epoch
                    self.best_state = copy.deepcopy(self.module.state_dict())
                self._save_checkpoint()
                bar.set_postfix_str(f"epoch {self.epoch} ESR {value:.4f} best {self.best_esr:.4f}")
                bar.update((min(round(self.elapsed), bar.total) if budget else self.epoch) - bar.n)
                if not finished or time.monotonic() > deadline:
                    stopped = "time budget"
                    break
                if not np.isfinite(value):
                    stopped = "diverged (non-finite ESR)"
                    break
                if self.epoch - self.best_epoch >= o.patience:
                    stopped = f"no improvement for {o.patience} epochs"
                    break
        finally:
            bar.close()
        self.module.load_state_dict(self.best_state)
        self.module.eval()
        return TrainResult(self.module, self.best_esr, self.epoch, self.elapsed, stopped, self.history)

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
                 "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        tmp = self.checkpoint_path + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def resume(self, path):
        """Continue from a checkpoint of the same architecture. The time budget and epoch
        count include the time and epochs already spent."""
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
        except (OSError, RuntimeError) as e:
            raise TrainingError(f"{path}: cannot read checkpoint: {e}") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise TrainingError(f"{path}: not a tubeless training checkpoint")
        if state["architecture"] != self.module.architecture or state["config"] != self.module.config:
            raise TrainingError(f"{path}: checkpoint is a {state['architecture']} of another configuration "
                                f"than --arch {self.options.arch}")
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.best_state, self.best_esr, self.best_epoch = state["best_model"], state["best_esr"], state["best_epoch"]
        self.epoch, self.elapsed, self.history = state["epoch"], state["elapsed"], state["history"]
        self.steps = state.get("steps", 0)
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])

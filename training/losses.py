"""Training losses: ESR (optionally on pre-emphasised signals) and a multi-resolution STFT term.

The training loss is NAM's (squared error + weight x MR-STFT of pre-emphasised signals),
divided by a constant: the mean square of ALL the training targets. So it reads as an ESR,
and its minimum is the validation metric's (an ESR over a whole recording is a squared
error over one fixed energy). Dividing each batch by its own energy instead ("batch") is
the textbook per-batch ESR: it weighs quiet batches up to tens of times more than loud ones,
so its gradients are noisy, and it made training converge markedly slower.
"""
import math

import torch

ESR_EPSILON = 1e-8
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))       # (fft size, hop)


def pre_emphasis(x, coefficient):
    """y[n] = x[n] - c x[n-1] along the last axis: weighs the highs, where errors are audible."""
    return x[..., 1:] - coefficient * x[..., :-1]


def esr(prediction, target, pre_emphasis_coefficient=None):
    """Error-to-signal ratio over the whole batch (one number, as NAM and GuitarML report)."""
    if pre_emphasis_coefficient:
        prediction = pre_emphasis(prediction, pre_emphasis_coefficient)
        target = pre_emphasis(target, pre_emphasis_coefficient)
    return torch.mean((target - prediction) ** 2) / (torch.mean(target ** 2) + ESR_EPSILON)


STFT_FLOOR = 1e-7       # the default magnitude floor: below it a bin's log is held there


def _magnitude(x, n_fft, hop, floor):
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spectrum = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, window=window, center=True, return_complex=True)
    return spectrum.abs().clamp_min(floor)


def multi_resolution_stft(prediction, target, resolutions=STFT_RESOLUTIONS, floor=STFT_FLOOR):
    """Spectral convergence plus log-magnitude distance, averaged over several STFT sizes.

    Resolutions longer than the signal are skipped; when none fits, one that does runs.
    `floor` bounds the magnitudes from below: the log distance of bins quieter than it
    (silence, the band an amp has rolled off) is no longer counted (auraloss, which NAM's
    trainer uses, floors at 1e-4)."""
    length = target.shape[-1]
    usable = [r for r in resolutions if r[0] <= length]
    if not usable:                      # a short segment: one resolution that fits it
        n_fft = 1 << max(1, int(length).bit_length() - 1)
        usable = [(n_fft, max(1, n_fft // 4))]
    total = 0.0
    for n_fft, hop in usable:
        p, t = _magnitude(prediction, n_fft, hop, floor), _magnitude(target, n_fft, hop, floor)
        convergence = torch.linalg.norm(t - p) / torch.linalg.norm(t)
        log_distance = torch.mean(torch.abs(torch.log(t) - torch.log(p)))
        total = total + convergence + log_distance
    return total / len(usable)


def target_energy(targets, pre_emphasis_coefficient=None):
    """Mean square of all the training targets (a list of 1-D arrays), as the loss divides by."""
    import numpy as np

    total, count = 0.0, 0
    for y in targets:
        y = np.asarray(y, np.float64)
        if pre_emphasis_coefficient:
            y = y[1:] - pre_emphasis_coefficient * y[:-1]
        total += float(np.sum(y ** 2))
        count += len(y)
    return total / count if count else 1.0


class TrainingLoss:
    """(squared error + weight x MR-STFT) / energy.

    energy: a constant (`target_energy` of the training set), or None for each batch's own
    (the per-batch ESR). The squared error is of pre-emphasised signals when
    `pre_emphasis_coefficient` is given; the MR-STFT, when `stft_pre_emphasis` is."""

    def __init__(self, pre_emphasis_coefficient=None, stft_weight=2e-4, energy=None, stft_pre_emphasis=None,
                 stft_energy=None, stft_floor=STFT_FLOOR):
        self.pre_emphasis_coefficient = pre_emphasis_coefficient
        self.stft_weight = stft_weight
        self.energy = energy
        self.stft_pre_emphasis = stft_pre_emphasis
        # NAM's train() levels the target to -18 dBFS before its loss: its MR-STFT weight is
        # relative to that energy, not the capture's own (stft_energy = 10^(-1.8)).
        self.stft_energy = stft_energy
        # The floor is at the level the MR-STFT is weighted for: NAM's -18 dBFS when
        # stft_energy is set, where the recording's own level is sqrt(energy / stft_energy) x.
        self.stft_floor = stft_floor
        if stft_energy and energy:
            self.stft_floor = stft_floor * math.sqrt(energy / stft_energy)

    def __call__(self, prediction, target):
        if self.energy is None:
            loss = esr(prediction, target, self.pre_emphasis_coefficient)
            stft_scale = self.stft_weight
        else:
            p, t = prediction, target
            if self.pre_emphasis_coefficient:
                p, t = pre_emphasis(p, self.pre_emphasis_coefficient), pre_emphasis(t, self.pre_emphasis_coefficient)
            loss = torch.mean((t - p) ** 2) / self.energy
            stft_scale = self.stft_weight / (self.stft_energy or self.energy)
        if self.stft_weight:
            p, t = prediction, target
            if self.stft_pre_emphasis:
                p, t = pre_emphasis(p, self.stft_pre_emphasis), pre_emphasis(t, self.stft_pre_emphasis)
            loss = loss + stft_scale * multi_resolution_stft(p, t, floor=self.stft_floor)
        return loss

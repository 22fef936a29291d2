"""Training losses: ESR (optionally on pre-emphasised signals) and a multi-resolution STFT term."""
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


def _magnitude(x, n_fft, hop):
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spectrum = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, window=window, center=True, return_complex=True)
    return spectrum.abs().clamp_min(1e-7)


def multi_resolution_stft(prediction, target, resolutions=STFT_RESOLUTIONS):
    """Spectral convergence plus log-magnitude distance, averaged over several STFT sizes.

    Resolutions longer than the signal are skipped; at least the shortest one always runs."""
    usable = [r for r in resolutions if r[0] <= target.shape[-1]] or [min(resolutions)]
    total = 0.0
    for n_fft, hop in usable:
        p, t = _magnitude(prediction, n_fft, hop), _magnitude(target, n_fft, hop)
        convergence = torch.linalg.norm(t - p) / torch.linalg.norm(t)
        log_distance = torch.mean(torch.abs(torch.log(t) - torch.log(p)))
        total = total + convergence + log_distance
    return total / len(usable)


class TrainingLoss:
    """ESR (on pre-emphasised signals when a coefficient is given) + weight x MR-STFT."""

    def __init__(self, pre_emphasis_coefficient=None, stft_weight=2e-4):
        self.pre_emphasis_coefficient = pre_emphasis_coefficient
        self.stft_weight = stft_weight

    def __call__(self, prediction, target):
        loss = esr(prediction, target, self.pre_emphasis_coefficient)
        if self.stft_weight:
            loss = loss + self.stft_weight * multi_resolution_stft(prediction, target)
        return loss

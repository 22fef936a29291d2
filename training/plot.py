"""The comparison plot: prediction against target over a short window, and their spectra."""
import numpy as np
from scipy import signal

WINDOW_S = 0.03


def loudest_window(y, length):
    """Start of the `length`-sample window with the most energy (the part worth looking at)."""
    if len(y) <= length:
        return 0
    energy = np.convolve(np.asarray(y, np.float64) ** 2, np.ones(length), "valid")
    return int(np.argmax(energy))


def save_comparison(path, prediction, target, sample_rate, esr_value, words, title=""):
    import matplotlib
    matplotlib.use("Agg")                     # files only: no display on a build machine
    import matplotlib.pyplot as plt

    length = int(WINDOW_S * sample_rate)
    start = loudest_window(target, length)
    t = (start + np.arange(min(length, len(target)))) / sample_rate
    fig, (wave, spectrum) = plt.subplots(2, 1, figsize=(10, 7))
    wave.plot(t, target[start:start + length], label="target (amp)", linewidth=1.4)
    wave.plot(t, prediction[start:start + length], label="prediction (model)", linewidth=1.0, linestyle="--")
    wave.set_xlabel("time in the validation audio (s)")
    wave.set_ylabel("amplitude")
    wave.legend(loc="upper right")
    for series, label in ((target, "target (amp)"), (prediction, "prediction (model)"),
                          (target - prediction, "error")):
        f, p = signal.welch(series, sample_rate, nperseg=min(4096, len(series)))
        spectrum.semilogx(f[1:], 10 * np.log10(p[1:] + 1e-20), label=label)
    spectrum.set_xlabel("frequency (Hz)")
    spectrum.set_ylabel("power (dB)")
    spectrum.set_xlim(20, sample_rate / 2)
    spectrum.legend(loc="lower left")
    fig.suptitle(f"{title + ': ' if title else ''}validation ESR {esr_value:.4f} ({words})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

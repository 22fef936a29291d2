"""The comparison plot a player reads after training.

Six panels: the loudest 30 ms of the validation audio and a zoom on its sharpest attack
(target and prediction overlaid, the error below each on its own axis, so it never hides
the target), the spectra of target, prediction and error, and the validation ESR over the
training time.
"""
import numpy as np
from scipy import signal

WINDOW_S = 0.03
ZOOM_S = 0.006
TARGET = dict(color="#1f4e9c", linewidth=1.6, label="target (amp)")
PREDICTION = dict(color="#e8731a", linewidth=1.0, linestyle="--", label="prediction (model)")
ERROR = dict(color="#b01c1c", linewidth=0.9, label="error (target - prediction)")


def loudest_window(y, length):
    """Start of the `length`-sample window with the most energy (the part worth looking at)."""
    if len(y) <= length:
        return 0
    energy = np.convolve(np.asarray(y, np.float64) ** 2, np.ones(length), "valid")
    return int(np.argmax(energy))


def sharpest_attack(y, sample_rate, frame_s=0.002):
    """Sample index where the level jumps most from one short frame to the next (a pick
    attack): where a model's transient response shows. Quiet frames are not considered."""
    frame = max(1, int(frame_s * sample_rate))
    frames = len(y) // frame
    if frames < 3:
        return 0
    energy = np.mean(np.asarray(y[:frames * frame], np.float64).reshape(frames, frame) ** 2, axis=1)
    loud = energy > 1e-3 * energy.max()
    rise = np.where(loud[1:], energy[1:] / (energy[:-1] + 1e-3 * energy.max()), 0.0)
    return int(np.argmax(rise) + 1) * frame


def _overlay(axis, error_axis, t, target, prediction):
    axis.plot(t, target, zorder=1, **TARGET)
    axis.plot(t, prediction, zorder=2, **PREDICTION)
    axis.set_ylabel("amplitude")
    axis.legend(loc="upper right", fontsize=8)
    error_axis.plot(t, target - prediction, **ERROR)
    error_axis.axhline(0.0, color="0.6", linewidth=0.6)
    peak = float(np.max(np.abs(target))) or 1.0
    error_axis.set_ylim(-peak, peak)                 # the target's scale: small errors look small
    error_axis.set_ylabel("error")
    error_axis.set_xlabel("time in the validation audio (s)")
    error_axis.legend(loc="upper right", fontsize=8)


def save_comparison(path, prediction, target, sample_rate, esr_value, words, title="", history=None):
    import matplotlib
    matplotlib.use("Agg")                     # files only: no display on a build machine
    import matplotlib.pyplot as plt

    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    fig, axes = plt.subplots(3, 2, figsize=(13, 10), gridspec_kw={"height_ratios": [2, 1, 2]})

    length = min(int(WINDOW_S * sample_rate), len(target))
    start = loudest_window(target, length)
    span = slice(start, start + length)
    _overlay(axes[0, 0], axes[1, 0], np.arange(span.start, span.start + length) / sample_rate,
             target[span], prediction[span])
    axes[0, 0].set_title(f"the loudest {WINDOW_S * 1000:.0f} ms")

    zoom = min(int(ZOOM_S * sample_rate), len(target))
    attack = sharpest_attack(target, sample_rate)
    z0 = max(0, min(attack - zoom // 4, len(target) - zoom))
    zspan = slice(z0, z0 + zoom)
    _overlay(axes[0, 1], axes[1, 1], np.arange(z0, z0 + zoom) / sample_rate, target[zspan], prediction[zspan])
    axes[0, 1].set_title(f"the sharpest attack, {ZOOM_S * 1000:.0f} ms")

    spectrum = axes[2, 0]
    # The error first, pale and underneath: it never hides the target.
    for series, style, order in ((target - prediction, dict(ERROR, alpha=0.45), 1), (target, TARGET, 2),
                                 (prediction, PREDICTION, 3)):
        f, p = signal.welch(series, sample_rate, nperseg=min(4096, len(series)))
        spectrum.semilogx(f[1:], 10 * np.log10(p[1:] + 1e-20), zorder=order, **style)
    spectrum.set_xlabel("frequency (Hz)")
    spectrum.set_ylabel("power (dB)")
    spectrum.set_xlim(20, sample_rate / 2)
    spectrum.set_title("spectra over the whole validation audio")
    spectrum.legend(loc="lower left", fontsize=8)

    progress = axes[2, 1]
    points = [(h["seconds"], h["esr"]) for h in (history or []) if np.isfinite(h.get("esr", np.nan))]
    if points:
        seconds, esrs = zip(*points)
        progress.semilogy(np.array(seconds) / 60, esrs, marker="o", markersize=3, color=TARGET["color"],
                          label="validation ESR")
        widths = [h["esr_widths"] for h in history if h.get("esr_widths")]
        if widths and len(widths) == len(points) and len(widths[0]) > 1:
            progress.semilogy(np.array(seconds) / 60, [w[0] for w in widths], marker=".", markersize=3,
                              color="0.5", linewidth=0.8, label="lighter width")
        progress.legend(loc="upper right", fontsize=8)
    else:
        progress.text(0.5, 0.5, "no training history", ha="center", va="center", transform=progress.transAxes)
    progress.set_xlabel("training time (min)")
    progress.set_ylabel("ESR (log)")
    progress.set_title("validation ESR over training")
    progress.grid(True, which="both", alpha=0.3)

    fig.suptitle(f"{title + ': ' if title else ''}validation ESR {esr_value:.4f} ({words})")
    fig.tight_layout()
    from firmware.core.outputs import atomic_path
    try:
        with atomic_path(path, force=True) as tmp:      # a unique temp name, nothing left on failure
            fig.savefig(tmp, dpi=90, format="png")
    finally:
        plt.close(fig)
    return path

"""Test signals for the tests and the benchmarks: a steady test tone, plucked strings and
mains hum (the tuner's), nothing the pedal itself plays."""
import math

import numpy as np

SAMPLE_RATE = 48000


def test_signal(seconds, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 110 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
            + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def pluck(freq, seconds, rate=48000, inharmonicity=1e-4, decay_s=2.0, pluck_at=0.2, pickup_at=0.15,
          glide_cents=2.0, noise_db=-60.0, peak=0.5, seed=0):
    """A plucked string as a magnetic pickup hears it, first partial at `freq`: partial k at
    k f0 sqrt(1 + B k^2), amplitude |sin(pi k pluck_at) sin(pi k pickup_at)| / k (so a low
    string's fundamental is weaker than its octave), higher partials dying faster, the
    pitch a little sharp at the attack (the string's tension rises with its amplitude:
    `glide_cents`, gone in ~30 ms), a pick-noise burst and white noise `noise_db` under
    the peak."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = freq / math.sqrt(1.0 + inharmonicity)
    glide = 2.0 ** (glide_cents * np.exp(-t / 0.03) / 1200.0)
    # the integral of the glide factor, for the phase
    ramp = np.cumsum(glide) / rate
    x = np.zeros(n)
    for k in range(1, 200):
        fk = k * f0 * math.sqrt(1.0 + inharmonicity * k * k)
        if fk > 0.45 * rate:
            break
        a = abs(math.sin(math.pi * k * pluck_at) * math.sin(math.pi * k * pickup_at)) / k
        tau = decay_s / (1.0 + 0.01 * k * k)
        x += a * np.exp(-t / tau) * np.sin(2 * np.pi * fk * ramp + rng.uniform(0, 2 * np.pi))
    x *= np.minimum(1.0, t / 0.002)                       # a 2 ms attack
    burst = int(0.005 * rate)
    x[:burst] += 0.1 * np.max(np.abs(x)) * rng.standard_normal(burst) * np.linspace(1, 0, burst)
    x *= peak / np.max(np.abs(x))
    x += peak * 10 ** (noise_db / 20) * rng.standard_normal(n)
    return x


def hum(seconds, mains=50.0, rate=48000, level_db=-30.0, harmonics=(1.0, 0.6, 0.8, 0.3, 0.4, 0.2), noise_db=-70.0,
        seed=0):
    """Mains hum: `mains` Hz and its harmonics (a single coil's buzz), peak near level_db."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    x = sum(a * np.sin(2 * np.pi * mains * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k, a in enumerate(harmonics))
    x *= 10 ** (level_db / 20) / np.max(np.abs(x))
    return x + 10 ** (noise_db / 20) * rng.standard_normal(len(t))

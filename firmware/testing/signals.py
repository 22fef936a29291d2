"""Test signals for the tests and the benchmarks: a steady test tone, plucked strings, mains
hum and a chorus (the tuner's), nothing the pedal itself plays."""
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
        seed=0, offset_hz=0.0):
    """Mains hum: `mains` Hz and its harmonics (a single coil's buzz), peak near level_db;
    `offset_hz`: the grid off its nominal frequency (within +-0.2 Hz in Europe)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    f = mains + offset_hz
    x = sum(a * np.sin(2 * np.pi * f * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k, a in enumerate(harmonics))
    x *= 10 ** (level_db / 20) / np.max(np.abs(x))
    return x + 10 ** (noise_db / 20) * rng.standard_normal(len(t))


def chorus(x, rate=48000, voices=2, delay_ms=(7.0, 11.0), depth_ms=(1.5, 2.0), lfo_hz=(0.8, 1.3), mix=0.7,
           seed=0):
    """`x` through a chorus pedal: the dry signal plus `voices` copies, each delayed by
    delay_ms + depth_ms sin(2 pi lfo_hz t + a random phase) (a bucket-brigade or digital
    delay line, read between samples by a cubic), at `mix` each. A voice's pitch moves by up
    to 2 pi lfo_hz depth (0.8 Hz and 2 ms: +-17 cents) and the sum of the voices is a comb
    whose notches sweep the partials."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float64)
    n = len(x)
    t = np.arange(n) / rate
    y = x.copy()
    pad = np.concatenate((np.zeros(4), x, np.zeros(2)))            # zeros before the first sample
    for v in range(voices):
        d = (delay_ms[v % len(delay_ms)] + depth_ms[v % len(depth_ms)]
             * np.sin(2 * np.pi * lfo_hz[v % len(lfo_hz)] * t + rng.uniform(0, 2 * np.pi))) * rate / 1000.0
        pos = np.arange(n) - d + 4.0
        i = np.floor(pos).astype(np.int64)
        u = pos - i
        i = np.clip(i, 1, len(pad) - 3)
        p0, p1, p2, p3 = pad[i - 1], pad[i], pad[i + 1], pad[i + 2]
        # Catmull-Rom: continuous in value and slope, no zipper as the delay moves
        wet = p1 + 0.5 * u * (p2 - p0 + u * (2 * p0 - 5 * p1 + 4 * p2 - p3 + u * (3 * (p1 - p2) + p3 - p0)))
        y += mix * wet
    return y / (1.0 + mix * voices)


def chorused_plucks(count, rate=48000, seconds=1.2, seed=0):
    """`count` random plucks (E2..E5, any detune, inharmonicity and decay) each through a
    random 2-voice chorus (delays 5-15 ms, depths 0.5-2.5 ms, rates 0.2-2 Hz, mix 0.4-1):
    [(the string's frequency, the signal)]."""
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        f = 440.0 * 2 ** ((rng.uniform(40, 76) - 69) / 12)
        x = pluck(f, seconds, rate, inharmonicity=rng.uniform(1e-5, 2e-4), decay_s=rng.uniform(1, 3), seed=i)
        y = chorus(x, rate, delay_ms=tuple(rng.uniform(5, 15, 2)), depth_ms=tuple(rng.uniform(0.5, 2.5, 2)),
                   lfo_hz=tuple(rng.uniform(0.2, 2.0, 2)), mix=rng.uniform(0.4, 1.0), seed=i)
        out.append((f, y))
    return out

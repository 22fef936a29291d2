"""`tubeless bench --tuner`: the tuner's accuracy and settling on synthetic plucked strings,
the corpus clip and mains hum."""
import math

import numpy as np

from firmware.pedal.tuner import PitchDetector, note_frequency
from firmware.testing.corpus import corpus_file
from firmware.testing.signals import hum, pluck


def _track(det, x, onset, truth, hop, until=1.0):
    """Errors (cents, None = no reading) every `hop` s from the onset, and when they settled
    within a cent for good (None: never)."""
    rate = det.rate
    out = []
    for e in range(onset + int(hop * rate), min(len(x), onset + int(until * rate)) + 1, int(hop * rate)):
        r = det.analyse(x[max(0, e - det.window):e])
        out.append(((e - onset) / rate, None if r is None else 1200.0 * math.log2(r.frequency / truth)))
    settled = None
    for t, err in reversed(out):
        if err is None or abs(err) > 1.0:
            break
        settled = t
    return out, settled


def run_tuner_bench(seeds=5, hop=0.01, log=None):
    """Rows: what, Hz, max and median |error| (cents) from 150 ms to 1 s after the pluck,
    the latest settling (ms), readings missing after 150 ms, over `seeds` plucks each
    (random detune within +-30 cents, inharmonicity, phases, noise)."""
    import time
    rate = 48000
    det = PitchDetector(rate)
    e4 = note_frequency("E", 4)
    groups = [("7-string standard", [("B", 1), ("E", 2), ("A", 2), ("D", 3), ("G", 3), ("B", 3), ("E", 4)], 0),
              ("drop tunings", [("A", 1), ("B", 1), ("C", 2), ("D", 2)], 0),
              ("high E, frets 5-24", [("E", 4)], (5, 12, 17, 24))]
    cases = []
    for group, notes, frets in groups:
        for name, octave in notes:
            for fret in (frets or (0,)):
                f = note_frequency(name, octave) * 2 ** (fret / 12)
                label = f"{name}{octave}" + (f" fret {fret}" if fret else "")
                b = (1e-4 * (f / e4) ** 2) if frets else None
                cases.append((group, label, f, b, -60.0, None))
    cases.append(("noisier", "A2, noise -40 dB", note_frequency("A", 2), None, -40.0, None))
    cases.append(("hum under the string", "E2 + 60 Hz hum -40 dB", note_frequency("E", 2), None, -60.0, 60.0))
    rows = []
    cpu = []
    rng = np.random.default_rng(2026)
    for group, label, f, b, noise_db, mains in cases:
        errs, settle, missing = [], [], 0
        for s in range(seeds):
            truth = f * 2 ** (rng.uniform(-30, 30) / 1200)
            inh = b if b is not None else rng.uniform(1e-5, 2e-4)
            onset = int(rng.uniform(0.05, 0.1) * rate)
            x = np.concatenate([np.zeros(onset), pluck(truth, 1.0, inharmonicity=inh, decay_s=3.0 if f < 200 else 1.0,
                                                       noise_db=noise_db, seed=s)])
            if mains:
                x = x + hum(len(x) / rate, mains, level_db=-46.0, seed=s)[:len(x)]
            t0 = time.process_time()
            out, settled = _track(det, x, onset, truth, hop)
            cpu.append((time.process_time() - t0) / len(out))
            late = [e for t, e in out if t >= 0.15]
            missing += sum(e is None for e in late)
            errs += [abs(e) for e in late if e is not None]
            settle.append(settled)
        rows.append({"group": group, "what": label, "hz": f, "max": max(errs) if errs else None,
                     "median": float(np.median(errs)) if errs else None,
                     "settle_ms": None if None in settle else 1000 * max(settle), "missing": missing,
                     "plucks": seeds})
        if log:
            log(f"{label}: max {rows[-1]['max']:.3f} cents")
    clip = corpus_file("audio", "nam_core_input.wav")
    if clip:
        import soundfile as sf
        x, _ = sf.read(clip, dtype="float64")
        onset = int(np.flatnonzero(np.abs(x) > 1e-4)[0])
        out, settled = _track(det, x, onset, 220.0, hop)
        late = [e for t, e in out if t >= 0.15]
        pre = sum(det.analyse(x[e - det.window:e]) is not None for e in range(det.window, onset, int(hop * rate)))
        rows.append({"group": "corpus clip", "what": "nam_core_input.wav (220 Hz tone after 1 s of silence)",
                     "hz": 220.0, "max": max(abs(e) for e in late if e is not None), "median":
                     float(np.median([abs(e) for e in late if e is not None])),
                     "settle_ms": None if settled is None else 1000 * settled,
                     "missing": sum(e is None for e in late), "plucks": 1, "false": pre})
    quiet = {"silence": np.zeros(2 * rate),
             "noise -40 dBFS": 10 ** (-40 / 20) * rng.standard_normal(2 * rate)}
    for mains in (50.0, 60.0):
        for level in (-60, -30, -6):
            quiet[f"{mains:.0f} Hz hum + harmonics, {level} dBFS"] = hum(2.0, mains, level_db=level, seed=level + 100)
    for what, x in quiet.items():
        n = 0
        total = 0
        for e in range(det.window, len(x) + 1, int(hop * rate)):
            total += 1
            n += det.analyse(x[e - det.window:e]) is not None
        rows.append({"group": "no note", "what": what, "false": n, "readings": total})
    return rows, {"cpu_s": float(np.median(cpu)), "seeds": seeds, "hop": hop}


def format_tuner_table(rows, info):
    cpu_s = info["cpu_s"]
    lines = [f"Tuner accuracy: {info['seeds']} plucks per row (detuned at random within +-30 cents, inharmonicity "
             f"1e-5..2e-4, 1.6e-3 at the 24th fret), read every {1000 * info['hop']:.0f} ms", "",
             "| strings | note | Hz | max error 0.15-1 s | median | settled within 1 cent | readings missing |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["group"] == "no note":
            continue
        settle = "never" if r["settle_ms"] is None else f"{r['settle_ms']:.0f} ms"
        lines.append(f"| {r['group']} | {r['what']} | {r['hz']:.2f} | {r['max']:.3f} cents | {r['median']:.3f} | "
                     f"{settle} | {r['missing']} |")
    lines += ["", "| no signal | readings with a note |", "|---|---:|"]
    for r in rows:
        if r["group"] == "no note":
            lines.append(f"| {r['what']} | {r['false']} of {r['readings']} |")
        elif "false" in r:
            lines.append(f"| corpus clip, its silent second | {r['false']} |")
    lines.append("")
    lines.append(f"(one reading: {1000 * cpu_s:.1f} ms of CPU on this machine, median; the pedal reads 50 times a "
                 "second while the tuner is on, so settling on the pedal is up to 20 ms later)")
    return "\n".join(lines)

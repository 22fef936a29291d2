"""`tubeless bench --tuner`: the tuner's accuracy and settling on synthetic plucked strings
(also on mains multiples and through a chorus), the corpus clip and mains hum."""
import math

import numpy as np

from firmware.pedal.tuner import PitchDetector, Tuner, note_frequency
from firmware.testing.corpus import corpus_file
from firmware.testing.signals import chorused_plucks, hum, pluck

LEAD_S = 0.3            # the detector follows the input from this long before the pluck, as the pedal does


def _track(det, x, onset, truth, hop, until=1.0):
    """Errors (cents, None = no reading) every `hop` s from the onset, and when they settled
    within a cent for good (None: never)."""
    rate = det.rate
    out = []
    step = int(hop * rate)
    for e in range(max(step, onset - int(LEAD_S * rate)), min(len(x), onset + int(until * rate)) + 1, step):
        r = det.analyse(x[max(0, e - Tuner.READ):e], e)
        if e >= onset + step:
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
    for hz in (100.0, 120.0, 150.0, 180.0, 200.0, 240.0):          # G3 +34 cents is 200 Hz
        mains = 50.0 if hz % 50 == 0 else 60.0
        cases.append(("on a mains multiple", f"{hz:.0f} Hz", hz, None, -60.0, None, 0.0))
        cases.append(("on a mains multiple", f"{hz:.0f} Hz + its {mains:.0f} Hz hum -46 dB", hz, None, -60.0, mains,
                      0.0))
    rows = []
    cpu = []
    rng = np.random.default_rng(2026)
    for group, label, f, b, noise_db, mains, *detune in cases:
        errs, settle, missing = [], [], 0
        for s in range(seeds):
            truth = f * 2 ** (rng.uniform(-30, 30) / 1200 if not detune else rng.uniform(-3, 3) / 1200)
            inh = b if b is not None else rng.uniform(1e-5, 2e-4)
            onset = int(rng.uniform(LEAD_S, LEAD_S + 0.05) * rate)
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
            log(f"{label}: max {rows[-1]['max']} cents")
    rows.append(_chorus_row(det, hop, 30 * seeds))
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
        for k, hz in ((2, 2 * mains), (3, 3 * mains)):
            quiet[f"{hz:.0f} Hz hum alone ({k}x {mains:.0f} Hz), -30 dBFS"] = hum(
                2.0, mains, level_db=-30, harmonics=(0,) * (k - 1) + (1.0,), seed=k, offset_hz=0.1)
    for what, x in quiet.items():
        n = 0
        total = 0
        for e in range(det.window, len(x) + 1, int(hop * rate)):
            total += 1
            n += det.analyse(x[max(0, e - Tuner.READ):e], e) is not None
        rows.append({"group": "no note", "what": what, "false": n, "readings": total})
    return rows, {"cpu_s": float(np.median(cpu)), "seeds": seeds, "hop": hop}


def _chorus_row(det, hop, count):
    """Plucks E2..E5 through random 2-voice choruses: how far the readings go (the voices'
    own pitch moves tens of cents) and how many land on a partial (600 cents or more off)."""
    rate = det.rate
    errs, partial, missing, total = [], 0, 0, 0
    for truth, y in chorused_plucks(count, rate, seed=2026):
        onset = int(LEAD_S * rate)
        out, _ = _track(det, np.concatenate([np.zeros(onset), y]), onset, truth, hop, until=1.2)
        late = [e for t, e in out if t >= 0.15]
        total += len(late)
        missing += sum(e is None for e in late)
        partial += sum(e is not None and abs(e) >= 600 for e in late)
        errs += [abs(e) for e in late if e is not None]
    return {"group": "chorus in front", "what": f"{count} plucks E2-E5, 2 voices, random rate/depth/mix", "hz": None,
            "max": max(errs), "median": float(np.median(errs)), "settle_ms": None, "missing": missing,
            "plucks": count, "partial": partial, "readings": total}


def format_tuner_table(rows, info):
    cpu_s = info["cpu_s"]
    lines = [f"Tuner accuracy: {info['seeds']} plucks per row (detuned at random within +-30 cents, inharmonicity "
             f"1e-5..2e-4, 1.6e-3 at the 24th fret), read every {1000 * info['hop']:.0f} ms", "",
             "| strings | note | Hz | max error 0.15-1 s | median | settled within 1 cent | readings missing |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["group"] == "no note" or "partial" in r:
            continue
        settle = "never" if r["settle_ms"] is None else f"{r['settle_ms']:.0f} ms"
        err = "no reading" if r["max"] is None else f"{r['max']:.3f} cents | {r['median']:.3f}"
        lines.append(f"| {r['group']} | {r['what']} | {r['hz']:.2f} | {err} | {settle} | {r['missing']} |")
    for r in rows:
        if "partial" in r:
            lines += ["", "| through a chorus | max error 0.15-1.2 s | median | readings on a partial | missing |",
                      "|---|---:|---:|---:|---:|",
                      f"| {r['what']} | {r['max']:.1f} cents | {r['median']:.1f} | {r['partial']} of {r['readings']} | "
                      f"{r['missing']} |"]
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

"""Recipe for the model and cabinet IR the pedal ships (`make default-model`).

Everything is made here from first principles, nothing is copied: the "amp" is the tube
circuit of training/circuits.py (two 12AX7 stages into a Bassman tone stack; `--circuit
diode`: the diode clipper overdrive) solved numerically, reamped with our own capture
signal; the cabinet IR is a minimum-phase filter designed from the response of a closed-back
2x12 guitar cabinet (port-less box resonance near 100 Hz, cone break-up presence around
2.5 kHz, the steep fall above 5 kHz that makes a guitar speaker sound like one); the demo DI
clip (demo_di.wav, 8 s) is training/capture.py's plucked-string material, seeded.

    python scripts/make_default_model.py --out-dir firmware/data --minutes 10
    python scripts/make_default_model.py --out-dir firmware/data --assets-only   # IR + DI clip only
"""
import argparse
import os
import sys

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from training import capture, cli  # noqa: E402
from training.circuits import DiodeClipper, TubeAmp  # noqa: E402

SR = 48000
IR_SECONDS = 0.1
# circuit: (what it is made of, the model's name)
CIRCUITS = {"tube": (TubeAmp, "tubeless tube amp (two 12AX7 stages)"),
            "diode": (DiodeClipper, "tubeless diode overdrive")}


def cabinet_ir(sample_rate=SR, seconds=IR_SECONDS):
    """Minimum-phase IR whose magnitude follows a guitar cabinet's typical on-axis response."""
    n_fft = 1 << 14
    f = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    w = np.maximum(f, 1.0)
    db = np.zeros_like(f)
    db += -40 * np.log10(1 + (70 / w) ** 4) / 2          # closed box: 24 dB/oct below ~70 Hz
    db += 5 * np.exp(-0.5 * (np.log2(w / 110) / 0.35) ** 2)   # box resonance
    db += -4 * np.exp(-0.5 * (np.log2(w / 500) / 0.6) ** 2)   # the dip between resonance and cone
    db += 6 * np.exp(-0.5 * (np.log2(w / 2500) / 0.4) ** 2)   # cone break-up presence
    db += -60 * np.log10(1 + (w / 5000) ** 4) / 2        # speaker roll-off, ~24 dB/oct above 5 kHz
    magnitude = 10 ** (db / 20)
    # Minimum phase by the real cepstrum: a causal IR with its energy at the start, as a mic'd
    # speaker gives, instead of the pre-ring of a linear-phase design.
    cepstrum = np.fft.irfft(np.log(magnitude + 1e-9), n_fft)
    fold = np.zeros(n_fft)
    fold[0], fold[n_fft // 2] = 1, 1
    fold[1:n_fft // 2] = 2
    ir = np.fft.irfft(np.exp(np.fft.rfft(cepstrum * fold)), n_fft)[:int(seconds * sample_rate)]
    ir *= np.hanning(2 * len(ir))[len(ir):]             # fade the tail to avoid a click
    return (ir / np.sqrt(np.sum(ir ** 2))).astype(np.float32)   # unit energy: level-neutral


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default="firmware/data")
    parser.add_argument("--arch", default="lstm-16")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--circuit", choices=sorted(CIRCUITS), default="tube")
    parser.add_argument("--drive", type=float, default=0.6)
    parser.add_argument("--work-dir", default=".cache/default-model")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--assets-only", action="store_true", help="write the IR and the DI clip, train nothing")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    os.makedirs(args.work_dir, exist_ok=True)

    ir_path = os.path.join(args.out_dir, "default_cab.wav")
    sf.write(ir_path, cabinet_ir(), SR, subtype="FLOAT")
    print(f"wrote {ir_path}")
    di_path = os.path.join(args.out_dir, "demo_di.wav")
    capture.write_demo_clip(di_path, seconds=8.0, seed=0)
    print(f"wrote {di_path}")
    if args.assets_only:
        return 0

    di = os.path.join(args.work_dir, "reamp.wav")
    capture.write(di, validation_seconds=15.0, playing_seconds=150.0, seed=0)
    x, _ = sf.read(di, dtype="float32")
    amp = os.path.join(args.work_dir, "amp.wav")
    circuit, name = CIRCUITS[args.circuit]
    sf.write(amp, circuit(args.drive)(x), SR, subtype="PCM_24")
    model = os.path.join(args.out_dir, "default_model.npz")
    fit = ["fit", di, amp, "-o", model, "--arch", args.arch, "--minutes", str(args.minutes),
           "--name", name, "--seed", "0"]
    if args.threads:
        fit += ["--threads", str(args.threads)]
    return cli.main(fit)


if __name__ == "__main__":
    sys.exit(main())

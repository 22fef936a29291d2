"""Phase 9 of `tubeless bench --realtime`: 20 presets (mixed amp models, cabinet IRs and
effects, some with snapshots) stomped through every 0.3 s through the control channel, as
a player walking a bank. It measures the time from the stomp until the pedal plays the new
preset's model (status: `preset` and `model_file`), and leaves the presets folder empty
again, so the pedal is back on its setlist."""
import os
import random
import shutil
import threading
import time

from firmware.dsp import rig
from firmware.pedal.control import ControlConnection
from firmware.presets import format as fmt
from firmware.tools import phasethread

N_PRESETS = 20
STOMP_EVERY_S = 0.3


def bench_presets(models, irs=(), n=N_PRESETS, seed=0):
    """[Preset] for the phase: amps in turn over `models` (file names), an IR of `irs` on
    every other one, delay, reverb and boost on or off with parameters across their ranges,
    a snapshot on every third. Deterministic for a seed."""
    if not models:
        raise ValueError("the preset phase needs models")
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        s = fmt.Settings({"drive": round(rnd.uniform(0.3, 0.8), 3), "level": round(rnd.uniform(0.6, 0.9), 3)})
        for block in ("boost", "delay", "reverb"):
            cls = rig.BY_NAME[block]
            s.rig[block] = {"on": rnd.random() < 0.5,
                            **{p.name: round(rnd.uniform(p.lo, p.hi), 3) for p in cls.PARAMS}}
        s.rig["tonestack"] = {"bass": round(rnd.uniform(0.2, 0.8), 3), "treble": round(rnd.uniform(0.2, 0.8), 3)}
        p = fmt.Preset(f"bench {i + 1:02d}", amp=models[i % len(models)],
                       ir=(irs[i % len(irs)] if irs and i % 2 else None), settings=s)
        if i % 3 == 0:
            p.snapshots.append(fmt.Snapshot("lead", fmt.Settings({"level": 0.9}, rig={"delay": {"on": True}})))
        out.append(p)
    return out


def stomps(presets, seconds, every=STOMP_EVERY_S):
    """[(time from the phase's start, preset name)]: the bank walked in order, round and round."""
    count = int(seconds / every)
    return [(k * every, presets[k % len(presets)].name) for k in range(count)]


def preset_phase(what, state):
    if what != "start":
        st = phasethread.stop(state)
        shutil.rmtree(st["presets_dir"], ignore_errors=True)
        return st
    work = state
    models = sorted(f for f in os.listdir(os.path.join(work, "models")) if f.lower().endswith(fmt.MODEL_EXTENSIONS))
    presets_dir = os.path.join(work, "presets")
    os.makedirs(presets_dir, exist_ok=True)
    presets = bench_presets(models)
    for p in presets:
        with open(os.path.join(presets_dir, f".{p.name}.tmp"), "w", encoding="utf-8") as f:
            f.write(p.dumps())
        os.replace(os.path.join(presets_dir, f".{p.name}.tmp"), os.path.join(presets_dir, p.name + fmt.EXTENSION))
    st = {"stop": threading.Event(), "sent": 0, "errors": 0, "waits": [], "presets_dir": presets_dir,
          "acted_at": []}       # time.monotonic() of each stomp, beside the bench's slow blocks
    amp_of = {p.name: p.amp for p in presets}

    def run():
        conn = ControlConnection(os.path.join(work, "control.sock"))
        ask = conn.request

        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(ask({"cmd": "presets"}).get("presets", [])) < len(presets):
                time.sleep(0.1)                  # the pedal looks at the folder every presets.poll_s
            t0 = time.monotonic()
            for at, name in stomps(presets, 3600):
                if st["stop"].is_set():
                    break
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                sent = time.monotonic()
                st["acted_at"].append(sent)
                reply = ask({"cmd": "preset", "name": name})
                st["sent"] += 1
                if not reply.get("ok"):
                    st["errors"] += 1
                    st.setdefault("error", reply.get("error"))
                    continue
                while time.monotonic() - sent < STOMP_EVERY_S * 0.9:
                    b = ask({"cmd": "status"})["status"]
                    if b.get("preset") == name and b.get("model_file") == amp_of[name]:
                        st["waits"].append(time.monotonic() - sent)
                        break
                    time.sleep(0.002)
            ask({"cmd": "bank", "name": "setlist"})
        finally:
            conn.close()
    return phasethread.start(run, st)

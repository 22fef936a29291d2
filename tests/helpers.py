"""What the tests share, as plain functions (the fixtures are in conftest.py): test signals,
playing a processor block by block, what a block loop allocates, other formats' model files
and our .npz taken apart, and the pedal as a process (`tubeless run`) on a JACK dummy device.

The pedal's own model files come from firmware.testing.models (make_model, write_model); the
independent references the kernels are checked against are in reference.py."""
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NAM_DATA = REPO / "tests" / "data" / "nam"     # .nam files exported by NAM's trainer and by Core
SR = 48000
BLOCK = 64


# --- signals ---------------------------------------------------------------------------------
def sine(n, f, a=0.5, rate=SR, delay=0.0):
    """a sin(2 pi f (t - delay)) over n samples at `rate`, in float64 (a reference to compare to)."""
    t = (np.arange(n) - delay) / rate
    return a * np.sin(2 * np.pi * f * t)


def tone(n, f=220.0, a=0.5, rate=SR, fade_in_s=0.0):
    """A float32 sine to play, faded in over `fade_in_s` (no click at the start) when given."""
    x = sine(n, f, a, rate)
    if fade_in_s:
        x = x * np.minimum(1.0, np.arange(n) / rate / fade_in_s)
    return x.astype(np.float32)


def guitar_like(n, sample_rate=SR, seed=0):
    """A deterministic, guitar-like float32 test signal: a decaying low chord over a little
    noise, then a louder pluck halfway, peaking near 0.9 so a model's clean and driven
    regions are both exercised."""
    t = np.arange(n) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(n)
    x = 0.5 * np.exp(-4 * t) * sum(np.sin(2 * np.pi * f * t) for f in (82.4, 110.0, 146.8)) / 3
    x += 0.03 * noise
    half = n // 2
    x[half:] += 0.6 * np.sin(2 * np.pi * 196.0 * t[:n - half]) * np.exp(-12 * t[:n - half])
    return x.astype(np.float32)


# --- playing block by block ----------------------------------------------------------------------
def process_in_blocks(processor, x, block=BLOCK, switch=None):
    """processor.process(x, y, n) over x, cut as an audio loop cuts it: `block` is a block size
    or a list of sizes taken in turn; `switch` ({sample: slot}) asks a chain to switch models
    at that sample. Checks that nothing is written past the end; returns y (float32)."""
    sizes = [block] if np.isscalar(block) else list(block)
    y = np.full(len(x) + 8, np.nan, np.float32)
    s = i = 0
    while s < len(x):
        if switch is not None and s in switch:
            processor.request_switch(switch[s])
        m = min(sizes[i % len(sizes)], len(x) - s)
        processor.process(x[s:s + m], y[s:s + m], m)
        s += m
        i += 1
    assert np.all(np.isnan(y[len(x):]))        # nothing written past what was asked
    return y[:len(x)]


def max_step(y):
    """The largest sample-to-sample step: a click shows as a step larger than the signal's own."""
    return float(np.max(np.abs(np.diff(y.astype(np.float64)))))


def allocations(run):
    """Run `run()` under tracemalloc: (NumPy bytes still held afterwards, peak bytes above
    the start, bytes above the start at the end)."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        run()
        current, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    numpy_domain = tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)
    kept = sum(s.size_diff for s in after.filter_traces([numpy_domain]).compare_to(
        before.filter_traces([numpy_domain]), "filename"))
    return kept, peak - base, current - base


def block_allocations(step, blocks=2000):
    """What `step(i)` (one block) allocates, run `blocks` times: (NumPy bytes kept, peak bytes
    above the start, bytes held by the long run beyond a run a tenth as long). The last is what
    grows with the block count: whatever a run holds for good (a bound entry's cache, the
    interpreter's free lists: 150 to 600 bytes seen, varying by machine) is in both and cancels,
    while a single object kept per block would show as tens of kilobytes."""
    def run(n):
        def go():
            for i in range(n):
                step(i)
        return go
    allocations(run(blocks // 10))              # the first traced run keeps its own
    _, _, held_short = allocations(run(blocks // 10))
    grown, peak, held = allocations(run(blocks))
    return grown, peak, held - held_short


# --- other formats' model files ----------------------------------------------------------------
def write_json(path, doc):
    path.write_text(json.dumps(doc))
    return path


def classic_wavenet_config(channels=(3, 2), dilations=((1, 2, 4), (8, 1)), kernel=3, gated=False, layer=None):
    """The config of a classic-layout (0.5.x) .nam WaveNet: an array per entry of `channels`
    and `dilations`, each feeding the next; `layer` ({field: value}) overrides fields of
    every array (a hostile file's, say)."""
    layers, prev = [], 1
    for a, (C, dil) in enumerate(zip(channels, dilations)):
        last = a == len(channels) - 1
        layers.append({"input_size": prev, "condition_size": 1, "head_size": 1 if last else channels[a + 1],
                       "channels": C, "kernel_size": kernel, "dilations": list(dil), "activation": "Tanh",
                       "gated": gated, "head_bias": last, **(layer or {})})
        prev = C
    return {"layers": layers, "head": None, "head_scale": 0.02}


def classic_wavenet_nam(rng, gated=False, channels=(3, 2), dilations=((1, 2, 4), (8, 1)), kernel=3):
    """A small classic-layout (0.5.x) .nam WaveNet document with random weights."""
    config = classic_wavenet_config(channels, dilations, kernel, gated)
    count = 0
    for arr in config["layers"]:
        C, H = arr["channels"], arr["head_size"]
        Z = 2 * C if gated else C
        count += C * arr["input_size"] + len(arr["dilations"]) * (Z * C * kernel + Z + Z + C * C + C) + H * C
        count += H if arr["head_bias"] else 0
    weights = (0.4 * rng.standard_normal(count + 1)).tolist()
    weights[-1] = 0.3  # the head scale, which Core takes from here
    return {"version": "0.5.4", "architecture": "WaveNet", "config": config,
            "weights": weights, "sample_rate": 48000, "metadata": {"name": "synthetic"}}


def guitarml_lstm_doc(hidden=4, inputs=1, seed=0, **model_data):
    """A small GuitarML (SimpleRNN) LSTM file's JSON document with random weights; as the
    format's own files, it states no sample rate unless `model_data` gives one."""
    rng = np.random.default_rng(seed)
    G = 4 * hidden
    state = {"rec.weight_ih_l0": rng.standard_normal((G, inputs)).tolist(),
             "rec.weight_hh_l0": (0.5 * rng.standard_normal((G, hidden))).tolist(),
             "rec.bias_ih_l0": (0.1 * rng.standard_normal(G)).tolist(),
             "rec.bias_hh_l0": (0.1 * rng.standard_normal(G)).tolist(),
             "lin.weight": rng.standard_normal((1, hidden)).tolist(), "lin.bias": [0.1]}
    return {"model_data": {"model": "SimpleRNN", "unit_type": "LSTM", "input_size": inputs, "hidden_size": hidden,
                           "num_layers": 1, "skip": 1, "output_size": 1, **model_data},
            "state_dict": state}


# --- our .npz taken apart (to corrupt it) -----------------------------------------------------------
def read_npz(path):
    """The arrays of an .npz, by name."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def npz_header(arrays):
    """A model file's JSON header (a fresh dict) from its arrays."""
    return json.loads(arrays["header"].tobytes().decode())


def with_header(arrays, header):
    """The arrays with `header` (a dict) as their JSON header."""
    return {**arrays, "header": np.frombuffer(json.dumps(header).encode(), np.uint8)}


def edit_header(arrays, change):
    """The arrays with their header as change(header) leaves it."""
    header = npz_header(arrays)
    change(header)
    return with_header(arrays, header)


def write_npz(path, arrays):
    with open(path, "wb") as f:   # a file object: np.savez would append ".npz" to a str path
        np.savez(f, **arrays)
    return path


# --- `tubeless` as a process -------------------------------------------------------------------------
def run_tubeless(*args, timeout=120):
    """`tubeless ARGS...` (python -m firmware) to its end: the CompletedProcess, output as text."""
    return subprocess.run([sys.executable, "-m", "firmware", *args], capture_output=True, text=True, timeout=timeout)


# --- the pedal as a process on a JACK dummy device (the jack_device fixture) -------------------------
def write_pedal_config(folder, models, device, periods=3, status_file=None):
    """folder/pedal.toml for `tubeless run` on the ALSA device `device`: its models in `models`;
    its cache, control socket (ctl.sock), state and status file (unless status_file="") in folder."""
    status_file = f"{folder}/status.json" if status_file is None else status_file
    path = Path(folder) / "pedal.toml"
    path.write_text(
        f'# the test pedal\n[audio]\ncapture_device = "{device}"\nplayback_device = "{device}"\nperiods = {periods}\n'
        f'status_file = "{status_file}"\nstatus_every_s = 0.3\nxrun_log_every_s = 5.0\n'
        f'[models]\ndirectory = "{models}"\ncache = "{folder}/cache"\npoll_s = 0.1\n'
        f'[control]\nsocket = "{folder}/ctl.sock"\n[state]\nfile = "{folder}/state.json"\n'
        f'[controls]\nenabled = false\nkeyboard = false\n')
    return path


def start_pedal_process(config, log_path):
    """`tubeless run --config config` in a session of its own (firmware.testing.web.stop ends it),
    its output in log_path."""
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "firmware", "run", "--config", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def wait(cond, timeout=60, what="condition"):
    """cond()'s value once it is truthy, retried every 0.1 s (an exception counts as not yet);
    fails at the timeout naming `what` and the last value or exception."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:          # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened within {timeout} s (last: {last!r})")


def wait_status(sock, cond, timeout=120, proc=None, log=None):
    """The pedal's status (over its control socket) once cond(status) holds; fails at the
    timeout, or at once if `proc` (the pedal) exits, with the end of its log."""
    from firmware.pedal.control import request
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = Path(log).read_text()[-2000:] if log is not None else ""
            raise AssertionError(f"the pedal exited ({proc.returncode}):\n{tail}")
        try:
            last = request(str(sock), {"cmd": "status"})["status"]
            if cond(last):
                return last
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"pedal never reached the expected state; last status: {last}")

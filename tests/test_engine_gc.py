"""The engine plays with Python's cyclic collector off (a collection holds the GIL while the
audio thread waits), so every command it runs and every block it plays must leave nothing
but what reference counting frees: no reference cycles."""
import gc
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import BLOCK

from firmware.core import safeio
from firmware.core.config import load_config
from firmware.engine.engine import Engine
from firmware.ipc import messages
from firmware.ipc import shared as sh
from firmware.ipc.lines import LineReader
from firmware.testing.models import write_model

DEFAULT_MODEL = str(Path(__file__).resolve().parents[1] / "firmware" / "data" / "default_model.npz")


@pytest.fixture
def files(tmp_path):
    models = [str(tmp_path / f"m{i}.npz") for i in range(3)]
    write_model(models[0], arch="LSTM", seed=1)
    write_model(models[1], arch="Linear", seed=2)
    write_model(models[2], arch="LSTM", seed=3, skip=True)
    ir = str(tmp_path / "cab.npy")
    np.save(ir, (np.exp(-np.arange(300) / 30.0) * 0.1).astype(np.float32))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    return models + [DEFAULT_MODEL], ir, str(broken)


def play_a_set(engine, files, first_id):
    """What a preset storm asks of the engine: loads (one with its own IR, one broken),
    crossfaded switches, a drive pedal on and off, the global IR, drops, blocks between."""
    models, ir, broken = files
    ids = [first_id + i for i in range(len(models))]
    reader = LineReader()

    def send(msg):                  # through the pipe's encoding, as the engine's serve() reads
        for decoded in reader.feed(messages.encode(msg)):
            engine.handle(decoded)

    def blocks(n=40):               # enough for a crossfade to finish and the old slot to retire
        for _ in range(n):
            engine.chain.process_block(BLOCK)
            engine.sync()

    for sid, path in zip(ids, models):
        send({"op": "load", "slot": sid, "model": path, "ir": ir if sid == ids[1] else None})
    send({"op": "load", "slot": first_id + 90, "model": broken})
    send({"op": "load", "slot": first_id + 91, "model": models[0], "role": "stomp"})
    send({"op": "play", "slot": ids[0], "immediate": True})
    blocks()
    for sid in ids[1:] + ids[:1]:
        send({"op": "play", "slot": sid})
        blocks()
    send({"op": "stomp", "slot": first_id + 91})
    blocks()
    send({"op": "ir", "ir": ir})
    blocks()
    send({"op": "stomp", "slot": None})
    send({"op": "ir", "ir": None})
    blocks()
    for sid in ids[1:] + [first_id + 91]:
        send({"op": "drop", "slot": sid})
    blocks()


def cycles_left_by(run):
    """(objects the collector found unreachable after `run`, a summary of their types)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        found = gc.collect()
        kinds = Counter(type(o).__name__ for o in gc.garbage).most_common(8)
        where = sorted({f"{o.__module__}.{o.__qualname__}" for o in gc.garbage if callable(o)
                        and hasattr(o, "__code__")})[:8]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return found, f"{kinds} {where}"


def test_loads_switches_and_drops_leave_no_reference_cycles(files):
    events = []
    engine = Engine(load_config(), emit=events.append)
    engine.shared.counters[sh.RUNNING] = 1          # switches crossfade, as while playing
    play_a_set(engine, files, 100)                  # first calls: one-time caches fill here
    found, what = cycles_left_by(lambda: play_a_set(engine, files, 200))
    assert found == 0, f"{found} objects in reference cycles: {what}"
    assert [e["slot"] for e in events if e["ev"] == "load_failed"] == [190, 290]
    assert engine.chain.current is engine.slots[200] and set(engine.slots) == {100, 200}
    assert engine.chain.switches >= 8


def test_the_cycle_check_sees_numpys_header_parser():
    # the check can fail: numpy's own .npy reader (ast.literal_eval) leaves cycles behind
    buf = io.BytesIO()
    np.save(buf, np.zeros(3, np.float32))
    raw = buf.getvalue()
    found, what = cycles_left_by(lambda: np.load(io.BytesIO(raw)))
    assert found > 0, what


@pytest.mark.parametrize("array", [np.zeros(3, np.float32), np.ones((4, 2), "<f8"), np.arange(5, dtype="<i8"),
                                   np.zeros((), np.uint8), np.zeros((0, 3), np.float32),
                                   np.asfortranarray(np.ones((3, 2), np.float32)), np.array([True, False])])
def test_npy_header_reader_agrees_with_numpy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    buf.seek(0)
    shape, fortran, dtype = safeio._read_npy_header(buf)
    buf.seek(0)
    read = {(1, 0): np.lib.format.read_array_header_1_0}.get(np.lib.format.read_magic(buf),
                                                              np.lib.format.read_array_header_2_0)
    assert (shape, fortran, dtype) == read(buf)


@pytest.mark.parametrize("header", [
    "{'descr': '<f4', 'fortran_order': False}",                              # no shape
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",       # an unknown key
    "{'descr': '<f4', 'descr': '<f4', 'shape': (3,)}",                       # a key twice
    "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}",      # a structured dtype
    "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3)}",                # not a tuple
    "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (__import__('os'),)}",
    "{'descr': 'O', 'fortran_order': False, 'shape': (3,)}",
])
def test_npy_header_reader_refuses_all_but_a_plain_array(header):
    with pytest.raises(ValueError):
        safeio.parse_npy_header(header)


def test_the_engine_reads_the_ir_cache_without_numpy_load(files, tmp_path):
    _, ir, _ = files
    assert np.array_equal(safeio.read_npy_file(ir, 1 << 20), np.load(ir))
    cut = tmp_path / "cut.npy"
    cut.write_bytes(open(ir, "rb").read()[:-7])
    with pytest.raises(Exception, match="truncated or corrupt"):
        safeio.read_npy_file(str(cut), 1 << 20)


def test_audio_loop_turns_the_collector_off_and_gives_it_back():
    class OneBlock:
        def prime(self):
            pass

        def read(self, x):
            seen.append(gc.isenabled())
            return BLOCK

        def write(self, out, n, out_r=None):
            pass

    seen = []
    engine = Engine(load_config(), io=OneBlock())
    engine.audio_loop(max_frames=3 * BLOCK)
    assert seen == [False, False, False] and gc.isenabled()

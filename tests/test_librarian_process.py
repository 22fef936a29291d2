"""The librarian as the pedal runs it: a process of its own, restarted when a file crashes or
hangs it, the file logged once by name and skipped until it changes; its cache."""
import logging
import os
import sys
import time

from firmware.core.config import load_config
from firmware.librarian.librarian import Librarian
from firmware.pedal.links import LibrarianProcess
from firmware.testing.models import write_model

# The real librarian, except that files named crash* kill it and hang* never finish: what
# a file that exhausts its memory limit or loops forever would do, on demand.
SABOTEUR = """
import os, sys, time
import firmware.librarian.librarian as L
real = L.Librarian._convert
def convert(self, path):
    name = os.path.basename(path)
    if name.startswith("crash"):
        self.emit({"ev": "working", "path": path, "stamp": self.library.current[1]})
        os._exit(9)
    if name.startswith("hang"):
        self.emit({"ev": "working", "path": path, "stamp": self.library.current[1]})
        time.sleep(3600)
    return real(self, path)
L.Librarian._convert = convert
from firmware.librarian.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def library_files(events):
    lib = [e for e in events if e.get("ev") == "library"]
    return [x["file"] for x in lib[-1]["entries"]] if lib else None


def test_a_file_that_crashes_or_hangs_the_librarian_is_skipped_and_it_restarts(tmp_path, caplog):
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a.npz", arch="LSTM", seed=1, name="A")
    write_model(d / "crash.npz", arch="LSTM", seed=2, name="C")
    write_model(d / "hang.npz", arch="LSTM", seed=3, name="H")
    write_model(d / "z.npz", arch="LSTM", seed=4, name="Z")
    cfg = load_config(overrides={"models": {"directory": str(d), "poll_s": 0.1, "convert_timeout_s": 3.0}})
    lp = LibrarianProcess(cfg, tmp_path / "cache", command=[sys.executable, "-c", SABOTEUR])
    events = []
    try:
        with caplog.at_level(logging.WARNING, logger="firmware.pedal.links"):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and library_files(events) != ["a.npz", "z.npz"]:
                lp.supervise()
                events += lp.events()
                time.sleep(0.05)
            # a good file that arrives later still gets in
            write_model(d / "b.npz", arch="LSTM", seed=5, name="B")
            while time.monotonic() < deadline and library_files(events) != ["a.npz", "b.npz", "z.npz"]:
                lp.supervise()
                events += lp.events()
                time.sleep(0.05)
    finally:
        lp.close()
    assert library_files(events) == ["a.npz", "b.npz", "z.npz"]
    assert lp.restarts == 2
    lines = [r.getMessage() for r in caplog.records]
    assert sum("crash.npz: crashed the converter" in m for m in lines) == 1
    assert sum("hang.npz: took too long" in m for m in lines) == 1


def test_the_cache_holds_verified_files_keyed_by_content(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    write_model(d / "a.npz", arch="LSTM", seed=1, name="A")
    events = []
    lib = Librarian(d, tmp_path / "cache", emit=events.append)
    entries = lib.scan(settle=False)
    assert [e["file"] for e in entries] == ["a.npz"] and entries[0]["name"] == "A"
    cached = entries[0]["model"]
    assert os.path.dirname(cached) == str(tmp_path / "cache") and os.path.exists(cached)
    # the same bytes under another name: the cache already has it, nothing is converted
    os.link(d / "a.npz", d / "copy.npz")
    lib.loader = None                       # converting now would fail
    entries = lib.scan(settle=False)
    assert [e["file"] for e in entries] == ["a.npz", "copy.npz"] and entries[1]["model"] == cached
    assert [e["ev"] for e in events].count("library_end") == 2        # two generations sent

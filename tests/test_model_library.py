"""The model library: temp names, partial copies, corrupt/huge files, order, removal; the
loader telling files by content; `tubeless models` listing it."""
import logging

import pytest
from helpers import run_tubeless

from firmware.core.errors import ModelFileError
from firmware.importers.library import ModelLibrary, is_temporary
from firmware.importers.loader import load
from firmware.testing.models import write_model


def names(lib):
    return [e.name for e in lib.entries()]


def test_temporary_names():
    for n in (".a.npz.Xy12ab", "a.npz.tmp", "a.npz~", "a.part", ".tmp-123.npz"):
        assert is_temporary(n)
    assert not is_temporary("Plexi 2.npz")


def test_files_are_taken_only_once_their_size_stays_the_same(tmp_path, caplog):
    src = tmp_path / "src.npz"
    write_model(src, arch="Linear", name="L")
    data = src.read_bytes()
    d = tmp_path / "lib"
    d.mkdir()
    lib = ModelLibrary(d)
    (d / "l.npz").write_bytes(data[:100])
    with caplog.at_level(logging.INFO):
        assert not lib.scan()                       # new: wait for it to settle
        (d / "l.npz").write_bytes(data[:2000])      # still growing
        assert not lib.scan()
        (d / "l.npz").write_bytes(data)
        assert not lib.scan()
        assert lib.scan()                           # unchanged since the last pass: taken
    assert names(lib) == ["L"]
    assert not any("skipped" in r.getMessage() for r in caplog.records)


def test_bad_files_get_one_log_line_and_are_not_retried(tmp_path, caplog):
    d = tmp_path
    write_model(d / "good.npz", arch="Linear", name="G")
    (d / "corrupt.npz").write_bytes(b"PK\x03\x04garbage")
    (d / "empty.npz").write_bytes(b"")
    (d / "notes.txt").write_text("not a model")
    lib = ModelLibrary(d, max_bytes=50_000)
    (d / "huge.npz").write_bytes(b"\0" * 60_000)
    with caplog.at_level(logging.WARNING):
        lib.scan(settle=False)
        for _ in range(3):
            lib.scan()
    assert names(lib) == ["G"]
    msgs = [r.getMessage() for r in caplog.records]
    for bad in ("corrupt.npz", "empty.npz", "huge.npz"):
        assert sum(bad in m for m in msgs) == 1, msgs
    assert not any("notes.txt" in m for m in msgs)
    assert any("larger than" in m for m in msgs if "huge" in m)


def test_order_by_name_then_setlist_and_removal(tmp_path):
    for n, name in (("b.npz", "B"), ("a.npz", "A"), ("c.npz", "C")):
        write_model(tmp_path / n, arch="Linear", name=name)
    lib = ModelLibrary(tmp_path)
    lib.scan(settle=False)
    assert names(lib) == ["A", "B", "C"]
    (tmp_path / "setlist.txt").write_text("# gig\nc.npz\nb\n")
    assert lib.scan()
    assert names(lib) == ["C", "B", "A"]
    (tmp_path / "b.npz").unlink()
    assert lib.scan()
    assert names(lib) == ["C", "A"]


def test_changed_file_is_reloaded(tmp_path):
    write_model(tmp_path / "m.npz", arch="Linear", name="old")
    lib = ModelLibrary(tmp_path)
    lib.scan(settle=False)
    write_model(tmp_path / "m.npz", arch="LSTM", name="new")
    lib.scan()
    lib.scan()
    assert names(lib) == ["new"]


def test_the_loader_tells_files_by_content(tmp_path, corpus):
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(ModelFileError, match="x.wav"):
        load(wav)
    nam = corpus / "nam" / "lstm.nam"
    renamed = tmp_path / "lstm.npz"          # a .nam under another name is still a .nam
    renamed.write_bytes(nam.read_bytes())
    assert load(renamed).metadata["source"]["format"] == "nam"
    mf = load(nam)
    assert mf.build(64).num_knobs == 0


def test_models_lists_only_models_and_names_the_option(tmp_path):
    write_model(tmp_path / "b.npz", arch="LSTM", seed=2, name="Bee")
    write_model(tmp_path / "a.npz", arch="Linear", seed=1, name="Ay")
    out = run_tubeless("models", "--models", str(tmp_path))
    assert out.returncode == 0 and out.stderr == ""
    assert [ln.split()[1] for ln in out.stdout.splitlines()] == ["Ay", "Bee"]
    out = run_tubeless("models", "--models", str(tmp_path / "nope"))
    assert out.returncode == 2 and "--models DIR" in out.stderr and out.stderr.count("\n") == 1

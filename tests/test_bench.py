"""`tubeless bench --json`: a row per model and block asked for, and per width of a
slimmable WaveNet."""
import json

from firmware.tools.cli import main


def test_bench_json_lists_every_requested_cell(capsys):
    assert main(["bench", "--json", "--only", "nano", "LSTM-12", "--seconds", "0.2", "--repeats", "1",
                 "--blocks", "32", "64", "--no-jit", "--no-torch"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["block"]) for r in rows] == [
        ("WaveNet nano", 32), ("WaveNet nano", 64), ("LSTM-12", 32), ("LSTM-12", 64)]
    assert all(r["rtf"] > 0 and r["torch_rtf"] is None and set(r) == {"model", "block", "rtf", "torch_rtf"}
               for r in rows)


def test_bench_has_a_row_per_width_of_a_slimmable_wavenet(capsys):
    assert main(["bench", "--json", "--only", "slimmable", "--seconds", "0.1", "--repeats", "1",
                 "--blocks", "64", "--no-jit", "--no-torch"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == [f"WaveNet standard slimmable, width {i} ({c} ch)"
                                          for i, c in enumerate(("4/2", "8/4", "12/6", "16/8"))]
    assert all(r["rtf"] > 0 for r in rows)

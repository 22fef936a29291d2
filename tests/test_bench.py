"""`tubeless bench --json`: a row per model and block asked for, and per width of a
slimmable WaveNet."""
import json
import time

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


def test_steal_watch_tells_xruns_beside_the_hosts_steal_from_the_rest():
    """An xrun right after the host took a tick is "beside steal"; one in a quiet stretch is
    not; the share of the phase's windows with steal is reported beside the count."""
    from firmware.tools.rtbench import StealWatch

    watch = StealWatch(read=lambda: 0.0)
    steal = 0.0
    for i in range(100):                       # 5 s sampled every 50 ms; a 10 ms tick at 2.0 s
        t = 100.0 + 0.05 * i
        if i == 40:
            steal += 10.0
        watch.samples.append((t, steal))
    assert watch.stolen(101.9, 102.1) == 10.0 and watch.stolen(103.0, 103.5) == 0.0
    hit, share = watch.beside([102.1, 103.6, 104.0])
    assert hit == 1
    assert 0.0 < share <= 0.1                  # one or two windows of twenty
    assert watch.beside([]) == (0, share)
    live = StealWatch(every_s=0.01).start()
    time.sleep(0.05)
    assert len(live.stop().samples) >= 3


def test_realtime_collector_times_each_xrun_and_the_table_shows_steal():
    """`bench --realtime`'s collector reads the engine's shared block: the seconds into the
    phase at which its xrun counters moved (one entry per xrun), each block's CPU time."""
    import time

    from firmware.ipc import shared as sh
    from firmware.tools.rtbench import Collector, format_rows, host_steal_ms

    block = sh.SharedBlock()
    col = Collector(block)
    c = block.counters

    def played(n, cpu_ns):
        for _ in range(n):
            block.cpu_ns[int(c[sh.BLOCKS]) & (sh.RING - 1)] = cpu_ns
            c[sh.BLOCKS] += 1

    played(10, 1000)
    col.poll()
    assert col.xrun_at == []
    time.sleep(0.2)
    c[sh.UNDERRUNS] += 2
    c[sh.OVERRUNS] += 1
    played(5, 2000)
    col.poll()
    col.poll()                                # no move since: nothing added
    assert len(col.xrun_at) == 3 and len(set(col.xrun_at)) == 1 and 0.15 <= col.xrun_at[0] <= 5.0
    cpu, _ = col.stop()
    assert cpu.tolist() == [1000] * 10 + [2000] * 5
    assert host_steal_ms() >= 0.0
    row = {"phase": 1, "what": "playing", "xruns": 3, "steal_ms": 12.4, "late_p999": 0.0, "late_max": 0.5,
           "cpu_p99": 0.2, "cpu_max": 0.3, "switches": 0, "copied": 0, "blocks": 15, "lost": 0, "realtime": True}
    line = [x for x in format_rows([row], "test").splitlines() if x.startswith("| 1 ")][0]
    assert "| 3 | 12 ms |" in line


def test_realtime_collector_names_the_slow_blocks_and_the_action_before_each():
    """A block that computed for over two periods is logged with when it ran and how long
    after the phase's last stomp or request: what tells a stall a switch caused from one
    that came from nowhere."""
    import time

    from firmware.ipc import shared as sh
    from firmware.tools.rtbench import Collector, outliers_text

    block = sh.SharedBlock()
    c = block.counters
    c[sh.PERIOD], c[sh.RATE] = 64, 48000            # 1.33 ms a period: over 2.67 ms is slow
    col = Collector(block)
    for i, ns in enumerate([1_000_000] * 50 + [7_100_000] + [1_000_000] * 24 + [2_500_000, 3_000_000]):
        block.cpu_ns[int(c[sh.BLOCKS]) & (sh.RING - 1)] = ns
        block.late_frames[int(c[sh.BLOCKS]) & (sh.RING - 1)] = 64 if i == 51 else 32   # a period: late
        c[sh.BLOCKS] += 1
    stomp = time.monotonic() - 0.05
    col.poll()
    col.stop()
    assert [round(ms, 1) for _, ms in col.slow] == [7.1, 3.0]
    assert [round(ms, 2) for _, ms in col.late_starts] == [1.33]
    # the 7.1 ms block ran 26 blocks (35 ms) before the newest: about 15 ms after the stomp
    assert abs(col.slow[0][0] - (time.monotonic() - 26 * 64 / 48000)) < 0.05
    text = outliers_text(col.slow, col.t0, [stomp - 1.0, stomp])
    assert text.startswith("2 blocks computed for over 2 periods (2 within 60 ms after an action), the worst at ")
    assert "(1 within 30 ms after" in outliers_text(col.slow, col.t0, [stomp], soon_s=0.03)   # 15 ms, 50 ms
    assert ": 7.1 ms (" in text
    since = int(text.split("7.1 ms (")[1].split(" ms after")[0])
    assert 5 <= since <= 40
    assert "after an action" not in outliers_text(col.slow, col.t0, [])


def test_a_pass_shorter_than_the_cpu_clocks_step_is_repeated_until_it_moves(monkeypatch):
    """A clip shorter than the CPU clock's step read 0 s and divided by it; now the pass is
    repeated until the clock moves, and a clock that never moves is a one-line error."""
    import pytest

    from firmware.core.errors import UserError
    from firmware.tools import bench

    readings = iter([10.0, 10.0, 10.0, 10.003])       # the start, then after each pass
    monkeypatch.setattr(bench.time, "process_time", lambda: next(readings))
    calls = []
    assert bench.cpu_seconds_per_pass(lambda: calls.append(1)) == pytest.approx(0.001)
    assert len(calls) == 3
    monkeypatch.setattr(bench.time, "process_time", lambda: 5.0)
    with pytest.raises(UserError, match="did not move"):
        bench.cpu_seconds_per_pass(lambda: None)

"""scripts/bench_vs_cpp.sh and its run.py, without building a C++ player: an engine whose
output is off gets no speed (nor does one that leans on it), the table says what NeuralAudio
ran, and a NeuralAudio checkout that is not one, or lacks its submodules, is refused in one
line before anything is built."""
import importlib.util
import subprocess

import numpy as np
import pytest
from helpers import REPO

SCRIPT = REPO / "scripts" / "bench_vs_cpp.sh"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_vs_cpp_run", REPO / "scripts" / "bench_vs_cpp" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_outputs(bench, folder, outputs):
    for engine, y in outputs.items():
        np.asarray(y, np.float32).tofile(bench.out_file(folder, engine))


def reference_output():
    return (0.8 * np.sin(np.linspace(0, 60, 4800))).astype(np.float32)   # peak 0.8, as the real standard file


def test_engines_within_their_tolerance_pass(bench, tmp_path):
    y = reference_output()
    core_fast = y + 0.01                    # the fast tanh's kind of error: 1.25 % of the peak
    write_outputs(bench, tmp_path, {"tubeless": y, "NAM Core exact tanh": y + 5e-5, "RTNeural": y - 5e-5,
                                    "NAM Core": core_fast, "NeuralAudio": core_fast + 5e-5})
    verdicts = bench.check_outputs(tmp_path, bench.ENGINES)
    assert {e: v[3] for e, v in verdicts.items()} == {e: True for e in bench.CPP}
    assert verdicts["NeuralAudio"][0] == "NAM Core"
    assert verdicts["NeuralAudio"][1] == pytest.approx(5e-5, rel=0.05)
    assert verdicts["NeuralAudio"][4] == pytest.approx(0.01 + 5e-5, rel=0.01)      # and from tubeless


def test_an_engine_off_by_more_than_float_rounding_is_refused(bench, tmp_path):
    y = reference_output()
    write_outputs(bench, tmp_path, {"tubeless": y, "NAM Core exact tanh": y + 1e-3, "RTNeural": y * np.nan,
                                    "NAM Core": y, "NeuralAudio": y[:-64]})
    verdicts = bench.check_outputs(tmp_path, bench.ENGINES)
    assert not verdicts["NAM Core exact tanh"][3]       # 1e-3 is ten times the summation-order bound
    assert not verdicts["RTNeural"][3]                  # NaN
    assert not verdicts["NeuralAudio"][3]               # a short output
    assert verdicts["NAM Core"][3]


def test_an_engine_that_agrees_with_a_wrong_reference_is_refused_too(bench, tmp_path):
    y = reference_output()
    wrong = y + 0.1                                     # 12.5 % of the peak: a model read wrong
    write_outputs(bench, tmp_path, {"tubeless": y, "NAM Core": wrong, "NeuralAudio": wrong})
    verdicts = bench.check_outputs(tmp_path, bench.ENGINES)
    assert verdicts["NeuralAudio"][1] == 0.0 and not verdicts["NeuralAudio"][3]
    assert not verdicts["NAM Core"][3]


def test_the_table_shows_no_speed_for_a_refused_engine_and_what_neural_audio_ran(bench):
    label = "WaveNet nano"
    results = {(label, 64): {"NAM Core": [60.0, 62.0], "NAM Core exact tanh": [58.0], "NeuralAudio": [290.0],
                             "tubeless": [230.0]}}
    agreement = {(label, "NAM Core"): ("tubeless", 1e-2, 4e-2, True, 1e-2),
                 (label, "NeuralAudio"): ("NAM Core", 1.0, 1e-4, False, 1.0)}
    text = bench.table(results, agreement, {label: "static"}, [(label, None, None)], 64)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]
    head, align, cells = rows
    assert cells == [label, "61.0", "58.0", "-", "wrong output", "static", "230.0", "3.77"]   # 230 / 61, not / 290
    assert len(head) == len(align) == len(cells) and head[5] == "NeuralAudio ran" and align[5] == ":---"


def test_the_driver_says_which_implementation_ran(bench):
    assert bench.implementation("implementation: dynamic\n156.2000\n") == "dynamic"
    assert bench.implementation("156.2\n") is None


def fake_nam_core(folder):
    for f in ("NAM/get_dsp.h", "Dependencies/eigen/Eigen/Dense"):
        (folder / f).parent.mkdir(parents=True, exist_ok=True)
        (folder / f).write_text("")
    return folder


def run_script(*args, work):
    return subprocess.run(["bash", str(SCRIPT), *args, "--work", str(work)], capture_output=True, text=True,
                          timeout=60)


def test_a_folder_that_is_not_neural_audio_is_refused_before_building(tmp_path):
    core = fake_nam_core(tmp_path / "core")
    (tmp_path / "elsewhere").mkdir()
    res = run_script("--nam-core", str(core), "--neural-audio", str(tmp_path / "elsewhere"), work=tmp_path / "w")
    assert res.returncode == 2
    assert res.stderr.strip() == f"bench_vs_cpp: {tmp_path / 'elsewhere'} is not a NeuralAudio checkout (no NeuralAudio/NeuralModel.h)"
    assert not (tmp_path / "w").exists()


def test_a_neural_audio_checkout_without_its_submodules_is_refused(tmp_path):
    core = fake_nam_core(tmp_path / "core")
    na = tmp_path / "NeuralAudio"
    (na / "NeuralAudio").mkdir(parents=True)
    (na / "NeuralAudio" / "NeuralModel.h").write_text("")
    (na / "deps" / "NeuralAmpModelerCore").mkdir(parents=True)       # as `git clone` without submodules leaves it
    res = run_script("--nam-core", str(core), "--neural-audio", str(na), work=tmp_path / "w")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "deps/NeuralAmpModelerCore is empty" in res.stderr and "git submodule update --init" in res.stderr


def test_an_option_without_its_folder_is_refused(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), "--neural-audio"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.strip() == "bench_vs_cpp: --neural-audio needs a directory"

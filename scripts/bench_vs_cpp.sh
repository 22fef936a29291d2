#!/usr/bin/env bash
# Side-by-side speed of tubeless and the C++ players on the same .nam files.
#
#   scripts/bench_vs_cpp.sh --nam-core DIR [--rtneural DIR] [--neural-audio DIR] [--work DIR]
#                           [run.py options]
#
# Builds NeuralAmpModelerCore and RTNeural from the checkouts you point it at (fetch them
# yourself, e.g. with scripts/bench_vs_cpp/fetch.sh: https://github.com/sdatkinson/NeuralAmpModelerCore
# and https://github.com/jatinchowdhury18/RTNeural; they never go into this repository) with
# their release flags (-Ofast -march=native, and -DNDEBUG as a CMake Release build has it:
# without it Eigen checks every access and NAM Core's LSTM runs at half speed; Core with
# its A2 fast path, its CMake default; Core's Eigen submodule, else EIGEN_DIR or the
# system's Eigen 3.4) into --work (default
# ${TMPDIR:-/tmp}/tubeless-bench-vs-cpp, kept between runs), then runs
# scripts/bench_vs_cpp/run.py: every engine in its own process, one thread, order
# alternated round by round, medians. NAM Core runs twice: with the fast tanh its plugin
# switches on, and with the exact tanh. --neural-audio DIR adds Mike Oliphant's NeuralAudio
# (https://github.com/mikeoliphant/NeuralAudio, cloned with its submodules), built by its own
# CMake in Release (-O3 -march=native, BUILD_INTERNAL_STATIC_LSTM=ON, everything else its
# defaults: fast tanh, static WaveNet and A2, NAM Core for the rest) with a driver linked to
# its library; the table says which implementation it picked for each model. JOBS sets the
# build's parallel jobs (default: every CPU). Options after the checkouts go to run.py
# (--blocks, --rounds, --seconds, --only, --json); see `run.py --help`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
core="" rtn="" na="" work="${TMPDIR:-/tmp}/tubeless-bench-vs-cpp" cxx="${CXX:-g++}"
flags=(-Ofast -march=native -DNDEBUG)
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nam-core|--rtneural|--neural-audio|--work)
      [ $# -ge 2 ] || { echo "bench_vs_cpp: $1 needs a directory" >&2; exit 2; } ;;
  esac
  case "$1" in
    --nam-core) core="$2"; shift 2 ;;
    --rtneural) rtn="$2"; shift 2 ;;
    --neural-audio) na="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) rest+=("$1"); shift ;;
  esac
done
[ -n "$core" ] || { echo "bench_vs_cpp: --nam-core DIR is required (a NeuralAmpModelerCore checkout)" >&2; exit 2; }
[ -f "$core/NAM/get_dsp.h" ] || { echo "bench_vs_cpp: $core is not a NeuralAmpModelerCore checkout (no NAM/get_dsp.h)" >&2; exit 2; }
# Core's Eigen submodule, or (a checkout cloned without --recursive) the system's Eigen 3.4.
eigen="$core/Dependencies/eigen"
[ -f "$eigen/Eigen/Dense" ] || eigen="${EIGEN_DIR:-/usr/include/eigen3}"
[ -f "$eigen/Eigen/Dense" ] || { echo "bench_vs_cpp: no Eigen: $core/Dependencies/eigen is empty (clone with --recursive) and EIGEN_DIR is not set" >&2; exit 2; }
if [ -n "$rtn" ] && [ ! -f "$rtn/RTNeural/RTNeural.h" ]; then
  echo "bench_vs_cpp: $rtn is not an RTNeural checkout (no RTNeural/RTNeural.h)" >&2; exit 2
fi
if [ -n "$na" ]; then
  [ -f "$na/NeuralAudio/NeuralModel.h" ] || { echo "bench_vs_cpp: $na is not a NeuralAudio checkout (no NeuralAudio/NeuralModel.h)" >&2; exit 2; }
  for dep in NeuralAmpModelerCore/NAM/get_dsp.h RTNeural/RTNeural/RTNeural.h math_approx/include/math_approx/math_approx.hpp; do
    [ -f "$na/deps/$dep" ] || { echo "bench_vs_cpp: $na/deps/${dep%%/*} is empty: NeuralAudio needs its submodules (git submodule update --init in $na)" >&2; exit 2; }
  done
  command -v cmake >/dev/null || { echo "bench_vs_cpp: NeuralAudio builds with CMake, and there is no cmake here" >&2; exit 2; }
fi
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
mkdir -p "$work"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

# A generated Makefile builds both players (parallel, incremental, kept between runs).
# NAM Core: every source of NAM/ plus the driver; RTNeural: header-only, Eigen backend.
{
  echo "CXX := $cxx"
  echo "FLAGS := ${flags[*]}"
  echo "CORE := $core"
  echo "RTN := $rtn"
  echo "EIGEN := $eigen"
  echo "DRV := $here/bench_vs_cpp"
  cat <<'MK'
NAM_SRC := $(shell find $(CORE)/NAM -name '*.cpp' | sort)
NAM_OBJ := $(patsubst $(CORE)/%.cpp,nam-obj/%.o,$(NAM_SRC))
NAM_INC := -I$(CORE) -I$(CORE)/NAM -I$(EIGEN) -I$(CORE)/Dependencies/nlohmann
all: nam_core_bench $(if $(RTN),rtneural_bench)
nam-obj/%.o: $(CORE)/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 $(FLAGS) -DNAM_ENABLE_A2_FAST $(NAM_INC) -c $< -o $@
nam_core_bench: $(DRV)/nam_core.cpp $(DRV)/bench_io.h $(NAM_OBJ)
	$(CXX) -std=c++20 $(FLAGS) -DNAM_ENABLE_A2_FAST $(NAM_INC) $^ -o $@
rtneural_bench: $(DRV)/rtneural.cpp $(DRV)/bench_io.h
	$(CXX) -std=c++17 $(FLAGS) -DRTNEURAL_USE_EIGEN=1 -DRTNEURAL_DEFAULT_ALIGNMENT=32 -I$(RTN) -I$(RTN)/modules/Eigen $< -o $@
MK
} > "$work/Makefile.new"
# A different checkout or flags: start the build again.
if ! cmp -s "$work/Makefile.new" "$work/Makefile" 2>/dev/null; then
  rm -rf "$work/nam-obj" "$work/nam_core_bench" "$work/rtneural_bench"
  mv "$work/Makefile.new" "$work/Makefile"
else
  rm -f "$work/Makefile.new"
fi
echo "building the C++ players in $work (${flags[*]}) ..." >&2
if ! make -s -C "$work" -j "$jobs" >"$work/build.log" 2>&1; then
  tail -20 "$work/build.log" >&2
  echo "bench_vs_cpp: the C++ build failed (log: $work/build.log)" >&2
  exit 2
fi

# NeuralAudio: its own CMake builds its library (NAM Core's sources inside it, from its
# submodule); a small project beside it adds the driver, linked to that library.
if [ -n "$na" ]; then
  na="$(cd "$na" && pwd)"
  mkdir -p "$work/neural-audio"
  cat > "$work/neural-audio/CMakeLists.txt.new" <<CM
cmake_minimum_required(VERSION 3.10)
project(tubeless_bench_neural_audio CXX)
set(CMAKE_CXX_STANDARD 20)
add_subdirectory("$na" neural-audio EXCLUDE_FROM_ALL)
add_executable(neural_audio_bench "$here/bench_vs_cpp/neural_audio.cpp")
target_include_directories(neural_audio_bench PRIVATE "$na" "$na/deps/RTNeural/modules/json")
target_link_libraries(neural_audio_bench PRIVATE NeuralAudio)
CM
  # Another checkout: configure from scratch (CMake caches the old paths).
  if ! cmp -s "$work/neural-audio/CMakeLists.txt.new" "$work/neural-audio/CMakeLists.txt" 2>/dev/null; then
    rm -rf "$work/neural-audio/build"
    mv "$work/neural-audio/CMakeLists.txt.new" "$work/neural-audio/CMakeLists.txt"
  else
    rm -f "$work/neural-audio/CMakeLists.txt.new"
  fi
  na_flags=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=-O3 -march=native" -DBUILD_INTERNAL_STATIC_LSTM=ON)
  echo "building NeuralAudio $(git -C "$na" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)') in $work/neural-audio (${na_flags[*]}) ..." >&2
  if ! { CXX="$cxx" cmake -S "$work/neural-audio" -B "$work/neural-audio/build" "${na_flags[@]}" &&
         cmake --build "$work/neural-audio/build" --target neural_audio_bench -j "$jobs"; } >"$work/neural-audio/build.log" 2>&1; then
    tail -20 "$work/neural-audio/build.log" >&2
    echo "bench_vs_cpp: the NeuralAudio build failed (log: $work/neural-audio/build.log)" >&2
    exit 2
  fi
fi

args=(--nam-core-bench "$work/nam_core_bench" --work "$work")
[ -n "$rtn" ] && args+=(--rtneural-bench "$work/rtneural_bench")
[ -n "$na" ] && args+=(--neural-audio-bench "$work/neural-audio/build/neural_audio_bench")
cd "$root"
exec "$python" "$here/bench_vs_cpp/run.py" "${args[@]}" "${rest[@]+"${rest[@]}"}"

#!/usr/bin/env bash
# Fetches the C++ players scripts/bench_vs_cpp.sh compares tubeless with, outside this
# repository (they never go into it), and prints the command that runs the comparison.
#
#   scripts/bench_vs_cpp/fetch.sh [DIR] [--latest]
#
# Into DIR (default ${TMPDIR:-/tmp}/tubeless-cpp-players): NeuralAmpModelerCore with its Eigen
# submodule (the one the comparison needs), RTNeural (Eigen inside), and NeuralAudio with the
# submodules of its deps/ (its own pins of NAM Core, RTNeural and math_approx; not theirs:
# NeuralAudio builds with RTNeural's Eigen). Each at the commit the README's table was measured with, or at its
# default branch's head with --latest. A checkout already in DIR is moved to that commit, not
# cloned again.
set -euo pipefail
dir="${TMPDIR:-/tmp}/tubeless-cpp-players" latest=0
while [ $# -gt 0 ]; do
  case "$1" in
    --latest) latest=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fetch.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) dir="$1"; shift ;;
  esac
done
command -v git >/dev/null || { echo "fetch.sh: needs git" >&2; exit 2; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

# name, repository, commit measured, the submodules it needs (a path inside it, or none)
players=(
  "NeuralAmpModelerCore https://github.com/sdatkinson/NeuralAmpModelerCore daae2d0b482a5fe876258caf3fdfe177044b6295 Dependencies/eigen"
  "RTNeural https://github.com/jatinchowdhury18/RTNeural 1fb1f075a5d66e85bfc8f488c3f3626840cb3a1d none"
  "NeuralAudio https://github.com/mikeoliphant/NeuralAudio e59cd5d473d5b5772c69e755d7c5bc1007cff9ab deps"
)
for p in "${players[@]}"; do
  read -r name url commit subs <<<"$p"
  dest="$dir/$name"
  if [ ! -d "$dest/.git" ]; then
    echo "fetch.sh: cloning $url into $dest" >&2
    git clone -q "$url" "$dest"
  else
    git -C "$dest" fetch -q origin
  fi
  if [ "$latest" = 1 ]; then
    git -C "$dest" -c advice.detachedHead=false checkout -q origin/HEAD
  else
    git -C "$dest" -c advice.detachedHead=false checkout -q "$commit"
  fi
  case "$subs" in
    none) ;;
    *) git -C "$dest" submodule update -q --init -- "$subs" ;;   # at the commits it pins
  esac
  echo "fetch.sh: $name at $(git -C "$dest" rev-parse --short HEAD)" >&2
done
here="$(cd "$(dirname "$0")/.." && pwd)"
echo "$here/bench_vs_cpp.sh --nam-core $dir/NeuralAmpModelerCore --rtneural $dir/RTNeural --neural-audio $dir/NeuralAudio"

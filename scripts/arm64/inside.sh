#!/bin/sh
# Runs inside the arm64 Debian root (as root, started by scripts/check-arm64.sh): install the
# pedal the way `make install` does on a Pi, check the Numba cache, run the firmware's tests,
# render the models listed in /srv/tubeless/renders.txt. Not meant to be run on a Pi.
#
# Layout made by check-arm64.sh: /srv/tubeless/main (a copy of the working tree),
# /srv/tubeless/shared (../shared, read-only), /srv/tubeless/out (renders, logs).
set -eu

TOP=/srv/tubeless
SRC=$TOP/main
OUT=$TOP/out
RENDERS=$OUT/renders                    # written by the service user, read by the host
VENV=/opt/tubeless/venv
CACHEDIR=/var/cache/tubeless/numba      # install-common.sh: the unit's CacheDirectory=
SERVICE_USER=tubeless
TESTER=tester                           # the tests run unprivileged, as a developer would

step() { printf '\n==== arm64: %s\n' "$*"; }
say()  { printf '%s\n' "arm64: $*"; }
die()  { printf '%s\n' "arm64: FAIL: $*" >&2; exit 1; }

# Count Numba cache files (index .nbi, code .nbc) under a directory.
count_cache() { find "$1" -type f \( -name '*.nbi' -o -name '*.nbc' \) 2>/dev/null | wc -l; }

# Run as the service user with a clean environment plus the given VAR=value words.
as_service() {
    runuser -u "$SERVICE_USER" -- env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
        OPENBLAS_NUM_THREADS=1 "$@"
}

[ "$(uname -m)" = aarch64 ] || die "expected to run under aarch64 emulation, this is $(uname -m)"
mkdir -p "$OUT"

# ---------------------------------------------------------------- install
# ARM64_SKIP_INSTALL=1: re-check a root kept with KEEP=1 without installing again.
if [ "${ARM64_SKIP_INSTALL:-0}" != 1 ]; then
step "scripts/install.sh --no-service (the same apt list, user, venv and pip steps as make install)"
# --no-service: no systemd in a chroot. No --hat: no codec or boot partition here.
# Shown as it goes, kept in install.log; the status travels through a file past the pipe.
# (Under set -e a failing command would end the group before its status is written.)
{ status=0; sh "$SRC/scripts/install.sh" --no-service 2>&1 || status=$?; echo "$status" >"$OUT/install.status"; } \
    | tee "$OUT/install.log"
[ "$(cat "$OUT/install.status")" = 0 ] \
    || die "install.sh failed (above): a package the install does not pull in, or a wheel that will not build on aarch64"
if grep -q 'warming the Numba cache failed' "$OUT/install.log"; then
    die "the install's Numba warm-up failed: the pedal could not compile or write $CACHEDIR"
fi
# Plain Debian has no python3-lgpio: the install must have built lgpio (swig from apt) or
# taken PyPI's wheel. The fallback to gpiozero's native pins is for a Pi without network.
grep -q 'GPIO backend: lgpio' "$OUT/install.log" \
    || die "the install did not set up lgpio (its GPIO backend line is above)"
else
step "ARM64_SKIP_INSTALL=1: the pedal's own code into the kept venv (its dependencies as installed)"
# Then whatever dependency this version added (as install.sh does on an upgrade).
{ "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$SRC" \
    && "$VENV/bin/pip" install -q --disable-pip-version-check "$SRC"; } >"$OUT/reinstall.log" 2>&1 \
    || { cat "$OUT/reinstall.log" >&2; die "could not reinstall the pedal into the kept $VENV"; }
fi

step "what pip installed on aarch64"
"$VENV/bin/python" - <<'EOF'
import platform, sys
from importlib import metadata
print(f"Python {sys.version.split()[0]} on {platform.machine()}, glibc {platform.libc_ver()[1]}")
for name in ("numpy", "numba", "llvmlite", "scipy", "soundfile", "pyalsaaudio", "gpiozero", "lgpio"):
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        print(f"  {name:12s} MISSING")
        continue
    where = "system (apt)" if "/usr/lib/python3" in str(dist.locate_file("")) else "venv"
    print(f"  {name:12s} {dist.version:12s} {where}")
import llvmlite.binding as llvm
print(f"LLVM host CPU: {llvm.get_host_cpu_name()}")
EOF
"$VENV/bin/pip" check --disable-pip-version-check || die "pip check: broken dependencies in $VENV"
# Every module the pedal imports at run time; lgpio's C extension (what a missing swig or
# compiler would have broken) is the real one, not PyPI's empty placeholder.
"$VENV/bin/python" - <<'EOF' || die "a runtime dependency does not import in $VENV (above)"
import numpy, numba, scipy.signal, soundfile, alsaaudio, gpiozero, lgpio
lgpio.gpiochip_open
print(f"lgpio {lgpio.LGPIO_PY_VERSION:#x} from {lgpio.__file__}")
EOF

# ---------------------------------------------------------------- Numba cache
step "Numba cache: the install's warm-up"
warm=$(count_cache "$CACHEDIR")
[ "$warm" -gt 0 ] || die "install.sh warmed nothing into $CACHEDIR (no .nbi/.nbc files)"
bad=$(find "$CACHEDIR" ! -user "$SERVICE_USER" | head -n 3)
[ -z "$bad" ] || die "files in $CACHEDIR not owned by $SERVICE_USER (the service could not update them): $bad"
say "ok: $warm cache files in $CACHEDIR, owned by $SERVICE_USER"

# The renders: the first one is also the "first run" into a fresh cache directory.
[ -s "$TOP/renders.txt" ] || die "no $TOP/renders.txt (written by check-arm64.sh)"
render() {  # NAME MODEL INPUT OPTIONS... (as the service user; sh has no locals: r_*)
    r_name=$1 r_model=$2 r_input=$3
    shift 3
    rm -f "$RENDERS/$r_name.wav"        # render refuses to overwrite a file (without --force)
    as_service NUMBA_CACHE_DIR="$fresh" HOME=/var/lib/tubeless \
        "$VENV/bin/tubeless" render "$@" "$r_model" "$r_input" "$RENDERS/$r_name.wav"
}

id "$SERVICE_USER" >/dev/null || die "install.sh did not create the $SERVICE_USER user"
rm -rf "$RENDERS"
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" "$RENDERS"

step "Numba cache: the first run writes a fresh cache, the second loads it"
fresh=/tmp/numba-first-run
rm -rf "$fresh"
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" "$fresh"
first=1
while IFS='|' read -r name model input options; do
    case $name in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2086  # $options is a list of render options
    render "$name" "$TOP/$model" "$TOP/$input" $options \
        || die "tubeless render of $model failed on aarch64"
    if [ "$first" = 1 ]; then
        first=0
        n=$(count_cache "$fresh")
        [ "$n" -gt 0 ] || die "the first run wrote no Numba cache into the fresh, writable $fresh"
        say "ok: the first run ($name) wrote $n cache files into $fresh"
        cp "$RENDERS/$name.wav" "$RENDERS/$name.first.wav"
        before=$(find "$fresh" -type f -newer "$RENDERS/$name.first.wav" | wc -l)
        # shellcheck disable=SC2086
        render "$name" "$TOP/$model" "$TOP/$input" $options || die "second render of $model failed"
        after=$(find "$fresh" -type f -newer "$RENDERS/$name.first.wav" | wc -l)
        [ "$after" = "$before" ] || die "the second run rewrote $((after - before)) cache files: the cache written by the first run does not load"
        # Samples, not bytes: libsndfile's PEAK chunk carries a timestamp.
        "$VENV/bin/python" "$SRC/scripts/arm64/compare.py" "$RENDERS/$name.first.wav" "$RENDERS/$name.wav" 0 \
            || die "a render from the loaded cache differs from the freshly compiled one"
        rm -f "$RENDERS/$name.first.wav"
        say "ok: the second run loaded that cache (nothing recompiled) and rendered the same samples"
    fi
    say "rendered $name"
done <"$TOP/renders.txt"

# A kernel-compiling command for the fallback checks: the smallest render of the list.
read_first() { grep -v '^#' "$TOP/renders.txt" | tail -n 1; }
IFS='|' read -r probe_name probe_model probe_input probe_options <<EOF
$(read_first)
EOF
probe() {  # ENV... : where firmware put its cache, then a compile there
    as_service "$@" "$VENV/bin/python" -c 'import firmware; print(firmware.NUMBA_CACHE_DIR)'
}
probe_render() {
    rm -f "/tmp/probe-$probe_name.wav"
    # shellcheck disable=SC2086
    as_service "$@" "$VENV/bin/tubeless" render $probe_options "$TOP/$probe_model" "$TOP/$probe_input" \
        "/tmp/probe-$probe_name.wav"
}

step "Numba cache: an unwritable NUMBA_CACHE_DIR falls back to a writable directory"
ro=/tmp/numba-readonly
rm -rf "$ro" /tmp/tubeless-numba-* /var/lib/tubeless/.cache
install -d -m 0755 "$ro"                 # root's: the service user cannot write it
for case in "HOME=/var/lib/tubeless" "HOME=/nonexistent"; do
    got=$(probe NUMBA_CACHE_DIR="$ro" "$case") || die "import firmware failed with NUMBA_CACHE_DIR=$ro $case"
    case $got in
        ''|None|"$ro") die "with NUMBA_CACHE_DIR=$ro (unwritable) and $case, firmware kept '$got': no fallback" ;;
    esac
    probe_render NUMBA_CACHE_DIR="$ro" "$case" >/dev/null \
        || die "render failed with an unwritable NUMBA_CACHE_DIR and $case (fallback $got)"
    n=$(count_cache "$got")
    [ "$n" -gt 0 ] || die "fell back to $got with $case, but no cache files were written there"
    say "ok: NUMBA_CACHE_DIR=$ro (unwritable), $case -> fell back to $got, $n cache files written"
done

step "Numba cache: nothing writable at all (cache dir, HOME, /tmp, /var/tmp and cwd)"
# A private mount namespace with read-only /tmp and /var/tmp: the fallback chain ends in
# tempfile.gettempdir(), which finds any writable directory, so this is the only way there.
# shellcheck disable=SC2016  # the inner sh expands its own arguments
if ! unshare --mount true 2>/dev/null; then
    say "skipped: unshare --mount is not available under this emulation"
elif out=$(unshare --mount sh -c '
        mount -t tmpfs -o ro tmpfs /tmp && mount -t tmpfs -o ro tmpfs /var/tmp && cd / &&
        exec runuser -u "$1" -- env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=/nonexistent \
            NUMBA_CACHE_DIR=/tmp/numba "$2/bin/tubeless" render $3 "$4" "$5" "$6"' \
        sh "$SERVICE_USER" "$VENV" "$probe_options" "$TOP/$probe_model" "$TOP/$probe_input" \
        "$RENDERS/probe-unwritable.wav" 2>&1); then
    say "ok: rendered with no writable cache directory anywhere (compiled in memory, nothing cached)"
else
    printf '%s\n' "$out" | tail -n 15
    if printf '%s\n' "$out" | grep -qi 'cache'; then
        say "ok: refused with an error that names the cache (last lines above)"
    else
        die "with no writable cache directory the render failed without saying why (above)"
    fi
fi

# ---------------------------------------------------------------- tests
step "the firmware's test suite on aarch64 (unprivileged user $TESTER)"
"$VENV/bin/pip" install -q --disable-pip-version-check "${SRC}[test]" >/dev/null \
    || die "could not install the test extra (pytest) into $VENV"
id "$TESTER" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$TESTER"
chown -R "$TESTER:$TESTER" "$SRC" "$OUT"
# Torch is not installed here: its tests skip. tests/test_training_fit.py imports torch at
# module level (a training test, not firmware): ignored rather than failing collection.
ignore=""
if grep -q '^import torch' "$SRC/tests/test_training_fit.py" 2>/dev/null; then
    ignore="--ignore=tests/test_training_fit.py"
    say "note: tests/test_training_fit.py imports torch at module level: not collected here"
fi
# One core's worth of work (the machine is shared); a per-test timeout for emulated speed.
# shellcheck disable=SC2086
# setsid: its own session, so no test's signal to its process group reaches this script.
{ status=0; setsid -w runuser -u "$TESTER" -- env -i PATH="$VENV/bin:/usr/bin:/bin" HOME="/home/$TESTER" \
    LANG=C.UTF-8 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
    sh -c "cd '$SRC' && exec python -m pytest -q -rs -p no:cacheprovider --timeout=3600 \
           --junitxml='$OUT/pytest.xml' tests $ignore" 2>&1 || status=$?; echo "$status" >"$OUT/pytest.status"; } \
    | tee "$OUT/pytest.log"
[ "$(cat "$OUT/pytest.status" 2>/dev/null)" = 0 ] || die "tests failed on aarch64 (above; $OUT/pytest.log)"
say "ok: tests passed on aarch64"

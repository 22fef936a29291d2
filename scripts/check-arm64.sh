#!/bin/sh
# make check-arm64: prove the pedal on the Pi's architecture without a Pi. In an arm64
# Debian root run under qemu user emulation, install the firmware exactly as `make install`
# does (scripts/install.sh itself: its apt list, service user, venv and pip steps, Numba
# warm-up; only systemd and the codec HAT are skipped), check the Numba cache, run the test
# suite, and compare renders with this machine's x86 renders sample by sample.
#
# Needs root (debootstrap, chroot, bind mounts) and network. Takes 10-40 minutes: emulated
# Numba is ~16x slower than native, so this is not part of `make test` or CI.
#
# Environment:
#   SUITE=bookworm|trixie   Debian release (Raspberry Pi OS Bookworm is Debian 12; Trixie 13)
#   ARM64_CACHE=dir         where the pristine roots and the apt/pip download caches live
#                           (default /var/cache/tubeless-arm64; outside the repository)
#   MIRROR=url              Debian mirror (default: this host's, else deb.debian.org)
#   SHARED=dir              the shared material with corpus/ (default: ../shared)
#   X86_PYTHON=path         the x86 Python (numpy, numba) for the reference renders (.venv's)
#   KEEP=1                  keep the installed root ($ARM64_CACHE/$SUITE-work) to look into
#   ARM64_SKIP_INSTALL=1    re-check the root an earlier KEEP=1 run kept: the working tree is
#                           copied in anew, the install is not redone (minutes, not half an
#                           hour, after a fix to a test or to the firmware; implies KEEP=1)
#   REFRESH=1               debootstrap the pristine root again
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/.." && pwd)
SUITE=${SUITE:-bookworm}
ARM64_CACHE=${ARM64_CACHE:-/var/cache/tubeless-arm64}
SHARED=${SHARED:-$SRC/../shared}
X86_PYTHON=${X86_PYTHON:-$SRC/.venv/bin/python}
ARM64_SKIP_INSTALL=${ARM64_SKIP_INSTALL:-0}
KEEP=${KEEP:-$ARM64_SKIP_INSTALL}
REFRESH=${REFRESH:-0}
TOLERANCE=1e-4          # tests/test_importers.py: the conformance tolerance of the deep WaveNets

say() { printf '%s\n' "check-arm64: $*"; }
die() { printf '%s\n' "check-arm64: FAIL: $*" >&2; exit 1; }

case $SUITE in
    bookworm|trixie) ;;
    *) die "SUITE=$SUITE: bookworm or trixie (the Debian releases under Raspberry Pi OS)" ;;
esac
[ "$(id -u)" = 0 ] || die "needs root for debootstrap, chroot and bind mounts: sudo make check-arm64"
x86_python=$X86_PYTHON
"$x86_python" -c 'import numba, soundfile' 2>/dev/null \
    || die "no x86 Python with numba at $x86_python for the reference renders: run 'make run' first (or set X86_PYTHON)"
[ -d "$SHARED/corpus" ] || die "no corpus at $SHARED/corpus (set SHARED=dir)"
command -v git >/dev/null || die "git is needed to copy the working tree"
if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    case $MIRROR in http*://*debian*) ;; *) MIRROR=http://deb.debian.org/debian ;; esac
fi

base=$ARM64_CACHE/$SUITE            # pristine debootstrap, made once
work=$ARM64_CACHE/$SUITE-work       # a fresh copy per run: a clean install every time
stamp=$base/.tubeless-debootstrap-complete
started=$(date +%s)

# ---------------------------------------------------------------- mounts, safe removal
# Mount points under a directory, deepest first.
mounts_under() {
    awk -v dir="$1" '$2 == dir || index($2, dir "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}
unmount_all() {
    for m in $(mounts_under "$1"); do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    [ -z "$(mounts_under "$1")" ] || die "could not unmount $(mounts_under "$1" | tr '\n' ' ')"
}
# Never rm -rf through a bind-mounted /dev or /proc: unmount, check, then delete.
remove_root() {
    [ -e "$1" ] || return 0
    unmount_all "$1"
    rm -rf "$1"
}
cleanup() {
    status=$?
    trap - EXIT INT TERM
    if [ -d "$work" ]; then
        unmount_all "$work"
        if [ "$KEEP" = 1 ]; then
            say "kept the installed root: $work (remove with: sudo rm -rf $work)"
        else
            rm -rf "$work"
        fi
    fi
    exit "$status"
}
bind() {  # SOURCE TARGET [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    mount --make-rslave "$2"        # nothing mounted below it propagates back to the host
    if [ "${3:-}" = ro ]; then
        mount -o remount,bind,ro "$2"
    fi
}

# ---------------------------------------------------------------- host tools
need_tools=0
command -v debootstrap >/dev/null || need_tools=1
command -v qemu-aarch64-static >/dev/null || [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || need_tools=1
if [ "$need_tools" = 1 ]; then
    say "installing debootstrap and qemu-user-static on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static binfmt-support debootstrap \
        || die "could not install debootstrap and qemu-user-static"
fi
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || die "this debootstrap does not know $SUITE: update it"
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || die "cannot mount binfmt_misc: arm64 binaries cannot run here"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || die "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64)"
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || die "qemu-aarch64's binfmt entry lacks the F flag: the emulator cannot run inside a chroot"

# ---------------------------------------------------------------- the pristine root (once)
mkdir -p "$ARM64_CACHE"
if [ "$REFRESH" = 1 ] || [ ! -e "$stamp" ]; then
    remove_root "$base.tmp"
    remove_root "$base"
    say "debootstrap arm64 $SUITE from $MIRROR into $base (a few minutes, once)"
    # ca-certificates: Raspberry Pi OS has it, and pip needs it.
    nice -n 10 debootstrap --arch=arm64 --include=ca-certificates "$SUITE" "$base.tmp" "$MIRROR" \
        >"$ARM64_CACHE/debootstrap-$SUITE.log" 2>&1 \
        || { tail -n 20 "$ARM64_CACHE/debootstrap-$SUITE.log" >&2; die "debootstrap failed (log: $ARM64_CACHE/debootstrap-$SUITE.log)"; }
    date -u +%Y-%m-%dT%H:%M:%SZ >"$base.tmp/.tubeless-debootstrap-complete"
    mv "$base.tmp" "$base"
fi

# ---------------------------------------------------------------- this run's root
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$ARM64_SKIP_INSTALL" = 1 ]; then
    [ -x "$work/opt/tubeless/venv/bin/python" ] \
        || die "ARM64_SKIP_INSTALL=1 needs the root a KEEP=1 run left in $work (none there)"
    unmount_all "$work"
    say "re-checking the kept $SUITE root (installed before, not again): $work"
    rm -rf "$work/srv/tubeless/main" "$work/srv/tubeless/out"     # nothing of the last run compared
else
    remove_root "$work"
    say "fresh copy of the $SUITE root: $work"
    cp -a "$base" "$work"
fi
for d in proc sys dev dev/pts; do
    bind "/$d" "$work/$d"
done
bind "$(cd "$SHARED" && pwd)" "$work/srv/tubeless/shared" ro
# Download caches only (a fresh root still installs every package): .debs and pip's HTTP
# cache. pip's built wheels are dropped so that source builds (pyalsaaudio, RPi.GPIO)
# really compile every run: a forgotten compiler or header must show.
# One per suite: apt locks its archive directory, so two suites checked at once must not share one.
mkdir -p "$ARM64_CACHE/apt-archives-$SUITE" "$ARM64_CACHE/pip-$SUITE"
rm -rf "$ARM64_CACHE/pip-$SUITE/wheels"
bind "$ARM64_CACHE/apt-archives-$SUITE" "$work/var/cache/apt/archives"
bind "$ARM64_CACHE/pip-$SUITE" "$work/root/.cache/pip"
cp /etc/resolv.conf "$work/etc/resolv.conf"
# This host's extra certificate authorities (a TLS-inspecting proxy, if any) for apt and pip.
for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -e "$crt" ] && cp "$crt" "$work/usr/local/share/ca-certificates/"
done
chroot "$work" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the root"

# The working tree as the tests see it (tracked and new files, not ignored ones), plus the
# bundled assets that install.sh seeds the models directory with.
mkdir -p "$work/srv/tubeless/main"
(
    cd "$SRC"
    { git ls-files -z -c -o --exclude-standard; find firmware/data -type f -print0 2>/dev/null; } \
        | tar --null --ignore-failed-read -T - -cf - 2>/dev/null
) | tar -xf - -C "$work/srv/tubeless/main"

# ---------------------------------------------------------------- what to render
# NAME|MODEL|INPUT|OPTIONS, paths relative to /srv/tubeless (main/ = the repo, shared/).
# The last line is also the kernel the cache fallback checks compile: keep it small.
renders=$work/srv/tubeless/renders.txt
{
    if [ -f "$SRC/firmware/data/default_model.npz" ]; then
        input=shared/corpus/audio/nam_core_input.wav
        [ ! -f "$SRC/firmware/data/demo_di.wav" ] || input=main/firmware/data/demo_di.wav
        ir=""
        [ ! -f "$SRC/firmware/data/default_cab.wav" ] || ir="--ir main/firmware/data/default_cab.wav"
        echo "default_model|main/firmware/data/default_model.npz|$input|$ir"
    fi
    echo "wavenet_a1_standard|shared/corpus/nam/wavenet_a1_standard.nam|shared/corpus/audio/nam_core_input.wav|--model-only"
    echo "lstm_pedal_chain|shared/corpus/nam/lstm.nam|shared/corpus/audio/nam_core_input.wav|--drive 0.7 --level 0.6"
} >"$renders"
# --ir takes a path: make it absolute on each side.
sed -i 's#--ir main/#--ir /srv/tubeless/main/#' "$renders"

# ---------------------------------------------------------------- inside the root
say "installing and testing inside arm64 $SUITE (emulated: 10-40 minutes)"
inside_status=0
env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 ARM64_SKIP_INSTALL="$ARM64_SKIP_INSTALL" \
    nice -n 10 chroot "$work" sh /srv/tubeless/main/scripts/arm64/inside.sh || inside_status=$?

# ---------------------------------------------------------------- x86 vs arm64 renders
compare_status=0
if [ -d "$work/srv/tubeless/out/renders" ]; then
    # The same bytes on both sides: the x86 render runs the firmware and models copied into
    # the root (the working tree may have moved on meanwhile), with the x86 venv's Python.
    say "x86 renders of the same copy, compared sample by sample (tolerance $TOLERANCE)"
    x86=$(mktemp -d)
    copy=$work/srv/tubeless
    while IFS='|' read -r name model input options; do
        [ -f "$copy/out/renders/$name.wav" ] || continue
        model=$(printf '%s' "$model" | sed "s#^main/#$copy/main/#; s#^shared/#$SHARED/#")
        input=$(printf '%s' "$input" | sed "s#^main/#$copy/main/#; s#^shared/#$SHARED/#")
        options=$(printf '%s' "$options" | sed "s#/srv/tubeless/main/#$copy/main/#")
        # shellcheck disable=SC2086  # $options is a list of render options
        (cd "$copy/main" && NUMBA_CACHE_DIR="$x86/numba" \
            "$x86_python" -m firmware render $options "$model" "$input" "$x86/$name.wav" >/dev/null) \
            || { compare_status=1; say "x86 render of $name failed"; continue; }
        "$x86_python" "$here/arm64/compare.py" "$x86/$name.wav" "$copy/out/renders/$name.wav" \
            "$TOLERANCE" || compare_status=1
    done <"$renders"
    rm -rf "$x86"
fi

elapsed=$(( $(date +%s) - started ))
summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|(passed|failed|skipped|error).* in [0-9.]+s' \
    "$work/srv/tubeless/out/pytest.log" 2>/dev/null | tail -n 1 || true)
say "arm64 $SUITE: ${summary:-no test summary}; $((elapsed / 60)) min $((elapsed % 60)) s in all"
[ "$inside_status" = 0 ] || die "arm64 $SUITE: the install or the tests failed inside the root (above)"
[ "$compare_status" = 0 ] || die "arm64 $SUITE: renders differ from x86 beyond $TOLERANCE (above)"
say "arm64 $SUITE: PASS"

#!/bin/sh
# Create the venv and install what is missing. Usage: bootstrap.sh PYTHON VENV base|dev
# One line per slow step; pip and apt speak only when they fail (then all of their output).
set -eu
PYTHON=$1; VENV=$2; WHAT=$3

say() { printf '%s\n' "bootstrap: $*"; }

# Run a chatty command with its output kept aside; on failure show that output and stop.
quietly() {
    log=$(mktemp "${TMPDIR:-/tmp}/tubeless-bootstrap.XXXXXX")
    status=0
    "$@" >"$log" 2>&1 || status=$?
    if [ "$status" != 0 ]; then
        printf '%s\n' "bootstrap: '$*' failed (exit $status); its output:" >&2
        cat "$log" >&2
        rm -f "$log"
        exit "$status"
    fi
    rm -f "$log"
}

# pyalsaaudio compiles against alsa-lib's headers.
if [ ! -f /usr/include/alsa/asoundlib.h ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing libasound2-dev (ALSA headers for pyalsaaudio)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q libasound2-dev >/dev/null 2>&1; then
            quietly apt-get update -q
            quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libasound2-dev
        fi
    else
        echo "bootstrap: ALSA headers missing. Run: sudo apt-get install libasound2-dev" >&2
        exit 1
    fi
fi

pip() { quietly "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "tubeless needs Python >= 3.11"'
    say "creating $VENV with $("$PYTHON" -c 'import sys; print("Python", sys.version.split()[0])')"
    quietly "$PYTHON" -m venv "$VENV"
    pip install --upgrade pip setuptools wheel
fi

# What some tests need from the OS (they skip cleanly without it): a paced audio device
# (JACK's dummy server behind ALSA's jack plugin). Best effort, as root only: never fails.
test_packages() {
    missing=""
    command -v jackd >/dev/null 2>&1 || missing="$missing jackd2"
    ls /usr/lib/*/alsa-lib/libasound_module_pcm_jack.so >/dev/null 2>&1 || missing="$missing libasound2-plugins"
    # the web page's browser tests: headless Chromium and its WebDriver
    { command -v chromium || command -v chromium-browser; } >/dev/null 2>&1 || missing="$missing chromium"
    command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
    # the hotspot's QR code, decoded back (tests/test_hotspot_qr.py)
    command -v zbarimg >/dev/null 2>&1 || missing="$missing zbar-tools"
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing$missing for the real-time tests"
        # shellcheck disable=SC2086 # a list of package names: split on purpose
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null 2>&1; } \
            || say "could not install$missing: the tests that need them will be skipped"
    else
        say "not root: the real-time tests need$missing (apt-get install$missing) and will be skipped"
    fi
}

case "$WHAT" in
    base)
        say "installing tubeless and its dependencies (numpy, Numba, SciPy, pyalsaaudio...) into $VENV: a few minutes the first time"
        pip install -e . ;;
    dev)
        say "installing the training and test extras (PyTorch CPU, pytest; a few minutes and ~1 GB the first time)"
        pip install -e '.[train,test]'
        test_packages ;;
esac

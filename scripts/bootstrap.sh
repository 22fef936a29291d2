#!/bin/sh
# Create the venv and install what is missing. Usage: bootstrap.sh PYTHON VENV base|dev
set -eu
PYTHON=$1; VENV=$2; WHAT=$3

# pyalsaaudio compiles against alsa-lib's headers.
if [ ! -f /usr/include/alsa/asoundlib.h ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing libasound2-dev (ALSA headers for pyalsaaudio)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q libasound2-dev >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libasound2-dev >/dev/null; }
    else
        echo "bootstrap: ALSA headers missing. Run: sudo apt-get install libasound2-dev" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "tubeless needs Python >= 3.11"'
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
fi

case "$WHAT" in
    base) "$VENV/bin/python" -m pip install -q -e . ;;
    dev)  "$VENV/bin/python" -m pip install -q -e '.[train,test]' ;;
esac

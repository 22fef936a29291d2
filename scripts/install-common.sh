# Shared by install.sh and uninstall.sh (sourced, not run): where things go, and helpers.
# Every path can be overridden from the environment. DESTDIR prefixes every path written
# (a staging or test root); the paths written *into* files stay the final ones.
# shellcheck shell=sh disable=SC2034  # the variables are for the scripts that source this

PREFIX=${PREFIX:-/opt/tubeless}
SYSCONFDIR=${SYSCONFDIR:-/etc/tubeless}
STATEDIR=${STATEDIR:-/var/lib/tubeless}
UNITDIR=${UNITDIR:-/etc/systemd/system}
BINDIR=${BINDIR:-/usr/local/bin}
# Fixed by the unit: CacheDirectory=tubeless is /var/cache/tubeless, User=tubeless.
CACHEDIR=/var/cache/tubeless
SERVICE_USER=tubeless
DESTDIR=${DESTDIR:-}
DRY_RUN=${DRY_RUN:-0}

VENV=$PREFIX/venv
MODELS_DIR=$STATEDIR/models
PRESETS_DIR=$STATEDIR/presets   # beside the models: the pedal's default (config presets.directory)
RECORDINGS_DIR=$STATEDIR/recordings   # beside the models: the pedal's default (config record.directory)
CAPTURES_DIR=$STATEDIR/captures       # the playing pedal's captures (config capture.directory)
CONFIG_FILE=$SYSCONFDIR/config.toml
UNIT_NAME=tubeless.service
# The web page (systemd/tubeless-web.service): its own user, state and unit; mDNS via avahi.
WEB_USER=tubeless-web
WEB_STATEDIR=/var/lib/tubeless-web
WEB_UNIT_NAME=tubeless-web.service
AVAHI_SERVICE_DIR=/etc/avahi/services
# The pedal's own Wi-Fi (systemd/tubeless-hotspot.service, docs/hotspot.md): root's unit,
# its settings (the password: 0640 root:tubeless-web), NetworkManager's profiles of ours.
HOTSPOT_UNIT_NAME=tubeless-hotspot.service
HOTSPOT_STATEDIR=/var/lib/tubeless-hotspot
NM_PROFILE_DIR=/etc/NetworkManager/system-connections
HOTSPOT_PROFILE=$NM_PROFILE_DIR/tubeless-hotspot.nmconnection
# Marks the lines install.sh adds to the Pi's config.txt, so they can be replaced or removed.
BOOT_BEGIN='# >>> tubeless: codec HAT (scripts/install.sh) >>>'
BOOT_END='# <<< tubeless <<<'
# Device access for the footswitches and the pot ADC, where the OS's own udev rules leave
# /dev/gpiochip* and /dev/spidev* to root (plain Debian and Ubuntu; Raspberry Pi OS does not).
UDEV_RULES=/etc/udev/rules.d/60-tubeless-gpio.rules
UDEV_MARK='# Written by tubeless scripts/install.sh'

# The firmware's boot config: /boot/firmware on Bookworm and later, /boot before.
default_boot_config() {
    if [ -e "$DESTDIR/boot/firmware/config.txt" ] || [ ! -e "$DESTDIR/boot/config.txt" ]; then
        echo /boot/firmware/config.txt
    else
        echo /boot/config.txt
    fi
}
BOOT_CONFIG=${BOOT_CONFIG:-$(default_boot_config)}

# "pi5" on a Raspberry Pi 5 (BCM2712), else empty. DEVICE_TREE: for tests.
board_family() {
    if tr '\0' '\n' <"${DEVICE_TREE:-/proc/device-tree}/compatible" 2>/dev/null | grep -qx 'brcm,bcm2712'; then
        echo pi5
    fi
}

say()  { printf '%s\n' "tubeless: $*"; }
warn() { printf '%s\n' "tubeless: warning: $*" >&2; }
die()  { printf '%s\n' "tubeless: error: $*" >&2; exit 1; }

# Run a command, or only print it under --dry-run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        line="+"
        for arg in "$@"; do
            case $arg in *[[:space:]]*|'') line="$line '$arg'" ;; *) line="$line $arg" ;; esac
        done
        printf '%s\n' "$line"
    else
        "$@"
    fi
}

# True when the live system (users, apt, systemd) may be touched: not staging into DESTDIR.
on_live_system() { [ -z "$DESTDIR" ]; }

require_root_for_live_system() {
    if on_live_system && [ "$DRY_RUN" != 1 ] && [ "$(id -u)" != 0 ]; then
        die "run as root (sudo make $1), or preview with --dry-run"
    fi
}

have_systemd() { [ -d /run/systemd/system ]; }

# True when this machine has a Wi-Fi interface (SYS_CLASS_NET: for tests).
have_wifi() {
    for wireless in "${SYS_CLASS_NET:-/sys/class/net}"/*/wireless; do
        [ -d "$wireless" ] && return 0
    done
    return 1
}

# Write stdin to a file atomically (temp name, then rename), or only say so under --dry-run.
write_file() {
    if [ "$DRY_RUN" = 1 ]; then
        cat >/dev/null
        printf '+ write %s (mode %s)\n' "$1" "$2"
        return
    fi
    tmp="$1.tmp.$$"
    cat >"$tmp"
    chmod "$2" "$tmp"
    mv -f "$tmp" "$1"
}

# Remove the marked block from a boot config, keeping everything else byte for byte.
strip_boot_block() {
    awk -v begin="$BOOT_BEGIN" -v end="$BOOT_END" '
        $0 == begin { skipping = 1; next }
        $0 == end   { skipping = 0; next }
        !skipping   { print }
    ' "$1"
}

# Run a chatty command (pip, apt) with its output kept aside: silent when it works, the whole
# output on stderr when it fails. Under --dry-run, only print it.
quietly() {
    if [ "$DRY_RUN" = 1 ]; then
        run "$@"
        return
    fi
    quiet_log=$(mktemp "${TMPDIR:-/tmp}/tubeless-install.XXXXXX")
    quiet_status=0
    "$@" >"$quiet_log" 2>&1 || quiet_status=$?
    if [ "$quiet_status" != 0 ]; then
        printf '%s\n' "tubeless: '$*' failed (exit $quiet_status); its output:" >&2
        cat "$quiet_log" >&2
    fi
    rm -f "$quiet_log"
    return "$quiet_status"
}

# ---------------------------------------------------------------- GPIO backend
# gpiozero drives the footswitches through a pin factory. lgpio serves every Pi (the Pi 5's
# RP1 chip included) through the kernel's gpiochip interface. The version floor keeps pip
# off lgpio's empty 0.0.0.x placeholder, which it may pick where no real build fits.
LGPIO_REQUIREMENT='lgpio>=0.2'

# True when PYTHON imports a working lgpio (the placeholder has no gpiochip_open).
has_real_lgpio() {
    "$1" -c 'import lgpio; lgpio.gpiochip_open' >/dev/null 2>&1
}

# Make lgpio importable in $VENV if it can be had, then say in one line which GPIO backend
# the pedal will use and why. Never fails: a pedal without GPIO still plays.
#   1. the OS's python3-lgpio (Raspberry Pi OS; the venv sees it through system site packages)
#   2. PyPI's lgpio: a wheel where one fits, else built from its source with the C library
#      it ships (needs swig and gcc, which the apt step installs where the OS has no
#      python3-lgpio)
#   3. gpiozero's built-in pure-Python "native" factory: no build, Pi 4 and earlier only
setup_gpio() {
    gpio_python=$VENV/bin/python
    if [ "$DRY_RUN" = 1 ]; then
        say "GPIO backend: the OS's python3-lgpio if the venv sees it, else lgpio from PyPI:"
        run env PYPI=1 "$VENV/bin/pip" install --disable-pip-version-check "$LGPIO_REQUIREMENT"
        return 0
    fi
    if has_real_lgpio "$gpio_python"; then
        gpio_origin=$("$gpio_python" -c 'import lgpio; print(lgpio.__file__)' 2>/dev/null)
        case $gpio_origin in
            /usr/lib/python3/*) gpio_why="the OS package python3-lgpio" ;;
            *) gpio_why="installed in $VENV" ;;
        esac
        say "GPIO backend: lgpio ($gpio_why); footswitches work on every Pi, the Pi 5 included"
        return 0
    fi
    say "lgpio from PyPI (the OS has no python3-lgpio): a wheel if one fits this Python, else built from source"
    gpio_log=$(mktemp "${TMPDIR:-/tmp}/tubeless-lgpio.XXXXXX")
    # PYPI=1: lgpio's setup.py then compiles the C library it ships into the module, rather
    # than linking a system liblgpio that plain Debian and Ubuntu do not package.
    if env PYPI=1 "$VENV/bin/pip" install --disable-pip-version-check "$LGPIO_REQUIREMENT" >"$gpio_log" 2>&1 \
            && has_real_lgpio "$gpio_python"; then
        rm -f "$gpio_log"
        say "GPIO backend: lgpio (PyPI, installed in $VENV); footswitches work on every Pi, the Pi 5 included"
        return 0
    fi
    # The line that says why (e.g. "error: command 'swig' failed"), not pip's whole page.
    gpio_reason=$(grep '^[[:space:]]*error: ' "$gpio_log" | grep -v 'subprocess-exited-with-error' \
        | tail -n 1 | sed 's/^[[:space:]]*//')
    [ -n "$gpio_reason" ] || gpio_reason=$(grep '^ERROR: ' "$gpio_log" | head -n 1)
    # pip may have succeeded and the module still not import (a build without its C library):
    # then the import's own last line is the reason
    [ -n "$gpio_reason" ] || gpio_reason=$("$gpio_python" -c 'import lgpio; lgpio.gpiochip_open' 2>&1 \
        | tail -n 1 | cut -c1-200)
    rm -f "$gpio_log"
    if "$gpio_python" -c 'import gpiozero.pins.native' >/dev/null 2>&1; then
        warn "GPIO backend: gpiozero's native pin factory (pure Python, no build), because lgpio could not be installed (${gpio_reason:-no reason given}). Footswitches work on a Pi 4 or earlier; on a Pi 5 the pedal plays without them. To get lgpio: sudo apt-get install swig, then sudo make install again."
    else
        warn "GPIO backend: none (lgpio could not be installed: ${gpio_reason:-no reason given}; gpiozero is missing). The pedal plays without footswitches."
    fi
    return 0
}

# True when a udev rule of the OS (not ours) already gives the GPIO chips to a group.
os_has_gpio_udev_rule() {
    for rules_dir in /usr/lib/udev/rules.d /lib/udev/rules.d /etc/udev/rules.d; do
        for rules in "$DESTDIR$rules_dir"/*.rules; do
            if [ -f "$rules" ] && [ "$rules" != "$DESTDIR$UDEV_RULES" ] \
                    && grep -Eq 'SUBSYSTEM=="gpio"|gpiochip' "$rules"; then
                return 0
            fi
        done
    done
    return 1
}

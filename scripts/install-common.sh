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
CONFIG_FILE=$SYSCONFDIR/config.toml
UNIT_NAME=tubeless.service
# Marks the lines install.sh adds to the Pi's config.txt, so they can be replaced or removed.
BOOT_BEGIN='# >>> tubeless: codec HAT (scripts/install.sh) >>>'
BOOT_END='# <<< tubeless <<<'

# The firmware's boot config: /boot/firmware on Bookworm and later, /boot before.
default_boot_config() {
    if [ -e "$DESTDIR/boot/firmware/config.txt" ] || [ ! -e "$DESTDIR/boot/config.txt" ]; then
        echo /boot/firmware/config.txt
    else
        echo /boot/config.txt
    fi
}
BOOT_CONFIG=${BOOT_CONFIG:-$(default_boot_config)}

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

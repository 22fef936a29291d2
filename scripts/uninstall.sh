#!/bin/sh
# Reverse scripts/install.sh: stop and remove the service, the venv, the Numba cache, the
# command link and the config.txt lines. The config and models stay unless --purge (like
# apt's remove vs purge); apt packages stay (other software may use them).
set -eu

usage() {
    cat <<EOF
Usage: uninstall.sh [--dry-run] [--purge]

  --purge     also delete $SYSCONFDIR, $STATEDIR (your config and models) and the
              '$SERVICE_USER' system user
  --dry-run   print what would be done, change nothing
Same path variables as install.sh (PREFIX, SYSCONFDIR, STATEDIR, UNITDIR, BINDIR,
BOOT_CONFIG, DESTDIR).
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/install-common.sh
. "$here/install-common.sh"

purge=0
while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) DRY_RUN=1 ;;
        --purge) purge=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "uninstall.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
require_root_for_live_system uninstall

if on_live_system && { have_systemd || [ "$DRY_RUN" = 1 ]; }; then
    # disable --now stops it too; '|| true': a unit that is already gone is fine.
    run systemctl disable --now "$HOTSPOT_UNIT_NAME" || true
    run systemctl disable --now "$WEB_UNIT_NAME" || true
    run systemctl disable --now "$UNIT_NAME" || true
fi
if [ -e "$DESTDIR$UNITDIR/$UNIT_NAME" ]; then
    run rm -f "$DESTDIR$UNITDIR/$UNIT_NAME"
fi
# The hotspot: its unit, its NetworkManager profile, its settings (the password).
hotspot_gone=0
for f in "$UNITDIR/$HOTSPOT_UNIT_NAME" "$HOTSPOT_PROFILE"; do
    if [ -e "$DESTDIR$f" ]; then
        run rm -f "$DESTDIR$f"
        hotspot_gone=1
    fi
done
if [ -e "$DESTDIR$HOTSPOT_STATEDIR" ]; then
    run rm -rf "$DESTDIR$HOTSPOT_STATEDIR"
fi
# The known networks added from the page are the player's, like the config: --purge only.
if [ "$purge" = 1 ]; then
    for f in "$DESTDIR$NM_PROFILE_DIR"/tubeless-known-*.nmconnection; do
        if [ -e "$f" ]; then
            run rm -f "$f"
            hotspot_gone=1
        fi
    done
fi
if [ "$hotspot_gone" = 1 ] && on_live_system && command -v nmcli >/dev/null 2>&1; then
    run nmcli connection reload || true
fi
# The web page: its unit and its mDNS record.
for f in "$UNITDIR/$WEB_UNIT_NAME" "$AVAHI_SERVICE_DIR/tubeless.service"; do
    if [ -e "$DESTDIR$f" ]; then
        run rm -f "$DESTDIR$f"
    fi
done
if on_live_system && have_systemd; then
    run systemctl daemon-reload
    run systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
fi

# The command link, only if it is ours.
link=$DESTDIR$BINDIR/tubeless
if [ -L "$link" ] && [ "$(readlink "$link")" = "$VENV/bin/tubeless" ]; then
    run rm -f "$link"
fi

for dir in "$PREFIX" "$CACHEDIR"; do
    if [ -e "$DESTDIR$dir" ]; then
        say "removing $dir"
        run rm -rf "$DESTDIR$dir"
    fi
done

# The udev rule, only if install.sh wrote it.
if [ -f "$DESTDIR$UDEV_RULES" ] && grep -qF "$UDEV_MARK" "$DESTDIR$UDEV_RULES"; then
    run rm -f "$DESTDIR$UDEV_RULES"
fi
boot=$DESTDIR$BOOT_CONFIG
if [ -f "$boot" ] && grep -qxF "$BOOT_BEGIN" "$boot"; then
    say "removing the codec HAT lines from $BOOT_CONFIG (effective after a reboot)"
    strip_boot_block "$boot" | write_file "$boot" 0644
    run rm -f "$boot.tubeless-orig"
fi

if [ "$purge" = 1 ]; then
    for dir in "$SYSCONFDIR" "$STATEDIR"; do
        if [ -e "$DESTDIR$dir" ]; then
            say "purging $dir"
            run rm -rf "$DESTDIR$dir"
        fi
    done
    if on_live_system && getent passwd "$WEB_USER" >/dev/null; then
        run userdel "$WEB_USER"                 # its state (the password hash) goes with it
        run rm -rf "$WEB_STATEDIR"
    fi
    if on_live_system && getent passwd "$SERVICE_USER" >/dev/null; then
        run userdel "$SERVICE_USER"
    fi
else
    for dir in "$SYSCONFDIR" "$MODELS_DIR" "$RECORDINGS_DIR" "$CAPTURES_DIR"; do
        [ ! -e "$DESTDIR$dir" ] || say "kept $dir (remove with: sudo make uninstall PURGE=1)"
    done
fi
say "uninstalled"

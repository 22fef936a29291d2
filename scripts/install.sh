#!/bin/sh
# Install (or upgrade in place) the tubeless pedal on Raspberry Pi OS 64-bit, Bookworm or
# Trixie, Pi 4 or Pi 5. Run from the repository: sudo make install [HAT=...].
# Keeps the user's config and models; new config defaults land beside it as config.toml.dist.
set -eu

usage() {
    cat <<EOF
Usage: install.sh [--dry-run] [--hat HAT] [--hotspot MODE] [--no-apt] [--no-venv] [--no-warm] [--no-service]

  --hat HAT     also enable the codec HAT in the boot config.txt (reboot needed) and, once
                its card is present, set its mixer for a guitar (first install only).
                HAT: $SUPPORTED_HATS
  --hotspot MODE  the pedal's own Wi-Fi (docs/hotspot.md): auto (when no known network comes
                within 20 s of boot; the default where there is Wi-Fi), always, or off
  --dry-run     print what would be done, change nothing
  --no-apt      skip apt-get (packages already there)
  --no-venv     skip creating/upgrading the Python environment in PREFIX/venv
  --no-warm     skip compiling the Numba cache now (the first start then takes longer)
  --no-service  install the unit but do not enable or start it

Paths (environment): PREFIX=$PREFIX SYSCONFDIR=$SYSCONFDIR STATEDIR=$STATEDIR
  UNITDIR=$UNITDIR BINDIR=$BINDIR BOOT_CONFIG=$BOOT_CONFIG
  DESTDIR=dir   stage every file under dir and leave the live system alone (no apt,
                users, venv, Numba warm-up or systemctl): for packaging and tests.
  ASSETS_DIR    where default_model.npz and default_cab.wav are (make default-model;
                default: firmware/data in this repository)
  PYTHON        interpreter for the venv (default: python3, >= 3.11)
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/.." && pwd)
# shellcheck source=scripts/install-common.sh
. "$here/install-common.sh"
# shellcheck source=scripts/hats.sh
. "$here/hats.sh"

PYTHON=${PYTHON:-python3}
ASSETS_DIR=${ASSETS_DIR:-$SRC/firmware/data}
hat="" hotspot="" do_apt=1 do_venv=1 do_warm=1 do_service=1
while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) DRY_RUN=1 ;;
        --hat) [ $# -ge 2 ] || { usage >&2; exit 2; }; hat=$2; shift ;;
        --hat=*) hat=${1#--hat=} ;;
        --hotspot) [ $# -ge 2 ] || { usage >&2; exit 2; }; hotspot=$2; shift ;;
        --hotspot=*) hotspot=${1#--hotspot=} ;;
        --no-apt) do_apt=0 ;;
        --no-venv) do_venv=0 ;;
        --no-warm) do_warm=0 ;;
        --no-service) do_service=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ -z "$hat" ] || require_supported_hat "$hat"
case $hotspot in
    auto|always|off) ;;
    "") if have_wifi; then hotspot=auto; else hotspot=off; fi ;;
    *) echo "install.sh: --hotspot: auto, always or off, not '$hotspot'" >&2; usage >&2; exit 2 ;;
esac
require_root_for_live_system install

if ! on_live_system; then
    say "staging into DESTDIR=$DESTDIR: skipping apt, users, venv, Numba warm-up and systemctl"
    do_apt=0 do_venv=0 do_warm=0 do_service=0
fi

# ---------------------------------------------------------------- preflight
arch=$(uname -m)
if on_live_system; then
    case $arch in
        aarch64) ;;
        armv6l|armv7l) die "this is a 32-bit OS ($arch). Numba has no 32-bit ARM builds: flash Raspberry Pi OS (64-bit)." ;;
        *) warn "this is not a Raspberry Pi ($arch): installing anyway" ;;
    esac
fi
if [ "$do_venv" = 1 ] && [ "$do_apt" = 0 ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
        || die "$PYTHON is missing or older than 3.11 (tubeless needs 3.11+)"
fi

# ---------------------------------------------------------------- packages
if [ "$do_apt" = 1 ]; then
    say "installing system packages"
    # Compilers and headers: pyalsaaudio builds from source on aarch64.
    packages="python3 python3-venv python3-dev gcc libc6-dev libasound2-dev libsndfile1 alsa-utils"
    # avahi: the web page answers at http://<hostname>.local/ (Raspberry Pi OS has it already).
    packages="$packages avahi-daemon"
    # The hotspot: NetworkManager runs it (Raspberry Pi OS has it), iw counts the phones on
    # it, avahi-publish answers tubeless.local there.
    [ "$hotspot" = off ] || packages="$packages network-manager iw avahi-utils"
    quietly env DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed (above)"
    # The GPIO library (setup_gpio below): Raspberry Pi OS packages lgpio for its own Python;
    # plain Debian and Ubuntu do not, and PyPI has no wheel for every Python (none for 3.13),
    # so there pip builds it from source, which needs swig (the C sources come with it).
    # Asked after the update: a fresh system's package lists may be empty before it.
    if apt-cache show python3-lgpio >/dev/null 2>&1; then
        packages="$packages python3-lgpio"
    elif [ "$DRY_RUN" = 1 ] || apt-cache show swig >/dev/null 2>&1; then
        packages="$packages swig"
    fi
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages \
        || die "apt-get install failed (above)"
    [ "$DRY_RUN" = 1 ] || "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than 3.11: Raspberry Pi OS Bookworm or later is needed"
fi

# ---------------------------------------------------------------- user and groups
if on_live_system; then
    # The unit's SupplementaryGroups must all exist or the service cannot start. Raspberry
    # Pi OS has them (udev gives /dev/gpiochip* to gpio, /dev/spidev* to spi).
    for group in audio gpio spi; do
        getent group "$group" >/dev/null || run groupadd --system "$group"
    done
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        run useradd --system --user-group --home-dir "$STATEDIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "tubeless pedal" "$SERVICE_USER"
    fi
    run usermod -a -G audio,gpio,spi "$SERVICE_USER"
    # The web page's own user: in the pedal's group (control socket, models, config) and in
    # audio (the HAT's input gain); nothing else (systemd/tubeless-web.service).
    if ! getent passwd "$WEB_USER" >/dev/null; then
        run useradd --system --user-group --home-dir "$WEB_STATEDIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "tubeless web page" "$WEB_USER"
    fi
    run usermod -a -G "$SERVICE_USER,audio" "$WEB_USER"
    # Whoever ran sudo may copy models in (make deploy): group write on the models dir.
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        run usermod -a -G "$SERVICE_USER" "$SUDO_USER"
    fi
fi

# ---------------------------------------------------------------- GPIO and SPI devices
if ! os_has_gpio_udev_rule; then
    say "adding $UDEV_RULES: /dev/gpiochip* to group gpio, /dev/spidev* to group spi (this OS's rules leave them to root)"
    run install -d -m 0755 "$DESTDIR$(dirname "$UDEV_RULES")"
    printf '%s\n' "$UDEV_MARK: this OS's own rules leave these to root." \
        'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' \
        'SUBSYSTEM=="spidev", GROUP="spi", MODE="0660"' | write_file "$DESTDIR$UDEV_RULES" 0644
    if on_live_system && have_systemd; then
        run udevadm control --reload-rules || true
        run udevadm trigger --subsystem-match=gpio --subsystem-match=spidev || true
    fi
fi

# ---------------------------------------------------------------- directories
say "directories: $SYSCONFDIR, $MODELS_DIR, $PRESETS_DIR, $RECORDINGS_DIR, $CAPTURES_DIR"
run install -d -m 0755 "$DESTDIR$SYSCONFDIR" "$DESTDIR$STATEDIR" "$DESTDIR$PREFIX/docs"
# setgid: files copied in by the deploying user stay group tubeless, readable by the pedal.
# Recordings and captures too: the SSH user (in the group) copies and deletes them.
run install -d -m 2775 "$DESTDIR$MODELS_DIR" "$DESTDIR$PRESETS_DIR" "$DESTDIR$PRESETS_DIR/banks" "$DESTDIR$RECORDINGS_DIR" \
    "$DESTDIR$CAPTURES_DIR"
run install -d -m 0755 "$DESTDIR$CACHEDIR" "$DESTDIR$CACHEDIR/numba"
if on_live_system; then
    # Not recursive: the user's model files keep their owner.
    run chown "$SERVICE_USER:$SERVICE_USER" "$STATEDIR" "$MODELS_DIR" "$PRESETS_DIR" "$PRESETS_DIR/banks" \
        "$RECORDINGS_DIR" "$CAPTURES_DIR" "$CACHEDIR" "$CACHEDIR/numba"
    # The web page saves settings into the config (temp file, then rename): the pedal's
    # group may write the folder; setgid keeps new files in that group.
    run chgrp "$SERVICE_USER" "$SYSCONFDIR"
    run chmod 2775 "$SYSCONFDIR"
    run install -d -m 0700 -o "$WEB_USER" -g "$WEB_USER" "$WEB_STATEDIR"
fi

# ---------------------------------------------------------------- config
# The pedal's own defaults, every key commented out: the file documents itself and a
# later version's defaults still apply to whatever the user did not set.
defaults=$SRC/firmware/core/default_config.toml
[ -f "$defaults" ] || die "$defaults is missing: is this a complete tubeless checkout?"
card_id=""
[ -z "$hat" ] || card_id=$(hat_card_id "$hat")
config_text=$(awk -v card="$card_id" '
    NR == 1 { print "# /etc/tubeless/config.toml, written by scripts/install.sh and kept on upgrades."
              print "# Uncomment a key to change it; every commented value is the built-in default." }
    /^\[/ { section = $0 }
    /^[[:space:]]*$/ || /^[[:space:]]*#/ || /^\[/ { print; next }
    card != "" && section == "[audio]" && /^device[[:space:]]*=/ {
        printf "device = \"%s\"        # the codec HAT, set by install.sh --hat\n", card; next }
    { print "# " $0 }
' "$defaults")
target=$DESTDIR$CONFIG_FILE
if [ ! -e "$target" ]; then
    say "writing $CONFIG_FILE (commented defaults)"
    printf '%s\n' "$config_text" | write_file "$target" 0644
else
    say "keeping your $CONFIG_FILE; current defaults are in $CONFIG_FILE.dist"
    printf '%s\n' "$config_text" | write_file "$target.dist" 0644
fi

# ---------------------------------------------------------------- Python environment
if [ "$do_venv" = 1 ]; then
    say "Python environment in $VENV"
    if [ ! -x "$VENV/bin/python" ]; then
        # System site packages: the venv sees the OS's python3-lgpio, built by the OS for its
        # own Python (a .pth naming only lgpio's directory would break when an OS update
        # moves it). pip still installs into the venv whatever the OS has too old or not at all.
        run "$PYTHON" -m venv --system-site-packages "$VENV"
    fi
    # Reinstall the pedal itself every time (same version number, new code), then let pip
    # bring the dependencies to what this version asks for. pip's output shows on failure.
    say "installing the pedal and its dependencies: numpy, Numba, SciPy, pyalsaaudio... (a few minutes the first time)"
    quietly "$VENV/bin/pip" install --disable-pip-version-check --force-reinstall --no-deps "$SRC" \
        || die "could not install the pedal into $VENV (pip's output above)"
    quietly "$VENV/bin/pip" install --disable-pip-version-check "$SRC" \
        || die "could not install the pedal's dependencies into $VENV (pip's output above)"
    setup_gpio
    run install -d -m 0755 "$BINDIR"
    run ln -sfn "$VENV/bin/tubeless" "$BINDIR/tubeless"
fi

# ---------------------------------------------------------------- docs (the unit's Documentation=)
for doc in docs/pi-setup.md docs/web.md hw/README.md; do
    if [ -f "$SRC/$doc" ]; then
        run install -m 0644 "$SRC/$doc" "$DESTDIR$PREFIX/docs/$(basename "$doc")"
    fi
done

# ---------------------------------------------------------------- default model and IR
# `make default-model` writes them; the IR is installed under the model's name so the pedal
# pairs it with that model (a model's own IR is NAME.wav beside NAME.npz).
seeded=0
for pair in "default_model.npz:default_model.npz" "default_cab.wav:default_model.wav"; do
    asset=$ASSETS_DIR/${pair%%:*}
    target=$MODELS_DIR/${pair#*:}
    if [ ! -f "$asset" ]; then
        warn "no $asset (make default-model): copy a model in with 'make deploy' before playing"
    elif [ ! -e "$DESTDIR$target" ]; then
        # Never overwrite: a file of that name in the models directory is the user's.
        run install -m 0644 "$asset" "$DESTDIR$target"
        if on_live_system; then
            run chgrp "$SERVICE_USER" "$target"
        fi
        seeded=$((seeded + 1))
    fi
done
[ "$seeded" = 0 ] || say "added the default model and IR to $MODELS_DIR"

# ---------------------------------------------------------------- systemd unit
say "installing $UNITDIR/$UNIT_NAME"
run install -d -m 0755 "$DESTDIR$UNITDIR"
sed -e "s#/opt/tubeless#$PREFIX#g" \
    -e "s#/etc/tubeless#$SYSCONFDIR#g" \
    -e "s#/var/lib/tubeless#$STATEDIR#g" \
    "$SRC/systemd/$UNIT_NAME" | write_file "$DESTDIR$UNITDIR/$UNIT_NAME" 0644
sed -e "s#/opt/tubeless#$PREFIX#g" \
    -e "s#/etc/tubeless#$SYSCONFDIR#g" \
    -e "s#/var/lib/tubeless/#$STATEDIR/#g" \
    "$SRC/systemd/$WEB_UNIT_NAME" | write_file "$DESTDIR$UNITDIR/$WEB_UNIT_NAME" 0644

# ---------------------------------------------------------------- web page: mDNS and password
web_port=80
if [ -x "$VENV/bin/python" ] && [ -e "$DESTDIR$CONFIG_FILE" ]; then
    web_port=$("$VENV/bin/python" -c 'import sys; from firmware.core.config import load_config
print(load_config(sys.argv[1])["web"]["port"])' "$DESTDIR$CONFIG_FILE" 2>/dev/null) || web_port=80
fi
# Announce the page to phones and laptops on the network (avahi reads this folder).
printf '%s\n' '<?xml version="1.0" standalone="no"?>' '<!DOCTYPE service-group SYSTEM "avahi-service.dtd">' \
    '<service-group>' '  <name replace-wildcards="yes">tubeless pedal on %h</name>' \
    "  <service><type>_http._tcp</type><port>$web_port</port></service>" '</service-group>' \
    | { run install -d -m 0755 "$DESTDIR$AVAHI_SERVICE_DIR" && write_file "$DESTDIR$AVAHI_SERVICE_DIR/tubeless.service" 0644; }
web_password=""
if on_live_system && [ "$do_venv" = 1 ] && [ ! -e "$WEB_STATEDIR/password" ]; then
    # A random password, its scrypt hash stored for the web service; printed once, below.
    if [ "$DRY_RUN" = 1 ]; then
        run runuser -u "$WEB_USER" -- "$VENV/bin/tubeless" web --new-password --password-file "$WEB_STATEDIR/password"
    else
        web_password=$(runuser -u "$WEB_USER" -- "$VENV/bin/tubeless" web --new-password \
            --password-file "$WEB_STATEDIR/password") || warn "could not set the web page's password"
    fi
fi

# ---------------------------------------------------------------- the pedal's own Wi-Fi
hotspot_unit=$DESTDIR$UNITDIR/$HOTSPOT_UNIT_NAME
if [ "$hotspot" != off ]; then
    say "hotspot ($hotspot): $HOTSPOT_UNIT_NAME, its settings in $HOTSPOT_STATEDIR, $HOTSPOT_PROFILE"
    sed -e "s#/opt/tubeless#$PREFIX#g" "$SRC/systemd/$HOTSPOT_UNIT_NAME" | write_file "$hotspot_unit" 0644
    run install -d -m 0755 "$DESTDIR$NM_PROFILE_DIR"
    if on_live_system; then
        # root writes it; the page's group reads the password to show the join code
        run install -d -m 0750 -o root -g "$WEB_USER" "$HOTSPOT_STATEDIR"
    else
        run install -d -m 0750 "$DESTDIR$HOTSPOT_STATEDIR"
    fi
    if on_live_system && [ "$do_venv" = 1 ]; then
        # The first time: a name from the machine id and a random password; later: kept.
        nm_load="--no-load"
        if command -v nmcli >/dev/null 2>&1 && nmcli -t general status >/dev/null 2>&1; then
            nm_load=""                     # NetworkManager runs: it reads the profile at once
        fi
        # shellcheck disable=SC2086  # $nm_load: one flag or none
        run "$VENV/bin/tubeless" hotspot --settings-file "$HOTSPOT_STATEDIR/hotspot.json" setup \
            --mode "$hotspot" --web-group "$WEB_USER" $nm_load \
            || warn "could not set up the hotspot (above): the pedal plays, the page needs a network"
    fi
    avahi_conf=/etc/avahi/avahi-daemon.conf
    if [ -f "$DESTDIR$avahi_conf" ] && grep -Eq '^[[:space:]]*allow-interfaces[[:space:]]*=' "$DESTDIR$avahi_conf" \
            && ! grep -Eq '^[[:space:]]*allow-interfaces[[:space:]]*=.*wlan0' "$DESTDIR$avahi_conf"; then
        warn "$avahi_conf limits avahi to some interfaces (allow-interfaces): add wlan0 for tubeless.local on the hotspot"
    fi
elif [ -e "$hotspot_unit" ]; then
    say "hotspot off: removing $HOTSPOT_UNIT_NAME and its profile (its settings stay)"
    if on_live_system && have_systemd; then
        run systemctl disable --now "$HOTSPOT_UNIT_NAME" || true
    fi
    run rm -f "$hotspot_unit" "$DESTDIR$HOTSPOT_PROFILE"
fi

# ---------------------------------------------------------------- Numba cache
if [ "$do_warm" = 1 ]; then
    # Compiled code is keyed by source path and CPU: it must be built here, by the service
    # user, into the directory the service reads (CacheDirectory=tubeless).
    # Measured cold: 72 kernels, 141 s of CPU on the 2-core x86 dev machine (2026-12-02); LLVM
    # compiles on one core: scaled by single-core Geekbench 6 (README "On the Pi"), predicted.
    say "compiling the DSP kernels into $CACHEDIR/numba, once (about 23-26 min on a Pi 4, 7-9 on a Pi 5)"
    if [ "$DRY_RUN" != 1 ] && "$VENV/bin/tubeless" --help 2>/dev/null | grep -q '^ *warm '; then
        warm="warm"
    else
        warm="bench --seconds 0.05 --repeats 1 --blocks 64 --no-torch --no-jit"
    fi
    quiet=/dev/null
    # `tubeless warm` ends with one line: how many kernels it compiled, in how long
    [ "$DRY_RUN" != 1 ] && [ "$warm" != warm ] || quiet=/dev/stdout
    # shellcheck disable=SC2086  # $warm is a command line
    run runuser -u "$SERVICE_USER" -- env NUMBA_CACHE_DIR="$CACHEDIR/numba" \
        "$VENV/bin/tubeless" $warm >"$quiet" \
        || warn "warming the Numba cache failed: the pedal compiles on its first start instead"
fi

# ---------------------------------------------------------------- codec HAT
card_present=0
if [ -n "$hat" ]; then
    boot=$DESTDIR$BOOT_CONFIG
    block="$BOOT_BEGIN
dtparam=spi=on
$(hat_overlay "$hat" "$(board_family)")
$BOOT_END"
    if [ -f "$boot" ]; then
        current=$(cat "$boot")
        updated="$(strip_boot_block "$boot")
$block"
        if [ "$current" != "$updated" ]; then
            say "enabling $hat in $BOOT_CONFIG (takes effect after a reboot)"
            [ -e "$boot.tubeless-orig" ] || run cp -p "$boot" "$boot.tubeless-orig"
            printf '%s\n' "$updated" | write_file "$boot" 0644
        fi
    else
        warn "no $BOOT_CONFIG here: add these lines to the Pi's config.txt yourself:
$block"
    fi
    if grep -q "\[$card_id *\]" /proc/asound/cards 2>/dev/null && on_live_system; then
        card_present=1
        marker=$STATEDIR/.mixer-set-$hat
        # Once only: later upgrades must not undo the user's own gain changes.
        if [ ! -e "$marker" ]; then
            run sh "$here/hat-mixer.sh" "$hat" && run touch "$marker"
        fi
    fi
fi

# ---------------------------------------------------------------- service
if [ "$do_service" = 1 ]; then
    if have_systemd || [ "$DRY_RUN" = 1 ]; then
        run systemctl daemon-reload
        run systemctl enable "$UNIT_NAME"
        if [ -n "$hat" ] && [ "$card_present" = 0 ]; then
            say "the $hat card is not there yet: reboot, then run 'sudo make install HAT=$hat' once more"
        else
            # restart = start if stopped: an upgrade takes effect now.
            run systemctl restart "$UNIT_NAME"
        fi
        run systemctl enable "$WEB_UNIT_NAME"
        run systemctl restart "$WEB_UNIT_NAME"
        if [ "$hotspot" != off ]; then
            run systemctl enable "$HOTSPOT_UNIT_NAME"
            run systemctl restart "$HOTSPOT_UNIT_NAME"
        fi
    else
        warn "systemd is not running here: enable $UNIT_NAME on the Pi"
    fi
fi

say "done. Logs: journalctl -u tubeless -f   State: tubeless status"
web_url="http://$(hostname 2>/dev/null || echo pedal).local$([ "$web_port" = 80 ] || echo ":$web_port")/"
if [ -n "$web_password" ]; then
    say "web page: $web_url  password: $web_password  (change it on the page's Settings)"
else
    say "web page: $web_url  (password unchanged; a new one: sudo -u $WEB_USER $VENV/bin/tubeless web --new-password)"
fi
if [ "$hotspot" != off ] && on_live_system && [ "$DRY_RUN" != 1 ] && [ -e "$HOTSPOT_STATEDIR/hotspot.json" ]; then
    say "where no known network is, the pedal makes its own (page at http://10.42.0.1/ or http://tubeless.local/):"
    "$VENV/bin/tubeless" hotspot --settings-file "$HOTSPOT_STATEDIR/hotspot.json" || true
fi

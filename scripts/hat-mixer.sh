#!/bin/sh
# Set a codec HAT's mixer for a guitar: input routed to the ADC at a useful gain, the DAC
# to the output, no analog dry path. Then store it so alsa-restore.service reapplies it at
# every boot. Run after the reboot that loaded the HAT's overlay.
set -eu

usage() {
    cat <<EOF
Usage: hat-mixer.sh [--dry-run] [--card ID] [--gain DB] [--no-store] HAT

HAT is one of: $SUPPORTED_HATS
  --card ID    ALSA card id or index (default: the HAT's usual id)
  --gain DB    input gain in dB (default: per HAT, for a buffered guitar)
  --no-store   do not save the settings with 'alsactl store'
  --dry-run    print the amixer commands instead of running them
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/hats.sh
. "$here/hats.sh"
# run(): a command, or only its printout under --dry-run (shared with install.sh).
# shellcheck source=scripts/install-common.sh
. "$here/install-common.sh"

DRY_RUN=0 card="" gain="" store=1
while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) DRY_RUN=1 ;;
        --card) [ $# -ge 2 ] || { usage >&2; exit 2; }; card=$2; shift ;;
        --gain) [ $# -ge 2 ] || { usage >&2; exit 2; }; gain=$2; shift ;;
        --no-store) store=0 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "hat-mixer.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[ $# -eq 1 ] || { usage >&2; exit 2; }
hat=$1
require_supported_hat "$hat"

card=${card:-$(hat_card_id "$hat")}
gain=${gain:-$(hat_default_gain_db "$hat")}
case $gain in
    ''|-|.|-.|*[!0-9.-]*|*.*.*|?*-*) echo "hat-mixer.sh: --gain wants a number of dB, got '$gain'" >&2; exit 2 ;;
esac

if [ "$hat" = pisound ]; then
    echo "hat-mixer.sh: pisound has no mixer controls: set the input gain with the knob on the board"
    echo "  (turn it up until the pedal's input level peaks near -6 dBFS: 'tubeless status')."
    exit 0
fi


if [ "$DRY_RUN" != 1 ] && ! amixer -c "$card" info >/dev/null 2>&1; then
    echo "hat-mixer.sh: no sound card '$card'. Cards present:" >&2
    cat /proc/asound/cards >&2 2>/dev/null || true
    echo "Is '$(hat_overlay "$hat")' in the boot config.txt, and did you reboot?" >&2
    exit 1
fi

failed=""
settings=$(hat_mixer_settings "$hat" "$gain")
# Read from a here-document, not a pipe, so $failed survives the loop.
while IFS='|' read -r name value; do
    [ -n "$name" ] || continue
    if ! run amixer -q -c "$card" cset "name=$name" "$value"; then
        failed="$failed
  $name = $value"
    fi
done <<EOF
$settings
EOF

if [ -n "$failed" ]; then
    echo "hat-mixer.sh: these controls could not be set on card '$card' (a driver that names them differently?):$failed" >&2
    echo "List the card's controls with: amixer -c $card controls" >&2
    exit 1
fi

if [ "$store" = 1 ]; then
    run alsactl store "$card"
fi
echo "hat-mixer.sh: $hat mixer set on card '$card' (input gain $gain dB)"

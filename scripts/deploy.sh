#!/bin/sh
# Copy models (and IRs) and presets to the pedal over SSH, then show the pedal's model list.
#   make deploy HOST=pedal.local FILES="Plexi.nam Plexi.wav JCM.npz solo.toml"
# Presets (.toml) go to the presets folder beside the models (docs/presets.md).
# Each file goes to a hidden temporary name (the pedal ignores those), is checked against
# its SHA-256 on the pedal, and only then renamed into place: the pedal never sees a
# partial file. One SSH connection is shared by every step (one password prompt at most).
set -eu

usage() {
    cat <<EOF
Usage: deploy.sh HOST FILE...

HOST   the pedal, as ssh knows it: pedal.local, pi@192.168.1.50, or a ~/.ssh/config alias
FILE   models (.npz .nam .json), cabinet IRs (.wav) and presets (.toml)
Environment: REMOTE_DIR (default /var/lib/tubeless/models),
             REMOTE_PRESETS (default: presets beside REMOTE_DIR),
             REMOTE_CONFIG (default /etc/tubeless/config.toml), SSH, SCP (client commands)
EOF
}

REMOTE_DIR=${REMOTE_DIR:-/var/lib/tubeless/models}
REMOTE_PRESETS=${REMOTE_PRESETS:-$(dirname "$REMOTE_DIR")/presets}
REMOTE_CONFIG=${REMOTE_CONFIG:-/etc/tubeless/config.toml}
SSH=${SSH:-ssh}
SCP=${SCP:-scp}

die() { printf 'deploy: error: %s\n' "$*" >&2; exit 1; }

case ${1:-} in -h|--help) usage; exit 0 ;; esac
[ $# -ge 2 ] || { usage >&2; exit 2; }
host=$1
shift
case $host in -*|*[[:space:]]*) die "'$host' is not a host name" ;; esac
# The directory goes into remote commands unquoted-safe only if it is a plain path.
case $REMOTE_DIR in /*) ;; *) die "REMOTE_DIR must be an absolute path" ;; esac
case $REMOTE_PRESETS in /*) ;; *) die "REMOTE_PRESETS must be an absolute path" ;; esac
case $REMOTE_DIR$REMOTE_CONFIG$REMOTE_PRESETS in *[!A-Za-z0-9/._-]*) die "REMOTE_DIR/REMOTE_CONFIG/REMOTE_PRESETS: use plain paths" ;; esac

# Where a file goes on the pedal: presets to the presets folder, the rest to the models.
remote_dir() {
    case $(printf '%s' "$1" | tr '[:upper:]' '[:lower:]') in
        *.toml) printf '%s' "$REMOTE_PRESETS" ;;
        *) printf '%s' "$REMOTE_DIR" ;;
    esac
}

# Single-quote a string for the remote shell.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum <"$1" | cut -d' ' -f1; }
else
    sha256() { shasum -a 256 <"$1" | cut -d' ' -f1; }   # macOS
fi

# Check every file before copying any: a typo should not leave half a batch on the pedal.
names=""
presets=""
for file in "$@"; do
    [ -f "$file" ] || die "$file: no such file"
    [ -r "$file" ] || die "$file: not readable"
    name=$(basename "$file")
    case $name in
        .*) die "$file: hidden names are ignored by the pedal; rename it" ;;
        *"
"*) die "$file: a file name with a newline" ;;
    esac
    case $(printf '%s' "$name" | tr '[:upper:]' '[:lower:]') in
        *.npz|*.nam|*.json|*.wav) ;;
        *.toml) presets=yes ;;
        *) die "$file: not a model (.npz .nam .json), an IR (.wav) or a preset (.toml)" ;;
    esac
    case "
$names
" in *"
$name
"*) die "$name is given twice" ;; esac
    names="$names
$name"
done

control_dir=$(mktemp -d "${TMPDIR:-/tmp}/tubeless-deploy.XXXXXX")
ssh_opts="-o ControlMaster=auto -o ControlPath=$control_dir/%C -o ControlPersist=60"
uploaded=""
cleanup() {
    status=$?
    if [ -n "$uploaded" ]; then
        # shellcheck disable=SC2086  # $ssh_opts and $uploaded are word lists on purpose
        $SSH $ssh_opts "$host" "rm -f $uploaded" 2>/dev/null || true
    fi
    # shellcheck disable=SC2086
    $SSH $ssh_opts -O exit "$host" 2>/dev/null || true
    rm -rf "$control_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
$SSH $ssh_opts "$host" "test -d $REMOTE_DIR && test -w $REMOTE_DIR" \
    || die "cannot write to $REMOTE_DIR on $host. Is tubeless installed there ('sudo make install'),
and is your user in the 'tubeless' group (it is added by install; log in again after)?"
if [ -n "$presets" ]; then
    # shellcheck disable=SC2086
    $SSH $ssh_opts "$host" "mkdir -p $REMOTE_PRESETS && test -w $REMOTE_PRESETS" \
        || die "cannot write to $REMOTE_PRESETS on $host (the presets folder)"
fi

# Copy each file to a temporary name (fixed characters: no quoting issues in scp).
renames="set -e"
index=0
for file in "$@"; do
    index=$((index + 1))
    name=$(basename "$file")
    temporary="$(remote_dir "$name")/.deploy-$$-$index.partial"
    printf 'deploy: copying %s\n' "$name"
    # shellcheck disable=SC2086
    $SCP -q $ssh_opts "$file" "$host:$temporary" || die "copying $file failed"
    uploaded="$uploaded $temporary"
    renames="$renames
echo '$(sha256 "$file")  $temporary' | sha256sum -c --quiet - || { echo '$name: damaged in transit' >&2; exit 1; }"
done
# All checksums first, then all renames: a damaged file stops the batch before any lands.
index=0
for file in "$@"; do
    index=$((index + 1))
    dir=$(remote_dir "$(basename "$file")")
    renames="$renames
mv -f $dir/.deploy-$$-$index.partial $(quote "$dir/$(basename "$file")")"
done

# shellcheck disable=SC2086
$SSH $ssh_opts "$host" "$renames" || die "the files did not arrive intact; nothing was changed on the pedal"
uploaded=""

printf 'deploy: models on %s:\n' "$host"
# shellcheck disable=SC2086
$SSH $ssh_opts "$host" "tubeless models --config $REMOTE_CONFIG" \
    || die "copied, but 'tubeless models' failed on $host (see the message above)"

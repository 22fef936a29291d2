#!/bin/sh
# Copy the pedal's capture folders (tubeless capture, the page's Capture view), or its
# recordings, here over SSH.
#   make fetch-captures HOST=pedal.local [DEST=captures]
# Only complete folders are fetched (capture-YYYYMMDD-HHMM; a capture in progress is a hidden
# .capture-*.partial folder), each into a hidden temporary name here, renamed when complete;
# one already here is skipped. DRYRUN=1 prints the commands instead.
set -eu

usage() {
    cat <<USAGE
Usage: fetch-captures.sh HOST [DEST]

HOST   the pedal, as ssh knows it: pedal.local, pi@192.168.1.50, or a ~/.ssh/config alias
DEST   local folder (default: captures)
Environment: REMOTE_DIR (folders on the pedal, default "tubeless-captures /var/lib/tubeless/captures":
the SSH user's own, from tubeless capture with the pedal stopped, and the playing pedal's), SSH, SCP, DRYRUN
USAGE
}

REMOTE_DIR=${REMOTE_DIR:-tubeless-captures /var/lib/tubeless/captures}
SSH=${SSH:-ssh}
SCP=${SCP:-scp}
die() { printf 'fetch-captures: error: %s\n' "$*" >&2; exit 1; }

case ${1:-} in -h|--help) usage; exit 0 ;; esac
[ $# -ge 1 ] || { usage >&2; exit 2; }
host=$1
dest=${2:-captures}
case $host in -*|*[[:space:]]*) die "'$host' is not a host name" ;; esac
case $REMOTE_DIR in *[!A-Za-z0-9/._~\ -]*) die "REMOTE_DIR: use plain paths" ;; esac

run() { if [ -n "${DRYRUN:-}" ]; then echo "$*"; else "$@"; fi; }

# captures (tubeless capture) and finished recordings of what was played (docs/recording.md:
# REMOTE_DIR=/var/lib/tubeless/recordings; one still recording says "finished": false)
list='ls -d capture-[0-9]*-[0-9]* 2>/dev/null; for d in rec-[0-9]*-[0-9]*; do
    grep -qs "\"finished\": true" "$d/recording.json" && echo "$d"; done; true'
found=0
for dir in $REMOTE_DIR; do
    names=$($SSH "$host" "cd $dir 2>/dev/null && { $list; }" || true)
    [ -n "$names" ] || continue
    found=1
    run mkdir -p "$dest"
    for name in $names; do
        case $name in capture-[0-9]*|rec-[0-9]*) ;; *) continue ;; esac
        case $name in *[!A-Za-z0-9._-]*) echo "fetch-captures: skipping odd name $name" >&2; continue ;; esac
        if [ -e "$dest/$name" ]; then echo "$name: already here"; continue; fi
        tmp="$dest/.$name.partial"
        run rm -rf "$tmp"
        run "$SCP" -r -q "$host:$dir/$name" "$tmp" || { rm -rf "$tmp"; die "$name: copy failed"; }
        run mv "$tmp" "$dest/$name"
        echo "$name -> $dest/$name"
    done
done
[ "$found" = 1 ] || echo "fetch-captures: no captures on $host (in $REMOTE_DIR)"

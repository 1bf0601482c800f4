#!/usr/bin/env bash
# One load run (BENCHMARKS.md, "Load"): the release daemon pinned to CPU 0, the load
# generator pinned to CPU 1, on loopback. Usage:
#   benches/load.sh MODE CALLS RATE HOLD [more pstn-bridge-loadgen options]
#     MODE: transcode | passthrough | signaling | outbound
#   JSON=out.json benches/load.sh ...   also keeps the JSON result
#   (DAEMON_LOG=file keeps the daemon's log).
# Prints the markdown row and the JSON; check `uptime` first: other work on the machine
# skews the numbers. SKIP_BUILD=1 uses the binaries as they are; PROFILE=debug runs the
# debug build (CI's smoke run of these scripts: its numbers mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?mode}; calls=${2:?calls}; rate=${3:?rate}; hold=${4:?hold}; shift 4
profile=${PROFILE:-release}
case $profile in
    release) build=(--release) ;;
    debug) build=() ;;
    *) echo "load.sh: PROFILE must be release or debug" >&2; exit 2 ;;
esac
[ -n "${SKIP_BUILD:-}" ] || cargo build "${build[@]}" --quiet --bins
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/$profile
work=$(mktemp -d)
trap 'kill "${daemon:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

sip=127.0.0.1:${SIP_PORT:-15060}; http=127.0.0.1:${HTTP_PORT:-18080}; carrier=127.0.0.1:${CARRIER_PORT:-15090}
"$bin/pstn-bridge-loadgen" config --endpoints "$calls" --sip "$sip" --http "$http" \
    --carrier "$carrier" > "$work/load.toml"
PSTN_BRIDGE_LOG=${PSTN_BRIDGE_LOG:-warn} taskset -c 0 "$bin/pstn-bridge" --config "$work/load.toml" \
    2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/${http%:*}/${http#*:}") 2>/dev/null && break; sleep 0.1; done
kill -0 "$daemon" 2>/dev/null || { echo "daemon did not start:" >&2; cat "$work/daemon.log" >&2; exit 1; }

echo "load before: $(uptime)" >&2
taskset -c 1 "$bin/pstn-bridge-loadgen" --daemon "http://$http" --bridge-config "$work/load.toml" \
    --carrier "$carrier" --mode "$mode" --calls "$calls" --rate "$rate" --hold "$hold" \
    --json "$work/out.json" "$@"
echo "load after:  $(uptime)" >&2
cat "$work/out.json"
[ -z "${JSON:-}" ] || cp "$work/out.json" "$JSON"
[ -z "${DAEMON_LOG:-}" ] || cp "$work/daemon.log" "$DAEMON_LOG"
if grep -qiE "panicked|ERROR" "$work/daemon.log"; then
    echo "daemon log:" >&2; grep -iE "panicked|ERROR" "$work/daemon.log" | head -20 >&2
fi

#!/usr/bin/env bash
# Calls one core holds (BENCHMARKS.md, "Calls held on one core"): runs benches/load.sh with
# admission off at a growing number of concurrent calls and stops at the first step the
# daemon does not hold. Usage:
#   benches/capacity.sh MODE [FROM STEP TO]      MODE: transcode | passthrough
# A step is held when every call connected, nothing was lost at either end and the worst
# call's jitter stayed under one 20 ms frame at both ends. A step where the generator
# itself fell behind (its CPU ≥ 90 % or over 0.1 % of its frames late) ends the search as
# generator-limited: its figures would describe the generator, not the bridge.
# A step not held while the VM lost 5 % or more of its CPU time to its neighbours (steal) is
# run again, up to RETRIES (default 2) more times; every attempt is a row of the table.
# RATE (default 50 calls/s) and HOLD (default 20 s) apply to every step; KEEP=FILE keeps
# the JSON of the last step held; SKIP_BUILD and PROFILE are passed to benches/load.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?mode}
case $mode in
    transcode) defaults=(140 15 260) ;;
    passthrough) defaults=(300 30 900) ;;
    *) echo "capacity.sh: mode must be transcode or passthrough" >&2; exit 2 ;;
esac
from=${2:-${defaults[0]}}; step=${3:-${defaults[1]}}; to=${4:-${defaults[2]}}
rate=${RATE:-50}; hold=${HOLD:-20}
# The first step's load.sh builds (as PROFILE says) unless SKIP_BUILD is set; later ones skip.
skip_build=${SKIP_BUILD:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One run's JSON → "OUTCOME STEAL | table row".
judge() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def num(key):
    v = r.get(key)
    return float("nan") if v is None else v
sent = max(r["carrier_packets"] + r["endpoint_packets"], 1)
if r.get("daemon_cpu_percent") is None or r.get("loadgen_cpu_percent") is None:
    outcome = "unmeasured"  # no window with every call up: the hold was too short
elif (r["loadgen_cpu_percent"] >= 90 * r.get("loadgen_threads", 1)
        or r["loadgen_late_frames"] > sent / 1000):
    outcome = "generator-limited"
elif (r["calls_failed"] == 0 and r["calls_ok"] == r["calls"] and r["loss_percent"] == 0
        and max(r["carrier_jitter_ms_max"], r["endpoint_jitter_ms_max"]) < 20):
    outcome = "yes"
else:
    outcome = "no"
steal = "noisy" if num("host_steal_percent") >= 5 else "quiet"
print(f'{outcome} {steal} | {r["calls"]} | {outcome} | {num("daemon_cpu_percent"):.1f} | '
      f'{num("cpu_percent_per_call"):.3f} | {r["loss_percent"]:.3f} | '
      f'{r["carrier_jitter_ms_max"]:.1f} / {r["endpoint_jitter_ms_max"]:.1f} | '
      f'{num("loadgen_cpu_percent"):.0f} | {r["loadgen_late_frames"]} | '
      f'{num("host_steal_percent"):.1f} |')
PY
}

held=""; outcome=""
echo "| calls | held | daemon CPU % | CPU %/call | loss % | jitter max ms (carrier/endpoint) | generator CPU % | late frames | steal % |"
echo "|---|---|---|---|---|---|---|---|---|"
for ((n = from; n <= to; n += step)); do
    for ((attempt = 0; attempt <= ${RETRIES:-2}; attempt++)); do
        PSTN_BRIDGE__ADMISSION__MAX_CPU_PERCENT=0 SKIP_BUILD=$skip_build JSON="$work/$n.json" \
            benches/load.sh "$mode" "$n" "$rate" "$hold" > "$work/$n.log" 2>&1 || {
            echo "load.sh failed at $n calls:" >&2; tail -20 "$work/$n.log" >&2; exit 1; }
        skip_build=1
        verdict=$(judge "$work/$n.json")
        echo "| ${verdict#* | }"
        outcome=${verdict%% *}
        steal=${verdict#* }; steal=${steal%% *}
        [ "$outcome" != yes ] && [ "$steal" = noisy ] || break
    done
    [ "$outcome" = yes ] || break
    held=$n
    [ -z "${KEEP:-}" ] || cp "$work/$n.json" "$KEEP"
done
case $outcome in
    generator-limited) echo "$mode: the generator fell behind at $n calls; one core held ${held:-none of the steps} (more may fit)" ;;
    no) echo "$mode: one core held ${held:-none of the steps}; $n calls were not held" ;;
    unmeasured) echo "$mode: no measuring window at $n calls (every call up at once): raise HOLD" ;;
    yes) echo "$mode: one core held $held, the last step tried" ;;
esac

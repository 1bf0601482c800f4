#!/usr/bin/env bash
# SIPp call-rate measurement against the release daemon on loopback (BENCHMARKS.md,
# "SIP signaling"). Usage:
#   benches/sipp-rates.sh SCENARIO RATE [SECONDS]
#     SCENARIO: options | invite_404 | invite_echo | uas   (uas: sipp -sn uac against sipp -sn uas)
#   Prints SIPp's final counters; a run passes when Failed calls = 0 and Retransmissions = 0.
#   ADMISSION=off turns off admission by measured load (its priors refuse some calls in
#   the first second of a burst), to read the raw signaling capacity.
# The daemon is pinned to CPU 0 and SIPp to CPU 1 (taskset); check `uptime` first: other
# builds on the machine skew the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?scenario}; rate=${2:?rate}; secs=${3:-20}
calls=$((rate * secs))
work=$(mktemp -d)
trap 'kill "${daemon:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

sip_port=${SIP_PORT:-15060}
if [ "$scenario" != uas ]; then
    cargo build --release --quiet
    sed -e "s/127.0.0.1:5060\"/127.0.0.1:${sip_port}\"/" \
        -e 's/127.0.0.1:8080/127.0.0.1:18080/' \
        -e 's/^max_transactions = .*/max_transactions = 1000000/' \
        -e 's/^port_min = .*/port_min = 40000/' \
        -e 's/^port_max = .*/port_max = 59999/' \
        -e "s/^max_cpu_percent = .*/max_cpu_percent = $([ "${ADMISSION:-on}" = off ] && echo 0 || echo 85)/" \
        config/default.toml > "$work/config.toml"
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    PSTN_BRIDGE_LOG=warn taskset -c 0 "$target_dir/release/pstn-bridge" --config "$work/config.toml" \
        2> "$work/daemon.log" &
    daemon=$!
else
    taskset -c 0 sipp -sn uas -i 127.0.0.1 -p "$sip_port" -nostdin -buff_size 4194304 \
        > /dev/null 2>&1 &
    daemon=$!
fi
sleep 1

case $scenario in
    options) sf=tests/sipp/options.xml; service=ping ;;
    invite_404) sf=tests/sipp/bench_invite_404.xml; service=+14155550111 ;;
    invite_echo|uas) sf=tests/sipp/bench_invite_echo.xml; service=+14155550199 ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac

echo "load before: $(uptime)"
taskset -c 1 timeout $((secs + 60)) sipp -sf "$sf" 127.0.0.1:"$sip_port" -s "$service" \
    -i 127.0.0.1 -p 15070 -r "$rate" -rp 1000 -m "$calls" -l $((rate * 4 + 100)) \
    -buff_size 4194304 -nostdin -timeout $((secs + 50))s -timeout_error \
    -trace_stat -stf "$work/stat.csv" -fd 1 > "$work/sipp.out" 2>&1 || true
echo "load after:  $(uptime)"
if [ "$scenario" != uas ]; then
    # What the daemon saw: dropped datagrams and answers by code.
    curl -s 127.0.0.1:18080/metrics | grep -E '^(sip_(dropped|responses|requests)|process_cpu_seconds_total)' || true
fi
grep -E 'Dead call|Unexpected|Timeout' "$work/sipp.out" | tail -5 || true
python3 - "$work/stat.csv" "$secs" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
v = dict(zip(head, last))
print(f"elapsed={v['ElapsedTime(C)']} successful={v['SuccessfulCall(C)']} failed={v['FailedCall(C)']} "
      f"retransmissions={v['Retransmissions(C)']} rate={float(v['CallRate(C)']):.0f}/s")
PY

#!/usr/bin/env bash
# Restart time of meridian on a kept data dir (e.g. KEEP_DATA=1
# bench/churn_bench.sh --only meridian): RUNS times, a fresh copy of the dir,
# start, seconds until a query at --time answers with data, the server's CPU
# seconds and VmRSS then, and its "storage opened" log line (where start-up
# time went). The server it started is stopped by PID.
#
# Usage: bench/restart_time.sh DATA_DIR TIME_S [RUNS=3] [QUERY]
# Environment: MERIDIAN_BIN, MERIDIAN_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$1
TIME_S=$2
RUNS=${3:-3}
QUERY=${4:-count(process_cpu_seconds_total)}
MERIDIAN_BIN=${MERIDIAN_BIN:-build/release/server/meridian}
MERIDIAN_FLAGS=${MERIDIAN_FLAGS:-}
# shellcheck source=bench/lib.sh
source bench/lib.sh
WORK=$(mktemp -d /tmp/meridian-restart.XXXXXX)
PID=""
cleanup() {
  [[ -n "$PID" ]] && stop_pid "$PID" 10
  rm -rf "$WORK"
}
trap cleanup EXIT
TICKS=$(getconf CLK_TCK)
for ((i = 0; i < RUNS; i++)); do
  rm -rf "$WORK/data"
  cp -a "$SRC" "$WORK/data"
  port=$(free_port)
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2086
  "$MERIDIAN_BIN" --listen "127.0.0.1:$port" --data-dir "$WORK/data" $MERIDIAN_FLAGS >"$WORK/log" 2>&1 &
  PID=$!
  while kill -0 "$PID" 2>/dev/null; do
    body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$QUERY" \
      --data-urlencode "time=$TIME_S" 2>/dev/null || true)
    [[ "$body" == *'"result":[{'* ]] && break
    sleep 0.02
  done
  t1=$EPOCHREALTIME
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
  cpu=$(cpu_ticks "$PID")
  stop_pid "$PID" 30
  wait "$PID" 2>/dev/null || true
  PID=""
  awk -v a="$t0" -v b="$t1" -v c="$cpu" -v k="$TICKS" -v r="$rss" \
    'BEGIN{printf "restart %.2f s, server CPU %.2f s, RSS %d MiB\n", b-a, c/k, r/1024}'
  grep 'storage opened' "$WORK/log" || true
done

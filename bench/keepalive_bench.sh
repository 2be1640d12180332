#!/usr/bin/env bash
# Keep-alive benchmark: meridian vs VictoriaMetrics vs Prometheus with
# persistent connections, as Grafana, the HPA and Prometheus' remote-write
# queue use them (bench/query_bench.sh opens a new connection per request and
# cannot see per-connection effects such as Nagle's delay or a request cap).
#
# 1. Starts the three servers on free loopback ports with fresh data dirs.
# 2. Remote-write, Prometheus-like: the same meridian-loadgen data into each
#    server (one after the other) over --writers keep-alive connections with
#    TCP_NODELAY (Go's default), --batch samples a request; samples/s and
#    p50/p99 request latency (every attempt, client side).
# 3. Queries over keep-alive connections (meridian-keepalive-client: one
#    request at a time per connection, --connections connections), servers
#    interleaved query by query, p50/p99 client-side per server:
#      tiny:    instant sum(up) at the end of the data (a stat panel)
#      typical: query_range sum by (region) (rate(http_requests_total[5m]))
#               over the loaded span at step 15 s (a graph panel)
# The servers it started are stopped (by PID) on exit; every phase has a time
# limit.
#
# Usage: bench/keepalive_bench.sh [--series N] [--scrapes N] [--writers N] [--batch N]
#                                 [--connections N] [--tiny N] [--typical N]
#   default: 20000 series x 40 scrapes (10 min), 50 writers, batch 500,
#            4 query connections, 500 tiny and 100 typical requests per connection.
# Environment:
#   MERIDIAN_BIN, LOADGEN_BIN, CLIENT_BIN, VM_BIN, PROM_BIN (defaults: build/release, /usr/bin)
#   MERIDIAN_FLAGS  extra flags for meridian
#   PHASE_TIMEOUT_S time limit of each load/query phase, default 600
#   KEEP_DATA=1     keep the temp dir with data and logs
set -euo pipefail
cd "$(dirname "$0")/.."

SERIES=20000
SCRAPES=40
WRITERS=50
BATCH=500
CONNS=4
TINY=500
TYPICAL=100
while [[ $# -gt 0 ]]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    --writers) WRITERS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --tiny) TINY=$2; shift 2 ;;
    --typical) TYPICAL=$2; shift 2 ;;
    *) echo "keepalive_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

MERIDIAN_BIN=${MERIDIAN_BIN:-build/release/server/meridian}
MERIDIAN_FLAGS=${MERIDIAN_FLAGS:-}
LOADGEN_BIN=${LOADGEN_BIN:-build/release/bench/meridian-loadgen}
CLIENT_BIN=${CLIENT_BIN:-build/release/bench/meridian-keepalive-client}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
PROM_BIN=${PROM_BIN:-/usr/bin/prometheus}
PHASE_TIMEOUT_S=${PHASE_TIMEOUT_S:-600}

for b in "$MERIDIAN_BIN" "$LOADGEN_BIN" "$CLIENT_BIN" "$VM_BIN" "$PROM_BIN"; do
  [[ -x "$b" ]] || { echo "keepalive_bench.sh: no executable $b" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
source bench/lib.sh

WORK=$(mktemp -d /tmp/meridian-keepalive-bench.XXXXXX)
declare -A PID PORT
trap stop_servers EXIT
trap 'exit 130' INT TERM

NOW_MS=$(($(date +%s) * 1000))
START_MS=$(( (NOW_MS - SCRAPES * 15000 - 120000) / 60000 * 60000 ))
END_MS=$(( START_MS + SCRAPES * 15000 ))
SERVERS=(meridian vm prometheus)
for n in "${SERVERS[@]}"; do start_server "$n"; done

declare -A W
for n in "${SERVERS[@]}"; do
  echo "== remote-write into $n: $WRITERS keep-alive connections" >&2
  if ! timeout "$PHASE_TIMEOUT_S" "$LOADGEN_BIN" --url "http://127.0.0.1:${PORT[$n]}/api/v1/write" \
      --series "$SERIES" --scrapes "$SCRAPES" --concurrency "$WRITERS" --batch "$BATCH" \
      --start-ms "$START_MS" >"$WORK/$n.loadgen" 2>&1; then
    echo "loadgen against $n failed or timed out:" >&2
    tail -5 "$WORK/$n.loadgen" >&2
    exit 1
  fi
  grep -E '^(sent|RESULT|failed|retried)' "$WORK/$n.loadgen" >&2
  W[$n]=$(grep '^RESULT' "$WORK/$n.loadgen")
done
curl -fsS --max-time 60 "http://127.0.0.1:${PORT[vm]}/internal/force_flush" >/dev/null || true
sleep 5

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
TINY_PATH="/api/v1/query?query=$(urlencode 'sum(up)')&time=$((END_MS / 1000))"
TYPICAL_PATH="/api/v1/query_range?query=$(urlencode 'sum by (region) (rate(http_requests_total[5m]))')&start=$((START_MS / 1000))&end=$((END_MS / 1000))&step=15"

# Every server must answer both queries with data before they are timed.
for n in "${SERVERS[@]}"; do
  for p in "$TINY_PATH" "$TYPICAL_PATH"; do
    body=$(curl -fsS --max-time 60 "http://127.0.0.1:${PORT[$n]}$p")
    grep -q '"result":\[{' <<<"$body" || { echo "$n: empty answer to $p: ${body:0:300}" >&2; exit 1; }
  done
done

declare -A Q
for kind in tiny typical; do
  if [[ $kind == tiny ]]; then path=$TINY_PATH; reqs=$TINY; else path=$TYPICAL_PATH; reqs=$TYPICAL; fi
  for n in "${SERVERS[@]}"; do
    echo "== $kind queries against $n: $CONNS keep-alive connections x $reqs" >&2
    out=$(timeout "$PHASE_TIMEOUT_S" "$CLIENT_BIN" --url "http://127.0.0.1:${PORT[$n]}" \
      --path "$path" --connections "$CONNS" --requests "$reqs" --warmup 20) || {
      echo "$kind queries against $n failed: $out" >&2; exit 1; }
    echo "$out" >&2
    Q[$kind.$n]=$(grep '^RESULT' <<<"$out")
  done
done

field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<" $1"; }
echo
echo "keep-alive benchmark: $SERIES series x $SCRAPES scrapes (15 s); $(nproc) cores"
printf '%-34s %14s %14s %14s\n' "" meridian VictoriaMetrics Prometheus
for kind in tiny typical; do
  for f in p50_ms p99_ms rps; do
    printf '%-34s' "$kind query ($CONNS conns) $f"
    for n in "${SERVERS[@]}"; do printf ' %14s' "$(field "${Q[$kind.$n]}" "$f")"; done
    echo
  done
done
for f in samples_per_s p50_ms p99_ms; do
  printf '%-34s' "remote-write ($WRITERS conns) $f"
  for n in "${SERVERS[@]}"; do printf ' %14s' "$(field "${W[$n]}" "$f")"; done
  echo
done
echo "tiny: instant sum(up); typical: query_range sum by (region) (rate(http_requests_total[5m])) over $((SCRAPES * 15 / 60)) min at step 15s"
echo "remote-write: batch $BATCH samples, snappy protobuf, latency of every attempt"

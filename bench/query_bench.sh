#!/usr/bin/env bash
# Query benchmark: meridian vs VictoriaMetrics vs Prometheus on the same data.
#
# Starts the three servers on free loopback ports with fresh data dirs, loads
# the SAME meridian-loadgen data into each (same seed, same --start-ms, one
# server after the other), settles them (VM force_flush; every server must
# report `count({__name__=~".+"})` == --series at the end of the span), then
# runs bench/query_bench.py: every dashboard-style query as a query_range over
# the loaded span at step 60 s, --reps runs per server (first one discarded),
# servers interleaved run by run; median and p90 client-side wall time; the
# answers are cross-checked (meridian vs Prometheus strictly, VM loosely);
# peak RSS (VmHWM) after the query phase. The servers it started are stopped
# (by PID) on exit; every phase has a time limit.
#
# Usage: bench/query_bench.sh [--series N] [--scrapes N] [--reps N] [--step S]
#                             [--concurrency N] [--batch N] [--only q1,q2]
#   default: 100000 series x 120 scrapes (30 min at 15 s), 7 reps, step 60 s.
#   Quick run: bench/query_bench.sh --series 20000
# Environment:
#   MERIDIAN_BIN    default build/release/server/meridian
#   MERIDIAN_FLAGS  extra flags for meridian
#   LOADGEN_BIN     default build/release/bench/meridian-loadgen
#   VM_BIN          default /usr/bin/victoria-metrics
#   PROM_BIN        default /usr/bin/prometheus
#   LOAD_TIMEOUT_S  time limit of each server's load, default 900
#   SETTLE_TIMEOUT_S time limit of each settle phase, default 180
#   QUERY_BUDGET_S  after this many seconds of query phase, queries get fewer runs; default 1500
#   QUERY_TIMEOUT_S per-request timeout, default 120
#   JSON_OUT        also write the results as JSON here
#   KEEP_DATA=1     keep the temp dir with data and logs
#   HOLD=1          after the query phase, keep the servers up (prints their
#                   URLs and PIDs) for HOLD_S seconds (default 600) or until this
#                   script gets SIGTERM/SIGINT, for profiling
set -euo pipefail
cd "$(dirname "$0")/.."

SERIES=100000
SCRAPES=120
REPS=7
STEP=60
CONCURRENCY=4
BATCH=2000
ONLY=""
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck disable=SC2034  # read by parse_opts
declare -A OPTS=([--series]=SERIES [--scrapes]=SCRAPES [--reps]=REPS [--step]=STEP
  [--concurrency]=CONCURRENCY [--batch]=BATCH [--only]=ONLY)
parse_opts query_bench.sh "$@"
LOAD_TIMEOUT_S=${LOAD_TIMEOUT_S:-900}
SETTLE_TIMEOUT_S=${SETTLE_TIMEOUT_S:-180}
QUERY_BUDGET_S=${QUERY_BUDGET_S:-1500}
QUERY_TIMEOUT_S=${QUERY_TIMEOUT_S:-120}

for b in "$MERIDIAN_BIN" "$LOADGEN_BIN" "$VM_BIN" "$PROM_BIN"; do
  [[ -x "$b" ]] || { echo "query_bench.sh: no executable $b (see the environment variables)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/meridian-query-bench.XXXXXX)
declare -A PID PORT
PROM_FLAGS="--query.timeout=5m --query.max-samples=500000000"
trap stop_servers EXIT
trap 'exit 130' INT TERM

# Same data everywhere: fixed seed (loadgen default), fixed start aligned to
# the step, ending at least 2 min before now.
NOW_MS=$(($(date +%s) * 1000))
STEP_MS=$((STEP * 1000))
START_MS=$(( (NOW_MS - SCRAPES * 15000 - 120000) / STEP_MS * STEP_MS ))
END_MS=$(( START_MS + (SCRAPES * 15000) / STEP_MS * STEP_MS ))
SPAN_MIN=$(( (END_MS - START_MS) / 60000 ))
echo "data: $SERIES series x $SCRAPES scrapes from $START_MS; query range $START_MS..$END_MS step ${STEP}s" >&2

SERVERS=(meridian vm prometheus)
for n in "${SERVERS[@]}"; do start_server "$n"; done

declare -A LOAD_S
for n in "${SERVERS[@]}"; do
  echo "== loading $n" >&2
  t0=$(date +%s.%N)
  conc=$CONCURRENCY
  if [[ $n == prometheus ]] && ((SCRAPES * 15 > 3600)); then
    # Prometheus rejects samples more than 1 h older than its newest
    # ("out of bounds"); over a long span parallel connections drift apart
    # by more than that. One connection keeps every round in order.
    conc=1
    echo "   (prometheus: --concurrency 1, the span is longer than 1 h)" >&2
  fi
  if ! timeout "$LOAD_TIMEOUT_S" "$LOADGEN_BIN" --url "http://127.0.0.1:${PORT[$n]}/api/v1/write" \
      --series "$SERIES" --scrapes "$SCRAPES" --concurrency "$conc" --batch "$BATCH" \
      --start-ms "$START_MS" >"$WORK/$n.loadgen" 2>&1; then
    echo "loadgen against $n failed or timed out:" >&2
    tail -5 "$WORK/$n.loadgen" >&2
    exit 1
  fi
  LOAD_S[$n]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}')
  grep -E '^(sent|RESULT|failed|retried)' "$WORK/$n.loadgen" >&2
  ok=$(sed -n 's/.*samples_ok=\([0-9]*\).*/\1/p' "$WORK/$n.loadgen")
  total=$(sed -n 's/.*samples_total=\([0-9]*\).*/\1/p' "$WORK/$n.loadgen")
  [[ "$ok" == "$total" ]] || { echo "$n accepted $ok of $total samples" >&2; exit 1; }
done

# Settle: VM flushes its in-memory parts; all must see every series at the end.
curl -fsS --max-time 60 "http://127.0.0.1:${PORT[vm]}/internal/force_flush" >/dev/null || true
count_series() {  # name
  curl -fsS --max-time 60 "http://127.0.0.1:${PORT[$1]}/api/v1/query" \
    --data-urlencode 'query=count({__name__=~".+"})' --data-urlencode "time=$((END_MS / 1000))" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
for n in "${SERVERS[@]}"; do
  deadline=$((SECONDS + SETTLE_TIMEOUT_S))
  while :; do
    c=$(count_series "$n" 2>/dev/null || echo "?")
    [[ "$c" == "$SERIES" ]] && break
    if ((SECONDS >= deadline)); then
      echo "$n sees $c series at the end of the span, want $SERIES" >&2; exit 1
    fi
    sleep 2
  done
  echo "== $n settled: $c series" >&2
done
sleep 5  # let background work (VM merges, meridian flushes) calm down

declare -A HWM_LOAD
for n in "${SERVERS[@]}"; do
  HWM_LOAD[$n]=$(hwm_kb "${PID[$n]}")
  # Reset the peak-RSS counter (Linux clear_refs 5) so VmHWM after the query
  # phase is the peak of the query phase alone.
  echo 5 >"/proc/${PID[$n]}/clear_refs" 2>/dev/null || echo "cannot reset VmHWM of $n" >&2
done

echo "== query phase" >&2
args=()
for n in "${SERVERS[@]}"; do args+=(--server "$n=http://127.0.0.1:${PORT[$n]},${PID[$n]}"); done
[[ -n "$ONLY" ]] && args+=(--only "$ONLY")
[[ -n "${JSON_OUT:-}" ]] && args+=(--json "$JSON_OUT")
rc=0
timeout $((QUERY_BUDGET_S + 900)) python3 bench/query_bench.py "${args[@]}" --start "$START_MS" \
  --end "$END_MS" --step "$STEP" --span "${SPAN_MIN}m" --reps "$REPS" \
  --budget "$QUERY_BUDGET_S" --timeout "$QUERY_TIMEOUT_S" || rc=$?

echo "peak RSS during load+settle (VmHWM, MiB): $(for n in "${SERVERS[@]}"; do
  printf '%s %s, ' "$n" "$(awk -v k="${HWM_LOAD[$n]}" 'BEGIN{printf "%.0f", k/1024}')"; done | sed 's/, $//')"
echo "load wall time (s, incl. loadgen encoding): $(for n in "${SERVERS[@]}"; do
  printf '%s %s, ' "$n" "${LOAD_S[$n]}"; done | sed 's/, $//')"
echo "data: $SERIES series x $SCRAPES scrapes (15 s), range $SPAN_MIN min at step ${STEP}s; $(nproc) cores"

if [[ "${HOLD:-0}" == 1 ]]; then
  for n in "${SERVERS[@]}"; do echo "holding $n: http://127.0.0.1:${PORT[$n]} pid ${PID[$n]}" >&2; done
  echo "range: start=$((START_MS / 1000)) end=$((END_MS / 1000)) step=$STEP; holding ${HOLD_S:-600}s (kill $$ to stop)" >&2
  sleep "${HOLD_S:-600}" &
  wait $! || true
fi
exit "$rc"

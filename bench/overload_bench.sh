#!/usr/bin/env bash
# Overload benchmark: many concurrent remote-write writers plus dashboard
# queries, then SIGKILL, against meridian and VictoriaMetrics in the same run.
#
# For each server (fresh data dir, defaults: meridian fsyncs its WAL before
# every acknowledgement, --sync-wal=true):
#   1. meridian-loadgen sends for --duration seconds on --writers keep-alive
#      connections, each writer owning --series-per-writer series (one
#      request = one sample of each of its series, Prometheus-style retries);
#      every series carries bench_writer="<writer>";
#   2. meanwhile a probe runs a dashboard range query (sum by writer of
#      rate(http_requests_total[5m]) over the first hour of data, step 60 s)
#      every 200 ms on a fresh connection and records its latency;
#   3. when the duration is up the server gets SIGKILL while requests are in
#      flight; the loadgen reports how many requests each writer had
#      acknowledged (a prefix of its rounds);
#   4. the server restarts on the same data dir, and for every writer the
#      script checks that each of its series holds at least the samples of
#      the writer's acknowledged requests (count_over_time over all data).
# Prints acknowledged samples/s, probe latency p50/p99/max and failures,
# series missing acknowledged samples, and samples stored vs acknowledged.
#
# Usage: bench/overload_bench.sh [--writers 16] [--series-per-writer 500]
#                                [--duration 30] [--scrapes 3600] [--only meridian|vm]
# Environment: MERIDIAN_BIN, MERIDIAN_FLAGS, LOADGEN_BIN, VM_BIN, KEEP_DATA=1
# (as bench/ingest_bench.sh). Servers it started are stopped (by PID) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

WRITERS=16
PER_WRITER=500
DURATION=30
SCRAPES=3600
ONLY=""
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck disable=SC2034  # read by parse_opts
declare -A OPTS=([--writers]=WRITERS [--series-per-writer]=PER_WRITER [--duration]=DURATION
  [--scrapes]=SCRAPES [--only]=ONLY)
parse_opts overload_bench.sh "$@"
SERIES=$((WRITERS * PER_WRITER))
WORK=$(mktemp -d /tmp/meridian-overload-bench.XXXXXX)
declare -A PID PORT
PROBE_PID=""
LOADGEN_PID=""
SAMPLER_PID=""
cleanup() {
  [[ -n "$PROBE_PID" ]] && kill "$PROBE_PID" 2>/dev/null || true
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
  [[ -n "$LOADGEN_PID" ]] && kill "$LOADGEN_PID" 2>/dev/null || true
  stop_servers
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The probe: one dashboard range query every 200 ms, latency (s) or FAIL per line.
probe_loop() {  # base_url start_s out_file
  local url="$1/api/v1/query_range" start=$2 out=$3 code t
  while true; do
    read -r code t < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 10 \
      --data-urlencode 'query=sum by (bench_writer) (rate(http_requests_total[5m]))' \
      --data-urlencode "start=$start" --data-urlencode "end=$((start + 3600))" \
      --data-urlencode 'step=60' "$url" || echo "000 10")
    if [[ $code == 200 ]]; then echo "$t"; else echo "FAIL $code $t"; fi >>"$out"
    sleep 0.2
  done
}

# The timeline: once a second, the load average and the server's counters of
# ingested samples (meridian: meridian_ingest_samples_total; VictoriaMetrics:
# vm_rows_inserted_total of remote write), checkpoints and RocksDB write-stall
# seconds, synced WAL writes, the appends they carried and their seconds
# (meridian only); one line "epoch_s load1 samples checkpoints stall_s syncs
# synced_appends sync_s".
sample_loop() {  # base_url out_file
  local m t
  while true; do
    t=$EPOCHREALTIME
    m=$(curl -s --max-time 1 "$1/metrics" | awk '
      /^meridian_ingest_samples_total[ {]/ || /^vm_rows_inserted_total\{type="promremotewrite"\}/ { s += $NF }
      /^meridian_checkpoints_total[ {]/ { c += $NF }
      /^meridian_rocksdb_write_stall_seconds_total[ {]/ { w += $NF }
      /^meridian_wal_syncs_total[ {]/ { n += $NF }
      /^meridian_wal_synced_appends_total[ {]/ { a += $NF }
      /^meridian_wal_sync_seconds_total[ {]/ { y += $NF }
      END { printf "%.0f %d %.3f %.0f %.0f %.3f", s, c, w, n, a, y }')
    echo "$t $(cut -d' ' -f1 /proc/loadavg) $m" >>"$2"
    sleep 1
  done
}

# From a timeline: "load_min-load_max worst_5s_rate median_1s_rate checkpoints
# stall_s appends_per_sync mean_sync_ms" (the last two "-" without syncs).
timeline_summary() {  # file
  python3 - "$1" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 8]
if len(rows) < 7:
    print("- - - - - - -")
    sys.exit()
# Up to the first line with the final count (the loadgen may run out of rounds early).
rows = rows[: next(i for i, r in enumerate(rows) if r[2] == rows[-1][2]) + 1]
if len(rows) < 7:
    print("- - - - - - -")
    sys.exit()
t, load, s, c, w, n, a, y = zip(*rows)
syncs = n[-1] - n[0]
per_sync = f"{(a[-1] - a[0]) / syncs:.1f}" if syncs > 0 else "-"
sync_ms = f"{(y[-1] - y[0]) * 1000 / syncs:.2f}" if syncs > 0 else "-"
worst = min((s[i + 5] - s[i]) / (t[i + 5] - t[i]) for i in range(1, len(rows) - 5))
med = statistics.median((s[i + 1] - s[i]) / (t[i + 1] - t[i]) for i in range(1, len(rows) - 1))
print(f"{min(load[1:]):.2f}-{max(load[1:]):.2f} {worst:.0f} {med:.0f} {c[-1] - c[0]:.0f} {w[-1] - w[0]:.1f} {per_sync} {sync_ms}")
PY
}

query_value() {  # base_url promql -> the first value of an instant query (or "")
  curl -s --max-time 120 --data-urlencode "query=$2" "$1/api/v1/query" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}

declare -A R
run_one() {  # meridian|vm
  local name=$1 base out probe_out start_ms start_s
  start_server "$name"
  base="http://127.0.0.1:${PORT[$name]}"
  out="$WORK/$name.loadgen"
  probe_out="$WORK/$name.probe"
  : >"$probe_out"
  start_ms=$(( $(date +%s) * 1000 - SCRAPES * 15000 - 60000 ))
  start_s=$((start_ms / 1000))
  "$LOADGEN_BIN" --url "$base/api/v1/write" --series "$SERIES" --batch "$PER_WRITER" \
    --concurrency "$WRITERS" --scrapes "$SCRAPES" --start-ms "$start_ms" \
    --duration "$DURATION" --writer-label true >"$out" 2>"$WORK/$name.loadgen.err" &
  LOADGEN_PID=$!
  until grep -q '^encoded' "$out" 2>/dev/null; do
    kill -0 "$LOADGEN_PID" 2>/dev/null || { echo "loadgen failed:" >&2; cat "$WORK/$name.loadgen.err" >&2; exit 1; }
    sleep 0.2
  done
  probe_loop "$base" "$start_s" "$probe_out" &
  PROBE_PID=$!
  : >"$WORK/$name.timeline"
  sample_loop "$base" "$WORK/$name.timeline" &
  SAMPLER_PID=$!
  local cpu0 cpu1
  cpu0=$(cpu_ticks "${PID[$name]}")
  sleep "$DURATION"
  cpu1=$(cpu_ticks "${PID[$name]}")
  # The probe stops first (a probe cut by the kill is not a slow answer).
  kill "$PROBE_PID" "$SAMPLER_PID" 2>/dev/null || true
  wait "$PROBE_PID" "$SAMPLER_PID" 2>/dev/null || true
  PROBE_PID=""
  SAMPLER_PID=""
  read -r "R[$name.load]" "R[$name.worst5]" "R[$name.med1]" "R[$name.ckpt]" "R[$name.stall]" \
    "R[$name.per_sync]" "R[$name.sync_ms]" \
    < <(timeline_summary "$WORK/$name.timeline")
  kill -9 "${PID[$name]}"
  wait "${PID[$name]}" 2>/dev/null || true
  wait "$LOADGEN_PID" || true
  LOADGEN_PID=""
  cat "$out" >&2

  local secs ok
  secs=$(sed -n 's/^RESULT.*seconds=\([0-9.]*\).*/\1/p' "$out")
  ok=$(sed -n 's/^RESULT samples_ok=\([0-9]*\).*/\1/p' "$out")
  R[$name.rate]=$(awk -v s="$ok" -v t="$secs" 'BEGIN{printf "%.0f", (t>0)?s/t:0}')
  R[$name.acked]=$ok
  R[$name.cpu]=$(awk -v t="$((cpu1 - cpu0))" -v k="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/k}')
  R[$name.probe]=$(grep -v FAIL "$probe_out" | sort -n | awk '
      function at(q,  i) { i = int(NR * q + 0.5); if (i < 1) i = 1; return v[i] }
      { v[NR] = $1 }
      END { if (NR == 0) { print "- - - 0"; exit } printf "%.3f %.3f %.3f %d", at(0.5), at(0.99), v[NR], NR }')
  R[$name.probe_fail]=$(grep -c FAIL "$probe_out" || true)

  # Restart on the same data dir and check every writer's acknowledged samples.
  start_server "$name"
  base="http://127.0.0.1:${PORT[$name]}"
  local range=$((SCRAPES * 15 + 3600)) missing=0 w k n stored
  for ((w = 0; w < WRITERS; ++w)); do
    k=$(sed -n "s/^ACKED writer=$w requests=\([0-9]*\)/\1/p" "$out")
    [[ -z "$k" || "$k" == 0 ]] && continue
    n=$(query_value "$base" "count(count_over_time({bench_writer=\"$w\"}[${range}s]) >= $k)")
    missing=$((missing + PER_WRITER - ${n%.*}))
  done
  stored=$(query_value "$base" "sum(count_over_time({bench_writer!=\"\"}[${range}s]))")
  R[$name.missing]=$missing
  R[$name.stored]=${stored%.*}
  stop_pid "${PID[$name]}" 30
  unset "PID[$name]"
}

if [[ "$ONLY" != vm ]]; then run_one meridian; fi
if [[ "$ONLY" != meridian ]]; then run_one vm; fi

echo
echo "overload: $WRITERS writers x $PER_WRITER series, ${DURATION}s, SIGKILL at the end; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %18s %18s\n' "" meridian victoria-metrics
row() { printf '%-44s %18s %18s\n' "$1" "${R[meridian.$2]:--}" "${R[vm.$2]:--}"; }
row "acknowledged samples/s" rate
row "server CPU-s during the load" cpu
probe_field() { local v=${R[$1.probe]:-"- - - -"}; awk -v i="$2" '{print $i}' <<<"$v"; }
printf '%-44s %18s %18s\n' "probe latency p50 / p99 / max (s)" \
  "$(probe_field meridian 1) / $(probe_field meridian 2) / $(probe_field meridian 3)" \
  "$(probe_field vm 1) / $(probe_field vm 2) / $(probe_field vm 3)"
printf '%-44s %18s %18s\n' "probes answered / failed" \
  "$(probe_field meridian 4) / ${R[meridian.probe_fail]:--}" "$(probe_field vm 4) / ${R[vm.probe_fail]:--}"
row "acknowledged samples" acked
row "samples stored after SIGKILL + restart" stored
row "series missing acknowledged samples" missing
row "load average (1 min) during the load" load
row "ingested samples/s, median second" med1
row "ingested samples/s, slowest 5 s" worst5
row "checkpoints during the load" ckpt
row "RocksDB write-stall seconds during the load" stall
row "appends per synced WAL write" per_sync
row "synced WAL write, mean (ms)" sync_ms

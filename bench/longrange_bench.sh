#!/usr/bin/env bash
# Long-range benchmark (issue 8): downsampled meridian vs VictoriaMetrics vs
# Prometheus on a month of backfilled data.
#
# Default mode (--days 30):
#   1. meridian-longrange-gen (bench/longrange_gen.cc) makes --days of 15 s scrapes of
#      4 targets x 82 series (counters with resets, gauges, classic histograms; values
#      change at every scrape), ending 10 min before now.
#   2. Prometheus 2.42 gets it as TSDB blocks: the same data as OpenMetrics text,
#      `promtool tsdb create-blocks-from openmetrics --max-block-duration=1458h`
#      (blocks Prometheus never compacts again), then prometheus starts on them.
#   3. meridian (default configuration) and VictoriaMetrics 1.79 get it through
#      remote-write: oldest first, 2-hour requests, 2 connections (series sharded).
#   4. All three must hold every series at the end; meridian and VM are flushed.
#   5. A compactor pass on meridian (POST /internal/compact), run while a second writer
#      ingests fresh data into another tenant and a dashboard query runs back to back,
#      after a baseline window of the same load without a pass
#      (bench/longrange_concurrent.py).
#   6. The 42 dashboard items (bench/longrange_queries.py: 21 expressions over 30 days
#      at a 1 h step and over 7 days at a 5 m step) on all three, keep-alive, meridian
#      with max_source_resolution=auto; answers checked against Prometheus's.
#   7. Disk use of the three.
# --disk mode (e.g. --disk --days 90): meridian (and VM unless --no-vm) only: backfill,
#   flush, disk bytes per raw sample; then one compactor pass alone (compactor throughput:
#   raw samples read per meridian CPU-second) and disk bytes per raw sample after it.
#   meridian runs with --compact-interval 0 here so the background pass cannot start in
#   the middle of the backfill (see docs/benchmarks.md).
#
# Usage: bench/longrange_bench.sh [--days D] [--targets N] [--reps N] [--only q1,q2] [--end-ms MS]
#                                 [--pass-alone] [--disk [--no-vm]] [--warm | --meridian-cache-only]
# Caches of answers (docs/query-cache.md), like for like by default: neither answers from one
#   (meridian's requests carry nocache=1, VictoriaMetrics runs with -search.disableCache,
#   bench/lib.sh), so every timed pass evaluates. --warm: both answer from their caches
#   (meridian's results cache, VM's rollup result cache: the timed passes follow an untimed
#   warm-up pass). --meridian-cache-only: meridian's cache on, VM's off (not a comparison of
#   like with like; for looking at the cache alone).
# --pass-alone: the 30-day mode's pass runs with nothing else (its throughput is printed)
#   instead of under the concurrent load.
# --end-ms: the data's end (default: 10 min before now, on a whole minute).
# Environment: MERIDIAN_BIN, GEN_BIN, VM_BIN, PROM_BIN, PROMTOOL_BIN, MERIDIAN_FLAGS,
#   PROM_BLOCKS_CACHE=dir (keep Prometheus's blocks there and reuse them when a later run has
#   the same --days, --targets and --end-ms: promtool is the slowest step),
#   KEEP_DATA=1 (keep the scratch dir), JSON_OUT=prefix (write JSON results to prefix.*.json),
#   BEFORE_ITEMS_HOOK=command (run with bash -c right before the dashboard items, with
#   MERIDIAN_URL, MERIDIAN_PID, VM_URL, PROMETHEUS_URL and BENCH_WORK exported: to inspect or
#   profile the live servers in the state the timed passes meet; the bench waits for it).
set -euo pipefail
cd "$(dirname "$0")/.."

DAYS=30
TARGETS=4
REPS=3
ONLY=""
DISK=0
WITH_VM=1
PASS_ALONE=0
END_MS=""
CACHES=cold
while [[ $# -gt 0 ]]; do
  case "$1" in
    --days) DAYS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --disk) DISK=1; shift ;;
    --no-vm) WITH_VM=0; shift ;;
    --pass-alone) PASS_ALONE=1; shift ;;
    --end-ms) END_MS=$2; shift 2 ;;
    --warm) CACHES=warm; shift ;;
    --meridian-cache-only) CACHES=meridian-only; shift ;;
    *) echo "longrange_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

MERIDIAN_BIN=${MERIDIAN_BIN:-build/release/server/meridian}
GEN_BIN=${GEN_BIN:-build/release/bench/meridian-longrange-gen}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
PROM_BIN=${PROM_BIN:-/usr/bin/prometheus}
PROMTOOL_BIN=${PROMTOOL_BIN:-/usr/bin/promtool}
MERIDIAN_FLAGS=${MERIDIAN_FLAGS:-}
for b in "$MERIDIAN_BIN" "$GEN_BIN" "$VM_BIN" "$PROM_BIN" "$PROMTOOL_BIN"; do
  [[ -x "$b" ]] || { echo "longrange_bench.sh: no executable $b" >&2; exit 1; }
done

# shellcheck source=bench/lib.sh
source bench/lib.sh
WORK=$(mktemp -d /tmp/meridian-longrange-bench.XXXXXX)
declare -A PID PORT
trap stop_servers EXIT
trap 'exit 130' INT TERM
# VM keeps data for 100 years (its default is one month); Prometheus for 10.
VM_FLAGS="-retentionPeriod=100y -search.maxQueryDuration=5m"
[[ $CACHES == warm ]] && export VM_CACHE=1
PROM_FLAGS="--storage.tsdb.retention.time=10y --query.timeout=5m"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
du_bytes() { du -s --block-size=1 "$1" | cut -f1; }
series_count() {  # name time_s
  curl -fsS --max-time 120 "http://127.0.0.1:${PORT[$1]}/api/v1/query" \
    --data-urlencode 'query=count({__name__=~".+"})' --data-urlencode "time=$2" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}

NOW_MS=$(($(date +%s) * 1000))
END_MS=${END_MS:-$(( (NOW_MS - 600000) / 60000 * 60000 ))}
END_S=$((END_MS / 1000))
GEN_ARGS=(--days "$DAYS" --targets "$TARGETS" --end-ms "$END_MS")
echo "== $(date -u +%FT%TZ) longrange bench: $DAYS days x $TARGETS targets ending $END_MS;" \
  "$(nproc) cores, load average $(loadavg)"

backfill() {  # name
  local t0 out
  t0=$(date +%s.%N)
  out="$WORK/$1.gen"
  if ! "$GEN_BIN" "${GEN_ARGS[@]}" --url "http://127.0.0.1:${PORT[$1]}/api/v1/write" \
      --request-minutes 120 --concurrency 2 >"$out" 2>&1; then
    echo "backfill of $1 failed:" >&2; tail -5 "$out" >&2; exit 1
  fi
  grep '^RESULT' "$out" | sed "s/^RESULT/$1 backfill:/"
  echo "$1 backfill wall $(secs_since "$t0") s, load average $(loadavg)"
  DATA_START=$(sed -n 's/.*start_ms=\([0-9]*\).*/\1/p' "$out" | tail -1)
  SAMPLES=$(sed -n 's/.*samples_ok=\([0-9]*\).*/\1/p' "$out")
  SERIES=$(sed -n 's/.*series=\([0-9]*\).*/\1/p' "$out" | tail -1)
}

compact_alone() {  # one compactor pass with nothing else running: time, CPU, throughput
  ticks0=$(cpu_ticks "${PID[meridian]}")
  t0=$(date +%s.%N)
  la0=$(loadavg)
  summary=$(curl -fsS -XPOST --max-time 3600 "http://127.0.0.1:${PORT[meridian]}/internal/compact")
  wall=$(secs_since "$t0")
  ticks1=$(cpu_ticks "${PID[meridian]}")
  hz=$(getconf CLK_TCK)
  echo "compactor pass: $summary"
  python3 - "$summary" "$ticks0" "$ticks1" "$hz" "$wall" "$la0" "$(loadavg)" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])["data"]
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
print("compactor pass: %.1f s wall, %.1f meridian CPU-s; %d raw samples read: %.0f raw samples/CPU-s "
      "(%.0f /s wall); load average before %s, after %s" % (
          float(sys.argv[5]), cpu, d["rawSamplesRead"], d["rawSamplesRead"] / cpu,
          d["rawSamplesRead"] / float(sys.argv[5]), sys.argv[6], sys.argv[7]))
EOF
}

if [[ $DISK == 1 ]]; then
  MERIDIAN_FLAGS="--compact-interval 0 $MERIDIAN_FLAGS"
  SERVERS=(meridian)
  [[ $WITH_VM == 1 ]] && SERVERS+=(vm)
  for n in "${SERVERS[@]}"; do start_server "$n"; done
  for n in "${SERVERS[@]}"; do backfill "$n"; done
  curl -fsS -XPOST --max-time 600 "http://127.0.0.1:${PORT[meridian]}/internal/force_flush" >/dev/null
  if [[ $WITH_VM == 1 ]]; then
    curl -fsS --max-time 600 "http://127.0.0.1:${PORT[vm]}/internal/force_flush" >/dev/null
    curl -fsS --max-time 1800 "http://127.0.0.1:${PORT[vm]}/internal/force_merge" >/dev/null
    sleep 10  # force_merge answers at once; wait for the merges to end (parts stop changing)
    prev=""
    for _ in $(seq 120); do
      cur=$(du_bytes "$WORK/vm-data")
      [[ "$cur" == "$prev" ]] && break
      prev=$cur; sleep 5
    done
    vmb=$(du_bytes "$WORK/vm-data")
    echo "vm disk after force_flush + force_merge: $vmb bytes = $(awk -v b="$vmb" -v s="$SAMPLES" 'BEGIN{printf "%.3f", b/s}') bytes/raw sample"
  fi
  before=$(du_bytes "$WORK/meridian-data")
  echo "meridian disk after backfill + force_flush: $before bytes = $(awk -v b="$before" -v s="$SAMPLES" 'BEGIN{printf "%.3f", b/s}') bytes/raw sample"
  compact_alone
  sleep 5
  after=$(du_bytes "$WORK/meridian-data")
  echo "meridian disk right after the pass: $after bytes = $(awk -v b="$after" -v s="$SAMPLES" 'BEGIN{printf "%.3f", b/s}') bytes/raw sample (RocksDB's WAL files of the pass's writes included)"
  curl -fsS -XPOST --max-time 600 "http://127.0.0.1:${PORT[meridian]}/internal/force_flush" >/dev/null
  sleep 2
  after=$(du_bytes "$WORK/meridian-data")
  echo "meridian disk after the pass (downsampling + retention) + force_flush: $after bytes = $(awk -v b="$after" -v s="$SAMPLES" 'BEGIN{printf "%.3f", b/s}') bytes/raw sample"
  curl -fsS "http://127.0.0.1:${PORT[meridian]}/metrics" | grep -E '^meridian_rocksdb_sst_bytes'
  curl -fsS "http://127.0.0.1:${PORT[meridian]}/api/v1/status/compactor" | python3 -c '
import json,sys; t=json.load(sys.stdin)["data"]["tenants"][0]; print("meridian progress:", {k: t[k] for k in t if k != "retention"})'
  echo "== done, load average $(loadavg)"
  exit 0
fi

# Prometheus: blocks made by promtool from the same data (or taken from
# PROM_BLOCKS_CACHE when it holds blocks of the same --days/--targets/--end-ms).
BLOCKS="$WORK/blocks"
STAMP="$(sha1sum <bench/longrange_gen.cc | cut -c1-40) ${GEN_ARGS[*]}"
if [[ -n "${PROM_BLOCKS_CACHE:-}" ]]; then
  BLOCKS=$PROM_BLOCKS_CACHE
  [[ "$(cat "$BLOCKS/STAMP" 2>/dev/null)" == "$STAMP" ]] || rm -rf "$BLOCKS"
fi
if [[ ! -f "$BLOCKS/STAMP" ]]; then
  t0=$(date +%s.%N)
  mkdir -p "$BLOCKS"
  "$GEN_BIN" "${GEN_ARGS[@]}" --openmetrics "$WORK/data.om" >"$WORK/om.gen"
  omb=$(stat -c %s "$WORK/data.om")
  "$PROMTOOL_BIN" tsdb create-blocks-from openmetrics --max-block-duration=1458h -q \
    "$WORK/data.om" "$BLOCKS" >"$WORK/promtool.log" 2>&1 ||
    { echo "promtool failed:" >&2; tail -5 "$WORK/promtool.log" >&2; exit 1; }
  rm -f "$WORK/data.om"
  echo "$STAMP" >"$BLOCKS/STAMP"
  echo "prometheus: $omb bytes of OpenMetrics -> blocks in $(secs_since "$t0") s, load average $(loadavg)"
else
  echo "prometheus: blocks of the same data from $BLOCKS"
fi
mkdir -p "$WORK/prometheus-data"
cp -a "$BLOCKS"/0* "$WORK/prometheus-data/"

SERVERS=(meridian vm prometheus)
for n in "${SERVERS[@]}"; do start_server "$n"; done
backfill meridian
backfill vm
curl -fsS -XPOST --max-time 600 "http://127.0.0.1:${PORT[meridian]}/internal/force_flush" >/dev/null
curl -fsS --max-time 600 "http://127.0.0.1:${PORT[vm]}/internal/force_flush" >/dev/null
for n in "${SERVERS[@]}"; do
  deadline=$((SECONDS + 180))
  while :; do
    c=$(series_count "$n" "$END_S" 2>/dev/null || echo "?")
    [[ "$c" == "$SERIES" ]] && break
    ((SECONDS < deadline)) || { echo "$n sees $c series at the end, want $SERIES" >&2; exit 1; }
    sleep 2
  done
done
echo "all three hold $SERIES series, $SAMPLES samples each"
mb0=$(du_bytes "$WORK/meridian-data")

if [[ $PASS_ALONE == 1 ]]; then
  compact_alone
else
  echo "== compactor pass under concurrent ingest and queries (load average $(loadavg))"
  python3 bench/longrange_concurrent.py --url "http://127.0.0.1:${PORT[meridian]}" \
    --gen "$GEN_BIN" --end "$END_S" ${JSON_OUT:+--json "$JSON_OUT.concurrent.json"}
fi

if [[ -n "${BEFORE_ITEMS_HOOK:-}" ]]; then
  echo "== before the dashboard items: $BEFORE_ITEMS_HOOK"
  MERIDIAN_URL="http://127.0.0.1:${PORT[meridian]}" MERIDIAN_PID=${PID[meridian]} BENCH_WORK=$WORK \
    VM_URL="http://127.0.0.1:${PORT[vm]}" PROMETHEUS_URL="http://127.0.0.1:${PORT[prometheus]}" \
    bash -c "$BEFORE_ITEMS_HOOK" || echo "hook failed: $?"
fi
echo "== dashboard items, caches: $CACHES (load average $(loadavg))"
qargs=()
for n in "${SERVERS[@]}"; do qargs+=(--server "$n=http://127.0.0.1:${PORT[$n]}"); done
[[ -n "$ONLY" ]] && qargs+=(--only "$ONLY")
[[ $CACHES == cold ]] && qargs+=(--params meridian=nocache=1)
python3 bench/longrange_queries.py "${qargs[@]}" --params meridian=max_source_resolution=auto \
  --end "$END_S" --data-start "$DATA_START" --reps "$REPS" ${JSON_OUT:+--json "$JSON_OUT.queries.json"}

curl -fsS -XPOST --max-time 600 "http://127.0.0.1:${PORT[meridian]}/internal/force_flush" >/dev/null
echo "disk: meridian $mb0 bytes before the pass, $(du_bytes "$WORK/meridian-data") after it" \
  "(incl. the concurrent writers' tenants); vm $(du_bytes "$WORK/vm-data"); prometheus" \
  "$(du_bytes "$WORK/prometheus-data") (blocks + an empty head)"
echo "== done $(date -u +%FT%TZ), load average $(loadavg)"

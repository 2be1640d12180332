#!/usr/bin/env bash
# Churn benchmark (issue 13): meridian vs VictoriaMetrics under series churn.
#
# Each server gets --waves waves of --series NEW series (meridian-loadgen with
# a different --seed per wave: every pod label differs), --samples samples each
# (15 s apart), the waves --gap-s apart in *sample time* (the last wave ends
# ~10 minutes before now), sent back to back in wall time. So at the end
# --waves x --series series exist and only the last wave's are active; the
# older ones have been idle for hours of sample time. Reported per server:
#   resident memory (VmRSS) after each wave, and after the load settled
#   (meridian: /internal/force_flush; VM: force_flush + force_merge);
#   server CPU for the load (utime+stime); disk (du -sb of the data dir);
#   restart: SIGTERM, start again, seconds until the first query over the
#   last wave is answered with data, and VmRSS right after that answer;
#   then the first scrape after the restart: one more sample for each of the
#   last wave's series (they come back; meridian admits them to its head
#   again), its wall time, the server CPU it took and VmRSS after it.
# DETAIL_DIR=dir: also saves, per server, /proc/PID/smaps_rollup when
# settled and after the first scrape after the restart, meridian's /metrics
# then, and the RSS a malloc_trim(0) (called with gdb, after the figures
# above) gives back; and a copy of meridian's data dir as the restart finds
# it (DETAIL_DIR/meridian-data-at-stop).
# Servers it started are stopped (by PID) on exit.
#
# Usage: bench/churn_bench.sh [--waves N] [--series N] [--samples N] [--gap-s S]
#                             [--concurrency N] [--batch N] [--only meridian|vm]
# Environment: MERIDIAN_BIN, MERIDIAN_FLAGS, LOADGEN_BIN, VM_BIN, KEEP_DATA=1
# (as bench/ingest_bench.sh), DETAIL_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

WAVES=10
SERIES=100000
SAMPLES=8
GAP_S=3600
CONCURRENCY=2
BATCH=2000
ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --waves) WAVES=$2; shift 2 ;;
    --series) SERIES=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    --gap-s) GAP_S=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "churn_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

MERIDIAN_BIN=${MERIDIAN_BIN:-build/release/server/meridian}
MERIDIAN_FLAGS=${MERIDIAN_FLAGS:-}
LOADGEN_BIN=${LOADGEN_BIN:-build/release/bench/meridian-loadgen}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
TICKS=$(getconf CLK_TCK)
[[ -x "$LOADGEN_BIN" ]] || { echo "no loadgen at $LOADGEN_BIN (set LOADGEN_BIN)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
source bench/lib.sh

WORK=$(mktemp -d /tmp/meridian-churn-bench.XXXXXX)
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && stop_pid "$SERVER_PID" 10
  if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN{printf "%.0f", k/1024}'; }
NOW_MS=$(($(date +%s) * 1000))
# Wave w starts at T0 + w * gap; the last one ends ~10 min before now.
T0=$((NOW_MS - WAVES * GAP_S * 1000 - 600000))
LAST_T_S=$(((T0 + (WAVES - 1) * GAP_S * 1000 + SAMPLES * 15000) / 1000))

start() {  # name port data log -> SERVER_PID
  if [[ $1 == meridian ]]; then
    # shellcheck disable=SC2086
    "$MERIDIAN_BIN" --listen "127.0.0.1:$2" --data-dir "$3" $MERIDIAN_FLAGS >>"$4" 2>&1 &
  else
    "$VM_BIN" -httpListenAddr="127.0.0.1:$2" -storageDataPath="$3" -search.disableCache >>"$4" 2>&1 &
  fi
  SERVER_PID=$!
}

# Seconds until a query over the last wave answers with data.
first_answer() {  # port pid
  local t0=$EPOCHREALTIME body
  while kill -0 "$2" 2>/dev/null; do
    body=$(curl -sS --max-time 5 "http://127.0.0.1:$1/api/v1/query" \
      --data-urlencode 'query=count(process_cpu_seconds_total)' --data-urlencode "time=$LAST_T_S" 2>/dev/null || true)
    if [[ "$body" == *'"result":[{'* ]]; then
      awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}'
      return 0
    fi
    sleep 0.05
  done
  echo "-"
}

# Memory detail of a running server into $DETAIL_DIR (when set).
detail() {  # name stage port pid
  [[ -n "${DETAIL_DIR:-}" ]] || return 0
  mkdir -p "$DETAIL_DIR"
  cat "/proc/$4/smaps_rollup" >"$DETAIL_DIR/$1.$2.smaps_rollup" 2>/dev/null || true
  if [[ $1 == meridian ]]; then
    curl -fsS --max-time 10 "http://127.0.0.1:$3/metrics" >"$DETAIL_DIR/$1.$2.metrics" 2>/dev/null || true
  fi
  if [[ $1 == meridian ]] && command -v gdb >/dev/null; then
    local before after
    before=$(rss_kb "$4")
    # malloc_stats() prints the allocator's arenas to the server's log.
    gdb -p "$4" -batch -ex 'call (void)malloc_stats()' -ex 'call (int)malloc_trim(0)' \
      >/dev/null 2>&1 || true
    after=$(rss_kb "$4")
    echo "$1 $2: RSS $(mib "$before") MiB, after malloc_trim(0) $(mib "$after") MiB" \
      | tee -a "$DETAIL_DIR/summary" >&2
  fi
}

declare -A R
run_one() {  # name
  local name=$1 port data log url cpu0 cpu1 w rss=""
  port=$(free_port)
  data="$WORK/$name-data"
  log="$WORK/$name.log"
  mkdir -p "$data"
  start "$name" "$port" "$data" "$log"
  local ready=/-/ready
  [[ $name == vm ]] && ready=/health
  wait_http "http://127.0.0.1:$port$ready" 60 "$SERVER_PID" || { tail -20 "$log" >&2; return 1; }
  url="http://127.0.0.1:$port/api/v1/write"
  echo "== $name (pid $SERVER_PID, port $port)" >&2
  local load0
  load0=$(cut -d' ' -f1 /proc/loadavg)
  cpu0=$(cpu_ticks "$SERVER_PID")
  local ok=0
  for ((w = 0; w < WAVES; w++)); do
    "$LOADGEN_BIN" --url "$url" --series "$SERIES" --scrapes "$SAMPLES" --seed $((w + 1)) \
      --start-ms $((T0 + w * GAP_S * 1000)) --concurrency "$CONCURRENCY" --batch "$BATCH" \
      >"$WORK/$name.loadgen.$w" 2>&1 || echo "loadgen wave $w against $name failed" >&2
    ok=$((ok + $(sed -n 's/^RESULT samples_ok=\([0-9]*\).*/\1/p' "$WORK/$name.loadgen.$w")))
    rss+="$(mib "$(rss_kb "$SERVER_PID")") "
    echo "wave $w: rss $(mib "$(rss_kb "$SERVER_PID")") MiB" >&2
  done
  if [[ $name == meridian ]]; then
    curl -fsS -X POST --max-time 300 "http://127.0.0.1:$port/internal/force_flush" >/dev/null || echo "force_flush failed" >&2
  else
    curl -fsS --max-time 60 "http://127.0.0.1:$port/internal/force_flush" >/dev/null || true
    curl -fsS --max-time 60 "http://127.0.0.1:$port/internal/force_merge" >/dev/null || true
    sleep 5
  fi
  cpu1=$(cpu_ticks "$SERVER_PID")
  R[$name.ok]=$ok
  R[$name.rss_waves]=$rss
  R[$name.rss_end]=$(mib "$(rss_kb "$SERVER_PID")")
  R[$name.hwm]=$(mib "$(hwm_kb "$SERVER_PID")")
  R[$name.cpu]=$(awk -v t="$((cpu1 - cpu0))" -v k="$TICKS" 'BEGIN{printf "%.1f", t/k}')
  detail "$name" settled "$port" "$SERVER_PID"
  stop_pid "$SERVER_PID" 60
  wait "$SERVER_PID" 2>/dev/null || true
  R[$name.disk]=$(du -sb "$data" | awk '{printf "%.1f", $1/1e6}')
  # The data dir as the restart finds it (for bench/restart_time.sh, perf).
  [[ -n "${DETAIL_DIR:-}" && $name == meridian ]] && rm -rf "$DETAIL_DIR/$name-data-at-stop" &&
    cp -a "$data" "$DETAIL_DIR/$name-data-at-stop"
  start "$name" "$port" "$data" "$log"
  R[$name.restart]=$(first_answer "$port" "$SERVER_PID")
  R[$name.rss_restart]=$(mib "$(rss_kb "$SERVER_PID")")
  # The first scrape after the restart: the last wave's series once more.
  local t0 c0 c1
  c0=$(cpu_ticks "$SERVER_PID")
  t0=$EPOCHREALTIME
  "$LOADGEN_BIN" --url "$url" --series "$SERIES" --scrapes 1 --seed "$WAVES" \
    --start-ms $((T0 + (WAVES - 1) * GAP_S * 1000 + SAMPLES * 15000)) --concurrency "$CONCURRENCY" \
    --batch "$BATCH" >"$WORK/$name.loadgen.after" 2>&1 || echo "loadgen after restart against $name failed" >&2
  R[$name.scrape_s]=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
  c1=$(cpu_ticks "$SERVER_PID")
  R[$name.scrape_cpu]=$(awk -v t="$((c1 - c0))" -v k="$TICKS" 'BEGIN{printf "%.1f", t/k}')
  R[$name.rss_scrape]=$(mib "$(rss_kb "$SERVER_PID")")
  detail "$name" after-scrape "$port" "$SERVER_PID"
  R[$name.load]="$load0 -> $(cut -d' ' -f1 /proc/loadavg)"
  stop_pid "$SERVER_PID" 60
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

if [[ "$ONLY" != vm ]]; then run_one meridian; fi
if [[ "$ONLY" != meridian ]]; then run_one vm; fi

echo
echo "churn: $WAVES waves x $SERIES new series, $SAMPLES samples each, ${GAP_S}s apart in sample time; $(nproc) cores"
printf '%-40s %18s %18s\n' "" meridian victoria-metrics
row() { printf '%-40s %18s %18s\n' "$1" "${R[meridian.$2]:--}" "${R[vm.$2]:--}"; }
row "samples accepted" ok
row "RSS after the load, settled (MiB)" rss_end
row "peak RSS (MiB)" hwm
row "restart to first answered query (s)" restart
row "RSS after restart (MiB)" rss_restart
row "first scrape after restart (s)" scrape_s
row "  its server CPU (s)" scrape_cpu
row "  RSS after it (MiB)" rss_scrape
row "server CPU for the load (s)" cpu
row "disk (MB)" disk
row "load average (1 min), start -> end" load
echo "RSS after each wave (MiB):"
echo "  meridian: ${R[meridian.rss_waves]:--}"
echo "  victoria-metrics: ${R[vm.rss_waves]:--}"

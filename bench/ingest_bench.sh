#!/usr/bin/env bash
# Ingest benchmark: meridian vs VictoriaMetrics under the same remote-write load.
#
# Starts each server on a free loopback port with a fresh data dir, one after
# the other, sends the same meridian-loadgen load (pre-encoded, timestamps in
# the recent past), and prints for each:
#   samples/s accepted (loadgen wall time), server CPU-seconds per million
#   samples (utime+stime from /proc/PID/stat, during the load and including
#   the settle phase), samples per server CPU-second, disk bytes per sample
#   right after the load (before any flush) and once settled (du of the data
#   dir; meridian: after /internal/force_flush, VM: after force_flush and
#   force_merge), once more after meridian's /internal/force_merge too
#   ("settled+merged", outside the CPU figures; VM's is its settled size),
#   peak RSS (VmHWM)
# then the meridian/VM ratios. Servers it started are stopped (by PID) on exit.
#
# Usage: bench/ingest_bench.sh [--series N] [--scrapes N] [--concurrency N]
#                              [--batch N] [--only meridian|vm]
# Environment:
#   MERIDIAN_BIN    default build/release/server/meridian
#   MERIDIAN_FLAGS  extra flags for meridian (e.g. "--sync-wal false")
#   LOADGEN_BIN     default build/release/bench/meridian-loadgen
#   VM_BIN          default /usr/bin/victoria-metrics
#   PHASE_TIMEOUT_S time limit of each load phase, default 600
#   SETTLE_TIMEOUT_S time limit of each settle phase, default 120
#   KEEP_DATA=1     keep the temp dir with data, logs and the settled data
#                   dir's file listing (NAME.settled-files)
set -euo pipefail
cd "$(dirname "$0")/.."

SERIES=100000
SCRAPES=120
CONCURRENCY=4
BATCH=2000
ONLY=""
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck disable=SC2034  # read by parse_opts
declare -A OPTS=([--series]=SERIES [--scrapes]=SCRAPES [--concurrency]=CONCURRENCY
  [--batch]=BATCH [--only]=ONLY)
parse_opts ingest_bench.sh "$@"

PHASE_TIMEOUT_S=${PHASE_TIMEOUT_S:-600}
SETTLE_TIMEOUT_S=${SETTLE_TIMEOUT_S:-120}
TICKS=$(getconf CLK_TCK)

[[ -x "$LOADGEN_BIN" ]] || { echo "no loadgen at $LOADGEN_BIN (set LOADGEN_BIN)" >&2; exit 1; }
if [[ "$ONLY" != vm ]]; then
  [[ -x "$MERIDIAN_BIN" ]] || { echo "no meridian at $MERIDIAN_BIN (set MERIDIAN_BIN)" >&2; exit 1; }
fi
if [[ "$ONLY" != meridian && ! -x "$VM_BIN" ]]; then
  echo "installing victoria-metrics" >&2
  timeout 300 apt-get install -y victoria-metrics >&2
fi

WORK=$(mktemp -d /tmp/meridian-ingest-bench.XXXXXX)
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && stop_pid "$SERVER_PID" 10
  if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

disk_bytes() { du -sb "$1" 2>/dev/null | awk '{print $1}'; }
# Polls the data dir until its size is unchanged for 3 polls 2 s apart.
wait_disk_stable() {
  local dir=$1 deadline=$((SECONDS + SETTLE_TIMEOUT_S)) last=-1 same=0 now
  while ((SECONDS < deadline)); do
    now=$(disk_bytes "$dir")
    if [[ "$now" == "$last" ]]; then same=$((same + 1)); else same=0; fi
    ((same >= 3)) && return 0
    last=$now
    sleep 2
  done
  echo "warning: $dir still changing after ${SETTLE_TIMEOUT_S}s" >&2
}

declare -A R  # results: R[name.key]
run_one() {  # name
  local name=$1 port data log url
  port=$(free_port)
  data="$WORK/$name-data"
  log="$WORK/$name.log"
  mkdir -p "$data"
  if [[ $name == meridian ]]; then
    # shellcheck disable=SC2086
    "$MERIDIAN_BIN" --listen "127.0.0.1:$port" --data-dir "$data" $MERIDIAN_FLAGS >"$log" 2>&1 &
    SERVER_PID=$!
    wait_http "http://127.0.0.1:$port/-/ready" 60 "$SERVER_PID" || { echo "meridian did not start:" >&2; tail -20 "$log" >&2; return 1; }
  else
    "$VM_BIN" -httpListenAddr="127.0.0.1:$port" -storageDataPath="$data" >"$log" 2>&1 &
    SERVER_PID=$!
    wait_http "http://127.0.0.1:$port/health" 60 "$SERVER_PID" || { echo "victoria-metrics did not start:" >&2; tail -20 "$log" >&2; return 1; }
  fi
  url="http://127.0.0.1:$port/api/v1/write"
  echo "== $name (pid $SERVER_PID, port $port)" >&2

  local cpu0 cpu1 cpu2 out
  cpu0=$(cpu_ticks "$SERVER_PID")
  timeout "$PHASE_TIMEOUT_S" "$LOADGEN_BIN" --url "$url" --series "$SERIES" \
    --scrapes "$SCRAPES" --concurrency "$CONCURRENCY" --batch "$BATCH" >"$WORK/$name.loadgen" ||
    echo "loadgen against $name failed or timed out" >&2
  cat "$WORK/$name.loadgen" >&2
  out=$(cat "$WORK/$name.loadgen")
  cpu1=$(cpu_ticks "$SERVER_PID")

  # The data dir as a user sees it while data arrives (before any flush).
  R[$name.disk_loaded]=$(disk_bytes "$data")
  # Settle.
  if [[ $name == meridian ]]; then
    curl -fsS -X POST --max-time 120 "http://127.0.0.1:$port/internal/force_flush" >/dev/null ||
      echo "meridian force_flush failed" >&2
  fi
  if [[ $name == vm ]]; then
    curl -fsS --max-time 60 "http://127.0.0.1:$port/internal/force_flush" >/dev/null || true
    curl -fsS --max-time 60 "http://127.0.0.1:$port/internal/force_merge" >/dev/null || true
    local deadline=$((SECONDS + SETTLE_TIMEOUT_S))
    sleep 1
    while ((SECONDS < deadline)); do
      curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" | grep -q '^vm_active_force_merges 0' && break
      sleep 1
    done
  fi
  wait_disk_stable "$data"
  cpu2=$(cpu_ticks "$SERVER_PID")
  ls -la "$data" >"$WORK/$name.settled-files" 2>&1 || true

  local result samples_ok samples_total secs
  result=$(grep '^RESULT' <<<"$out" || true)
  samples_ok=$(sed -n 's/.*samples_ok=\([0-9]*\).*/\1/p' <<<"$result")
  samples_total=$(sed -n 's/.*samples_total=\([0-9]*\).*/\1/p' <<<"$result")
  secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$result")
  R[$name.samples_ok]=${samples_ok:-0}
  R[$name.samples_total]=${samples_total:-0}
  R[$name.secs]=${secs:-0}
  R[$name.cpu_load]=$(awk -v t="$((cpu1 - cpu0))" -v k="$TICKS" 'BEGIN{printf "%.2f", t/k}')
  R[$name.cpu_total]=$(awk -v t="$((cpu2 - cpu0))" -v k="$TICKS" 'BEGIN{printf "%.2f", t/k}')
  R[$name.disk_running]=$(disk_bytes "$data")
  R[$name.hwm_kb]=$(hwm_kb "$SERVER_PID")
  # Merged: meridian compacts what it persisted (VM's settle above already
  # ran its force_merge). Outside the CPU figures.
  if [[ $name == meridian ]]; then
    curl -fsS -X POST --max-time 300 "http://127.0.0.1:$port/internal/force_merge" >/dev/null ||
      echo "meridian force_merge failed" >&2
    wait_disk_stable "$data"
  fi
  R[$name.disk_merged]=$(disk_bytes "$data")

  # Graceful stop (meridian flushes its head on shutdown), then the final size.
  stop_pid "$SERVER_PID" 30
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  R[$name.disk_stopped]=$(disk_bytes "$data")
}

if [[ "$ONLY" != vm ]]; then run_one meridian; fi
if [[ "$ONLY" != meridian ]]; then run_one vm; fi

metric() {  # name key -> value
  local n=$1 k=$2 ok=${R[$1.samples_ok]:-0}
  case $k in
    rate) awk -v s="$ok" -v t="${R[$n.secs]}" 'BEGIN{printf "%.0f", (t>0)?s/t:0}' ;;
    cpu_per_m) awk -v c="${R[$n.cpu_load]}" -v s="$ok" 'BEGIN{printf "%.3f", (s>0)?c/(s/1e6):0}' ;;
    cpu_total_per_m) awk -v c="${R[$n.cpu_total]}" -v s="$ok" 'BEGIN{printf "%.3f", (s>0)?c/(s/1e6):0}' ;;
    per_cpu_s) awk -v c="${R[$n.cpu_total]}" -v s="$ok" 'BEGIN{printf "%.0f", (c>0)?s/c:0}' ;;
    bytes_per_sample_loaded) awk -v d="${R[$n.disk_loaded]}" -v s="$ok" 'BEGIN{printf "%.2f", (s>0)?d/s:0}' ;;
    bytes_per_sample) awk -v d="${R[$n.disk_running]}" -v s="$ok" 'BEGIN{printf "%.2f", (s>0)?d/s:0}' ;;
    bytes_per_sample_merged) awk -v d="${R[$n.disk_merged]}" -v s="$ok" 'BEGIN{printf "%.2f", (s>0)?d/s:0}' ;;
    bytes_per_sample_stopped) awk -v d="${R[$n.disk_stopped]}" -v s="$ok" 'BEGIN{printf "%.2f", (s>0)?d/s:0}' ;;
    rss_mb) awk -v k="${R[$n.hwm_kb]:-0}" 'BEGIN{printf "%.0f", k/1024}' ;;
  esac
}

echo
echo "load: $SERIES series x $SCRAPES scrapes, batch $BATCH, concurrency $CONCURRENCY; $(nproc) cores"
printf '%-34s %16s %16s %10s\n' "" meridian victoria-metrics ratio
row() {  # label key
  local m v
  m=$([[ -n "${R[meridian.samples_ok]:-}" ]] && metric meridian "$2" || echo -)
  v=$([[ -n "${R[vm.samples_ok]:-}" ]] && metric vm "$2" || echo -)
  printf '%-34s %16s %16s %10s\n' "$1" "$m" "$v" \
    "$(awk -v a="$m" -v b="$v" 'BEGIN{ if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a/b; else print "-"}')"
}
printf '%-34s %16s %16s\n' "samples accepted" "${R[meridian.samples_ok]:--}/${R[meridian.samples_total]:--}" "${R[vm.samples_ok]:--}/${R[vm.samples_total]:--}"
row "samples/s accepted (wall)" rate
row "CPU-s per 1M samples (load)" cpu_per_m
row "CPU-s per 1M samples (+settle)" cpu_total_per_m
row "samples per CPU-second (+settle)" per_cpu_s
row "disk bytes/sample (before flush)" bytes_per_sample_loaded
row "disk bytes/sample (settled)" bytes_per_sample
row "disk bytes/sample (settled+merged)" bytes_per_sample_merged
row "disk bytes/sample (after stop)" bytes_per_sample_stopped
row "peak RSS MiB (VmHWM)" rss_mb

#!/usr/bin/env bash
# Global view benchmark (issue 9): dashboard range queries through a global
# meridian over 4 regional meridians against the same queries on one meridian
# holding all the data (the fan-out overhead ratio), and remote-read
# throughput (samples/s) for SAMPLES and STREAMED_XOR_CHUNKS from meridian and
# from Prometheus 2.42's own remote-read server holding the same data.
#
# Data: meridian-loadgen's four-region series, --scrapes rounds 15 s apart
# (240 = 1 h). Region R's meridian gets `--region R` (exactly the samples the
# unfiltered run sends for R); the single meridian and Prometheus get all.
# Two global meridians read the regions with --remote-read
# NAME=URL;external-labels=region:NAME: one with ;pushdown=true (aggregations
# evaluated by the regions, remote/pushdown.h), one without (every raw sample
# through remote-read).
# Queries: query_range over the whole span at --step, --reps runs each
# (the first discarded), globals and single interleaved; the answers must be
# equal (same series and timestamps, values within 1e-12 relative). Prints median seconds per query, the
# ratios global/single with and without pushdown, then remote-read RESULT lines.
#
# Usage: bench/global_bench.sh [--series N] [--scrapes N] [--reps N] [--step S]
#   default: 100000 series x 240 scrapes (1 h), 5 reps, step 15 s.
# Environment: MERIDIAN_BIN, LOADGEN_BIN, RR_BIN (meridian-remote-read-bench),
#   PROM_BIN (default /usr/bin/prometheus), KEEP_DATA=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SERIES=100000
SCRAPES=240
REPS=5
STEP=15
while (($#)); do
  case $1 in
    --series) SERIES=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --step) STEP=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
MERIDIAN_BIN=${MERIDIAN_BIN:-build/release/server/meridian}
LOADGEN_BIN=${LOADGEN_BIN:-build/release/bench/meridian-loadgen}
RR_BIN=${RR_BIN:-build/release/bench/meridian-remote-read-bench}
PROM_BIN=${PROM_BIN:-/usr/bin/prometheus}
WORK=$(mktemp -d /tmp/meridian-global-bench.XXXXXX)
declare -A PID PORT
trap stop_servers EXIT
REGIONS=(us-west-2 us-east-1 eu-west-1 ap-southeast-1)

start_meridian() {  # NAME [FLAGS...]
  local name=$1 port
  shift
  port=$(free_port)
  mkdir -p "$WORK/$name-data"
  "$MERIDIAN_BIN" --listen "127.0.0.1:$port" --data-dir "$WORK/$name-data" "$@" \
    >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  wait_http "http://127.0.0.1:$port/-/ready" 60 "${PID[$name]}" ||
    { echo "$name did not start" >&2; tail "$WORK/$name.log" >&2; exit 1; }
  PORT[$name]=$port
}

for r in "${REGIONS[@]}"; do start_meridian "$r"; done
start_meridian single
start_server prometheus
remotes=()
for r in "${REGIONS[@]}"; do
  remotes+=(--remote-read "$r=http://127.0.0.1:${PORT[$r]}/api/v1/read;timeout=120s;external-labels=region:$r")
done
start_meridian global-rr "${remotes[@]}"
for i in "${!remotes[@]}"; do
  [[ ${remotes[$i]} == --remote-read ]] || remotes[$i]+=";pushdown=true"
done
start_meridian global "${remotes[@]}"

START_MS=$(( ($(date +%s) - SCRAPES * 15 - 120) * 1000 ))
END_MS=$(( START_MS + SCRAPES * 15000 ))
load() {  # URL [--region R]
  "$LOADGEN_BIN" --url "$1/api/v1/write" --series "$SERIES" --scrapes "$SCRAPES" \
    --start-ms "$START_MS" --seed 7 --concurrency 2 --batch 2000 "${@:2}" | tail -1
}
echo "== loading $SERIES series x $SCRAPES scrapes" >&2
for r in "${REGIONS[@]}"; do load "http://127.0.0.1:${PORT[$r]}" --region "$r"; done
load "http://127.0.0.1:${PORT[single]}"
load "http://127.0.0.1:${PORT[prometheus]}"
for n in "${REGIONS[@]}" single; do
  curl -fsS -X POST "http://127.0.0.1:${PORT[$n]}/internal/force_flush" >/dev/null
done

echo "== fan-out: $REPS reps, step $STEP s, range $(( (END_MS - START_MS) / 1000 )) s" >&2
python3 - "http://127.0.0.1:${PORT[global]}" "http://127.0.0.1:${PORT[single]}" \
  "http://127.0.0.1:${PORT[global-rr]}" \
  "$((START_MS / 1000))" "$((END_MS / 1000))" "$STEP" "$REPS" <<'PY'
import json, statistics, sys, time, urllib.parse, urllib.request
glob, single, glob_rr, start, end, step, reps = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
queries = [
    'sum by (region) (rate(http_requests_total[5m]))',
    'histogram_quantile(0.99, sum by (le, region) (rate(http_request_duration_seconds_bucket[5m])))',
    'sum by (region, code) (rate(http_requests_total{code=~"5.."}[5m])) / ignoring(code) group_left sum by (region) (rate(http_requests_total[5m]))',
    'topk(5, sum by (pod) (rate(node_cpu_seconds_total{mode!="idle"}[5m])))',
    'avg by (region, namespace) (process_resident_memory_bytes)',
    'sum(up) by (region)',
]
def run(base, q):
    body = urllib.parse.urlencode({"query": q, "start": start, "end": end, "step": step}).encode()
    t = time.time()
    with urllib.request.urlopen(base + "/api/v1/query_range", body, timeout=600) as r:
        data = json.load(r)
    return time.time() - t, data
def same(a, b):
    # Same series and timestamps; values equal within 1e-12 relative (a sum
    # over several regions adds its terms in another order when pushed down).
    if a.keys() != b.keys():
        return False
    for k in a:
        if [p[0] for p in a[k]] != [p[0] for p in b[k]]:
            return False
        for (_, x), (_, y) in zip(a[k], b[k]):
            x, y = float(x), float(y)
            if x != y and not abs(x - y) <= 1e-12 * max(1.0, abs(y)):
                return False
    return True
ratios, ratios_rr = [], []
print("| query | single meridian (s) | global, pushdown (s) | ratio | global, remote-read only (s) | ratio |")
print("|---|---|---|---|---|---|")
for q in queries:
    ts = {"g": [], "s": [], "r": []}
    answers = {}
    for i in range(reps):
        for k, base in (("g", glob), ("s", single), ("r", glob_rr)):
            dt, data = run(base, q)
            if data["status"] != "success" or data.get("warnings"):
                sys.exit("%s: %s" % (k, json.dumps(data)[:300]))
            answers[k] = {json.dumps(s["metric"], sort_keys=True): s["values"] for s in data["data"]["result"]}
            if i > 0:
                ts[k].append(dt)
    for k in ("g", "r"):
        if not same(answers[k], answers["s"]):
            sys.exit("answers differ for %s (%s)" % (q, k))
    g, s, r = statistics.median(ts["g"]), statistics.median(ts["s"]), statistics.median(ts["r"])
    ratios.append(g / s)
    ratios_rr.append(r / s)
    print("| `%s` | %.3f | %.3f | %.2f | %.3f | %.2f |" % (q, s, g, g / s, r, r / s))
print("RESULT fanout_ratio_median=%.2f fanout_ratio_max=%.2f remote_read_only_ratio_median=%.2f "
      "remote_read_only_ratio_max=%.2f series_per_query_checked=equal" %
      (statistics.median(ratios), max(ratios), statistics.median(ratios_rr), max(ratios_rr)))
PY

echo "== remote-read throughput (http_requests_total, whole span)" >&2
for target in single prometheus; do
  for type in samples streamed; do
    printf '%s ' "$target"
    "$RR_BIN" --url "http://127.0.0.1:${PORT[$target]}/api/v1/read" --name http_requests_total \
      --start-ms "$START_MS" --end-ms "$END_MS" --type "$type" --iterations 5 | tail -1
  done
done

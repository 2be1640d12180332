#!/usr/bin/env bash
# External metrics API and TLS benchmark (issue 10).
#
# 1. meridian A (plain HTTP main port, external metrics API on its HTTPS k8s
#    listener with the self-signed certificate) is loaded with meridian-loadgen
#    data (--series, default 100000, over --scrapes rounds 15 s apart), plus
#    one series per namespace named as a recording rule would write it
#    (namespace:http_requests:rate5m, written by remote-write here).
# 2. External-metric reads over --connections keep-alive HTTPS connections
#    (meridian-keepalive-client), p50/p99 and reads/s, for:
#      recorded:  the recording rule's series (a point lookup)
#      computed:  sum(rate(http_requests_total{namespace="payments"}[5m])),
#                 computed per request (~1/5 of the http_requests_total series),
#    both with every check of a real answer (staleness of each series behind it).
# 3. Ingest, plain vs TLS: the same loadgen data into meridian A (plain) and
#    meridian B (--tls-cert-file, a certificate made with openssl), samples/s.
# The servers it started are stopped (by PID) on exit.
#
# Usage: bench/k8s_bench.sh [--series N] [--scrapes N] [--connections N] [--requests N]
#                           [--writers N]
# Environment: MERIDIAN_BIN, LOADGEN_BIN, CLIENT_BIN; KEEP_DATA=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

SERIES=100000
SCRAPES=8
CONNS=4
REQS=300
WRITERS=8
while [[ $# -gt 0 ]]; do
  case "$1" in
    --series) SERIES=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --requests) REQS=$2; shift 2 ;;
    --writers) WRITERS=$2; shift 2 ;;
    *) echo "k8s_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
MERIDIAN_BIN=${MERIDIAN_BIN:-build/release/server/meridian}
LOADGEN_BIN=${LOADGEN_BIN:-build/release/bench/meridian-loadgen}
CLIENT_BIN=${CLIENT_BIN:-build/release/bench/meridian-keepalive-client}
for b in "$MERIDIAN_BIN" "$LOADGEN_BIN" "$CLIENT_BIN"; do
  [[ -x "$b" ]] || { echo "k8s_bench.sh: no executable $b" >&2; exit 1; }
done
# shellcheck source=bench/lib.sh
source bench/lib.sh
WORK=$(mktemp -d /tmp/meridian-k8s-bench.XXXXXX)
declare -A PID PORT
trap stop_servers EXIT
trap 'exit 130' INT TERM

# Certificates for meridian B.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" \
  -out "$WORK/ca.crt" -subj /CN=bench-ca -days 1 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tls.key" \
  -out "$WORK/tls.csr" -subj /CN=meridian 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$WORK/tls.ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial \
  -out "$WORK/tls.crt" -days 1 -extfile "$WORK/tls.ext" 2>/dev/null

cat >"$WORK/k8s.yaml" <<'YAML'
namespaces: {payments: default-tenant, checkout: default-tenant, search: default-tenant,
             identity: default-tenant, catalog: default-tenant}
max_staleness: 1h   # the loaded data ends before the reads start
metrics:
  http_rps_recorded:
    series: namespace:http_requests:rate5m
  http_rps_computed:
    query: sum(rate(http_requests_total{<<.LabelMatchers>>}[5m]))
YAML
K8S_PORT=$(free_port)
MERIDIAN_FLAGS="--k8s-listen 127.0.0.1:$K8S_PORT --k8s-config $WORK/k8s.yaml"
start_server meridian
PORT[plain]=${PORT[meridian]}
PID[plain]=${PID[meridian]}
unset 'PID[meridian]'

NOW_MS=$(($(date +%s) * 1000))
START_MS=$(( NOW_MS - SCRAPES * 15000 - 30000 ))
load() {  # URL OUT [extra loadgen flags]
  local url=$1 out=$2; shift 2
  timeout 900 "$LOADGEN_BIN" --url "$url" --series "$SERIES" --scrapes "$SCRAPES" \
    --concurrency "$WRITERS" --batch 2000 --start-ms "$START_MS" "$@" >"$out" 2>&1 \
    || { echo "loadgen failed:" >&2; tail -5 "$out" >&2; exit 1; }
  grep '^RESULT' "$out"
}
echo "== ingest, plain HTTP: $SERIES series x $SCRAPES scrapes, $WRITERS writers" >&2
PLAIN=$(load "http://127.0.0.1:${PORT[plain]}/api/v1/write" "$WORK/plain.loadgen")
echo "$PLAIN" >&2
for ns in payments checkout search identity catalog; do
  bench/write_series.py "http://127.0.0.1:${PORT[plain]}/api/v1/write" \
    "namespace:http_requests:rate5m{namespace=\"$ns\"}=123.25"
done

CA=$WORK/meridian-data/k8s-self-signed.crt
BASE="https://127.0.0.1:$K8S_PORT/apis/external.metrics.k8s.io/v1beta1/namespaces/payments"
for m in http_rps_recorded http_rps_computed; do
  body=$(curl -fsS --cacert "$CA" "$BASE/$m")
  grep -q '"value"' <<<"$body" || { echo "no value for $m: ${body:0:300}" >&2; exit 1; }
  echo "$m: ${body:0:200}" >&2
done
declare -A R
for m in http_rps_recorded http_rps_computed; do
  echo "== external metric reads, $m: $CONNS keep-alive HTTPS connections x $REQS" >&2
  out=$("$CLIENT_BIN" --url "https://127.0.0.1:$K8S_PORT" --ca-file "$CA" \
    --path "/apis/external.metrics.k8s.io/v1beta1/namespaces/payments/$m" \
    --connections "$CONNS" --requests "$REQS" --warmup 10) || { echo "$out" >&2; exit 1; }
  echo "$out" >&2
  R[$m]=$(grep '^RESULT' <<<"$out")
done

MERIDIAN_FLAGS="--tls-cert-file $WORK/tls.crt --tls-private-key-file $WORK/tls.key"
port=$(free_port)
mkdir -p "$WORK/tls-data"
# shellcheck disable=SC2086
"$MERIDIAN_BIN" --listen "127.0.0.1:$port" --data-dir "$WORK/tls-data" $MERIDIAN_FLAGS \
  >"$WORK/tls.log" 2>&1 &
PID[tls]=$!
PORT[tls]=$port
for _ in $(seq 300); do
  curl -fsS -o /dev/null --cacert "$WORK/ca.crt" "https://127.0.0.1:$port/-/ready" 2>/dev/null && break
  sleep 0.2
done
echo "== ingest, TLS: same data" >&2
TLS=$(load "https://127.0.0.1:$port/api/v1/write" "$WORK/tls.loadgen" --ca-file "$WORK/ca.crt")
echo "$TLS" >&2

field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<" $1"; }
echo
echo "| measurement | result |"
echo "|---|---|"
for m in http_rps_recorded http_rps_computed; do
  echo "| external metric reads, $m | $(field "${R[$m]}" rps) reads/s, p50 $(field "${R[$m]}" p50_ms) ms, p99 $(field "${R[$m]}" p99_ms) ms |"
done
echo "| ingest over plain HTTP | $(field "$PLAIN" samples_per_s) samples/s |"
echo "| ingest over TLS | $(field "$TLS" samples_per_s) samples/s |"

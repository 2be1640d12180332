# Helpers shared by the bench/*.sh scripts (sourced, not run).

# Binaries and flags of the peers (the caller's environment wins).
MERIDIAN_BIN=${MERIDIAN_BIN:-build/release/server/meridian}
MERIDIAN_FLAGS=${MERIDIAN_FLAGS:-}
LOADGEN_BIN=${LOADGEN_BIN:-build/release/bench/meridian-loadgen}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
PROM_BIN=${PROM_BIN:-/usr/bin/prometheus}

# Parses `--name value` / `--name=value` arguments into the variables the
# caller's OPTS map names (declare -A OPTS=([--series]=SERIES ...)); an
# unknown option or a missing value exits with 2.
parse_opts() {  # SCRIPT_NAME "$@"
  local script=$1 opt val
  shift
  while [[ $# -gt 0 ]]; do
    opt=$1
    if [[ $opt == --*=* ]]; then
      val=${opt#*=}
      opt=${opt%%=*}
      shift
    elif [[ $# -ge 2 ]]; then
      val=$2
      shift 2
    else
      echo "$script: $opt needs a value" >&2
      exit 2
    fi
    if [[ -z "${OPTS[$opt]:-}" ]]; then
      echo "$script: unknown argument $opt" >&2
      exit 2
    fi
    printf -v "${OPTS[$opt]}" '%s' "$val"
  done
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Peak resident set (VmHWM) of a PID, in KiB.
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# utime + stime of a PID in clock ticks (fields 14, 15 after the command name).
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat")
  stat=${stat##*) }
  awk '{print $12 + $13}' <<<"$stat"
}

# Waits until URL answers 2xx; fails after SECONDS or when PID has exited.
wait_http() {  # URL SECONDS PID
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.2
  done
}

# Stops a PID we started: SIGTERM, up to WAIT_S seconds, then SIGKILL.
stop_pid() {  # PID [WAIT_S]
  local p=$1 tries=$(( ${2:-15} * 5 ))
  kill -0 "$p" 2>/dev/null || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq "$tries"); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
}

# Peers for a benchmark run, started on free loopback ports. The caller sets
# WORK (a scratch dir), MERIDIAN_BIN, VM_BIN, PROM_BIN, MERIDIAN_FLAGS and
# optionally PROM_FLAGS (extra Prometheus flags), declares `declare -A PID PORT`
# and installs `trap stop_servers EXIT`.
start_server() {  # meridian|vm|prometheus
  local name=$1 port data log
  port=$(free_port)
  data="$WORK/$name-data"
  log="$WORK/$name.log"
  mkdir -p "$data"
  case $name in
    meridian)
      # shellcheck disable=SC2086
      "$MERIDIAN_BIN" --listen "127.0.0.1:$port" --data-dir "$data" $MERIDIAN_FLAGS >"$log" 2>&1 &
      PID[$name]=$!
      wait_http "http://127.0.0.1:$port/-/ready" 60 "${PID[$name]}" ;;
    vm)
      # -search.disableCache: no rollup-result cache, so repeated runs do the real work
      # (VM_CACHE=1 keeps VictoriaMetrics' cache on).
      # shellcheck disable=SC2086
      "$VM_BIN" -httpListenAddr="127.0.0.1:$port" -storageDataPath="$data" ${VM_FLAGS:-} \
        $([[ ${VM_CACHE:-0} == 1 ]] || echo -search.disableCache) >"$log" 2>&1 &
      PID[$name]=$!
      wait_http "http://127.0.0.1:$port/health" 60 "${PID[$name]}" ;;
    prometheus)
      printf 'global:\n  scrape_interval: 15s\n' >"$WORK/prometheus.yml"
      # shellcheck disable=SC2086
      "$PROM_BIN" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
        ${PROM_FLAGS:-} >"$log" 2>&1 &
      PID[$name]=$!
      wait_http "http://127.0.0.1:$port/-/ready" 60 "${PID[$name]}" ;;
  esac || { echo "$name did not start:" >&2; tail -20 "$log" >&2; exit 1; }
  PORT[$name]=$port
  echo "== $name up: pid ${PID[$name]}, port $port" >&2
}

# Stops every server in PID (all signalled first, then waited for) and
# removes WORK unless KEEP_DATA=1.
stop_servers() {
  local n p
  for n in "${!PID[@]}"; do
    p=${PID[$n]}
    kill -0 "$p" 2>/dev/null && kill "$p" 2>/dev/null || true
  done
  for n in "${!PID[@]}"; do stop_pid "${PID[$n]}" 15; done
  if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}

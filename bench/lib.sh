# Helpers shared by the bench/*.sh scripts (sourced, not run).

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

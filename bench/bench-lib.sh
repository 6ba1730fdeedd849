# shellcheck shell=bash
# bench-lib.sh: shell functions shared by bench/compare.sh and bench/sweep.sh:
# start ringchat or a throwaway redis-server on a free loopback port (pinned
# with taskset when asked), run ringchat-bench against it, stop the server by
# its PID and check the bench's counts against the server's own.
# Sourced, never run. Every wait is bounded; servers are only ever stopped by
# the PID this file started (bl_cleanup, also on exit). Needs bash, awk, taskset.

BL_TMP=$(mktemp -d /tmp/ringchat-bench.XXXXXX)
BL_PIDS=()

bl_cleanup() {
  local p
  for p in "${BL_PIDS[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  BL_PIDS=()
  rm -rf "$BL_TMP"
}

# bl_forget PID: PID has been stopped and reaped; cleanup must not signal it.
bl_forget() {
  local p keep=()
  for p in "${BL_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BL_PIDS=("${keep[@]}")
}

bl_die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# bl_init BUILD [COMMAND...]: the set-up both scripts share. Sets RINGCHAT,
# BENCH and STAMP, installs the clean-up traps, checks the binaries,
# redis-server and each extra COMMAND, and makes results/.
bl_init() {
  RINGCHAT=$1/src/server/ringchat
  BENCH=$1/bench/ringchat-bench/ringchat-bench
  shift
  trap bl_cleanup EXIT
  trap 'exit 130' INT TERM
  { [ -x "$RINGCHAT" ] && [ -x "$BENCH" ]; } ||
    bl_die "build first: $RINGCHAT and $BENCH (cmake --preset release && cmake --build --preset release)"
  local c
  for c in redis-server "$@"; do
    command -v "$c" >/dev/null || bl_die "$c is missing (scripts/deps.sh installs it)"
  done
  mkdir -p results
  # shellcheck disable=SC2034 # read by the script that sources this file
  STAMP=$(date +%Y%m%d-%H%M%S)
}

# bl_json LINE KEY -> the value of "KEY": in a one-line JSON object (strings
# without quotes; "null" when missing).
bl_json() {
  local v
  v=$(grep -oE "\"$2\":(\"[^\"]*\"|[^,}]*)" <<<"$1" | head -1 | cut -d: -f2-)
  v=${v#\"}; v=${v%\"}
  echo "${v:-null}"
}

# bl_pin CPU -> sets BL_PIN to the command prefix pinning to CPU (empty when
# CPU is ""). A prefix, not a function: a backgrounded function would run in
# a subshell and $! would not be the server's PID (taskset execs in place).
bl_pin() {
  BL_PIN=()
  if [ -n "$1" ]; then BL_PIN=(taskset -c "$1"); fi
}

# bl_start_ringchat CPU ARGS... : starts ringchat; sets BL_PID, BL_PORT, BL_BANNER, BL_LOG.
bl_start_ringchat() {
  local cpu=$1; shift
  BL_LOG="$BL_TMP/ringchat.$RANDOM.log"
  local out="$BL_TMP/ringchat.$RANDOM.out"
  bl_pin "$cpu"
  "${BL_PIN[@]}" "$RINGCHAT" --port 0 --auth none --chat-rate 0 --idle-timeout 0 \
    "$@" >"$out" 2>"$BL_LOG" &
  BL_PID=$!
  BL_PIDS+=("$BL_PID")
  local _
  for _ in $(seq 100); do
    [ -s "$out" ] && break
    kill -0 "$BL_PID" 2>/dev/null || break
    sleep 0.1
  done
  BL_BANNER=$(head -1 "$out")
  BL_PORT=$(sed -nE 's/.*listening on [0-9.]+:([0-9]+).*/\1/p' <<<"$BL_BANNER")
  [ -n "$BL_PORT" ] || bl_die "ringchat did not start: $(cat "$BL_LOG")"
}

# bl_stop_ringchat -> SIGTERM, bounded wait; sets BL_NOTIFIES from the stats line.
bl_stop_ringchat() {
  kill -TERM "$BL_PID" 2>/dev/null
  local _
  for _ in $(seq 100); do kill -0 "$BL_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BL_PID" 2>/dev/null
  wait "$BL_PID" 2>/dev/null
  BL_NOTIFIES=$(sed -nE 's/.*stats: chat_accepted=[0-9]+ notifies_queued=([0-9]+).*/\1/p' "$BL_LOG" | tail -1)
}

# bl_start_redis CPU : starts redis-server; sets BL_PID, BL_PORT, BL_BANNER.
bl_start_redis() {
  local cpu=$1 attempt port dir
  for attempt in 1 2 3 4 5; do
    [ "$attempt" -gt 1 ] && echo "$(basename "$0"): redis-server did not start, retrying" >&2
    port=$((20000 + RANDOM % 30000))
    dir="$BL_TMP/redis-$port"; mkdir -p "$dir"
    bl_pin "$cpu"
    "${BL_PIN[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' \
      --appendonly no --dir "$dir" --logfile "$dir/log" --maxclients 19000 &
    BL_PID=$!
    local _
    for _ in $(seq 50); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
        BL_PIDS+=("$BL_PID"); BL_PORT=$port
        BL_BANNER="redis $(redis-server --version | awk '{print $3}') backend=redis threads=1"
        return 0
      fi
      kill -0 "$BL_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$BL_PID" 2>/dev/null; wait "$BL_PID" 2>/dev/null
  done
  bl_die "could not start redis-server"
}

bl_stop_redis() {
  kill -TERM "$BL_PID" 2>/dev/null
  local _
  for _ in $(seq 100); do kill -0 "$BL_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BL_PID" 2>/dev/null
  wait "$BL_PID" 2>/dev/null
}

# bl_bench CPU ARGS... : runs ringchat-bench (2-minute cap) against BL_PORT
# and BL_PID; prints its JSON line (empty on failure; stderr kept in BL_TMP).
bl_bench() {
  local cpu=$1; shift
  bl_pin "$cpu"
  timeout 120 "${BL_PIN[@]}" "$BENCH" --port "$BL_PORT" --server-pid "$BL_PID" \
    --server-banner "$BL_BANNER" --json --quiet "$@" 2>"$BL_TMP/bench.err" | tail -1
}

# bl_run TARGET SERVER_CPU BENCH_CPU SERVER_ARGS -- BENCH_ARGS : one run on a
# fresh server. Prints the JSON line with "counts_checked" added: "ok" when
# the bench's deliveries equal the server's own count (ringchat: the stats
# line's notifies_queued; redis: the sum of PUBLISH replies), else "MISMATCH".
bl_run() {
  local target=$1 scpu=$2 bcpu=$3; shift 3
  local sargs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do sargs+=("$1"); shift; done
  shift
  local line server_count check
  if [ "$target" = ringchat ]; then
    bl_start_ringchat "$scpu" "${sargs[@]}"
    line=$(bl_bench "$bcpu" --target ringchat "$@")
    bl_stop_ringchat
    server_count=$BL_NOTIFIES
  else
    bl_start_redis "$scpu"
    line=$(bl_bench "$bcpu" --target redis "$@")
    bl_stop_redis
    server_count=$(bl_json "$line" redis_receivers)
  fi
  bl_forget "$BL_PID"
  if [ -z "$line" ]; then
    echo "$(basename "$0"): bench failed: $(tail -3 "$BL_TMP/bench.err")" >&2
    return 1
  fi
  check=MISMATCH
  [ "$(bl_json "$line" total_delivered)" = "$server_count" ] && check=ok
  echo "${line%\}},\"server_delivered\":${server_count:-null},\"counts_checked\":\"$check\"}"
}

# bl_ratio A B -> A/B with 2 decimals, "-" when either is missing or B is 0.
bl_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

# bl_fmt NUMBER [DECIMALS] -> rounded, "-" for null.
bl_fmt() {
  awk -v a="$1" -v d="${2:-0}" 'BEGIN { if (a == "null" || a == "") print "-"; else printf "%.*f", d, a }'
}

#!/usr/bin/env bash
# abuse.sh: does the server's memory stay bounded under abuse? (issue 7)
# Starts one ringchat with its default limits (memory auth at the cheapest
# hash cost so that logins are quick, two workers, a metrics port) and runs
# ringchat-abuse (bench/abuse/) against it, one abuse after the other, each
# for ABUSE_SECONDS (default 25) in its own process (the abusive connections
# never share the server's open-files limit). Meanwhile it samples the
# server's VmRSS every second. Per abuse: RSS before, peak, and after (once
# the abuser is gone and the server has closed its connections), the limit
# that bounds it, and what the abuser saw (ringchat-abuse's counters).
#   unauth   2,000 connections that never send a byte        (--max-unauth 1024)
#   noread   20 members never read while 100 others chat at 19/s each in
#            their room                                      (--outbox-limit 8m)
#   park     100 connections, each 1.5 MiB of 4 KiB packets pipelined behind
#            a held-back wrong login, reconnecting when cut  (1 MiB parked input)
#   rate     100 members chat as fast as the socket takes it (--chat-rate 20/s)
#   rooms    100 members enter and leave ever new rooms      (empty rooms are freed)
#   hugelen  200 connections announce 65,535-byte packets over and over, 200
#            hold a 4,096-byte packet one byte short         (--max-packet 4096)
# Who runs it: a person checking the limits (docs/benchmarks.md, "Memory
# under abuse"); not in CI. Every wait is bounded; the server and the abusers
# are stopped by the PIDs this script started (bench-lib.sh's clean-up).
#
# The table also gives the server's own limit counters that moved during
# each abuse (ringchat_limit_hits_total). The server keeps what it allocated
# for reuse, so with one server a later abuse may fit in what an earlier one
# left: --fresh starts a new server for each abuse to see each one alone.
#
# Usage: bench/abuse.sh [--build DIR] [--seconds S] [--fresh]
#                       [--only "unauth noread park rate rooms hugelen"]
# Output: results/abuse-STAMP.csv (abuse,t_s,rss_kb), results/abuse-STAMP.md
# (the table, also on stdout) and results/abuse-STAMP.log (the server's log).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD=build/release
SECS=${ABUSE_SECONDS:-25}
ONLY="unauth noread park rate rooms hugelen"
FRESH=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "abuse.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/bench-lib.sh
. bench/bench-lib.sh
bl_init "$BUILD" curl
ABUSE=$BUILD/bench/abuse/ringchat-abuse
[ -x "$ABUSE" ] || bl_die "build first: $ABUSE (target ringchat-abuse)"
OUT=results/abuse-$STAMP
echo "abuse,t_s,rss_kb" >"$OUT.csv"

# A metrics port that nothing answers on, below the ephemeral port range.
free_port() {
  local p _
  for _ in $(seq 20); do
    p=$((30000 + RANDOM % 2000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  bl_die "no free metrics port found"
}

start_server() {
  MPORT=$(free_port)
  # bench-lib starts ringchat with --auth none --chat-rate 0 --idle-timeout 0;
  # the options below come later on the command line and win: the defaults.
  bl_start_ringchat "" --threads 2 --metrics-port "$MPORT" --auth memory --pwhash-cost min \
    --chat-rate 20/s --idle-timeout 300
  SERVER_PID=$BL_PID
  echo "abuse.sh: $BL_BANNER (pid $SERVER_PID); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
}

stop_server() {
  bl_stop_ringchat
  bl_forget "$SERVER_PID"
  cat "$BL_LOG" >>"$OUT.log"
}

rss() { awk '/^VmRSS:/ {print $2}' "/proc/${SERVER_PID:-0}/status" 2>/dev/null; }
metrics() { timeout 5 curl -s "http://127.0.0.1:$MPORT/metrics"; }
metric() { metrics | awk -v k="$1" '$1 == k {print $2}'; }
# limit_hits -> "name=count" lines of ringchat_limit_hits_total.
limit_hits() { metrics | sed -nE 's/^ringchat_limit_hits_total\{limit="([^"]+)"\} ([0-9]+)$/\1=\2/p'; }
# hits_delta BEFORE AFTER -> "name +n" for the limits that moved.
hits_delta() {
  awk -F= 'NR == FNR { b[$1] = $2; next } $2 - b[$1] > 0 { printf "%s%s +%d", sep, $1, $2 - b[$1]; sep = ", " }' \
    <(echo "$1") <(echo "$2")
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Abuser arguments and the limit that bounds each abuse.
args_of() {
  case $1 in
    unauth) echo "--conns 2000" ;;
    noread) echo "--conns 20 --senders 100 --rate 19" ;;
    park) echo "--conns 100" ;;
    rate) echo "--conns 100" ;;
    rooms) echo "--conns 100" ;;
    hugelen) echo "--conns 400" ;;
  esac
}
limit_of() {
  case $1 in
    unauth) echo "--max-unauth 1024: connections past it get ERROR_NTF 9 and are closed; the others are closed after --unauth-timeout 30 s" ;;
    noread) echo "--outbox-limit 8m per reader, then it is cut as a slow consumer; the queued notifies are shared buffers" ;;
    park) echo "1 MiB of parked input per connection, then it is cut; times the connections not logged in (at most --max-unauth)" ;;
    rate) echo "--chat-rate 20/s (burst 40): the rest is answered 63 and never fanned out" ;;
    rooms) echo "a room exists only while it has members; its memory is freed with its last leave" ;;
    hugelen) echo "--max-packet 4096: a longer header gets ERROR_NTF 4 and a close; a partial packet holds at most 4 KiB" ;;
  esac
}

ROWS=()
run_abuse() { # NAME
  local name=$1 before peak after t0 now r line pid hits0 hits _
  [ "$FRESH" = 1 ] && start_server
  for _ in $(seq 30); do [ "$(metric ringchat_connections)" = 0 ] && break; sleep 0.5; done
  before=$(rss); peak=$before; hits0=$(limit_hits)
  echo "== $name: $(args_of "$name") for $SECS s (RSS $before KiB)" >&2
  # shellcheck disable=SC2046 # args_of prints separate words on purpose
  timeout $((SECS + 30)) "$ABUSE" --mode "$name" --port "$BL_PORT" --duration "$SECS" \
    $(args_of "$name") >"$BL_TMP/$name.out" 2>&1 &
  pid=$!
  BL_PIDS+=("$pid")
  t0=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    now=$(($(date +%s) - t0)); r=$(rss)
    echo "$name,$now,$r" >>"$OUT.csv"
    [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
    [ "$now" -gt $((SECS + 40)) ] && break
    sleep 1
  done
  wait "$pid"; bl_forget "$pid"
  line=$(tail -1 "$BL_TMP/$name.out")
  # After: the server has closed the abuser's connections, plus 3 s.
  for _ in $(seq 30); do [ "$(metric ringchat_connections)" = 0 ] && break; sleep 0.5; done
  sleep 3
  after=$(rss)
  hits=$(hits_delta "$hits0" "$(limit_hits)")
  echo "$name,$(($(date +%s) - t0)),$after" >>"$OUT.csv"
  echo "   $line" >&2
  echo "   RSS before $before peak $peak after $after KiB; connections now $(metric ringchat_connections), rooms $(metric ringchat_rooms); limits hit: ${hits:-none}" >&2
  ROWS+=("| $name | $(args_of "$name" | sed 's/--//g') | $(mib "$before") | $(mib "$peak") | $(mib "$after") | $(limit_of "$name") | ${hits:-none} | ${line#mode="$name" conns=* } |")
  [ "$FRESH" = 1 ] && stop_server
}

[ "$FRESH" = 1 ] || start_server
START_RSS=$(rss)
for a in $ONLY; do
  [ "$FRESH" = 1 ] || kill -0 "$SERVER_PID" 2>/dev/null ||
    bl_die "the server died during the abuses: $(tail -5 "$BL_LOG")"
  run_abuse "$a"
done
END_RSS=$(rss)
[ "$FRESH" = 1 ] || stop_server

{
  local_server="one server for all"
  [ "$FRESH" = 1 ] && local_server="a fresh server per abuse"
  echo "ringchat memory under abuse: ${BL_BANNER#ringchat }, $local_server, $SECS s per abuse," \
    "commit $(git rev-parse --short HEAD 2>/dev/null), $(date -u +%Y-%m-%d)"
  echo
  echo "| abuse | abuser | RSS before MiB | peak MiB | after MiB | bounded by | server limit counters | what the abuser saw |"
  echo "|---|---|--:|--:|--:|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  if [ "$FRESH" != 1 ]; then
    echo
    echo "Server RSS at the start $(mib "$START_RSS") MiB, after the last abuse $(mib "$END_RSS") MiB."
  fi
} | tee "$OUT.md"
echo "abuse.sh: $OUT.md, $OUT.csv, $OUT.log" >&2

#!/usr/bin/env bash
# soak.sh: the soak test (issue 7; not in CI). Runs one release ringchat
# (--auth none, a metrics port) under SOAK_SECONDS of mixed load from
# ringchat-bench: open-loop chat plus --churn (members leave their room and
# enter the next one, or disconnect, reconnect, log in and enter again), so
# logins, enters, leaves, chat and disconnects go on all the time.
# Every SOAK_INTERVAL seconds it samples the server's VmRSS and open file
# descriptors (/proc/PID/status, /proc/PID/fd) and a few /metrics gauges into
# a CSV. At the end it fails (exit 1) when:
#   - RSS or the fd count grew by SOAK_MAX_GROWTH % (default 2) or more from
#     the first sample at or after SOAK_WARMUP seconds to the last sample;
#   - the server log has a warn or error line;
#   - the bench reports errors, lost or unanswered messages, or its published
#     total differs from the server's chat_accepted.
# It plots RSS and fds over time (gnuplot, Debian's gnuplot-nox).
# Who runs it: a person before a release (docs/benchmarks.md, "Soak").
# Never leaves a process behind: the server and the bench are stopped by the
# PIDs this script started (bench-lib.sh's clean-up, also on Ctrl-C), and
# every wait is bounded (the bench by `timeout`, the stop by bench-lib.sh).
#
# Usage: bench/soak.sh [--build DIR] [--png FILE]
# Environment (defaults): SOAK_SECONDS (600), SOAK_WARMUP (60),
#   SOAK_INTERVAL (10), SOAK_MAX_GROWTH (2), SOAK_ROOMS (200),
#   SOAK_MEMBERS (10), SOAK_SENDERS (0.5), SOAK_RATE (2000 msgs/s),
#   SOAK_CHURN (40 /s), SOAK_CHURNERS (0.3), SOAK_THREADS (server, 2),
#   SOAK_SERVER_ARGS (more ringchat options, e.g. "--memory-trim 0"),
#   SOAK_STALLS (none): ascending times in seconds at which the server is stopped
#   (SIGSTOP) for SOAK_STALL_SECONDS (3) and continued, as when the machine
#   deschedules it: the load piles up and arrives as a burst, to tell a
#   high-water mark (RSS steps once) from a leak (RSS steps every time).
# Output: results/soak-STAMP.{csv,png,json,log,bench.txt} (the CSV, the
# plot, the bench's JSON line, the server's log, the bench's progress lines
# and table) and a summary on stdout.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD=build/release
PNG=
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --png) PNG=$2; shift 2 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
SECONDS_TOTAL=${SOAK_SECONDS:-600}
WARMUP=${SOAK_WARMUP:-60}
INTERVAL=${SOAK_INTERVAL:-10}
MAX_GROWTH=${SOAK_MAX_GROWTH:-2}
ROOMS=${SOAK_ROOMS:-200}
MEMBERS=${SOAK_MEMBERS:-10}
SENDERS=${SOAK_SENDERS:-0.5}
RATE=${SOAK_RATE:-2000}
CHURN=${SOAK_CHURN:-40}
CHURNERS=${SOAK_CHURNERS:-0.3}
THREADS=${SOAK_THREADS:-2}
STALLS=${SOAK_STALLS:-}
STALL_SECONDS=${SOAK_STALL_SECONDS:-3}
[ "$WARMUP" -lt "$SECONDS_TOTAL" ] || { echo "soak.sh: SOAK_WARMUP must be below SOAK_SECONDS" >&2; exit 2; }

# shellcheck source=bench/bench-lib.sh
. bench/bench-lib.sh
bl_init "$BUILD" gnuplot
OUT=results/soak-$STAMP
CSV=$OUT.csv
PNG=${PNG:-$OUT.png}

# A metrics port that nothing answers on, below the ephemeral port range.
free_port() {
  local p _
  for _ in $(seq 20); do
    p=$((30000 + RANDOM % 2000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  bl_die "no free metrics port found"
}

# metrics -> the server's /metrics text (empty if it does not answer in 5 s).
metrics() {
  timeout 5 curl -s "http://127.0.0.1:$MPORT/metrics" 2>/dev/null
}

# sample T -> one CSV line: seconds, VmRSS KiB, open fds, and from /metrics
# connections, users online, rooms, bytes queued in outboxes, the deepest
# mailbox seen so far (high-water mark, max over workers), and the bytes the
# buffer pools and the message slabs hold: a step in RSS that comes with a
# new high-water mark is memory kept for reuse after a burst, not a leak.
sample() {
  local rss fds m
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)
  fds=$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  m=$(metrics)
  echo "$1,${rss:-},$fds,$(awk '$1 == "ringchat_connections" {c=$2} $1 == "ringchat_users_online" {u=$2}
    $1 == "ringchat_rooms" {r=$2} $1 == "ringchat_outbox_bytes" {o=$2}
    $1 ~ /^ringchat_mailbox_depth_max/ && $2 + 0 > d + 0 {d=$2}
    $1 == "ringchat_memory_pool_bytes{pool=\"buffers\"}" {b=$2}
    $1 == "ringchat_memory_pool_bytes{pool=\"messages\"}" {g=$2}
    END {printf "%s,%s,%s,%s,%s,%s,%s", c, u, r, o, d, b, g}' <<<"$m")"
}

MPORT=$(free_port)
# shellcheck disable=SC2086 # SOAK_SERVER_ARGS is a list of words
bl_start_ringchat "" --threads "$THREADS" --metrics-port "$MPORT" \
  --max-clients $((ROOMS * MEMBERS + 1000)) ${SOAK_SERVER_ARGS:-}
SERVER_PID=$BL_PID
# A stopped server would ignore the clean-up's SIGTERM: continue it first.
trap 'kill -CONT "$SERVER_PID" 2>/dev/null; bl_cleanup' EXIT
read -r -a PENDING <<<"$STALLS"
echo "soak.sh: ringchat pid $SERVER_PID port $BL_PORT metrics $MPORT; $SECONDS_TOTAL s of" \
  "$ROOMS x $MEMBERS members, $RATE msgs/s, churn $CHURN/s; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The bench runs in the background; the cap leaves room for set-up and drain.
timeout $((SECONDS_TOTAL + 120)) "$BENCH" --port "$BL_PORT" --server-pid "$SERVER_PID" \
  --server-banner "$BL_BANNER" --rooms "$ROOMS" --members "$MEMBERS" --senders "$SENDERS" \
  --rate "$RATE" --churn "$CHURN" --churners "$CHURNERS" --warmup 0 --duration "$SECONDS_TOTAL" \
  --label soak --json >"$OUT.json" 2>"$BL_TMP/bench.err" &
BENCH_PID=$!
BL_PIDS+=("$BENCH_PID")

echo "t_s,rss_kb,fds,connections,users_online,rooms,outbox_bytes,mailbox_depth_max,pool_bytes,msg_bytes" >"$CSV"
T0=$(date +%s)
next=0
while kill -0 "$BENCH_PID" 2>/dev/null; do
  now=$(($(date +%s) - T0))
  if [ "$now" -ge "$next" ] && [ "$now" -le "$SECONDS_TOTAL" ]; then
    line=$(sample "$now")
    echo "$line" >>"$CSV"
    echo "  $line" >&2
    next=$((next + INTERVAL))
  fi
  [ "$now" -gt $((SECONDS_TOTAL + 150)) ] && break # belt and braces: timeout ends the bench first
  if [ ${#PENDING[@]} -gt 0 ] && [ "$now" -ge "${PENDING[0]}" ]; then
    PENDING=("${PENDING[@]:1}")
    echo "  stall: server stopped for $STALL_SECONDS s at $now s" >&2
    kill -STOP "$SERVER_PID"; sleep "$STALL_SECONDS"; kill -CONT "$SERVER_PID"
  fi
  sleep 1
done
wait "$BENCH_PID"
BENCH_RC=$?
bl_forget "$BENCH_PID"
bl_stop_ringchat
bl_forget "$SERVER_PID"
cp "$BL_LOG" "$OUT.log"
cp "$BL_TMP/bench.err" "$OUT.bench.txt"
ACCEPTED=$(sed -nE 's/.*stats: chat_accepted=([0-9]+).*/\1/p' "$OUT.log" | tail -1)

# ---- verdict -------------------------------------------------------------------
FAIL=0
fail() { echo "FAIL: $*"; FAIL=1; }
JSON=$(tail -1 "$OUT.json")
{ [ "$BENCH_RC" -eq 0 ] && [ -n "$JSON" ]; } || fail "ringchat-bench exited $BENCH_RC: $(tail -3 "$BL_TMP/bench.err")"

# growth COLUMN -> "base last growth%" from the first sample at or after the
# warm-up to the last one ("- - -" when there is none).
growth() {
  awk -F, -v w="$WARMUP" -v c="$1" 'NR > 1 && $1 >= w && $c != "" {
      if (base == "") base = $c; last = $c }
    END { if (base == "" || base == 0) print "- - -";
          else printf "%s %s %.2f", base, last, (last - base) * 100 / base }' "$CSV"
}
check_growth() { # NAME GROWTH%
  if [ "$2" = "-" ]; then
    fail "$1: no sample after the warm-up"
  elif awk -v g="$2" -v m="$MAX_GROWTH" 'BEGIN { exit !(g >= m) }'; then
    fail "$1 grew $2 % (limit $MAX_GROWTH %)"
  fi
}
read -r RSS0 RSS1 RSSG <<<"$(growth 2)"
read -r FD0 FD1 FDG <<<"$(growth 3)"
check_growth RSS "$RSSG"
check_growth fds "$FDG"
BADLOG=$(grep -cE '^[^ ]+ +(warn|error)' "$OUT.log")
[ "$BADLOG" -eq 0 ] || fail "$BADLOG warn/error lines in the server log: $(grep -m3 -E '^[^ ]+ +(warn|error)' "$OUT.log")"
ERRS=$(bl_json "$JSON" errors_total)
[ "$ERRS" = 0 ] || fail "bench errors: $(grep -oE '"errors":\{[^}]*\}' <<<"$JSON")"
PUB=$(bl_json "$JSON" total_published)
[ "$PUB" = "$ACCEPTED" ] || fail "bench published $PUB, server accepted ${ACCEPTED:-?}"

gnuplot <<EOF
set terminal pngcairo size 900,500 font ",10"
set datafile separator ","
set output "$PNG"
set title "ringchat soak: $ROOMS x $MEMBERS clients, $RATE msgs/s, churn $CHURN/s (RSS $RSSG %, fds $FDG % after ${WARMUP} s)"
set xlabel "seconds"
set ylabel "server RSS (MiB)"
set y2label "server open file descriptors"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key below
set grid
set arrow from $WARMUP, graph 0 to $WARMUP, graph 1 nohead dashtype 2
plot "$CSV" every ::1 using 1:(\$2/1024) axes x1y1 with linespoints lw 2 title "RSS (MiB)", \
     "" every ::1 using 1:3 axes x1y2 with linespoints lw 2 title "open fds"
EOF

cat <<EOF

soak: $SECONDS_TOTAL s, $ROOMS x $MEMBERS clients ($SENDERS sending, $RATE msgs/s open loop), churn $CHURN/s over $CHURNERS of each room
RSS  after ${WARMUP} s: $RSS0 KiB  last: $RSS1 KiB  growth: $RSSG %  (limit $MAX_GROWTH %)
fds  after ${WARMUP} s: $FD0  last: $FD1  growth: $FDG %
bench: published $PUB (server accepted ${ACCEPTED:-?}), delivered $(bl_json "$JSON" total_delivered), checked $(bl_json "$JSON" checked_deliveries) / expected $(bl_json "$JSON" expected_deliveries), p99 $(bl_fmt "$(bl_json "$JSON" lat_p99_us)") us, errors $ERRS
churn: switches $(bl_json "$JSON" churn_switches), reconnects $(bl_json "$JSON" churn_reconnects) (login retries $(bl_json "$JSON" churn_login_retries)), skipped $(bl_json "$JSON" churn_skipped), failed $(bl_json "$JSON" churn_failed)
server log: $BADLOG warn/error lines; load at end $(cut -d' ' -f1-3 /proc/loadavg)
files: $CSV $PNG $OUT.json $OUT.log $OUT.bench.txt
EOF
if [ "$FAIL" -ne 0 ]; then echo "soak: FAILED"; exit 1; fi
echo "soak: passed"

#!/usr/bin/env bash
# sweep.sh: how ringchat and Redis pub/sub scale with the number of rooms and
# of connections, as PNG plots (gnuplot, Debian's gnuplot-nox package).
#   1. rooms sweep: 1, 10, 100, 1,000, 10,000 rooms of 10 members, closed loop,
#      half of each room sends, inflight 1: delivered/s and p99 latency against
#      rooms, both targets. A point needing more connections than one process
#      may open here (ulimit -Hn) is skipped and said so: 10,000 rooms x 10 is
#      100,000 clients, past this machine's 20,000 open files per process.
#   2. memory sweep: 1,000 .. 15,000 idle connections (subscribed / logged in
#      and in a room): server RSS against connections, both targets. (ringchat
#      with --threads 1 serves at most 16,384 connections: its net port's
#      connection table; see docs/benchmarks.md.)
# Pinned like compare.sh's first view: server on CPU 0 (ringchat --threads
# 1), load on CPU 1. One fresh server per point. Bounded: each run has a
# 2-minute cap, the sweep stops starting runs after 12 minutes; a full sweep
# takes about 4 minutes.
# Output: results/sweep-STAMP.jsonl, results/sweep-STAMP-{rooms,rss}.dat and
# results/sweep-STAMP-{delivered,p99,rss}.png.
#
# Usage: bench/sweep.sh [--build DIR] [--duration S] [--rooms "1 10 100 1000 10000"]
#                       [--conns "1000 2500 5000 10000 15000"]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD=build/release
DURATION=5
ROOMS="1 10 100 1000 10000"
CONNS="1000 2500 5000 10000 15000"
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rooms) ROOMS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "sweep.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

. bench/bench-lib.sh
bl_init "$BUILD" gnuplot
OUT=results/sweep-$STAMP
JSONL=$OUT.jsonl
T0=$(date +%s)
BUDGET=$((12 * 60))
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1000000

# run TARGET CONNECTIONS LABEL BENCH_ARGS... -> appends the JSON line; 1 if skipped.
run() {
  local target=$1 conns=$2 label=$3; shift 3
  if [ $(( $(date +%s) - T0 )) -ge $BUDGET ]; then
    echo "sweep.sh: time budget spent, skipping $label $target" >&2; return 1
  fi
  if [ "$conns" -gt $((NOFILE - 100)) ]; then
    echo "sweep.sh: skipping $label $target: $conns connections, open files capped at $NOFILE" >&2
    return 1
  fi
  echo "== $label $target" >&2
  local sargs=(--max-clients $((NOFILE - 100)))
  [ "$target" = ringchat ] && sargs+=(--threads 1)
  local line
  line=$(bl_run "$target" 0 1 "${sargs[@]}" -- --label "$label" "$@") || return 1
  echo "$line" >>"$JSONL"
  echo "   delivered/s $(bl_fmt "$(bl_json "$line" delivered_per_s)") p99 $(bl_fmt "$(bl_json "$line" lat_p99_us)") us" \
    "rss/conn $(bl_fmt "$(bl_json "$line" server_rss_bytes_per_conn)") errors $(bl_json "$line" errors_total)" >&2
}

# v LINE KEY -> the value, or "?" (gnuplot's missing-data marker) when the
# run is missing, did not finish its set-up, or did not measure it.
v() {
  local x
  x=$(bl_json "$1" "$2")
  [ "$(bl_json "$1" setup_ok)" = true ] || x="?"
  [ "$x" = null ] && x="?"
  echo "$x"
}

# ---- 1. rooms ------------------------------------------------------------------
echo "# rooms ringchat_delivered_per_s redis_delivered_per_s ringchat_p99_us redis_p99_us" >"$OUT-rooms.dat"
for r in $ROOMS; do
  members=$((r * 10))
  for target in ringchat redis; do
    conns=$members
    [ "$target" = redis ] && conns=$((members + members / 2))
    run "$target" "$conns" "rooms=$r" --rooms "$r" --members 10 --senders 0.5 --inflight 1 \
      --warmup 1 --duration "$DURATION" || true
  done
  a=$(grep -F "\"label\":\"rooms=$r\"" "$JSONL" 2>/dev/null | grep -F '"target":"ringchat"' | tail -1)
  b=$(grep -F "\"label\":\"rooms=$r\"" "$JSONL" 2>/dev/null | grep -F '"target":"redis"' | tail -1)
  [ -n "$a$b" ] || continue
  echo "$r $(v "$a" delivered_per_s) $(v "$b" delivered_per_s) $(v "$a" lat_p99_us) $(v "$b" lat_p99_us)" >>"$OUT-rooms.dat"
done

# ---- 2. memory -------------------------------------------------------------------
echo "# connections ringchat_rss_kb redis_rss_kb ringchat_bytes_per_conn redis_bytes_per_conn" >"$OUT-rss.dat"
for n in $CONNS; do
  rooms=$(( (n + 9) / 10 ))
  for target in ringchat redis; do
    run "$target" "$n" "idle=$n" --rooms "$rooms" --members 10 --senders 0 --warmup 0 --duration 1 || true
  done
  a=$(grep -F "\"label\":\"idle=$n\"" "$JSONL" 2>/dev/null | grep -F '"target":"ringchat"' | tail -1)
  b=$(grep -F "\"label\":\"idle=$n\"" "$JSONL" 2>/dev/null | grep -F '"target":"redis"' | tail -1)
  [ -n "$a$b" ] || continue
  echo "$((rooms * 10)) $(v "$a" server_rss_kb_after) $(v "$b" server_rss_kb_after)" \
    "$(v "$a" server_rss_bytes_per_conn) $(v "$b" server_rss_bytes_per_conn)" >>"$OUT-rss.dat"
done

# ---- plots -----------------------------------------------------------------------
gnuplot <<EOF
set terminal pngcairo size 800,500 font ",10"
set datafile missing "?"
set key below
set grid
set logscale x
set xlabel "rooms (10 members each, half of them sending, closed loop)"
set output "$OUT-delivered.png"
set title "delivered messages per second (one message received by one member)"
set ylabel "delivered/s"
set yrange [0:*]
plot "$OUT-rooms.dat" using 1:2 with linespoints lw 2 title "ringchat", \
     "" using 1:3 with linespoints lw 2 title "redis pub/sub"
set output "$OUT-p99.png"
set title "p99 latency, send to receipt"
set ylabel "p99 (ms)"
set logscale y
set yrange [*:*]
plot "$OUT-rooms.dat" using 1:(\$4/1000) with linespoints lw 2 title "ringchat", \
     "" using 1:(\$5/1000) with linespoints lw 2 title "redis pub/sub"
unset logscale
set output "$OUT-rss.png"
set title "server resident memory against idle connections"
set xlabel "connections (logged in and in a room / subscribed)"
set ylabel "RSS (MiB)"
set yrange [0:*]
plot "$OUT-rss.dat" using 1:(\$2/1024) with linespoints lw 2 title "ringchat", \
     "" using 1:(\$3/1024) with linespoints lw 2 title "redis pub/sub"
EOF

echo
cat "$OUT-rooms.dat" "$OUT-rss.dat"
echo "sweep.sh: $JSONL, $OUT-*.dat and $OUT-{delivered,p99,rss}.png written in $(( $(date +%s) - T0 )) s"

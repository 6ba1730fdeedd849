#!/usr/bin/env bash
# compare.sh: the standard ringchat vs Redis pub/sub comparison. For each
# workload it starts a fresh server (ringchat, or Debian's redis-server) on a
# free loopback port, runs ringchat-bench against it, stops the server by PID
# and checks that the bench's delivered count equals the server's own count.
#
# Two views:
#   pinned   - server on CPU 0 (ringchat --threads 1), load on CPU 1 (taskset)
#   unpinned - no taskset, ringchat with its default threads (one per CPU)
# Workloads (closed loop = each sender keeps --inflight messages in flight):
#   A  100 rooms x 10 members, closed loop, inflight 1
#   B  1,000 x 10 (10,000 clients), closed loop, half of each room sends (so
#      the Redis side, which needs a second connection per sender, stays
#      under this machine's 20,000 open files per process)
#   C  1 room x 1,000 members, 10 % senders, inflight 1
#   D  100 x 10 open loop at 5,000 msgs/s (50,000 deliveries/s): latency and
#      server CPU per delivery
#   E  10,000 idle logged-in connections: server RSS per connection
# Output: results/compare-STAMP.jsonl (one line per run) and
# results/compare-STAMP.md (tables with ringchat/redis ratios), the table
# also on stdout. Bounded: each run has a 2-minute cap and the suite stops
# starting runs after 14 minutes; a full run takes about 6 minutes.
#
# Usage: bench/compare.sh [--build DIR] [--duration S] [--views "pinned unpinned"]
#                         [--only "A B C D E"]
#   --build DIR  where ringchat and ringchat-bench were built (default build/release)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD=build/release
DURATION=10
WARMUP=2
VIEWS="pinned unpinned"
ONLY="A B C D E"
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --views) VIEWS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

. bench/bench-lib.sh
bl_init "$BUILD" taskset
JSONL=results/compare-$STAMP.jsonl
MD=results/compare-$STAMP.md
T0=$(date +%s)
BUDGET=$((14 * 60))
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# Bench arguments of each workload (besides --target, --port, --label).
workload_args() {
  case $1 in
    A) echo "--rooms 100 --members 10 --inflight 1 --warmup $WARMUP --duration $DURATION" ;;
    B) echo "--rooms 1000 --members 10 --senders 0.5 --inflight 1 --warmup $WARMUP --duration $DURATION" ;;
    C) echo "--rooms 1 --members 1000 --senders 0.1 --inflight 1 --warmup $WARMUP --duration $DURATION" ;;
    D) echo "--rooms 100 --members 10 --rate 5000 --warmup $WARMUP --duration $DURATION" ;;
    E) echo "--rooms 1000 --members 10 --senders 0 --warmup 0 --duration 3" ;;
  esac
}

run_one() { # VIEW WORKLOAD TARGET
  local view=$1 w=$2 target=$3 scpu="" bcpu="" sargs=(--max-clients 20000)
  if [ "$view" = pinned ]; then
    scpu=0; bcpu=1
    [ "$target" = ringchat ] && sargs+=(--threads 1)
  fi
  if [ $(( $(date +%s) - T0 )) -ge $BUDGET ]; then
    echo "compare.sh: time budget spent, skipping $w/$view/$target" >&2
    return 1
  fi
  echo "== $w $view $target" >&2
  # shellcheck disable=SC2046
  bl_run "$target" "$scpu" "$bcpu" "${sargs[@]}" -- --label "$w/$view" $(workload_args "$w")
}

for view in $VIEWS; do
  for w in $ONLY; do
    for target in ringchat redis; do
      line=$(run_one "$view" "$w" "$target") || continue
      echo "$line" >>"$JSONL"
      echo "   delivered/s $(bl_fmt "$(bl_json "$line" delivered_per_s)")" \
        "p99 $(bl_fmt "$(bl_json "$line" lat_p99_us)") us" \
        "errors $(bl_json "$line" errors_total) counts $(bl_json "$line" counts_checked)" >&2
    done
  done
done

# ---- the markdown tables ------------------------------------------------------
row_of() { grep -F "\"label\":\"$1\"" "$JSONL" 2>/dev/null | grep -F "\"target\":\"$2\"" | tail -1; }

{
  echo "# ringchat vs redis pub/sub ($STAMP)"
  echo
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), kernel $(uname -r)," \
    "$(nproc) CPUs, $(redis-server --version | awk '{print $3}' | tr -d v=)," \
    "measured ${DURATION} s after ${WARMUP} s warm-up. Ratio = ringchat / redis." \
    "Load average at start: $LOAD0, at end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| row | view | ringchat del/s | redis del/s | ratio | ringchat p99 us | redis p99 us | ratio | ringchat CPU us/del | redis CPU us/del | ratio | errors (rc/redis) | counts |"
  echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
  for view in $VIEWS; do
    for w in $ONLY; do
      [ "$w" = E ] && continue
      a=$(row_of "$w/$view" ringchat); b=$(row_of "$w/$view" redis)
      [ -n "$a$b" ] || continue
      j() { bl_json "$1" "$2"; }
      echo "| $w | $view | $(bl_fmt "$(j "$a" delivered_per_s)") | $(bl_fmt "$(j "$b" delivered_per_s)") |" \
        "$(bl_ratio "$(j "$a" delivered_per_s)" "$(j "$b" delivered_per_s)") |" \
        "$(bl_fmt "$(j "$a" lat_p99_us)") | $(bl_fmt "$(j "$b" lat_p99_us)") |" \
        "$(bl_ratio "$(j "$a" lat_p99_us)" "$(j "$b" lat_p99_us)") |" \
        "$(bl_fmt "$(j "$a" server_cpu_us_per_delivery)" 2) | $(bl_fmt "$(j "$b" server_cpu_us_per_delivery)" 2) |" \
        "$(bl_ratio "$(j "$a" server_cpu_us_per_delivery)" "$(j "$b" server_cpu_us_per_delivery)") |" \
        "$(j "$a" errors_total)/$(j "$b" errors_total) | $(j "$a" counts_checked)/$(j "$b" counts_checked) |"
    done
  done
  if [[ " $ONLY " == *" E "* ]]; then
    echo
    echo "| row E: 10,000 idle connections | view | ringchat RSS B/conn | redis RSS B/conn | ratio | ringchat set-up s | redis set-up s |"
    echo "|---|---|--:|--:|--:|--:|--:|"
    for view in $VIEWS; do
      a=$(row_of "E/$view" ringchat); b=$(row_of "E/$view" redis)
      [ -n "$a$b" ] || continue
      echo "| E | $view | $(bl_fmt "$(bl_json "$a" server_rss_bytes_per_conn)") |" \
        "$(bl_fmt "$(bl_json "$b" server_rss_bytes_per_conn)") |" \
        "$(bl_ratio "$(bl_json "$a" server_rss_bytes_per_conn)" "$(bl_json "$b" server_rss_bytes_per_conn)") |" \
        "$(bl_fmt "$(bl_json "$a" setup_s)" 2) | $(bl_fmt "$(bl_json "$b" setup_s)" 2) |"
    done
  fi
} >"$MD"

cat "$MD"
echo
echo "compare.sh: $JSONL and $MD written in $(( $(date +%s) - T0 )) s"

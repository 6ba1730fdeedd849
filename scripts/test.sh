#!/usr/bin/env bash
# test.sh: what `make test` runs. Builds and runs the whole suite:
#   1. release build: every ctest test (unit + integration), against a
#      throwaway redis-server on a free loopback port;
#   2. asan build (AddressSanitizer + UndefinedBehaviorSanitizer): every test;
#   3. tsan build: the tests labelled "tsan" (lock-free structures), then
#      the whole integration suite (release test binaries) against the
#      ThreadSanitizer build of the server: any race report fails the run;
#   4. fuzz build (clang): each fuzz/fuzz_* target for FUZZ_SECONDS (30).
# The redis-server lives in a temp dir with persistence off and is stopped by
# PID on exit, on failure too. Exits non-zero if anything failed; the last
# line is "make-test: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
SKIP_SANITIZERS=${SKIP_SANITIZERS:-0}

bash scripts/deps.sh || exit 1

tmp=$(mktemp -d /tmp/ringchat-test.XXXXXX)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_redis() {
  local port
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$(( 20000 + RANDOM % 30000 ))
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --dir "$tmp" --daemonize no --logfile "$tmp/redis.log" &
    redis_pid=$!
    for _ in $(seq 50); do
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        export RINGCHAT_TEST_REDIS="127.0.0.1:$port"
        echo "test: redis-server pid $redis_pid on $RINGCHAT_TEST_REDIS"
        return 0
      fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; redis_pid=""
  done
  echo "test: could not start redis-server" >&2
  return 1
}

passed=0
failed=0
failures=()

# Runs one ctest invocation and adds its counts to the totals.
run_ctest() {
  local name=$1; shift
  local log="$tmp/ctest-$name.log"
  echo "== ctest ($name)"
  ctest "$@" --output-on-failure 2>&1 | tee "$log"
  local line p f total
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    if grep -q 'No tests were found' "$log"; then return 0; fi
    failed=$((failed + 1)); failures+=("$name: ctest did not finish"); return
  fi
  f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  p=$((total - f))
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$name: $f of $total failed")
}

build() {
  local preset=$1
  echo "== build ($preset)"
  if ! { cmake --preset "$preset" >/dev/null && cmake --build --preset "$preset" -j "$JOBS"; }; then
    failed=$((failed + 1)); failures+=("$preset: build failed"); return 1
  fi
}

run_fuzzers() {
  local dir=build/fuzz/fuzz
  for bin in "$dir"/fuzz_*; do
    [ -x "$bin" ] || continue
    local name corpus work
    name=$(basename "$bin"); corpus="fuzz/corpus/${name#fuzz_}"
    work="$tmp/corpus-$name"; mkdir -p "$work"
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    echo "== fuzz $name for ${FUZZ_SECONDS}s"
    if (cd "$tmp" && "$OLDPWD/$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
          "$work" >"$tmp/$name.log" 2>&1); then
      grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$tmp/$name.log" | tail -1
      passed=$((passed + 1))
    else
      tail -40 "$tmp/$name.log"
      failed=$((failed + 1)); failures+=("fuzz: $name found a crash")
    fi
  done
}

# The integration suite once more, with the server built with TSan. The
# reports go to files (the tests read the server's stderr for other things);
# any report is a failure, printed here.
run_tsan_server() {
  local reports="$tmp/tsan-server"
  mkdir -p "$reports"
  RINGCHAT_TEST_SERVER="$PWD/build/tsan/src/server/ringchat" \
    TSAN_OPTIONS="log_path=$reports/report halt_on_error=0 second_deadlock_stack=1" \
    run_ctest tsan-server --preset release -L integration -j "$JOBS"
  if ls "$reports"/report.* >/dev/null 2>&1; then
    head -n 80 "$reports"/report.*
    failed=$((failed + 1)); failures+=("tsan-server: ThreadSanitizer reports from the server")
  else
    echo "test: the ThreadSanitizer server ran the integration suite with no report"
    passed=$((passed + 1))
  fi
}

start_redis || exit 1

if build release; then
  run_ctest release --preset release -j "$JOBS"
fi
if [ "$SKIP_SANITIZERS" != 1 ]; then
  if build asan; then
    run_ctest asan --preset asan -j "$JOBS"
  fi
  if build tsan; then
    run_ctest tsan --preset tsan -L tsan -j "$JOBS"
    run_tsan_server
  fi
  if command -v clang >/dev/null && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    build fuzz && run_fuzzers
  else
    echo "test: clang or libFuzzer runtime missing: fuzzers skipped"
  fi
fi

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "make-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

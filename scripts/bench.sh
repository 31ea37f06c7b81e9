#!/usr/bin/env bash
#
# Regenerates every number in BENCHMARKS.md on this machine:
#
#   1. root package: BenchmarkVerifyNotification vs BenchmarkVerifyFloor
#   2. bench/: the same notification verified by alipaynotify, the crypto
#      floor, smartwalle/alipay and go-pay/gopay, plus the compatibility table
#   3. middleware: BenchmarkEndToEnd (dedupe off / memory / Redis)
#   4. bench/cmd/load: loopback load on the middleware in process and on
#      examples/nethttp, with latency percentiles, CPU per delivery, Redis round
#      trips per delivery and Redis memory per remembered event
#   5. bench/cmd/chaos: Redis restarts, kill -9, injected errors and panics
#
# Raw output goes to bench/results/*.txt and the Markdown tables to
# bench/results/*-table.md (git-ignored); the summaries are
# printed at the end. Benchmarks are run as COUNT separate processes, one
# after the other for every benchmark in turn (interleaved), so that load from
# other work on the machine spreads over all of them; read the medians.
#
# Environment:
#   COUNT=10            runs per benchmark
#   BENCH_REDIS_ADDR    use this Redis (loopback) instead of starting one
#   SKIP_CHAOS=1        skip the chaos run
#   CHAOS_FLAGS=...     extra flags for bench/cmd/chaos
#   LOAD_FLAGS=...      extra flags for bench/cmd/load
#
# It starts a private Redis with scripts/redis-dev.sh (which installs
# redis-server when it is missing) and uses it unless BENCH_REDIS_ADDR is
# set; load and chaos start their own as well. Everything it started is
# stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

COUNT=${COUNT:-10}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da
RESULTS=$ROOT/bench/results
TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/alipaynotify-bench.XXXXXX")

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	scripts/redis-dev.sh down 2>/dev/null || true
	rm -rf "$TMP_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '\n== %s\n' "$*" >&2; }

benchstat() {
	go run "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" "$@"
}

export ALIPAYNOTIFY_REDIS_DEV_DIR=$TMP_DIR/redis
eval "$(scripts/redis-dev.sh up)"
REDIS_ADDR=${BENCH_REDIS_ADDR:-$ALIPAYNOTIFY_REDIS_ADDR}
export ALIPAYNOTIFY_REDIS_ADDR=$REDIS_ADDR
mkdir -p "$RESULTS"

log "machine"
{
	echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpu:       $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "cores:     $(nproc)"
	echo "memory:    $(free -h | awk '/^Mem:/ {print $2}')"
	echo "kernel:    $(uname -sr)"
	echo "go:        $(go version)"
	echo "redis:     $(redis-server --version)"
	echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
	echo "commit:    $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
} | tee "$RESULTS/machine.txt"

# Compile each benchmark binary once, then run it COUNT times, all binaries
# in turn.
log "compiling benchmark binaries"
go test -c -o "$TMP_DIR/root.test" .
go test -c -o "$TMP_DIR/middleware.test" ./middleware
(cd bench && go test -c -o "$TMP_DIR/peers.test" .)
: >"$RESULTS/root-verify.txt"
: >"$RESULTS/peers.txt"
: >"$RESULTS/endtoend.txt"
for i in $(seq 1 "$COUNT"); do
	log "benchmarks, round $i/$COUNT"
	(cd "$ROOT" && "$TMP_DIR/root.test" -test.run '^$' -test.bench 'BenchmarkVerify(Notification|Floor)$' -test.benchmem -test.count 1) >>"$RESULTS/root-verify.txt"
	(cd "$ROOT/bench" && "$TMP_DIR/peers.test" -test.run '^$' -test.bench '^BenchmarkVerify$' -test.benchmem -test.count 1) >>"$RESULTS/peers.txt"
	(cd "$ROOT/middleware" && "$TMP_DIR/middleware.test" -test.run '^$' -test.bench '^BenchmarkEndToEnd$' -test.benchmem -test.count 1) >>"$RESULTS/endtoend.txt"
done
benchstat "$RESULTS/root-verify.txt" >"$RESULTS/root-verify-benchstat.txt"
benchstat -col /impl "$RESULTS/peers.txt" >"$RESULTS/peers-benchstat.txt"
benchstat "$RESULTS/endtoend.txt" >"$RESULTS/endtoend-benchstat.txt"
(cd bench && go build -o "$TMP_DIR/benchtable" ./cmd/benchtable)
"$TMP_DIR/benchtable" -base VerifyFloor "$RESULTS/root-verify.txt" >"$RESULTS/root-verify-table.md"
"$TMP_DIR/benchtable" -base impl=floor "$RESULTS/peers.txt" >"$RESULTS/peers-table.md"
"$TMP_DIR/benchtable" -base dedupe=off "$RESULTS/endtoend.txt" >"$RESULTS/endtoend-table.md"

log "peer compatibility"
(cd bench && go test -run '^TestPeerCompat$' -v -count 1 .) >"$RESULTS/compat.txt"

log "Redis round trips and memory (library tests)"
(go test -run '^TestRedisRoundTrips$' -v -count 1 ./middleware &&
	go test -run '^TestMemoryPerEvent$' -v -count 1 ./dedupe/redisstore) >"$RESULTS/redis-tests.txt" 2>&1 || true

log "load (bench/cmd/load)"
# shellcheck disable=SC2086 # LOAD_FLAGS is a list of flags
(cd bench && go run ./cmd/load -redis "$REDIS_ADDR" ${LOAD_FLAGS:-}) | tee "$RESULTS/load.txt"

chaos_rc=0
if [ "${SKIP_CHAOS:-}" = 1 ]; then
	log "chaos skipped (SKIP_CHAOS=1)"
else
	log "chaos (bench/cmd/chaos)"
	# shellcheck disable=SC2086 # CHAOS_FLAGS is a list of flags
	(cd bench && go run ./cmd/chaos ${CHAOS_FLAGS:-}) | tee "$RESULTS/chaos.txt" || chaos_rc=$?
fi

log "summary"
cat "$RESULTS/machine.txt"
echo
echo "--- root package ($COUNT runs; benchstat in results/root-verify-benchstat.txt)"
cat "$RESULTS/root-verify-table.md"
echo
echo "--- peers ($COUNT runs; benchstat -col /impl in results/peers-benchstat.txt)"
cat "$RESULTS/peers-table.md"
echo
echo "--- peer compatibility"
sed -n 's/^        //p' "$RESULTS/compat.txt" | grep '^|' || true
echo
echo "--- middleware BenchmarkEndToEnd ($COUNT runs; benchstat in results/endtoend-benchstat.txt)"
cat "$RESULTS/endtoend-table.md"
echo
echo "--- Redis (library tests)"
grep -E 'round trips|bytes' "$RESULTS/redis-tests.txt" || true
echo
echo "--- load"
grep -E '^\||^notify|^Redis|^CPU|^examples' "$RESULTS/load.txt" || true
if [ "${SKIP_CHAOS:-}" != 1 ]; then
	echo
	echo "--- chaos"
	grep -E '^\||^chaos run|^PASS|^FAIL' "$RESULTS/chaos.txt" || true
fi
exit "$chaos_rc"

#!/usr/bin/env bash
#
# The project's single test command (CI runs it through .ci/run). On a fresh
# Debian machine it installs redis-server and the interop tests' Node
# packages, then runs, stopping at the first failure: gofmt, go vet,
# staticcheck, go test -race, the interop tests against Alipay's Node SDK, a
# short fuzzing pass over every fuzz target, the bench module's checks, and
# the e2e module's headless-Chromium test of the ops page (installing
# Debian's chromium when it is missing).
#
# The tests start the Redis servers and the Redis Cluster they need, and stop
# them (internal/redistest). To reuse long-lived ones instead, run
# eval "$(scripts/redis-dev.sh up)" first: that exports
# ALIPAYNOTIFY_REDIS_ADDR and ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS.
#
# Environment: FUZZTIME=8s (per fuzz target), FUZZMINIMIZETIME=100x (the
# default 60s lets minimizing eat the fuzzing time), FUZZ_MIN_EXECS=1000
# (flag a target that ran fewer executions), SKIP_FUZZ=1, SKIP_STATICCHECK=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2
START=$SECONDS STEP=setup SUMMARY=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/alipaynotify-test.XXXXXX")
finish() {
	local rc=$?
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$TMP"
	[ "$rc" = 0 ] || printf '\n== FAILED: step %s (exit status %d) after %ds\n' "$STEP" "$rc" $((SECONDS - START))
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
step() { STEP=$1 STEP_START=$SECONDS && printf '\n== %s\n' "$1"; }
ok() { SUMMARY+=("$STEP: ${1:-ok} ($((SECONDS - STEP_START))s)"); }

step "setup"
if ! command -v redis-server >/dev/null; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo="sudo -n"
	$sudo apt-get update
	# The package may try (and in a container fail) to start a system Redis
	# on 6379; the tests use their own, so only the binary matters.
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server </dev/null || echo "apt-get exited with $?"
	command -v redis-server >/dev/null || { echo "redis-server is still missing"; exit 1; }
fi
redis-server --version
# Debian's chromium for the e2e step, in the background until that step (it
# is a large download; apt-get must not run twice at once, so after Redis).
CHROMIUM_INSTALL=
if [ -z "${ALIPAYNOTIFY_CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo="sudo -n"
	( $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium </dev/null ) >"$TMP/chromium.log" 2>&1 &
	CHROMIUM_INSTALL=$!
fi
# The interop tests' Node packages, in the background until the interop step.
(cd interop && exec npm ci --no-audit --no-fund) >"$TMP/npm.log" 2>&1 &
NPM=$!
ok

step "gofmt"
unformatted=$(find . -name node_modules -prune -o -name '*.go' -print | xargs gofmt -l)
[ -z "$unformatted" ] || { printf 'not gofmt-ed (run gofmt -w):\n%s\n' "$unformatted"; exit 1; }
ok

step "go vet"
go vet ./...
ok

step "staticcheck"
if [ "${SKIP_STATICCHECK:-}" = 1 ]; then
	ok skipped
else
	go run "$STATICCHECK" ./...
	ok
fi

step "go test -race"
go test -race -count=1 ./...
ok

step "interop (Alipay Node SDK)"
wait "$NPM" || { cat "$TMP/npm.log"; echo "npm ci failed in interop/"; exit 1; }
go test -race -count=1 -tags interop ./interop/...
ok

# Fuzzing: each Fuzz target for $FUZZTIME. Go fuzzes one target of a package
# at a time, so each package is a lane of its own, and the lanes run at once.
fuzz_package() { # DIR LANE: fuzz DIR's targets one after the other
	local dir=$1 lane=$2 n=10 file name tags out execs elapsed
	for file in $(grep -lE '^func Fuzz' "$dir"/*_test.go); do
		tags=$(grep -qE '^//go:build .*\binterop\b' "$file" && echo interop || true)
		for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
			out=$TMP/fuzz/$lane-$((n++))
			echo "-- $dir $name" >"$out.log"
			go test -tags="$tags" -run='^$' -fuzz="^$name\$" -fuzztime="${FUZZTIME:-8s}" \
				-fuzzminimizetime="${FUZZMINIMIZETIME:-100x}" "$dir" >>"$out.log" 2>&1 || return
			# The last progress line: "fuzz: elapsed: 8s, execs: 95012 (11876/sec), ..."
			read -r execs elapsed < <(sed -n 's/^fuzz: elapsed: \([0-9]*s\), execs: \([0-9]*\) .*/\2 \1/p' "$out.log" | tail -n 1) || true
			echo "$dir $name ${execs:-0} ${elapsed:-?}" >"$out.execs"
		done
	done
}
if [ "${SKIP_FUZZ:-}" = 1 ]; then
	step "fuzz" && ok skipped
else
	step "fuzz (${FUZZTIME:-8s} per target)"
	lanes=() && mkdir "$TMP/fuzz"
	for dir in $(go list -f '{{.Dir}}' ./... | sed "s|^$PWD|.|"); do
		grep -qE '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
		fuzz_package "$dir" "${#lanes[@]}" &
		lanes+=("$!")
	done
	for lane in "${lanes[@]}"; do wait "$lane" || { cat "$TMP"/fuzz/*.log; exit 1; }; done
	cat "$TMP"/fuzz/*.log
	printf '\nexecutions per fuzz target:\n'
	targets=0 low=0
	while read -r dir name execs elapsed; do
		line="$dir $name: $execs execs in $elapsed"
		if [ "$execs" -lt "${FUZZ_MIN_EXECS:-1000}" ]; then
			line="$line  <-- LOW: under ${FUZZ_MIN_EXECS:-1000}, this target hardly fuzzed"
			low=$((low + 1))
		fi
		echo "   $line"
		targets=$((targets + 1))
	done < <(cat "$TMP"/fuzz/*.execs)
	ok "$targets targets, $low with few executions"
fi

# bench/ is a separate Go module (it pulls in peer SDKs the library must not
# depend on), so go test ./... above does not descend into it.
step "bench module (vet, staticcheck, tests)"
(cd bench && go vet ./... && { [ "${SKIP_STATICCHECK:-}" = 1 ] || go run "$STATICCHECK" ./...; } && go test -race -count=1 ./...)
ok

# e2e/ is a separate Go module too (chromedp: the library must not depend on
# a browser driver): one test that drives the ops page in headless Chromium.
step "e2e module (ops page in headless Chromium)"
if [ -n "$CHROMIUM_INSTALL" ]; then
	wait "$CHROMIUM_INSTALL" || echo "apt-get exited with $?"
	command -v chromium >/dev/null || { cat "$TMP/chromium.log"; echo "chromium is still missing: the ops page cannot be tested"; exit 1; }
fi
"${ALIPAYNOTIFY_CHROMIUM:-chromium}" --version
(cd e2e && go vet ./... && { [ "${SKIP_STATICCHECK:-}" = 1 ] || go run "$STATICCHECK" ./...; } && go test -race -count=1 ./...)
ok

STEP=summary
printf '\n== summary\n'
printf '   %s\n' "${SUMMARY[@]}"
echo "== ALL CHECKS PASSED in $((SECONDS - START))s"

#!/usr/bin/env bash
#
# The project's single test command (CI runs it through .ci/run).
#
# Starts throw-away Redis servers (one standalone + a 3-node Redis Cluster)
# on free 127.0.0.1 ports, then runs: gofmt, go vet, staticcheck,
# go test -race, the interop tests against Alipay's Node SDK, and a short
# fuzzing pass over every fuzz target. Everything it started is stopped on
# exit, and the exit status is that of the first failing step.
#
# Environment:
#   ALIPAYNOTIFY_REDIS_ADDR           use this Redis instead of starting one
#   ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS  use this cluster (comma-separated seeds)
#                                     instead of starting one
#   FUZZTIME=8s                       -fuzztime per fuzz target
#   FUZZMINIMIZETIME=100x             -fuzzminimizetime per fuzz target (short:
#                                     the default 60s lets minimizing new
#                                     inputs eat the whole fuzzing time)
#   FUZZ_MIN_EXECS=1000               flag a target that ran fewer executions
#   SKIP_FUZZ=1                       skip the fuzzing step
#   SKIP_STATICCHECK=1                skip staticcheck
# Exported to the tests: ALIPAYNOTIFY_REDIS_ADDR,
# ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS and REDIS_SERVER_BIN.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

# shellcheck source=scripts/lib/redis.sh
. "$ROOT/scripts/lib/redis.sh"

STATICCHECK_VERSION=v0.8.2
START_SECONDS=$SECONDS
CURRENT_STEP=setup
STEP_PID=
TMP_DIR=
CLEANED_UP=0
declare -a SUMMARY=()

log() { printf '%s\n' "$*"; }

cleanup() {
	[ "$CLEANED_UP" = 1 ] && return 0
	CLEANED_UP=1
	# A step still running (only possible when interrupted): stop its whole
	# process group (it runs in its own session, see run_cmd).
	if [ -n "$STEP_PID" ]; then
		kill -TERM -- "-$STEP_PID" 2>/dev/null || kill -TERM "$STEP_PID" 2>/dev/null || true
		local i
		for i in $(seq 1 50); do
			kill -0 "$STEP_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$STEP_PID" 2>/dev/null || kill -KILL "$STEP_PID" 2>/dev/null || true
		STEP_PID=
	fi
	if [ -n "$TMP_DIR" ] && [ -d "$TMP_DIR" ]; then
		redis_stop_all "$TMP_DIR" || true
		rm -rf "$TMP_DIR"
	fi
}

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	cleanup
	if [ "$rc" -ne 0 ]; then
		log ""
		log "== FAILED: step '$CURRENT_STEP' (exit status $rc) after $((SECONDS - START_SECONDS))s"
	fi
	exit "$rc"
}

on_signal() {
	local rc=$1
	log ""
	log "== interrupted during step '$CURRENT_STEP'"
	exit "$rc" # runs on_exit
}

trap on_exit EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# run_cmd [-C DIR] CMD...: run an external command in its own session (so an
# interrupt can stop it and all its children) and return its exit status.
# wait is interruptible, so INT/TERM traps fire immediately.
run_cmd() {
	local dir=.
	if [ "${1:-}" = -C ]; then
		dir=$2
		shift 2
	fi
	local rc=0
	if command -v setsid >/dev/null 2>&1; then
		(cd "$dir" && exec setsid -w "$@") &
	else
		(cd "$dir" && exec "$@") &
	fi
	STEP_PID=$!
	wait "$STEP_PID" || rc=$?
	STEP_PID=
	return "$rc"
}

step() {
	CURRENT_STEP=$1
	STEP_START=$SECONDS
	log ""
	log "== $1"
}

step_done() {
	SUMMARY+=("$CURRENT_STEP: ${1:-ok} ($((SECONDS - STEP_START))s)")
}

# --------------------------------------------------------------------------
step "redis: setup"
redis_ensure_installed
REDIS_SERVER_BIN=$(command -v redis-server)
export REDIS_SERVER_BIN
log "redis-server: $REDIS_SERVER_BIN ($(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'))"

TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/alipaynotify-test.XXXXXX")

if [ -n "${ALIPAYNOTIFY_REDIS_ADDR:-}" ]; then
	log "using ALIPAYNOTIFY_REDIS_ADDR=$ALIPAYNOTIFY_REDIS_ADDR from the environment"
else
	redis_start_standalone "$TMP_DIR"
	ALIPAYNOTIFY_REDIS_ADDR=$REDIS_STANDALONE_ADDR
fi
if [ -n "${ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS:-}" ]; then
	log "using ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS=$ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS from the environment"
else
	redis_start_cluster "$TMP_DIR"
	ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS=$REDIS_CLUSTER_ADDRS
fi
export ALIPAYNOTIFY_REDIS_ADDR ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS
log "ALIPAYNOTIFY_REDIS_ADDR=$ALIPAYNOTIFY_REDIS_ADDR"
log "ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS=$ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS"
log "REDIS_SERVER_BIN=$REDIS_SERVER_BIN"
step_done

# --------------------------------------------------------------------------
step "gofmt"
GOFMT=$(command -v gofmt || true)
if [ -z "$GOFMT" ]; then
	GOFMT="$(go env GOROOT)/bin/gofmt"
fi
declare -a GO_FILES=()
list_go_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# Tracked and untracked-but-not-ignored files.
		git ls-files -z --cached --others --exclude-standard -- '*.go'
	else
		find . \( -name node_modules -o -name .git \) -prune -o -type f -name '*.go' -print0
	fi
}
while IFS= read -r -d '' f; do
	case "/$f" in */node_modules/*) continue ;; esac
	[ -f "$f" ] || continue # deleted in the work tree
	GO_FILES+=("$f")
done < <(list_go_files)
if [ "${#GO_FILES[@]}" -gt 0 ]; then
	gofmt_out=$("$GOFMT" -l -- "${GO_FILES[@]}")
	if [ -n "$gofmt_out" ]; then
		log "these files are not gofmt'ed (run: gofmt -w <file>):"
		printf '%s\n' "$gofmt_out" >&2
		exit 1
	fi
fi
log "${#GO_FILES[@]} files ok"
step_done

# --------------------------------------------------------------------------
step "go vet"
run_cmd go vet ./...
step_done

# --------------------------------------------------------------------------
step "staticcheck $STATICCHECK_VERSION"
if [ "${SKIP_STATICCHECK:-}" = 1 ]; then
	log "skipped (SKIP_STATICCHECK=1)"
	step_done skipped
else
	run_cmd go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...
	step_done
fi

# --------------------------------------------------------------------------
step "go test -race"
run_cmd go test -race -count=1 ./...
step_done

# --------------------------------------------------------------------------
step "interop (Alipay Node SDK)"
if [ -f interop/package.json ]; then
	run_cmd -C interop npm ci --no-audit --no-fund
	if [ -f interop/go.mod ]; then
		run_cmd -C interop go test -race -count=1 -tags interop ./...
	else
		run_cmd go test -race -count=1 -tags interop ./interop/...
	fi
	step_done
else
	log "skipped: interop/package.json does not exist"
	step_done skipped
fi

# --------------------------------------------------------------------------
step "fuzz (${FUZZTIME:-8s} per target)"
# module_root_of DIR: the nearest ancestor of DIR (relative path) holding a
# go.mod, or "." for the main module.
module_root_of() {
	local d=$1
	while [ "$d" != . ] && [ "$d" != / ] && [ -n "$d" ]; do
		if [ -f "$d/go.mod" ]; then
			printf '%s' "$d"
			return
		fi
		d=$(dirname "$d")
	done
	printf '.'
}
if [ "${SKIP_FUZZ:-}" = 1 ]; then
	log "skipped (SKIP_FUZZ=1)"
	step_done skipped
else
	fuzz_count=0
	fuzz_low=0
	declare -a fuzz_report=()
	mapfile -t fuzz_files < <(grep -rlE --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git \
		'^func Fuzz[A-Za-z0-9_]*\(' . | sed 's|^\./||' | sort)
	for file in "${fuzz_files[@]}"; do
		pkgdir=$(dirname "$file")
		if [ "$(module_root_of "$pkgdir")" != . ]; then
			log "skipping fuzz targets in $file (separate Go module)"
			continue
		fi
		pkg=./$pkgdir
		[ "$pkgdir" = . ] && pkg=.
		tags=()
		if grep -qE '^//go:build .*\binterop\b' "$file"; then
			if [ ! -f interop/package.json ]; then
				log "skipping fuzz targets in $file (needs interop/)"
				continue
			fi
			tags=(-tags interop)
		fi
		mapfile -t fuzz_names < <(grep -oE '^func Fuzz[A-Za-z0-9_]*\(' "$file" | sed 's/^func //; s/($//')
		for name in "${fuzz_names[@]}"; do
			log "-- $pkg $name"
			fuzz_out="$TMP_DIR/fuzz-$fuzz_count.out"
			fuzz_rc=0
			run_cmd go test "${tags[@]}" -run='^$' -fuzz="^${name}\$" -fuzztime="${FUZZTIME:-8s}" \
				-fuzzminimizetime="${FUZZMINIMIZETIME:-100x}" "$pkg" >"$fuzz_out" 2>&1 || fuzz_rc=$?
			cat "$fuzz_out"
			[ "$fuzz_rc" -eq 0 ] || exit "$fuzz_rc"
			# The last progress line: "fuzz: elapsed: 8s, execs: 95012 (11876/sec), ..."
			execs=$(sed -n 's/^fuzz: elapsed: \([0-9]*s\), execs: \([0-9]*\) .*/\2 \1/p' "$fuzz_out" | tail -n 1)
			read -r n_execs elapsed <<<"${execs:-0 ?}"
			line="$pkg $name: $n_execs execs in $elapsed"
			if [ "$n_execs" -lt "${FUZZ_MIN_EXECS:-1000}" ]; then
				line="$line  <-- LOW: under ${FUZZ_MIN_EXECS:-1000}, this target hardly fuzzed"
				fuzz_low=$((fuzz_low + 1))
			fi
			fuzz_report+=("$line")
			fuzz_count=$((fuzz_count + 1))
		done
	done
	if [ "$fuzz_count" -eq 0 ]; then
		log "no fuzz targets found"
	fi
	log ""
	log "executions per fuzz target:"
	for line in "${fuzz_report[@]}"; do
		log "   $line"
	done
	step_done "$fuzz_count targets, $fuzz_low with few executions"
fi

# --------------------------------------------------------------------------
# bench/ is a separate Go module (it pulls in peer SDKs the library must not
# depend on); go test ./... above does not descend into it. Its tests check
# that every peer verifies the benchmark input, the compatibility table's
# alipaynotify column and the chaos checker's classification.
step "bench module (vet, staticcheck, tests)"
if [ -f bench/go.mod ]; then
	run_cmd -C bench go vet ./...
	if [ "${SKIP_STATICCHECK:-}" != 1 ]; then
		run_cmd -C bench go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...
	fi
	run_cmd -C bench go test -race -count=1 ./...
	step_done
else
	log "skipped: bench/go.mod does not exist"
	step_done skipped
fi

# --------------------------------------------------------------------------
CURRENT_STEP=summary
log ""
log "== summary"
for s in "${SUMMARY[@]}"; do
	log "   $s"
done
log "== ALL CHECKS PASSED in $((SECONDS - START_SECONDS))s"

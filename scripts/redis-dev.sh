#!/usr/bin/env bash
#
# Local development Redis: the same standalone server + 3-node Redis Cluster
# that scripts/test.sh uses, but long-lived.
#
#   eval "$(scripts/redis-dev.sh up)"   # start (or reuse) and export the env
#   scripts/redis-dev.sh env            # print the export lines again
#   scripts/redis-dev.sh status
#   scripts/redis-dev.sh down           # stop everything and remove the state
#
# State lives in $ALIPAYNOTIFY_REDIS_DEV_DIR (default /tmp/alipaynotify-redis-dev).
# Only stdout carries the export lines; all messages go to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/redis.sh
. "$SCRIPT_DIR/lib/redis.sh"

STATE_DIR=${ALIPAYNOTIFY_REDIS_DEV_DIR:-/tmp/alipaynotify-redis-dev}

usage() {
	echo "usage: $0 up|down|env|status" >&2
	exit 2
}

# all_alive: every recorded server is running and answers PING on its port.
all_alive() {
	[ -s "$STATE_DIR/servers" ] && [ -s "$STATE_DIR/env" ] || return 1
	local port pidfile pid
	while read -r port pidfile; do
		pid=$(_redis_read_pidfile "$pidfile")
		_redis_pid_alive "$pid" || return 1
		[ "$(_redis_server_pid "$port")" = "$pid" ] || return 1
	done <"$STATE_DIR/servers"
}

print_env() {
	cat "$STATE_DIR/env"
}

cmd_down() {
	if [ -d "$STATE_DIR" ]; then
		redis_stop_all "$STATE_DIR"
		rm -rf "$STATE_DIR"
		redis_log "stopped; removed $STATE_DIR"
	else
		redis_log "nothing to stop ($STATE_DIR does not exist)"
	fi
}

up_failed() {
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		redis_log "up failed; cleaning up"
		cmd_down
	fi
	exit "$rc"
}

cmd_up() {
	redis_ensure_installed
	if all_alive; then
		redis_log "already running (state in $STATE_DIR)"
		print_env
		return 0
	fi
	# Half-dead previous setup: clean it first.
	if [ -d "$STATE_DIR" ]; then
		redis_log "stale state in $STATE_DIR; cleaning up"
		cmd_down
	fi
	mkdir -p "$STATE_DIR"
	# Do not leave half a setup behind if something fails.
	trap up_failed EXIT
	redis_start_standalone "$STATE_DIR"
	redis_start_cluster "$STATE_DIR"
	{
		printf 'export ALIPAYNOTIFY_REDIS_ADDR=%s\n' "$REDIS_STANDALONE_ADDR"
		printf 'export ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS=%s\n' "$REDIS_CLUSTER_ADDRS"
		printf 'export REDIS_SERVER_BIN=%s\n' "$(command -v redis-server)"
	} >"$STATE_DIR/env"
	trap - EXIT
	redis_log "up; stop with: $0 down"
	print_env
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
env)
	[ -s "$STATE_DIR/env" ] || {
		redis_log "not running; run: $0 up"
		exit 1
	}
	print_env
	;;
status)
	if all_alive; then
		redis_log "running (state in $STATE_DIR)"
		print_env
	else
		redis_log "not running"
		exit 1
	fi
	;;
*) usage ;;
esac

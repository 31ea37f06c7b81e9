#!/usr/bin/env bash
#
# Local development Redis: the standalone server + 3-node Redis Cluster that
# the tests would start for themselves, but long-lived and shared, so that
# repeated go test runs skip starting them.
#
#   eval "$(scripts/redis-dev.sh up)"   # start (or reuse) and export the env
#   scripts/redis-dev.sh env            # print the export lines again
#   scripts/redis-dev.sh status
#   scripts/redis-dev.sh down           # stop everything and remove the state
#
# The servers run under internal/redistest/cmd/redisdev, which stops them
# when it gets SIGTERM. State lives in $ALIPAYNOTIFY_REDIS_DEV_DIR (default
# /tmp/alipaynotify-redis-dev). Only stdout carries the export lines.
set -euo pipefail

STATE_DIR=${ALIPAYNOTIFY_REDIS_DEV_DIR:-/tmp/alipaynotify-redis-dev}
case "$STATE_DIR" in /*) ;; *) STATE_DIR=$PWD/$STATE_DIR ;; esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf '[redis-dev] %s\n' "$*" >&2; }

# answers ADDR: a Redis on ADDR (host:port) answers PING within a second.
answers() {
	local reply
	exec 3<>"/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null || return 1
	printf 'PING\r\n' >&3
	read -r -t 1 reply <&3 || true
	exec 3>&-
	[ "$reply" = $'+PONG\r' ]
}

# running: the env file exists and every address in it answers.
running() {
	[ -s "$STATE_DIR/env" ] || return 1
	local addr
	for addr in $(sed -n 's/^export ALIPAYNOTIFY_REDIS[A-Z_]*=//p' "$STATE_DIR/env" | tr , ' '); do
		answers "$addr" || return 1
	done
}

# stop_pid PID NAME: SIGTERM PID if it is the process NAME, wait up to
# 15 s, then SIGKILL.
stop_pid() {
	[ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 150); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}

down() {
	[ -d "$STATE_DIR" ] || return 0
	stop_pid "$(cat "$STATE_DIR/pid" 2>/dev/null)" redisdev
	# Servers of the former bash launcher: "port pidfile" lines.
	if [ -f "$STATE_DIR/servers" ]; then
		while read -r _ pidfile; do
			stop_pid "$(tr -dc 0-9 <"$pidfile" 2>/dev/null)" redis-server
		done <"$STATE_DIR/servers"
	fi
	rm -rf "$STATE_DIR"
	log "stopped; removed $STATE_DIR"
}

up() {
	if running; then
		log "already running (state in $STATE_DIR)"
		cat "$STATE_DIR/env"
		return
	fi
	down # a half-dead earlier setup
	if ! command -v redis-server >/dev/null; then
		log "installing redis-server with apt-get"
		local sudo=
		[ "$(id -u)" = 0 ] || sudo="sudo -n"
		$sudo apt-get update >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
	fi
	mkdir -p "$STATE_DIR"
	go build -o "$STATE_DIR/redisdev" ./internal/redistest/cmd/redisdev
	setsid "$STATE_DIR/redisdev" -dir "$STATE_DIR" </dev/null >"$STATE_DIR/redisdev.log" 2>&1 &
	echo $! >"$STATE_DIR/pid"
	for _ in $(seq 600); do
		[ -s "$STATE_DIR/env" ] && break
		if ! kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null; then
			cat "$STATE_DIR/redisdev.log" >&2
			down
			exit 1
		fi
		sleep 0.1
	done
	[ -s "$STATE_DIR/env" ] || { cat "$STATE_DIR/redisdev.log" >&2; down; exit 1; }
	log "up; stop with: $0 down"
	cat "$STATE_DIR/env"
}

case "${1:-}" in
up) up ;;
down) down ;;
env) [ -s "$STATE_DIR/env" ] && cat "$STATE_DIR/env" || { log "not running; run: $0 up"; exit 1; } ;;
status) running && { log "running (state in $STATE_DIR)"; cat "$STATE_DIR/env"; } || { log "not running"; exit 1; } ;;
*) echo "usage: $0 up|down|env|status" >&2 && exit 2 ;;
esac

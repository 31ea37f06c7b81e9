# shellcheck shell=bash
#
# Shared helpers for starting/stopping throw-away Redis servers (one
# standalone server and a 3-node Redis Cluster) on free 127.0.0.1 ports.
#
# Sourced by scripts/test.sh and scripts/redis-dev.sh. Requires bash.
#
# Every server started through redis_start is recorded, as soon as it is
# launched, in "$dir/servers" (one "port pidfile" line per server), so
# redis_stop_all can later shut down exactly the servers we started and
# nothing else (never a pre-existing system redis).
#
# All diagnostics go to stderr so that stdout stays clean for callers that
# print things meant to be eval'ed (redis-dev.sh up).

REDIS_HOST=127.0.0.1
REDIS_CLUSTER_NODE_TIMEOUT_MS=${REDIS_CLUSTER_NODE_TIMEOUT_MS:-5000}
REDIS_CLUSTER_WAIT_SECONDS=${REDIS_CLUSTER_WAIT_SECONDS:-30}

redis_log() {
	printf '[redis] %s\n' "$*" >&2
}

# _redis_timeout SECONDS CMD...: run CMD with a time limit when coreutils
# timeout is available (it is on Debian), so a stuck peer cannot hang us.
_redis_timeout() {
	local secs=$1
	shift
	if command -v timeout >/dev/null 2>&1; then
		timeout "$secs" "$@"
	else
		"$@"
	fi
}

# redis_ensure_installed: make sure redis-server and redis-cli exist,
# installing Debian's redis-server package (which pulls in redis-tools,
# i.e. redis-cli) when they are missing. Note that the Debian package may
# start a system redis on port 6379; we neither use nor stop it.
redis_ensure_installed() {
	if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
		return 0
	fi
	redis_log "redis-server/redis-cli not found; installing the redis-server package with apt-get"
	local -a sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo -n)
		else
			redis_log "error: not root and sudo is unavailable; install redis-server (provides redis-server and redis-cli) manually"
			return 1
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		redis_log "error: apt-get not available; install redis-server (provides redis-server and redis-cli) manually"
		return 1
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null >&2
	# The package's postinst may try (and, in some containers, fail) to start
	# a system redis on 6379; that service is not ours and we do not need
	# it, so only the presence of the binaries decides success.
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server </dev/null >&2 ||
		redis_log "warning: apt-get install redis-server exited with status $?"
	hash -r
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		redis_log "error: redis-server/redis-cli still not found after installing"
		return 1
	fi
	redis_log "installed $(redis-server --version)"
}

# _redis_port_in_use PORT: true if something accepts TCP connections on
# 127.0.0.1:PORT (bash /dev/tcp probe; refused connections fail instantly).
_redis_port_in_use() {
	(exec 3<>"/dev/tcp/$REDIS_HOST/$1") 2>/dev/null
}

# redis_pick_port [cluster]: set REDIS_PORT to a port that is currently
# free. With "cluster", the cluster bus port (PORT+10000) must be free too.
# Candidate ports start at a random base in [20000, 32000) — below Linux's
# default ephemeral range for the client port — and are never handed out
# twice by the same shell. Binding can still race with another process;
# redis_start retries on a fresh port if that happens.
REDIS_NEXT_PORT=
redis_pick_port() {
	local want_bus=${1:-}
	if [ -z "$REDIS_NEXT_PORT" ]; then
		REDIS_NEXT_PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
	fi
	local tries=0 p
	while [ "$tries" -lt 2000 ]; do
		p=$REDIS_NEXT_PORT
		REDIS_NEXT_PORT=$((REDIS_NEXT_PORT + 1))
		if [ "$REDIS_NEXT_PORT" -ge 32000 ]; then
			REDIS_NEXT_PORT=20000
		fi
		tries=$((tries + 1))
		if _redis_port_in_use "$p"; then
			continue
		fi
		if [ "$want_bus" = cluster ] && _redis_port_in_use $((p + 10000)); then
			continue
		fi
		REDIS_PORT=$p
		return 0
	done
	redis_log "error: could not find a free port"
	return 1
}

# _redis_pid_alive PID: PID is running and is a redis-server process (guards
# against acting on a recycled PID).
_redis_pid_alive() {
	local pid=$1
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [ -r "/proc/$pid/comm" ]; then
		case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
		*redis*) return 0 ;;
		*) return 1 ;;
		esac
	fi
	return 0
}

# _redis_server_pid PORT: print process_id reported by the server on PORT.
_redis_server_pid() {
	_redis_timeout 5 redis-cli -h "$REDIS_HOST" -p "$1" info server 2>/dev/null |
		tr -d '\r' | sed -n 's/^process_id://p'
}

# _redis_read_pidfile PIDFILE
_redis_read_pidfile() {
	[ -s "$1" ] || return 0
	tr -dc '0-9' <"$1" 2>/dev/null || true
}

# redis_start DIR NAME [cluster]: start a daemonized redis-server on a free
# port with its pid/log/data files in DIR. NAME labels the files. On
# success sets REDIS_PORT. With "cluster", starts a cluster-enabled node.
# Retries on another port if the chosen one was grabbed concurrently.
redis_start() {
	local dir=$1 name=$2 mode=${3:-}
	local attempt port pidfile logfile datadir pid i
	local -a extra
	for attempt in 1 2 3 4 5; do
		redis_pick_port "$mode" || return 1
		port=$REDIS_PORT
		pidfile="$dir/$name-$port.pid"
		logfile="$dir/$name-$port.log"
		datadir="$dir/$name-$port"
		mkdir -p "$datadir"
		extra=()
		if [ "$mode" = cluster ]; then
			extra=(--cluster-enabled yes
				--cluster-config-file "$dir/nodes-$port.conf"
				--cluster-node-timeout "$REDIS_CLUSTER_NODE_TIMEOUT_MS")
		fi
		# Record before launching so cleanup knows about it even if we are
		# interrupted right now.
		printf '%s %s\n' "$port" "$pidfile" >>"$dir/servers"
		if ! redis-server --bind "$REDIS_HOST" --port "$port" \
			--save '' --appendonly no \
			--daemonize yes --pidfile "$pidfile" --logfile "$logfile" --dir "$datadir" \
			"${extra[@]}" </dev/null >"$datadir.out" 2>&1; then
			redis_log "error: redis-server failed to start on port $port:"
			tail -n 20 "$datadir.out" "$logfile" >&2 2>/dev/null || true
			return 1
		fi
		# Wait (max ~10 s) until the server answers AND is the process that
		# wrote our pidfile (not some other server that owns the port).
		for i in $(seq 1 100); do
			pid=$(_redis_read_pidfile "$pidfile")
			if [ -n "$pid" ] && [ "$(_redis_server_pid "$port")" = "$pid" ]; then
				redis_log "started $name on $REDIS_HOST:$port (pid $pid)"
				REDIS_PORT=$port
				return 0
			fi
			if grep -qiE 'already in use|failed listening|could not create server' "$logfile" 2>/dev/null; then
				break
			fi
			sleep 0.1
		done
		redis_log "warning: $name did not come up on port $port (attempt $attempt); log:"
		tail -n 5 "$logfile" >&2 || true
		_redis_stop "$port" "$pidfile"
	done
	redis_log "error: could not start $name"
	return 1
}

# _redis_any_alive PID...: true while one of the PIDs is still running.
_redis_any_alive() {
	local pid
	for pid in "$@"; do
		_redis_pid_alive "$pid" && return 0
	done
	return 1
}

# _redis_stop PORT PIDFILE [PORT PIDFILE...]: stop the servers we launched
# with these pidfiles, all in parallel. Sends SHUTDOWN NOSAVE to each server
# that is verifiably ours (its INFO process_id equals the pid in our
# pidfile), then falls back to SIGTERM and finally SIGKILL by pid. Nothing
# else is ever signalled. (Read pids first: redis deletes its pidfile on
# shutdown. A redis process takes ~1 s to exit after SHUTDOWN.)
_redis_stop() {
	local -a ports=() pids=()
	local port pidfile pid i
	while [ "$#" -ge 2 ]; do
		port=$1 pidfile=$2
		shift 2
		pid=$(_redis_read_pidfile "$pidfile")
		if [ -z "$pid" ]; then
			# Launched moments ago and pidfile not written yet? Give it up to
			# 2 s, unless its log already says it failed to start.
			for i in $(seq 1 20); do
				[ -s "$pidfile" ] && break
				grep -qiE 'already in use|failed listening|could not create server' \
					"${pidfile%.pid}.log" 2>/dev/null && break
				sleep 0.1
			done
			pid=$(_redis_read_pidfile "$pidfile")
		fi
		[ -n "$pid" ] || continue
		_redis_pid_alive "$pid" || continue
		ports+=("$port")
		pids+=("$pid")
	done
	[ "${#pids[@]}" -gt 0 ] || return 0
	for i in "${!pids[@]}"; do
		if [ "$(_redis_server_pid "${ports[$i]}")" = "${pids[$i]}" ]; then
			_redis_timeout 5 redis-cli -h "$REDIS_HOST" -p "${ports[$i]}" shutdown nosave >/dev/null 2>&1 || true
		else
			kill -TERM "${pids[$i]}" 2>/dev/null || true
		fi
	done
	for i in $(seq 1 50); do
		_redis_any_alive "${pids[@]}" || return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		_redis_pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for i in $(seq 1 30); do
		_redis_any_alive "${pids[@]}" || return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if _redis_pid_alive "$pid"; then
			redis_log "warning: killing unresponsive redis-server pid $pid"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	return 0
}

# redis_stop_all DIR: stop every server recorded in DIR/servers.
redis_stop_all() {
	local dir=$1 port pidfile
	local -a args=()
	[ -f "$dir/servers" ] || return 0
	while read -r port pidfile; do
		[ -n "$port" ] && args+=("$port" "$pidfile")
	done <"$dir/servers"
	_redis_stop "${args[@]}"
	: >"$dir/servers"
}

# redis_start_standalone DIR: start the standalone server; sets
# REDIS_STANDALONE_ADDR.
redis_start_standalone() {
	redis_start "$1" standalone || return 1
	# shellcheck disable=SC2034 # used by the sourcing scripts
	REDIS_STANDALONE_ADDR="$REDIS_HOST:$REDIS_PORT"
}

# redis_start_cluster DIR: start three cluster-enabled nodes, create a
# 3-master cluster (no replicas) and wait until every node reports
# cluster_state:ok. Sets REDIS_CLUSTER_ADDRS (comma separated).
redis_start_cluster() {
	local dir=$1 n p
	local -a ports=() addrs=()
	for n in 1 2 3; do
		redis_start "$dir" "cluster$n" cluster || return 1
		ports+=("$REDIS_PORT")
		addrs+=("$REDIS_HOST:$REDIS_PORT")
	done
	redis_log "creating cluster ${addrs[*]}"
	if ! _redis_timeout 60 redis-cli --cluster create "${addrs[@]}" \
		--cluster-replicas 0 --cluster-yes </dev/null >"$dir/cluster-create.log" 2>&1; then
		redis_log "error: redis-cli --cluster create failed:"
		cat "$dir/cluster-create.log" >&2 || true
		return 1
	fi
	local deadline=$((SECONDS + REDIS_CLUSTER_WAIT_SECONDS)) ok info
	while :; do
		ok=1
		for p in "${ports[@]}"; do
			info=$(_redis_timeout 5 redis-cli -h "$REDIS_HOST" -p "$p" cluster info 2>/dev/null | tr -d '\r')
			if ! grep -qx 'cluster_state:ok' <<<"$info" ||
				! grep -qx 'cluster_slots_ok:16384' <<<"$info" ||
				! grep -qx 'cluster_known_nodes:3' <<<"$info"; then
				ok=0
				break
			fi
		done
		[ "$ok" = 1 ] && break
		if [ "$SECONDS" -ge "$deadline" ]; then
			redis_log "error: cluster not ok after ${REDIS_CLUSTER_WAIT_SECONDS}s; cluster info of $REDIS_HOST:$p:"
			printf '%s\n' "$info" >&2
			return 1
		fi
		sleep 0.2
	done
	REDIS_CLUSTER_ADDRS=$(
		IFS=,
		printf '%s' "${addrs[*]}"
	)
	redis_log "cluster ok: $REDIS_CLUSTER_ADDRS"
}

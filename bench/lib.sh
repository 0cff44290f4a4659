# shellcheck shell=bash
# bench/lib.sh: shell functions bench/run.sh, bench/mitm.sh and
# bench/telemetry.sh share, sourced by each. The script sets LOG_TAG (its
# log prefix), WORK (its temporary directory) and KEEP_WORK before
# sourcing; sourcing sets the traps that stop every process listed in PIDS,
# in reverse order, and remove WORK on exit (kept when KEEP_WORK=1 or on
# failure).

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
has() { [[ " $2 " == *" $1 "* ]]; }

PIDS=()          # every process we started, stopped in reverse order on exit
POLICY_RC_CREATED=0

stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid did not stop on SIGTERM; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}"
	done
	if [[ $POLICY_RC_CREATED == 1 ]]; then
		as_root rm -f /usr/sbin/policy-rc.d || true
	fi
	if [[ $KEEP_WORK == 1 || $rc != 0 ]]; then
		log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# forget drops a PID from the list once it has been stopped.
forget() {
	local pid=$1 i
	for i in "${!PIDS[@]}"; do
		[[ ${PIDS[i]} == "$pid" ]] && unset 'PIDS[i]'
	done
	PIDS=("${PIDS[@]}")
}

as_root() {
	if [[ $(id -u) == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root or sudo for: $*"
	fi
}

# apt_install PKG... installs Debian packages, apt-get update first, one at
# a time (the output of each in $WORK/apt-PKG.log), and returns 1 if any
# failed. The packages' own services are kept from starting while they
# install: policy-rc.d exit 101 forbids invoke-rc.d actions.
apt_install() {
	command -v apt-get >/dev/null || { log "apt-get not found: install $* yourself"; return 1; }
	log "installing $* from Debian packages"
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
		as_root chmod 755 /usr/sbin/policy-rc.d
		POLICY_RC_CREATED=1
	fi
	as_root apt-get update -qq || log "apt-get update failed; installing from the package lists there are"
	local p rc=0
	for p in "$@"; do
		if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >"$WORK/apt-$p.log" 2>&1; then
			log "apt-get install $p failed: $(tail -3 "$WORK/apt-$p.log")"
			rc=1
		fi
	done
	if [[ $POLICY_RC_CREATED == 1 ]]; then
		as_root rm -f /usr/sbin/policy-rc.d
		POLICY_RC_CREATED=0
	fi
	return "$rc"
}

# disable_services NAME... stops services that an install may have started:
# the benches start their own instances on free ports with generated configs.
disable_services() {
	local svc
	for svc in "$@"; do
		if [[ -d /run/systemd/system ]]; then
			as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
		elif command -v service >/dev/null; then
			as_root service "$svc" stop >/dev/null 2>&1 || true
		fi
	done
}

# wait_file FILE PID [TRIES] waits, TRIES (100) times 0.1 s at most, for a
# ready file written by a Go program; it fails at once if PID exits.
wait_file() {
	local f=$1 pid=$2 tries=${3:-100} i
	for i in $(seq 1 "$tries"); do
		[[ -s $f ]] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# json_field FILE KEY reads a flat string field of a one-line JSON object
# (a ready file).
json_field() { sed -n "s/.*\"$2\" *: *\"\\([^\"]*\\)\".*/\\1/p" "$1"; }

# start_ready NAME CMD... starts one of the bench's Go servers, which
# writes its addresses to the ready file $WORK/NAME.ready once it serves
# (-ready-file), its stderr to $WORK/NAME.log; it adds the server to PIDS
# (last) and waits for the file.
start_ready() {
	local name=$1 pid
	shift
	rm -f "$WORK/$name.ready"
	"$@" -ready-file "$WORK/$name.ready" 2>"$WORK/$name.log" &
	pid=$!
	PIDS+=("$pid")
	wait_file "$WORK/$name.ready" "$pid" || die "$name did not start: $(cat "$WORK/$name.log")"
}

# wait_port PORT PID [TRIES] waits likewise until 127.0.0.1:PORT accepts a
# connection.
wait_port() {
	local port=$1 pid=$2 tries=${3:-100} i
	for i in $(seq 1 "$tries"); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# rotate N: the series list read from stdin, starting at item N mod length,
# so that no route always runs first (or right after the same neighbour).
rotate() {
	local n=$1 items
	mapfile -t items
	local len=${#items[@]} i
	((len == 0)) && return 0
	for ((i = 0; i < len; i++)); do
		printf '%s\n' "${items[(i + n) % len]}"
	done
}

# PIN=1 (pin_setup): the proxy under test, with every process it forks
# (squid's helpers), runs on one CPU and the load generator and the origin
# on the others, so the two sides do not compete for the cores. The
# default (PIN unset or 0) pins nothing. PROXY_PIN and LOAD_PIN are command
# prefixes (empty when not pinning); PIN_DESC says what was done, for the
# results header.
PROXY_PIN=()
LOAD_PIN=()
PIN_DESC="none (every process may run on every CPU: a shared machine)"

# pin_setup splits the CPUs this script may run on (taskset -cp $$): the
# last one for the proxy, the rest for the load side. It installs
# util-linux for taskset when missing and fails with fewer than 2 CPUs.
pin_setup() {
	[[ ${PIN:-0} == 1 ]] || return 0
	command -v taskset >/dev/null || apt_install util-linux || true
	command -v taskset >/dev/null || die "PIN=1 needs taskset (Debian package util-linux)"
	local allowed part c cpus=() parts
	allowed=$(taskset -cp $$ | sed 's/.*: *//')
	IFS=, read -ra parts <<<"$allowed"
	for part in "${parts[@]}"; do
		if [[ $part == *-* ]]; then
			for ((c = ${part%-*}; c <= ${part#*-}; c++)); do cpus+=("$c"); done
		else
			cpus+=("$part")
		fi
	done
	((${#cpus[@]} >= 2)) || die "PIN=1 needs at least 2 CPUs; this script may use CPU(s) $allowed"
	local proxy=${cpus[-1]} load
	load=$(IFS=,; echo "${cpus[*]:0:${#cpus[@]}-1}")
	PROXY_PIN=(taskset -c "$proxy")
	# shellcheck disable=SC2034 # used by the scripts that source this file
	PROXY_CPUS=$proxy LOAD_CPUS=$load
	# shellcheck disable=SC2034 # used by the scripts that source this file
	LOAD_PIN=(taskset -c "$load")
	PIN_DESC="PIN=1: proxy under test (and its child processes) on CPU $proxy; load generator and origin on CPU $load"
	log "pinning: $PIN_DESC"
}

# cpu_times prints "cpuN busy total" (clock ticks since boot) for each CPU,
# from /proc/stat; cpu_busy BEFORE AFTER LIST prints how busy the CPUs of
# LIST (e.g. "0" or "0,2") were between the two, in percent. With PIN=1 they
# tell whether the proxy's CPU or the load side's was the one that ran
# out: a proxy CPU under 100 % while the load CPU is full means the figure
# is bound by the load generator and origin, not by the proxy.
cpu_times() {
	awk '$1 ~ /^cpu[0-9]+$/ { idle = $5 + $6; t = 0; for (i = 2; i <= 9; i++) t += $i; print $1, t - idle, t }' /proc/stat
}
cpu_busy() {
	awk -v list="$3" -v before="$1" -v after="$2" 'BEGIN {
		n = split(list, want, ",")
		for (i = 1; i <= n; i++) keep["cpu" want[i]] = 1
		m = split(before, b, "\n"); for (i = 1; i <= m; i++) { split(b[i], f, " "); if (f[1] in keep) { busy -= f[2]; total -= f[3] } }
		m = split(after, a, "\n"); for (i = 1; i <= m; i++) { split(a[i], f, " "); if (f[1] in keep) { busy += f[2]; total += f[3] } }
		printf "%.0f", (total > 0 ? 100 * busy / total : 0)
	}'
}

# pinned_cpus PID: the CPU list PID may run on, and those of its children
# (squid's helpers), as "PID:LIST ...", to show that pinning took.
pinned_cpus() {
	local pid out="" p
	for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
		out+="$p:$(taskset -cp "$p" 2>/dev/null | sed 's/.*: *//') "
	done
	echo "${out% }"
}

# start_squid DIR PORT [TRIES] completes DIR/squid.conf, which holds the
# bench's own lines (http_port...), with a plain forward proxy's: no disk
# cache, memory cache off for these responses, no access log, no CONNECT
# port restriction. Then it starts squid on it (behind PROXY_PIN), adds it
# to PIDS and waits for PORT.
start_squid() {
	local dir=$1 port=$2 tries=${3:-100} pid
	cat >>"$dir/squid.conf" <<-EOF
		pid_filename $dir/squid.pid
		cache_log $dir/cache.log
		access_log none
		cache_store_log none
		cache deny all
		cache_mem 8 MB
		coredump_dir $dir
		max_filedescriptors 16384
		shutdown_lifetime 1 seconds
		pinger_enable off
		netdb_filename none
		logfile_rotate 0
		via off
		forwarded_for delete
		http_access allow localhost
		http_access deny all
	EOF
	"${PROXY_PIN[@]}" squid -N -f "$dir/squid.conf" >"$dir/out.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" "$pid" "$tries" || die "squid did not start: $(cat "$dir/out.log" "$dir/cache.log" 2>/dev/null)"
}

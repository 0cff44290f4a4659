#!/usr/bin/env bash
# bench/run.sh: netpolicy against a direct connection, a plain Go relay with
# no policy, tinyproxy and squid, on this machine, interleaved round by round.
#
# Needs: Debian (apt-get, for tinyproxy and squid), Go >= the go.mod version,
# root or sudo for the package install. Everything listens on 127.0.0.1
# only; every process this script starts is stopped by its PID on exit.
#
# Environment (all optional):
#   ROUNDS=5            rounds; every figure is measured once per round per route
#   DURATION=5s         length of each measured run
#   IDLE_TUNNELS=2000   idle tunnels opened per proxy for the memory figure
#   BIG_SIZE=67108864   body size of the large GET
#   FIGURES="small1 small64 tunnel-down tunnel-up big idle startup"
#                       (tunnel-both, post64, newconn1 and newconn64 are also
#                       available; the newconn figures start a DNS server)
#   DNS_ADDR=127.0.0.1:53  where the bench DNS server (bench/cmd/dnsd) listens
#                       for the newconn figures: port 53, as squid's
#                       dns_nameservers and the C library's resolv.conf
#                       (tinyproxy, in a mount namespace: needs unshare)
#                       take no port
#   SYSTEMS="direct netpolicy relay tinyproxy squid"
#   SKIP_INSTALL=1      do not run apt-get (tinyproxy and squid must be present)
#   AUDIT_LOG=/dev/null where netpolicy serve writes its audit events
#   OUT=bench/results   where latest.{md,svg,jsonl} go
#   UPDATE_README=1     embed the table in bench/README.md (0 to skip)
#   KEEP_WORK=1         keep the temporary directory (configs, logs)
#   NOTE="..."          free text copied into the report (e.g. machine load)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
IDLE_TUNNELS=${IDLE_TUNNELS:-2000}
BIG_SIZE=${BIG_SIZE:-67108864}
FIGURES=${FIGURES:-"small1 small64 tunnel-down tunnel-up big idle startup"}
SYSTEMS=${SYSTEMS:-"direct netpolicy relay tinyproxy squid"}
SKIP_INSTALL=${SKIP_INSTALL:-0}
AUDIT_LOG=${AUDIT_LOG:-/dev/null}
DNS_ADDR=${DNS_ADDR:-127.0.0.1:53}
DNS_NAME=registry.bench.test
USE_DNS=0
[[ " $FIGURES " == *" newconn"* ]] && USE_DNS=1
UPDATE_README=${UPDATE_README:-1}
KEEP_WORK=${KEEP_WORK:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$HERE/results}
COMMAND_LINE="ROUNDS=$ROUNDS DURATION=$DURATION bench/run.sh"

LOG_TAG=bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/netpolicy-bench.XXXXXX")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

# ---------------------------------------------------------------- install
install_peers() {
	local need=()
	has tinyproxy "$SYSTEMS" && ! command -v tinyproxy >/dev/null && need+=(tinyproxy)
	has squid "$SYSTEMS" && ! command -v squid >/dev/null && need+=(squid)
	if [[ ${#need[@]} == 0 ]]; then
		return 0
	fi
	[[ $SKIP_INSTALL == 1 ]] && die "SKIP_INSTALL=1 but missing: ${need[*]}"
	apt_install "${need[@]}" || die "could not install ${need[*]}"
	disable_services "${need[@]}"
}

# ---------------------------------------------------------------- build
BIN=$WORK/bin
build() {
	command -v go >/dev/null || die "go not found (need the version in go.mod)"
	mkdir -p "$BIN"
	log "building in $REPO"
	(cd "$REPO" && go build -o "$BIN/" ./bench/cmd/origin ./bench/cmd/loadgen ./bench/cmd/relay ./bench/cmd/report ./bench/cmd/dnsd)
	if has netpolicy "$SYSTEMS" || has startup "$FIGURES"; then
		(cd "$REPO" && go build -o "$BIN/netpolicy" ./cmd/netpolicy)
		"$BIN/netpolicy" help serve >/dev/null 2>&1 || die "this netpolicy has no serve command (SYSTEMS without netpolicy to run the rest)"
	fi
}

# ---------------------------------------------------------------- processes
declare -A HTTP_ADDR SOCKS_ADDR PROC_PID

# json_field FILE KEY reads a flat string field of a one-line JSON object.
json_field() { sed -n "s/.*\"$2\" *: *\"\\([^\"]*\\)\".*/\\1/p" "$1"; }

free_port() { "$BIN/loadgen" -mode freeport; }

# start_dns starts the bench DNS server: the one name, 127.0.0.1, answered
# after 20 ms with a TTL of 60 s.
start_dns() {
	local ready=$WORK/dnsd.ready
	"$BIN/dnsd" -addr "$DNS_ADDR" -name "$DNS_NAME" -delay 20ms -ttl 60 -ready-file "$ready" 2>"$WORK/dnsd.log" &
	local pid=$!
	PIDS+=("$pid")
	wait_file "$ready" "$pid" || die "dnsd did not start on $DNS_ADDR: $(cat "$WORK/dnsd.log")"
}

start_origin() {
	local ready=$WORK/origin.ready
	"$BIN/origin" -ready-file "$ready" 2>"$WORK/origin.log" &
	local pid=$!
	PIDS+=("$pid")
	wait_file "$ready" "$pid" || die "origin did not start: $(cat "$WORK/origin.log")"
	ORIGIN_HTTP=$(json_field "$ready" http)
	ORIGIN_TCP=$(json_field "$ready" tcp)
	ORIGIN_PID=$pid
}

# start_proxy SYSTEM NAME starts an instance and records its addresses and
# PID under NAME.
start_proxy() {
	local sys=$1 name=$2 pid ready=$WORK/$2.ready
	rm -f "$ready"
	case $sys in
	relay)
		"$BIN/relay" -ready-file "$ready" 2>"$WORK/$name.log" &
		pid=$!
		PIDS+=("$pid")
		wait_file "$ready" "$pid" || die "relay did not start: $(cat "$WORK/$name.log")"
		HTTP_ADDR[$name]=$(json_field "$ready" http)
		SOCKS_ADDR[$name]=$(json_field "$ready" socks)
		;;
	netpolicy)
		cat >"$WORK/netpolicy.toml" <<-EOF
			# Generated by bench/run.sh: the origin is a loopback literal, which
			# the policy blocks unless it is allowlisted exactly.
			[network]
			enabled = true
			mode = "full"
			domains = { "127.0.0.1" = "allow", "$DNS_NAME" = "allow" }
		EOF
		local dns=()
		if [[ $USE_DNS == 1 ]]; then
			# The name resolves to the loopback origin.
			sed -i 's/^enabled = true$/enabled = true\nallow_local_binding = true/' "$WORK/netpolicy.toml"
			dns=(--dns "$DNS_ADDR")
		fi
		"$BIN/netpolicy" serve --requirements= --config "$WORK/netpolicy.toml" --mode full-access \
			--http 127.0.0.1:0 --socks 127.0.0.1:0 --ready-file "$ready" --audit-log "$AUDIT_LOG" \
			"${dns[@]}" 2>"$WORK/$name.log" &
		pid=$!
		PIDS+=("$pid")
		wait_file "$ready" "$pid" || die "netpolicy serve did not start: $(cat "$WORK/$name.log")"
		HTTP_ADDR[$name]=$(json_field "$ready" http)
		SOCKS_ADDR[$name]=$(json_field "$ready" socks)
		;;
	tinyproxy)
		local port dir=$WORK/$name
		port=$(free_port)
		mkdir -p "$dir"
		# No ConnectPort line: CONNECT to any port. No LogFile: no logging.
		cat >"$dir/tinyproxy.conf" <<-EOF
			User nobody
			Group nogroup
			Port $port
			Listen 127.0.0.1
			Timeout 600
			MaxClients 4096
			LogLevel Critical
			Allow 127.0.0.1
			DisableViaHeader Yes
		EOF
		[[ $(id -u) == 0 ]] || sed -i '/^User \|^Group /d' "$dir/tinyproxy.conf"
		local cmd=(tinyproxy -d -c "$dir/tinyproxy.conf")
		if [[ $USE_DNS == 1 ]]; then
			# tinyproxy resolves names through the C library (no cache of
			# its own), which reads /etc/resolv.conf: it runs in a mount
			# namespace of its own in which that file names only the bench
			# DNS server and nsswitch.conf only files and DNS. The mounts
			# are private to the namespace; the PID stays tinyproxy's.
			[[ $DNS_ADDR == *:53 ]] || die "tinyproxy's resolver needs DNS_ADDR on port 53"
			printf 'nameserver %s\noptions attempts:1 timeout:2\n' "${DNS_ADDR%:53}" >"$dir/resolv.conf"
			printf 'hosts: files dns\n' >"$dir/nsswitch.conf"
			local ns=(unshare -m --propagation private)
			[[ $(id -u) == 0 ]] || ns=(unshare -Urm --propagation private)
			# shellcheck disable=SC2016 # expanded by the inner shell
			cmd=("${ns[@]}" sh -c 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"' \
				sh "$dir/resolv.conf" "$dir/nsswitch.conf" "${cmd[@]}")
		fi
		"${cmd[@]}" >"$dir/out.log" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		wait_port "$port" "$pid" || die "tinyproxy did not start: $(cat "$dir/out.log")"
		HTTP_ADDR[$name]=127.0.0.1:$port
		;;
	squid)
		local port dir=$WORK/$name
		port=$(free_port)
		mkdir -p "$dir"
		chmod 777 "$dir" # squid drops to its own user and logs here
		echo "http_port 127.0.0.1:$port" >"$dir/squid.conf"
		if [[ $USE_DNS == 1 ]]; then
			[[ $DNS_ADDR == *:53 ]] || die "squid's dns_nameservers needs DNS_ADDR on port 53"
			echo "dns_nameservers ${DNS_ADDR%:53}" >>"$dir/squid.conf"
		fi
		start_squid "$dir" "$port"
		pid=${PIDS[-1]}
		HTTP_ADDR[$name]=127.0.0.1:$port
		;;
	*) die "unknown system $sys" ;;
	esac
	PROC_PID[$name]=$pid
}

stop_proxy() {
	local name=$1
	stop_pid "${PROC_PID[$name]}"
	forget "${PROC_PID[$name]}"
	unset "PROC_PID[$name]"
}

# ---------------------------------------------------------------- runs
RESULTS=$WORK/results.jsonl
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# series a figure is measured on: SYSTEM:ROUTE
series_for() {
	local all
	case $1 in
	small1 | small64) all="direct:direct netpolicy:http netpolicy:connect netpolicy:socks5 relay:http relay:connect relay:socks5 tinyproxy:http tinyproxy:connect squid:http squid:connect" ;;
	tunnel-*) all="direct:direct netpolicy:connect netpolicy:socks5 relay:connect relay:socks5 tinyproxy:connect squid:connect" ;;
	big) all="direct:direct netpolicy:http relay:http tinyproxy:http squid:http" ;;
	idle) all="netpolicy:connect netpolicy:socks5 relay:connect relay:socks5 tinyproxy:connect squid:connect" ;;
	post64) all="direct:direct netpolicy:http relay:http tinyproxy:http squid:http" ;;
	# Only the systems pointed at the bench DNS server: the name is never
	# looked up anywhere else.
	newconn*) all="netpolicy:connect tinyproxy:connect squid:connect" ;;
	esac
	local s
	for s in $all; do
		has "${s%%:*}" "$SYSTEMS" && printf '%s\n' "$s"
	done
}

# measure FIGURE SYSTEM ROUTE ROUND [NAME] runs loadgen once and appends its
# JSON line to the results; a failed run is logged and recorded, not fatal.
measure() {
	local fig=$1 sys=$2 route=$3 round=$4 name=${5:-$2}
	local args=(-label "$sys" -route "$route" -round "$round" -duration "$DURATION"
		-origin "$ORIGIN_HTTP" -tcp "$ORIGIN_TCP" -clk-tck "$CLK_TCK")
	if [[ $sys != direct ]]; then
		args+=(-pid "${PROC_PID[$name]}")
		if [[ $route == socks5 ]]; then
			args+=(-proxy "${SOCKS_ADDR[$name]}")
		else
			args+=(-proxy "${HTTP_ADDR[$name]}")
		fi
	fi
	case $fig in
	small1) args+=(-mode small -c 1) ;;
	small64) args+=(-mode small -c 64) ;;
	post64) args+=(-mode post -c 64 -post-bytes 4096) ;;
	newconn1) args+=(-mode newconn -c 1 -name "$DNS_NAME") ;;
	newconn64) args+=(-mode newconn -c 64 -name "$DNS_NAME") ;;
	tunnel-down) args+=(-mode tunnel -dir down -bytes 1000000000000) ;;
	tunnel-up) args+=(-mode tunnel -dir up -bytes 1000000000000) ;;
	tunnel-both) args+=(-mode tunnel -dir both -bytes 1000000000000) ;;
	big) args+=(-mode big -bytes "$BIG_SIZE") ;;
	idle) args+=(-mode idle -tunnels "$IDLE_TUNNELS") ;;
	esac
	local line
	if line=$("$BIN/loadgen" "${args[@]}" 2>>"$WORK/loadgen.err"); then
		:
	else
		log "  $fig $sys $route: FAILED ($(tail -1 "$WORK/loadgen.err"))"
	fi
	[[ -n $line ]] && printf '%s\n' "$line" >>"$RESULTS"
	[[ -n $line ]] && log "  $fig $sys $route: $(summary "$line")"
	return 0
}

summary() {
	local l=$1
	case $l in
	*'"mode":"small"'* | *'"mode":"post"'* | *'"mode":"newconn"'*) printf '%s req/s p99 %s ms' "$(num_field "$l" rps)" "$(num_field "$l" p99_ms)" ;;
	*'"mode":"idle"'*) printf '%s KiB/tunnel (%s tunnels)' "$(num_field "$l" rss_per_tunnel_kib)" "$(num_field "$l" tunnels)" ;;
	*) printf '%s MB/s' "$(num_field "$l" mbps)" ;;
	esac
}
num_field() { sed -n "s/.*\"$2\":\\([-0-9.e+]*\\).*/\\1/p" <<<"$1" | cut -c1-8; }

# ---------------------------------------------------------------- main
[[ $(uname -s) == Linux ]] || die "Linux only (reads /proc)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
install_peers
build
mkdir -p "$OUT"
: >"$RESULTS"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory $WORK; rounds=$ROUNDS duration=$DURATION; load average $LOAD_START"
[[ $USE_DNS == 1 ]] && start_dns
start_origin
for sys in netpolicy relay tinyproxy squid; do
	has "$sys" "$SYSTEMS" && start_proxy "$sys" "$sys"
done

for ((round = 1; round <= ROUNDS; round++)); do
	log "round $round/$ROUNDS"
	for fig in $FIGURES; do
		case $fig in
		idle | startup) continue ;;
		esac
		while IFS=: read -r sys route; do
			measure "$fig" "$sys" "$route" "$round"
		done < <(series_for "$fig" | rotate "$((round - 1))")
	done
	if has idle "$FIGURES"; then
		# Memory per idle tunnel is measured on a fresh instance each time:
		# a process that already served load has free heap to hide it in.
		while IFS=: read -r sys route; do
			start_proxy "$sys" "idle-$sys"
			sleep 0.5
			measure idle "$sys" "$route" "$round" "idle-$sys"
			stop_proxy "idle-$sys"
		done < <(series_for idle | rotate "$((round - 1))")
	fi
done

if has startup "$FIGURES"; then
	log "CLI start-up"
	NETPOLICY=$BIN/netpolicy LOADGEN=$BIN/loadgen "$HERE/startup.sh" >>"$RESULTS" || log "startup.sh failed"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

version_of() { "$@" 2>&1 | head -1 || true; }
{
	echo "command: $COMMAND_LINE"
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "rounds: $ROUNDS"
	echo "duration: $DURATION per run"
	echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "cores: $(nproc)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel: $(uname -sr)"
	echo "go: $(go version | cut -d' ' -f3)"
	has netpolicy "$SYSTEMS" && echo "netpolicy: $(version_of "$BIN/netpolicy" --version)"
	has squid "$SYSTEMS" && echo "squid: $(version_of squid -v)"
	has tinyproxy "$SYSTEMS" && echo "tinyproxy: $(version_of tinyproxy -v)"
	echo "loadavg_start: $LOAD_START"
	echo "loadavg_end: $LOAD_END"
	[[ -n ${NOTE:-} ]] && echo "note: $NOTE"
	true
} >"$WORK/meta.txt"

cp "$RESULTS" "$OUT/latest.jsonl"
report_args=(-in "$RESULTS" -meta "$WORK/meta.txt" -md "$OUT/latest.md" -svg "$OUT/latest.svg")
[[ $UPDATE_README == 1 ]] && report_args+=(-readme "$HERE/README.md")
"$BIN/report" "${report_args[@]}"
log "wrote $OUT/latest.md, $OUT/latest.svg, $OUT/latest.jsonl"
sed -n '/^## Targets/,/^## Summary/p' "$OUT/latest.md" | sed '$d' >&2

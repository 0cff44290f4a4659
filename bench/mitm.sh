#!/usr/bin/env bash
# bench/mitm.sh: HTTPS interception in limited mode (`mitm = true`) next to
# squid with ssl_bump (Debian's squid-openssl) and mitmproxy (mitmdump), on
# a TLS origin, interleaved round by round.
#
# Figures (every proxy intercepts; the client trusts only that proxy's CA,
# so a connection that was not intercepted fails instead of being counted):
#   new   a new TLS connection and one GET /small per request, c=16
#   ka    keep-alive GET /small on intercepted connections, c=64
#   big   GET of BIG_SIZE bytes on one connection; netpolicy also through a
#         plain CONNECT tunnel (a second `serve`, full mode, TLS end to end)
#   idle  RSS per idle intercepted connection (fresh instance; each
#         connection did one GET), round 1 only
#
# Everything listens on 127.0.0.1; every process this script starts is
# stopped by its PID on exit. squid-openssl and mitmproxy are installed with
# apt-get when missing; a peer that cannot be installed or started is
# skipped with a line saying so.
#
# Environment (all optional): ROUNDS (3), DURATION (3s), IDLE_CONNS (1000),
# BIG_SIZE (67108864), SYSTEMS ("netpolicy squid mitmproxy"), SKIP_INSTALL
# (0), KEEP_WORK (0), OUT (file for the JSON lines; default: work dir only),
# PIN (0; 1 puts each proxy under test on one CPU and the load generator and
# origin on the others, see bench/lib.sh), IDLE_CONNS=0 skips the idle figure.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
IDLE_CONNS=${IDLE_CONNS:-1000}
BIG_SIZE=${BIG_SIZE:-67108864}
SYSTEMS=${SYSTEMS:-"netpolicy squid mitmproxy"}
SKIP_INSTALL=${SKIP_INSTALL:-0}
KEEP_WORK=${KEEP_WORK:-0}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
LOG_TAG='mitm-bench'
WORK=$(mktemp -d "${TMPDIR:-/tmp}/netpolicy-mitm-bench.XXXXXX")
chmod 755 "$WORK"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

# ---------------------------------------------------------------- install
install_peers() {
	local need=()
	command -v jq >/dev/null || need+=(jq)
	command -v openssl >/dev/null || need+=(openssl)
	has squid "$SYSTEMS" && [[ ! -x /usr/lib/squid/security_file_certgen ]] && need+=(squid-openssl)
	has mitmproxy "$SYSTEMS" && ! command -v mitmdump >/dev/null && need+=(mitmproxy)
	[[ ${#need[@]} == 0 ]] && return 0
	[[ $SKIP_INSTALL == 1 ]] && die "SKIP_INSTALL=1 but missing: ${need[*]}"
	# A peer that fails to install is skipped below, with a line saying so.
	apt_install "${need[@]}" || true
	disable_services squid
	command -v jq >/dev/null || die "jq is needed for the summary"
}

install_peers
pin_setup
if has squid "$SYSTEMS" && [[ ! -x /usr/lib/squid/security_file_certgen ]]; then
	log "SKIP squid ssl_bump: squid-openssl is not installed"
	SYSTEMS=${SYSTEMS/squid/}
fi
if has mitmproxy "$SYSTEMS" && ! timeout 30 mitmdump --version >/dev/null 2>&1; then
	log "SKIP mitmproxy: mitmdump is missing or does not run ($(timeout 30 mitmdump --version 2>&1 | tail -1))"
	SYSTEMS=${SYSTEMS/mitmproxy/}
fi

# ---------------------------------------------------------------- build
BIN=$WORK/bin
mkdir -p "$BIN"
log "building in $REPO"
(cd "$REPO" && go build -o "$BIN/" ./bench/cmd/origin ./bench/cmd/loadgen ./cmd/netpolicy)
LG=$BIN/loadgen

"${LOAD_PIN[@]}" "$BIN/origin" -tls-ca "$WORK/origin-ca.pem" -ready-file "$WORK/origin.ready" 2>"$WORK/origin.log" &
PIDS+=($!)
wait_file "$WORK/origin.ready" "$!" 150 || die "origin did not start: $(cat "$WORK/origin.log")"
ORIGIN=$(jq -r .https "$WORK/origin.ready")

# One CA per intercepting proxy, made here with openssl (netpolicy makes its
# own in --ca-dir; mitmproxy gets one in its confdir).
make_ca() { # DIR NAME
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
		-subj "/CN=$2 bench CA" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$1/ca-key.pem" -out "$1/ca.pem" 2>/dev/null
}

declare -A ADDR PID CA
PIN_SEEN="" # "NAME PID:CPUS ...; " of each proxy started, when pinning
# start SYSTEM NAME: starts an instance; sets ADDR[NAME], PID[NAME], CA[NAME].
start() {
	local sys=$1 name=$2 dir=$WORK/$2 port pid
	rm -rf "$dir"
	mkdir -p "$dir"
	case $sys in
	netpolicy | tunnel)
		local mode=limited mitm=true
		[[ $sys == tunnel ]] && mode=full mitm=false
		cat >"$dir/config.toml" <<-EOF
			[network]
			enabled = true
			mode = "$mode"
			mitm = $mitm
			domains = { "127.0.0.1" = "allow" }
		EOF
		# SSL_CERT_FILE: serve verifies the origin against the system roots.
		SSL_CERT_FILE=$WORK/origin-ca.pem "${PROXY_PIN[@]}" "$BIN/netpolicy" serve --requirements= --config "$dir/config.toml" \
			--mode full-access --ca-dir "$dir/ca" --http 127.0.0.1:0 --no-socks \
			--ready-file "$dir/ready" --audit-log /dev/null 2>"$dir/log" &
		pid=$!
		PIDS+=("$pid")
		wait_file "$dir/ready" "$pid" 150 || die "netpolicy serve did not start: $(cat "$dir/log")"
		ADDR[$name]=$(jq -r .http "$dir/ready")
		CA[$name]=$dir/ca/ca.pem
		[[ $sys == tunnel ]] && CA[$name]=$WORK/origin-ca.pem
		;;
	squid)
		port=$("$LG" -mode freeport)
		chmod 777 "$dir"
		make_ca "$dir" squid
		/usr/lib/squid/security_file_certgen -c -s "$dir/ssl_db" -M 16MB >/dev/null
		[[ $(id -u) == 0 ]] && chown -R proxy:proxy "$dir/ssl_db" "$dir/ca-key.pem" 2>/dev/null || true
		# Bump everything, mimicking the origin's certificate (stare, then
		# bump at step 3).
		cat >"$dir/squid.conf" <<-EOF
			http_port 127.0.0.1:$port ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=16MB tls-cert=$dir/ca.pem tls-key=$dir/ca-key.pem
			sslcrtd_program /usr/lib/squid/security_file_certgen -s $dir/ssl_db -M 16MB
			sslcrtd_children 8 startup=2 idle=1
			ssl_bump stare all
			ssl_bump bump all
			tls_outgoing_options cafile=$WORK/origin-ca.pem
		EOF
		start_squid "$dir" "$port" 300
		pid=${PIDS[-1]}
		ADDR[$name]=127.0.0.1:$port
		CA[$name]=$dir/ca.pem
		;;
	mitmproxy)
		port=$("$LG" -mode freeport)
		make_ca "$dir" mitmproxy
		cat "$dir/ca-key.pem" "$dir/ca.pem" >"$dir/mitmproxy-ca.pem"
		# Quiet, bodies over 1 MiB streamed instead of buffered.
		"${PROXY_PIN[@]}" mitmdump -q --listen-host 127.0.0.1 -p "$port" --set confdir="$dir" \
			--set ssl_verify_upstream_trusted_ca="$WORK/origin-ca.pem" \
			--set stream_large_bodies=1m >"$dir/out.log" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		wait_port "$port" "$pid" 300 || die "mitmdump did not start: $(cat "$dir/out.log")"
		ADDR[$name]=127.0.0.1:$port
		CA[$name]=$dir/ca.pem
		;;
	esac
	PID[$name]=$pid
	if [[ ${#PROXY_PIN[@]} != 0 ]]; then
		PIN_SEEN+="$name $(pinned_cpus "$pid"); "
		log "$name: pid:cpus $(pinned_cpus "$pid")"
	fi
}
stop() {
	stop_pid "${PID[$1]}"
	forget "${PID[$1]}"
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
measure() { # FIG NAME ROUND
	local fig=$1 name=$2 round=$3 line
	local args=(-tls -ca "${CA[$name]}" -route connect -proxy "${ADDR[$name]}" -origin "$ORIGIN"
		-label "$name" -round "$round" -duration "$DURATION" -pid "${PID[$name]}" -clk-tck "$CLK_TCK")
	case $fig in
	new) args+=(-mode small -c 16 -new-conn -warmup 2) ;;
	ka) args+=(-mode small -c 64) ;;
	big) args+=(-mode big -bytes "$BIG_SIZE") ;;
	idle) args+=(-mode idle -tunnels "$IDLE_CONNS") ;;
	esac
	local t0 t1 busy='{}' busy_log=""
	t0=$(cpu_times)
	if line=$("${LOAD_PIN[@]}" "$LG" "${args[@]}" 2>>"$WORK/loadgen.err"); then :; else
		log "  $fig $name: FAILED ($(tail -1 "$WORK/loadgen.err"))"
	fi
	t1=$(cpu_times)
	[[ -n $line ]] || return 0
	if [[ -n ${PROXY_CPUS:-} ]]; then
		local pb lb
		pb=$(cpu_busy "$t0" "$t1" "$PROXY_CPUS")
		lb=$(cpu_busy "$t0" "$t1" "$LOAD_CPUS")
		busy="{\"proxy_cpu_busy_pct\":$pb,\"load_cpu_busy_pct\":$lb}"
		busy_log=" (busy: proxy CPU $pb %, load CPU $lb %)"
	fi
	jq -c --arg fig "$fig" --argjson busy "$busy" '. + {fig: $fig} + $busy' <<<"$line" >>"$RESULTS"
	log "  $fig $name: $(jq -r '[.rps // .mbps // .rss_per_tunnel_kib, (.cpu_per_req_us // .cpu_per_gb_s // "")] | map(tostring) | join(" cpu ")' <<<"$line")$busy_log"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "systems: $SYSTEMS; rounds=$ROUNDS duration=$DURATION; load average $LOAD_START"
for s in $SYSTEMS; do start "$s" "$s"; done
has netpolicy "$SYSTEMS" && start tunnel tunnel

for ((round = 1; round <= ROUNDS; round++)); do
	log "round $round/$ROUNDS"
	for fig in new ka big; do
		list=$SYSTEMS
		[[ $fig == big ]] && has netpolicy "$SYSTEMS" && list="$list tunnel"
		for name in $(printf '%s\n' $list | rotate "$((round - 1))"); do
			measure "$fig" "$name" "$round"
		done
	done
	if ((round == 1 && IDLE_CONNS > 0)); then
		for s in $(printf '%s\n' $SYSTEMS | rotate 0); do
			start "$s" "idle-$s"
			sleep 0.5
			measure idle "idle-$s" 1
			stop "idle-$s"
		done
	fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -n ${OUT:-} ]] && cp "$RESULTS" "$OUT"

# ---------------------------------------------------------------- summary
# Ratios are taken within a round, then the median over rounds.
CMD_PIN=""
[[ ${PIN:-0} == 1 ]] && CMD_PIN="PIN=1 "
jq -rs --arg cmd "${CMD_PIN}ROUNDS=$ROUNDS DURATION=$DURATION IDLE_CONNS=$IDLE_CONNS bench/mitm.sh" \
	--arg load "$LOAD_START -> $LOAD_END" --arg pin "$PIN_DESC${PIN_SEEN:+ (checked, pid:cpus: ${PIN_SEEN%; })}" --arg sq "$(squid -v 2>/dev/null | head -1)" \
	--arg mp "$(mitmdump --version 2>/dev/null | head -1)" '
def med: sort | if length == 0 then null else (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end) end;
def val: if .fig == "big" then .mbps elif .fig == "idle" then .rss_per_tunnel_kib else .rps end;
def r1: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
def r0: if . == null then "–" else (. | round | tostring) end;
map(select(.failed != true)) as $all
| def fig($f; $l): [$all[] | select(.fig == $f and .label == $l)];
  def ratios($f; $a; $b): [fig($f; $a)[] as $x | fig($f; $b)[] | select(.round == $x.round) | ($x | val) / val];
  def ratio($f; $a; $b): ratios($f; $a; $b) | med;
  def each($f; $a; $b): ratios($f; $a; $b) | map(. * 100 | round / 100 | tostring + "×") | join(", ");
  def row($f; $name; $l; $unit; $cpu): (fig($f; $l) | map(val) | med) as $v
    | (fig($f; $l) | map(.[$cpu] // empty) | med) as $c
    | "| \($name) | \($l) | \($v | r0) \($unit) | \($c | if . == null then "–" else (. * 100 | round / 100 | tostring) end) |";
"command: `\($cmd)`", "pinning: \($pin)", "squid: \($sq)", "mitmproxy: \($mp)", "load average: \($load)", "",
"| figure | system | median | proxy CPU (µs/req or s/GB) |", "|---|---|---|---|",
(["netpolicy", "squid", "mitmproxy"][] as $l | row("new"; "new TLS conn + GET, c=16"; $l; "req/s"; "cpu_per_req_us")),
(["netpolicy", "squid", "mitmproxy"][] as $l | row("ka"; "keep-alive GET, c=64"; $l; "req/s"; "cpu_per_req_us")),
(["netpolicy", "tunnel", "squid", "mitmproxy"][] as $l | row("big"; "64 MiB GET"; $l; "MB/s"; "cpu_per_gb_s")),
(["idle-netpolicy", "idle-squid", "idle-mitmproxy"][] as $l | select(fig("idle"; $l) | length > 0) | row("idle"; "RSS per idle intercepted conn"; $l; "KiB"; "none")),
"", "| target | median of per-round ratios | |", "|---|---|---|",
(ratio("ka"; "netpolicy"; "squid") as $r | "| keep-alive ≥ 2× squid ssl_bump | \($r | r1)× | \(if $r == null then "–" elif $r >= 2 then "PASS" else "FAIL" end) |"),
(ratio("ka"; "netpolicy"; "mitmproxy") as $r | "| keep-alive ≥ 10× mitmproxy | \($r | r1)× | \(if $r == null then "–" elif $r >= 10 then "PASS" else "FAIL" end) |"),
(ratio("new"; "netpolicy"; "squid") as $r | "| new connection ≥ 1.5× squid ssl_bump | \($r | r1)× | \(if $r == null then "–" elif $r >= 1.5 then "PASS" else "FAIL" end) |"),
(ratio("big"; "netpolicy"; "tunnel") as $r | "| 64 MiB ≥ 0.5× plain CONNECT tunnel | \($r | r1)× | \(if $r == null then "–" elif $r >= 0.5 then "PASS" else "FAIL" end) |"),
((fig("idle"; "idle-netpolicy") | map(val) | med) as $k | select($k != null) | "| ≤ 64 KiB RSS per idle intercepted conn | \($k | r1) KiB | \(if $k <= 64 then "PASS" else "FAIL" end) |"),
"", "per round (round 1, 2, ...): keep-alive netpolicy/squid \(each("ka"; "netpolicy"; "squid")); netpolicy/mitmproxy \(each("ka"; "netpolicy"; "mitmproxy")); new connection netpolicy/squid \(each("new"; "netpolicy"; "squid")); 64 MiB netpolicy/tunnel \(each("big"; "netpolicy"; "tunnel"))"
' "$RESULTS"

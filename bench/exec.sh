#!/usr/bin/env bash
# bench/exec.sh: what `netpolicy exec` costs.
#
#  1. start-up: `true` against `netpolicy exec --isolate off -- true` and
#     `netpolicy exec --isolate on -- true` (median of STARTUP_RUNS runs, time
#     from exec to exit);
#  2. throughput of a BIG_SIZE GET (plain HTTP forward and CONNECT) through
#     `netpolicy serve` directly, and from inside `netpolicy exec`: once
#     without isolation, once through the listener in the namespace.
#
# Prints one loadgen JSON line per figure and a summary table. Everything
# listens on 127.0.0.1; every process is started and stopped here, by PID.
#
# Environment: STARTUP_RUNS (21), ROUNDS (3), DURATION (3s), BIG_SIZE
# (67108864).
set -euo pipefail

RUNS=${STARTUP_RUNS:-21}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
BIG_SIZE=${BIG_SIZE:-67108864}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/netpolicy-exec-bench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

(cd "$REPO" && go build -o "$TMP/netpolicy" ./cmd/netpolicy &&
	go build -o "$TMP/loadgen" ./bench/cmd/loadgen &&
	go build -o "$TMP/origin" ./bench/cmd/origin)
NP=$TMP/netpolicy LG=$TMP/loadgen

cat >"$TMP/config.toml" <<'TOML'
[network]
enabled = true
domains = { "127.0.0.1" = "allow" }
TOML
export NETPOLICY_CONFIG=$TMP/config.toml NETPOLICY_REQUIREMENTS=

wait_file() {
	local i
	for i in $(seq 1 100); do
		[[ -s $1 ]] && return 0
		sleep 0.1
	done
	echo "exec.sh: $1 did not appear" >&2
	exit 1
}
field() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1"; }

"$TMP/origin" -ready-file "$TMP/origin.ready" 2>"$TMP/origin.log" &
PIDS+=($!)
wait_file "$TMP/origin.ready"
ORIGIN=$(field "$TMP/origin.ready" http)

"$NP" serve --http 127.0.0.1:0 --no-socks --audit-log /dev/null --ready-file "$TMP/serve.ready" 2>"$TMP/serve.log" &
PIDS+=($!)
wait_file "$TMP/serve.ready"
SERVE=$(field "$TMP/serve.ready" http)

"$NP" --version >/dev/null # warm the page cache
OUT=$TMP/results.jsonl
: >"$OUT"
startup() {
	"$LG" -mode startup -n "$RUNS" -duration 120s -label "$1" -- "${@:2}" | tee -a "$OUT"
}
startup "true" true
startup "exec --isolate off" "$NP" exec --isolate off -- true
startup "exec --isolate on" "$NP" exec --isolate on -- true

for round in $(seq 1 "$ROUNDS"); do
	for route in http connect; do
		"$LG" -mode big -route "$route" -proxy "$SERVE" -origin "$ORIGIN" -bytes "$BIG_SIZE" -duration "$DURATION" -round "$round" -label serve | tee -a "$OUT"
		for iso in off on; do
			# Inside exec the proxy's address is only known from the
			# variables: loadgen takes it from HTTP_PROXY.
			"$NP" exec --isolate "$iso" --no-socks -- sh -c '"$0" -mode big -route "$1" -proxy "${HTTP_PROXY#http://}" -origin "$2" -bytes "$3" -duration "$4" -round "$5" -label "$6"' \
				"$LG" "$route" "$ORIGIN" "$BIG_SIZE" "$DURATION" "$round" "exec-isolate-$iso" | tee -a "$OUT"
		done
	done
done

echo
echo "| figure | median |"
echo "|---|---|"
for label in "true" "exec --isolate off" "exec --isolate on"; do
	v=$(grep -F "\"label\":\"$label\"" "$OUT" | sed -n 's/.*"startup_ms":\([0-9.]*\).*/\1/p')
	echo "| start-up, $label | $v ms |"
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
for route in http connect; do
	for label in serve exec-isolate-off exec-isolate-on; do
		v=$(grep -F "\"label\":\"$label\"" "$OUT" | grep -F "\"route\":\"$route\"" | sed -n 's/.*"mbps":\([0-9.]*\).*/\1/p' | median)
		echo "| $((BIG_SIZE >> 20)) MiB GET, $route, $label | $v MB/s |"
	done
done

#!/usr/bin/env bash
# bench/harden.sh: the hardening figures of bench/README.md ("Hardening"):
# proxy RSS under unfinished large request heads with the 64 KiB limit and
# with a 1 MiB one (net/http's default, what serve read before the limit),
# the unrelated client's wait during a pipelined self-CONNECT attack, and
# the descriptor limit and connection cap serve reports at start.
#
# Everything listens on 127.0.0.1; every process is started and stopped by
# PID. About 30 s. Environment: HEADS (default 500 connections), SELFLOOP
# (default 4200 CONNECTs), NETPOLICY and ATTACK (binaries; built from this
# checkout when unset).
set -euo pipefail

HEADS=${HEADS:-500}
SELFLOOP=${SELFLOOP:-4200}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/netpolicy-harden.XXXXXX")
PROXY_PID=
cleanup() {
	if [[ -n $PROXY_PID ]]; then kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT

if [[ -z ${NETPOLICY:-} ]]; then
	(cd "$REPO" && go build -o "$TMP/netpolicy" ./cmd/netpolicy)
	NETPOLICY=$TMP/netpolicy
fi
if [[ -z ${ATTACK:-} ]]; then
	(cd "$REPO" && go build -o "$TMP/attack" ./bench/cmd/attack)
	ATTACK=$TMP/attack
fi

# The loopback addresses are allowed, so only the loop guard stands between
# the attacker and the proxy's own listener.
cat >"$TMP/cfg.toml" <<'TOML'
[network]
enabled = true
domains = { "127.0.0.1" = "allow", "localhost" = "allow", "::1" = "allow" }
TOML

# start ARGS...: start serve in the background and wait for its ready file.
start() {
	rm -f "$TMP/ready.json"
	"$NETPOLICY" serve --config "$TMP/cfg.toml" --http 127.0.0.1:0 --no-socks \
		--ready-file "$TMP/ready.json" --audit-log /dev/null --read-header-timeout 30s "$@" \
		2>"$TMP/serve.log" &
	PROXY_PID=$!
	for _ in $(seq 100); do [[ -s $TMP/ready.json ]] && break; sleep 0.05; done
	ADDR=$(sed -n 's/.*"http":"\([^"]*\)".*/\1/p' "$TMP/ready.json")
	sleep 0.3 # let the fresh process settle before the first RSS reading
}
stop() {
	kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=
}

echo "== start-up: descriptor limit and connection cap (ulimit -n $(ulimit -n), hard $(ulimit -Hn))"
start
grep -E 'connection cap' "$TMP/serve.log"
echo "open descriptors at start: $(ls /proc/$PROXY_PID/fd | wc -l)"
grep 'Max open files' "/proc/$PROXY_PID/limits"
stop
for lim in "-Sn 1024" "-n 1024"; do
	echo "== start-up under ulimit $lim"
	(ulimit $lim; start; grep -E 'connection cap' "$TMP/serve.log"; grep 'Max open files' "/proc/$PROXY_PID/limits"; stop)
done

echo "== $HEADS unfinished 1 MiB heads, --max-header-bytes 65536 (the default)"
start
"$ATTACK" -mode headers -proxy "$ADDR" -pid "$PROXY_PID" -n "$HEADS" -size 1048576
stop

echo "== $HEADS unfinished 1 MiB heads, --max-header-bytes 1048576 (net/http's default: serve before the limit)"
start --max-header-bytes 1048576
"$ATTACK" -mode headers -proxy "$ADDR" -pid "$PROXY_PID" -n "$HEADS" -size 1048576
stop

echo "== $HEADS unfinished 60 KiB heads (within the default limit)"
start
"$ATTACK" -mode headers -proxy "$ADDR" -pid "$PROXY_PID" -n "$HEADS" -size 61440
stop

echo "== $SELFLOOP pipelined CONNECTs to the proxy's own listener; an unrelated GET every 50 ms"
start
"$ATTACK" -mode selfloop -proxy "$ADDR" -pid "$PROXY_PID" -n "$SELFLOOP"
stop

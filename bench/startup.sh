#!/usr/bin/env bash
# bench/startup.sh: CLI start-up time, from exec to the first byte on stdout,
# for `netpolicy --version` and `netpolicy lint` of a small file. Prints one
# loadgen JSON line per command (median, min and max of STARTUP_RUNS runs).
#
# Environment: STARTUP_RUNS (default 21), NETPOLICY and LOADGEN (binaries;
# built from this checkout when unset).
set -euo pipefail

RUNS=${STARTUP_RUNS:-21}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/netpolicy-startup.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

if [[ -z ${NETPOLICY:-} ]]; then
	(cd "$REPO" && go build -o "$TMP/netpolicy" ./cmd/netpolicy)
	NETPOLICY=$TMP/netpolicy
fi
if [[ -z ${LOADGEN:-} ]]; then
	(cd "$REPO" && go build -o "$TMP/loadgen" ./bench/cmd/loadgen)
	LOADGEN=$TMP/loadgen
fi

cat >"$TMP/small.toml" <<'TOML'
# A typical user config: one profile, a handful of rules.
default_permissions = "dev"

[permissions.dev.network]
enabled = true
mode = "full"

[permissions.dev.network.domains]
"pypi.org" = "allow"
"files.pythonhosted.org" = "allow"
"*.github.com" = "allow"
"registry.npmjs.org" = "allow"
"evil.example.com" = "deny"
TOML

# Warm the page cache once so the first measured run is not a disk read.
"$NETPOLICY" --version >/dev/null

"$LOADGEN" -mode startup -n "$RUNS" -duration 120s -label "netpolicy --version" -- "$NETPOLICY" --version
"$LOADGEN" -mode startup -n "$RUNS" -duration 120s -label "netpolicy lint --format json small.toml" -- "$NETPOLICY" lint --format json "$TMP/small.toml"

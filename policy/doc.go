// Package policy is netpolicy's one model of network-permission policy: it
// loads requirements.toml and config.toml into typed rules and settings that
// remember where each was written, normalises and matches host patterns,
// classifies addresses, compiles an effective policy into an immutable
// matcher and takes the decisions the proxy and `check` report.
//
// Each file is parsed once, by Load, into the positioned TOML document of
// package internal/tomldoc, which File keeps for lint and migrate. lint,
// migrate, merge and proxy never parse TOML or match patterns on their own;
// everything about hosts, patterns, addresses and rule maps lives here, and
// everything about TOML text (spans, quoting, line layout) in tomldoc.
package policy

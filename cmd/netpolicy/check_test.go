package main

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/policy"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		raw   string
		proto policy.Protocol // --protocol
		host  string
		port  int
		want  policy.Protocol
		sock  string
		err   bool
	}{
		{raw: "example.com", host: "example.com", port: 80, want: policy.ProtoHTTP},
		{raw: "example.com:8443", host: "example.com", port: 8443, want: policy.ProtoHTTP},
		{raw: "example.com", proto: policy.ProtoHTTPSConnect, host: "example.com", port: 443, want: policy.ProtoHTTPSConnect},
		{raw: "example.com", proto: policy.ProtoSOCKS5TCP, host: "example.com", port: 80, want: policy.ProtoSOCKS5TCP},
		{raw: "https://Example.com/a?b=1", host: "Example.com", port: 443, want: policy.ProtoHTTPSConnect},
		{raw: "HTTPS://example.com:8443", host: "example.com", port: 8443, want: policy.ProtoHTTPSConnect},
		{raw: "http://example.com", host: "example.com", port: 80, want: policy.ProtoHTTP},
		{raw: "https://example.com", proto: policy.ProtoHTTP, host: "example.com", port: 80, want: policy.ProtoHTTP},
		{raw: "socks5://example.com:1080", host: "example.com", port: 1080, want: policy.ProtoSOCKS5TCP},
		{raw: "[::1]:443", host: "::1", port: 443, want: policy.ProtoHTTP},
		{raw: "::1", host: "::1", port: 80, want: policy.ProtoHTTP},
		{raw: "fe80::1%25lo0", host: "fe80::1%25lo0", port: 80, want: policy.ProtoHTTP},
		{raw: "http://[fe80::1%25lo0]:8080/", host: "fe80::1%lo0", port: 8080, want: policy.ProtoHTTP},
		{raw: "2130706433", host: "2130706433", port: 80, want: policy.ProtoHTTP},
		{raw: "/var/run/docker.sock", sock: "/var/run/docker.sock", want: policy.ProtoHTTP},
		{raw: "", err: true},
		{raw: "   ", err: true},
		{raw: ":443", err: true},
		{raw: "example.com:0", err: true},
		{raw: "example.com:+443", err: true},
		{raw: "example.com:0443", err: true},
		{raw: "example.com:65536", err: true},
		{raw: "a:b:c", err: true},
		{raw: "[example.com]:80", err: true},
		{raw: "ftp://example.com", err: true},
		{raw: "http://", err: true},
		{raw: "example.com/path", err: true},
		{raw: "relative.sock", host: "relative.sock", port: 80, want: policy.ProtoHTTP},
	}
	for _, c := range cases {
		got, err := parseTarget(c.raw, c.proto)
		if c.err {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want an error", c.raw, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.raw, err)
			continue
		}
		if got.Host != c.host || got.Port != c.port || got.Protocol != c.want || got.Socket != c.sock {
			t.Errorf("%q: %+v, want host %q port %d proto %s socket %q", c.raw, got, c.host, c.port, c.want, c.sock)
		}
	}
}

func TestTestResolver(t *testing.T) {
	r, err := parseTestResolver("a.example=93.184.216.34, 10.0.0.1; B.example=error;c.example=timeout")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.LookupNetIP(context.Background(), "ip", "a.example")
	if err != nil || len(got) != 2 || got[1] != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("a.example: %v %v", got, err)
	}
	if _, err := r.LookupNetIP(context.Background(), "ip", "b.example"); err == nil {
		t.Error("b.example: no error")
	}
	if _, err := r.LookupNetIP(context.Background(), "ip", "unlisted.example"); err == nil {
		t.Error("unlisted.example: no error")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.LookupNetIP(ctx, "ip", "c.example"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("c.example: %v", err)
	}
	for _, bad := range []string{"noequals", "a=not-an-ip", "a=1.2.3.4,"} {
		if _, err := parseTestResolver(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestCheckDecisions runs decideTarget (what `check` prints) on resolver
// outcomes with a short lookup timeout: public, private, mixed, failure,
// timeout, --no-resolve.
func TestCheckDecisions(t *testing.T) {
	u := policy.Load("/home/me/.codex/config.toml", []byte(`[network]
enabled = true
mode = "limited"
domains = { "pub.example" = "allow", "priv.example" = "allow", "mixed.example" = "allow", "fail.example" = "allow", "slow.example" = "allow", "10.9.8.7" = "allow", "bad.example" = "deny" }
unix_sockets = { "/run/ok.sock" = "allow" }
`), policy.KindConfig)
	eff, err := merge.Effective(nil, u, "", policy.ModeWorkspaceWrite)
	if err != nil {
		t.Fatal(err)
	}
	c, err := policy.Compile(eff)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := parseTestResolver("pub.example=93.184.216.34;priv.example=10.1.2.3;mixed.example=93.184.216.34,127.0.0.1;fail.example=error;slow.example=timeout")
	cases := []struct {
		target, method string
		noResolve      bool
		decision       string
		reason         string
		proxyError     string
		rule           string
		resolved       bool
		detail         string
	}{
		{target: "pub.example", decision: "allow", reason: "allowed", rule: "pub.example", resolved: true},
		{target: "priv.example", decision: "deny", reason: "not_allowed_local", proxyError: "blocked-by-allowlist", rule: "priv.example", resolved: true, detail: "priv.example resolved to 10.1.2.3 (private)"},
		{target: "mixed.example", decision: "deny", reason: "not_allowed_local", proxyError: "blocked-by-allowlist", rule: "mixed.example", resolved: true, detail: "mixed.example resolved to 127.0.0.1 (loopback)"},
		{target: "fail.example", decision: "deny", reason: "not_allowed_local", proxyError: "blocked-by-allowlist", rule: "fail.example", resolved: true, detail: "lookup fail.example: no such host"},
		{target: "slow.example", decision: "deny", reason: "not_allowed_local", proxyError: "blocked-by-allowlist", rule: "slow.example", resolved: true, detail: "DNS timeout after 50ms"},
		{target: "priv.example", noResolve: true, decision: "allow", reason: "allowed", rule: "priv.example"},
		{target: "10.9.8.7:5432", decision: "allow", reason: "allowed", rule: "10.9.8.7"},
		{target: "bad.example", decision: "deny", reason: "denied", proxyError: "blocked-by-denylist", rule: "bad.example"},
		{target: "other.example", decision: "ask", reason: "not_allowed", proxyError: "blocked-by-allowlist"},
		{target: "pub.example", method: "POST", decision: "deny", reason: "method_not_allowed", proxyError: "blocked-by-method-policy", rule: "pub.example"},
		{target: "https://pub.example", decision: "deny", reason: "mitm_required", proxyError: "blocked-by-mitm-required", rule: "pub.example"},
		{target: "/run/ok.sock", decision: "allow", reason: "allowed", rule: "/run/ok.sock"},
		{target: "/run/ok.sock", method: "POST", decision: "deny", reason: "method_not_allowed", proxyError: "blocked-by-method-policy", rule: "/run/ok.sock"},
		{target: "/run/other.sock", decision: "deny", reason: "not_allowed", proxyError: "blocked-by-allowlist"},
	}
	for _, tc := range cases {
		tg, err := parseTarget(tc.target, "")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		res := decideTarget(ctx, c, tg, tc.method, tc.noResolve, r)
		cancel()
		pe, rule, detail := "", "", ""
		if res.ProxyError != nil {
			pe = *res.ProxyError
		}
		if res.Detail != nil {
			detail = *res.Detail
		}
		if res.Rule != nil {
			rule = res.Rule.Pattern
			if res.Rule.File != "/home/me/.codex/config.toml" || res.Rule.Origin != "user" || res.Rule.Line != 4 && res.Rule.Line != 5 {
				t.Errorf("%s: rule provenance %+v", tc.target, res.Rule)
			}
		}
		if res.Decision != tc.decision || res.Reason != tc.reason || pe != tc.proxyError || rule != tc.rule || res.Resolved != tc.resolved || detail != tc.detail {
			t.Errorf("%s (method %q, no-resolve %v): %s %s %q rule=%q resolved=%v detail=%q; want %s %s %q rule=%q resolved=%v detail=%q",
				tc.target, tc.method, tc.noResolve, res.Decision, res.Reason, pe, rule, res.Resolved, detail,
				tc.decision, tc.reason, tc.proxyError, tc.rule, tc.resolved, tc.detail)
		}
	}
}

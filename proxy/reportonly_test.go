package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/netpolicy/netpolicy/policy"
)

// TestReportOnly runs the proxy on 127.0.0.1 in report-only mode: what
// only the user's policy blocks reaches the origin, audited with its real
// decision and network.policy.enforced = false; managed denies,
// managed_allowed_domains_only, local addresses, a disabled proxy and
// unix sockets stay blocked, audited with enforced = true.
func TestReportOnly(t *testing.T) {
	e := effective(map[string]string{"allowed.example": "allow", "ads.example": "deny", "limited.example": "allow"})
	e.Deny = append(e.Deny, policy.Rule{Pattern: "evil.example", Perm: policy.Deny, Source: policy.Source{File: "requirements.toml", Line: 2, Origin: policy.OriginManaged}})
	reportOnly := func(s *Server) { s.ReportOnly = true }
	h := newHarness(t, e, reportOnly)
	for _, n := range []string{"new.example", "ads.example", "allowed.example"} {
		h.res.answer(n, publicIP)
	}
	h.res.answer("intranet.example", "10.1.2.3")

	type want struct {
		target, method string
		status         int
		reason         string
		decision       string
		enforced       bool
	}
	for _, w := range []want{
		{"http://new.example/x", "GET", 200, "not_allowed", "ask", false},
		{"http://ads.example/x", "GET", 200, "denied", "deny", false},
		{"http://allowed.example/x", "GET", 200, "allowed", "allow", true},
		{"http://evil.example/x", "GET", 403, "denied", "deny", true},
		{"http://10.0.0.7/x", "GET", 403, "not_allowed_local", "deny", true},
		{"http://intranet.example/x", "GET", 403, "not_allowed_local", "deny", true},
	} {
		h.audit.Reset()
		resp, body := h.do(t, w.method, w.target)
		if resp.StatusCode != w.status {
			t.Fatalf("%s: status %d (%s), want %d", w.target, resp.StatusCode, body, w.status)
		}
		if w.status == 200 && body != "hello from origin" {
			t.Fatalf("%s: body %q", w.target, body)
		}
		if w.status == 403 {
			wantBlock(t, resp, body, resp.Header.Get("x-proxy-error"), w.reason, w.decision)
		}
		evs := h.audit.events(t)
		if len(evs) != 1 {
			t.Fatalf("%s: %d audit events, want 1", w.target, len(evs))
		}
		ev := evs[0]
		if ev["network.policy.reason"] != w.reason || ev["network.policy.decision"] != w.decision || ev["network.policy.enforced"] != w.enforced {
			t.Fatalf("%s: audit %v, want reason=%s decision=%s enforced=%v", w.target, ev, w.reason, w.decision, w.enforced)
		}
	}
	// The let-through names were resolved and dialled at the checked
	// address; the managed deny and the literal never were.
	for _, c := range h.dial.Calls() {
		if c != publicIP+":80" {
			t.Fatalf("dialled %v, want only the checked %s:80", h.dial.Calls(), publicIP)
		}
	}
	for _, c := range h.res.Calls() {
		if c == "evil.example" {
			t.Fatalf("managed-denied name resolved: %v", h.res.Calls())
		}
	}

	// A CONNECT tunnel to an unlisted host and SOCKS5 work too.
	resp, body, conn := h.connect(t, "new.example:443")
	if resp.StatusCode != 200 || conn == nil {
		t.Fatalf("CONNECT: %d %s", resp.StatusCode, body)
	}
	conn.Close()

	// Limited mode is the user's: a POST goes through, reported as
	// method_not_allowed.
	lim := effective(map[string]string{"limited.example": "allow"})
	lim.Mode.Value = "limited"
	hl := newHarness(t, lim, reportOnly)
	hl.res.answer("limited.example", publicIP)
	resp, body = hl.do(t, "POST", "http://limited.example/x")
	if resp.StatusCode != 200 {
		t.Fatalf("limited POST: %d %s", resp.StatusCode, body)
	}
	if ev := hl.audit.events(t)[0]; ev["network.policy.reason"] != "method_not_allowed" || ev["network.policy.enforced"] != false || ev["network.policy.scope"] != "mode_guard" {
		t.Fatalf("limited POST audit: %v", ev)
	}

	// managed_allowed_domains_only: a miss stays blocked.
	only := effective(map[string]string{})
	only.ManagedAllowedDomainsOnly.Value = true
	only.OnMiss.Value = policy.MissDeny
	ho := newHarness(t, only, reportOnly)
	ho.res.answer("new.example", publicIP)
	resp, body = ho.do(t, "GET", "http://new.example/x")
	wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "deny")
	wantNoDial(t, ho)
	wantResolves(t, ho)

	// A disabled proxy stays disabled.
	off := effective(map[string]string{})
	off.Enabled.Value = false
	hd := newHarness(t, off, reportOnly)
	resp, body = hd.do(t, "GET", "http://new.example/x")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("disabled: %d %s", resp.StatusCode, body)
	}
	if ev := hd.audit.events(t)[0]; ev["network.policy.enforced"] != true {
		t.Fatalf("disabled audit: %v", ev)
	}

	// Unix sockets stay refused.
	resp, body = h.do(t, "GET", "http://localhost/x", "x-unix-socket: /tmp/netpolicy-no-such.sock")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "unix-socket") {
		t.Fatalf("socket: %d %s", resp.StatusCode, body)
	}

	// Without report-only the same unlisted host is blocked and no audit
	// event carries network.policy.enforced.
	plain := newHarness(t, e)
	resp, body = plain.do(t, "GET", "http://new.example/x")
	wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "ask")
	if _, ok := plain.audit.events(t)[0]["network.policy.enforced"]; ok {
		t.Fatal("network.policy.enforced outside report-only mode")
	}
}

// TestReportOnlySocks: SOCKS5 goes through the same decision: an unlisted
// name is let through in report-only mode and refused (0x02) otherwise; a
// managed deny is refused in both.
func TestReportOnlySocks(t *testing.T) {
	e := effective(map[string]string{})
	e.Deny = append(e.Deny, policy.Rule{Pattern: "evil.example", Perm: policy.Deny, Source: policy.Source{File: "requirements.toml", Line: 2, Origin: policy.OriginManaged}})
	h := newHarness(t, e, func(s *Server) { s.ReportOnly = true })
	h.dial.to = echoServer(t)
	h.res.answer("new.example", publicIP)
	code, c := socksExchange(t, h, cmdConnect, atypDomain, "new.example", 443, nil)
	if code != 0 {
		t.Fatalf("report-only SOCKS5 reply %#x, want 0", code)
	}
	echoRoundTrip(t, c, "hello")
	wantDials(t, h, publicIP+":443")
	if ev := h.audit.events(t)[0]; ev["network.policy.reason"] != "not_allowed" || ev["network.policy.enforced"] != false || ev["network.transport.protocol"] != "socks5_tcp" {
		t.Fatalf("audit %v", ev)
	}
	if code := socksReply(t, h, atypDomain, "evil.example", 443); code != 0x02 {
		t.Fatalf("managed deny: reply %#x, want 0x02", code)
	}

	plain := newHarness(t, e)
	plain.res.forbid = true
	if code := socksReply(t, plain, atypDomain, "new.example", 443); code != 0x02 {
		t.Fatalf("enforced: reply %#x, want 0x02", code)
	}
	wantNoDial(t, plain)
}

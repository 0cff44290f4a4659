package policy

import (
	"context"
	"testing"
)

func mitmOn(e *Effective) { e.MITM.Value = true }

// TestDecideInterception covers POLICY §6's decisions: which tunnels are
// intercepted, and the guards on the requests inside.
func TestDecideInterception(t *testing.T) {
	rules := domains("example.com", "allow", "*.corp.example", "allow", "bad.corp.example", "deny", pub, "allow")
	noDNS := map[string]string{}
	for _, tc := range []struct {
		name      string
		policy    *Effective
		req       Request
		want      Reason
		source    DecisionSource
		intercept bool
	}{
		{"limited+mitm CONNECT is intercepted", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPSConnect}, ReasonAllowed, SourceBaseline, true},
		{"limited+mitm SOCKS5 is intercepted", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 22, Protocol: ProtoSOCKS5TCP}, ReasonAllowed, SourceBaseline, true},
		{"limited without mitm", pol(rules, limitedMode),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPSConnect}, ReasonMITMRequired, SourceModeGuard, false},
		{"full mode never intercepts", pol(rules, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPSConnect}, ReasonAllowed, SourceBaseline, false},
		{"denied before interception", pol(rules, limitedMode, mitmOn),
			Request{Host: "bad.corp.example", Port: 443, Protocol: ProtoHTTPSConnect}, ReasonDenied, SourceBaseline, false},
		{"inner GET", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "GET", Authority: "Example.COM."}, ReasonAllowed, SourceBaseline, false},
		{"inner GET with the port", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "HEAD", Authority: "example.com:443"}, ReasonAllowed, SourceBaseline, false},
		{"inner POST", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "POST", Authority: "example.com"}, ReasonMethodNotAllowed, SourceModeGuard, false},
		{"inner other host", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "GET", Authority: "a.corp.example"}, ReasonHostMismatch, SourceModeGuard, false},
		{"inner other port", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "GET", Authority: "example.com:8443"}, ReasonHostMismatch, SourceModeGuard, false},
		{"inner no authority", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "GET"}, ReasonHostMismatch, SourceModeGuard, false},
		{"inner POST to another host: the mismatch first", pol(rules, limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "POST", Authority: "a.corp.example"}, ReasonHostMismatch, SourceModeGuard, false},
		{"inner after a reload that denies the host", pol(domains("example.com", "deny"), limitedMode, mitmOn),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPS, Method: "GET", Authority: "example.com"}, ReasonDenied, SourceBaseline, false},
		// §5: no fronting through opaque tunnels, in every mode.
		{"SNI names the host", pol(rules),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPSConnect, SNI: "EXAMPLE.com."}, ReasonAllowed, SourceBaseline, false},
		{"SNI names another allowed host", pol(rules),
			Request{Host: "example.com", Port: 443, Protocol: ProtoHTTPSConnect, SNI: "a.corp.example"}, ReasonHostMismatch, SourceModeGuard, false},
		{"SNI mismatch on SOCKS5", pol(rules),
			Request{Host: "a.corp.example", Port: 443, Protocol: ProtoSOCKS5TCP, SNI: "example.com"}, ReasonHostMismatch, SourceModeGuard, false},
		{"IP tunnel, SNI allowed by itself", pol(rules),
			Request{Host: pub, Port: 443, Protocol: ProtoHTTPSConnect, SNI: "x.corp.example"}, ReasonAllowed, SourceBaseline, false},
		{"IP tunnel, SNI denied", pol(rules),
			Request{Host: pub, Port: 443, Protocol: ProtoHTTPSConnect, SNI: "bad.corp.example"}, ReasonHostMismatch, SourceModeGuard, false},
		{"IP tunnel, SNI unlisted", pol(rules),
			Request{Host: pub, Port: 443, Protocol: ProtoHTTPSConnect, SNI: "elsewhere.example"}, ReasonHostMismatch, SourceModeGuard, false},
		{"IP tunnel, SNI not a host name", pol(rules),
			Request{Host: pub, Port: 443, Protocol: ProtoHTTPSConnect, SNI: "a b"}, ReasonHostMismatch, SourceModeGuard, false},
		{"intercepted IP tunnel: the SNI must be the IP", pol(rules, limitedMode, mitmOn),
			Request{Host: pub, Port: 443, Protocol: ProtoHTTPSConnect, SNI: "x.corp.example"}, ReasonHostMismatch, SourceModeGuard, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			tc.req.NoResolve = true
			d := c.Decide(context.Background(), tc.req, newStub(t, noDNS))
			if d.Reason != tc.want || d.Source != tc.source || d.Intercept != tc.intercept {
				t.Errorf("Decide = %s/%s intercept=%v, want %s/%s intercept=%v", d.Reason, d.Source, d.Intercept, tc.want, tc.source, tc.intercept)
			}
			if wantAllow := tc.want == ReasonAllowed; d.Allowed() != wantAllow {
				t.Errorf("verdict %s", d.Verdict)
			}
		})
	}
	if perr, msg := ReasonHostMismatch.ProxyError(), ReasonHostMismatch.Message(); perr != "blocked-by-policy" || msg != "Request host does not match the CONNECT target." {
		t.Errorf("host_mismatch answer = %q, %q", perr, msg)
	}
}

package policy

import (
	"context"
	"strings"
	"testing"
)

// managedDomains adds managed rules from pattern, permission pairs.
func managedDomains(kv ...string) func(*Effective) {
	return func(e *Effective) {
		for i := 0; i+1 < len(kv); i += 2 {
			r := Rule{Pattern: kv[i], Source: Source{File: "requirements.toml", Line: 2 + i/2, Origin: OriginManaged}}
			if kv[i+1] == "allow" {
				r.Perm = Allow
				e.Allow = append(e.Allow, r)
			} else {
				r.Perm = Deny
				e.Deny = append(e.Deny, r)
			}
		}
	}
}

func managedOnly(e *Effective) {
	e.ManagedAllowedDomainsOnly.Value = true
	e.OnMiss.Value = MissDeny
}

// TestDecideReportOnly: report-only lets through exactly the blocks of the
// user's policy (not_allowed, user deny rules, the user's limited mode),
// reporting the decision it would have taken with the checked addresses;
// everything else stays enforced. The same requests without report-only
// are all blocked, for the same reason.
func TestDecideReportOnly(t *testing.T) {
	cases := []struct {
		id      string
		policy  *Effective
		host    string
		dns     map[string]string
		req     func(*Request)
		reason  Reason
		layer   Origin
		through bool   // let through (NotEnforced)
		addrs   string // the addresses to dial when let through
		rule    string
		// plain is the reason without report-only when it differs (a
		// miss is not resolved then).
		plain Reason
	}{
		{id: "miss", policy: pol(), host: "new.example", dns: map[string]string{"new.example": pub},
			reason: ReasonNotAllowed, layer: OriginUser, through: true, addrs: pub},
		{id: "miss full-access without managed allow", policy: pol(fullAccess), host: "new.example", dns: map[string]string{"new.example": pub},
			reason: ReasonNotAllowed, layer: OriginUser, through: true, addrs: pub},
		{id: "user deny", policy: pol(domains("*.ads.example", "deny")), host: "x.ads.example", dns: map[string]string{"x.ads.example": pub},
			reason: ReasonDenied, layer: OriginUser, through: true, addrs: pub, rule: "*.ads.example"},
		{id: "user deny of an allowed host", policy: pol(domains("api.example", "allow", "api.example", "deny")), host: "api.example", dns: map[string]string{"api.example": pub},
			reason: ReasonDenied, layer: OriginUser, through: true, addrs: pub, rule: "api.example"},
		{id: "user limited mode", policy: pol(limitedMode, domains("api.example", "allow")), host: "api.example", dns: map[string]string{"api.example": pub},
			req: func(r *Request) { r.Method = "POST" }, reason: ReasonMethodNotAllowed, layer: OriginUser, through: true, addrs: pub, rule: "api.example"},
		{id: "user limited mode tunnel", policy: pol(limitedMode, domains("api.example", "allow")), host: "api.example", dns: map[string]string{"api.example": pub},
			req: func(r *Request) { r.Protocol = ProtoHTTPSConnect }, reason: ReasonMITMRequired, layer: OriginUser, through: true, addrs: pub, rule: "api.example"},
		{id: "user deny of an IP answer", policy: pol(domains("api.example", "allow", pub, "deny")), host: "api.example", dns: map[string]string{"api.example": pub},
			reason: ReasonDenied, layer: OriginUser, through: true, addrs: pub, rule: pub},

		{id: "managed deny", policy: pol(managedDomains("**.evil.example", "deny")), host: "x.evil.example",
			reason: ReasonDenied, layer: OriginManaged, rule: "**.evil.example"},
		{id: "managed deny wins over a user deny", policy: pol(managedDomains("evil.example", "deny"), domains("**.evil.example", "deny")), host: "evil.example",
			reason: ReasonDenied, layer: OriginManaged, rule: "evil.example"},
		{id: "user deny then managed deny of the answer", policy: pol(managedDomains("10.1.1.1", "deny"), domains("*.ads.example", "deny"), localBinding), host: "x.ads.example", dns: map[string]string{"x.ads.example": "10.1.1.1"},
			reason: ReasonDenied, layer: OriginManaged, rule: "10.1.1.1"},
		{id: "managed_allowed_domains_only", policy: pol(managedOnly, managedDomains("corp.example", "allow")), host: "new.example",
			reason: ReasonNotAllowed, layer: OriginManaged},
		{id: "full-access with managed allow rules", policy: pol(fullAccess, managedDomains("corp.example", "allow")), host: "new.example",
			reason: ReasonNotAllowed, layer: OriginManaged},
		{id: "local literal", policy: pol(), host: "10.0.0.5", reason: ReasonNotAllowedLocal, layer: OriginDefault},
		{id: "localhost", policy: pol(), host: "localhost", reason: ReasonNotAllowedLocal, layer: OriginDefault},
		{id: "miss resolving to a private address", policy: pol(), host: "intranet.example", dns: map[string]string{"intranet.example": "192.168.1.4"},
			reason: ReasonNotAllowedLocal, layer: OriginDefault, plain: ReasonNotAllowed},
		{id: "miss that does not resolve", policy: pol(), host: "gone.example", dns: map[string]string{"gone.example": "error"},
			reason: ReasonNotAllowedLocal, layer: OriginDefault, plain: ReasonNotAllowed},
		{id: "proxy disabled", policy: pol(proxyOff), host: "api.example", reason: ReasonProxyDisabled, layer: OriginDefault},
		{id: "invalid host", policy: pol(), host: "bad_host!", reason: ReasonNotAllowed, layer: OriginDefault},
		{id: "host mismatch", policy: pol(domains("api.example", "allow")), host: "api.example",
			req: func(r *Request) { r.Protocol, r.SNI = ProtoHTTPSConnect, "other.example" }, reason: ReasonHostMismatch, layer: OriginDefault, rule: "api.example"},
		{id: "socket", policy: pol(), host: "", req: func(r *Request) { r.UnixSocket = "/tmp/nope.sock" }, reason: ReasonNotAllowed, layer: OriginDefault},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			c, err := Compile(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			req := Request{Host: tc.host, Port: 443, Protocol: ProtoHTTP, Method: "GET"}
			if tc.req != nil {
				tc.req(&req)
			}
			// Enforced: blocked for the reason, never resolved when the
			// rules block before step 5.
			plain := c.Decide(context.Background(), req, newStub(t, tc.dns))
			if plain.Allowed() || plain.NotEnforced || plain.ReportOnly {
				t.Fatalf("without report-only: %+v, want a block", plain)
			}
			want := tc.reason
			if tc.plain != "" {
				want = tc.plain
			}
			if plain.Reason != want {
				t.Fatalf("without report-only: reason %s, want %s", plain.Reason, want)
			}
			req.ReportOnly = true
			d := c.Decide(context.Background(), req, newStub(t, tc.dns))
			if d.Reason != tc.reason || d.Layer != tc.layer || d.NotEnforced != tc.through || !d.ReportOnly {
				t.Fatalf("report-only: reason=%s layer=%s notEnforced=%v reportOnly=%v, want %s %s %v", d.Reason, d.Layer, d.NotEnforced, d.ReportOnly, tc.reason, tc.layer, tc.through)
			}
			if d.Verdict == VerdictAllow {
				t.Fatalf("report-only: verdict allow; the decision must stay what it would have been")
			}
			if d.Allowed() != tc.through {
				t.Fatalf("Allowed() = %v, want %v", d.Allowed(), tc.through)
			}
			var addrs []string
			for _, a := range d.Addrs {
				addrs = append(addrs, a.String())
			}
			if got := strings.Join(addrs, ","); got != tc.addrs {
				t.Fatalf("addrs %q, want %q", got, tc.addrs)
			}
			rule := ""
			if d.Rule != nil {
				rule = d.Rule.Pattern
			}
			if rule != tc.rule {
				t.Fatalf("rule %q, want %q", rule, tc.rule)
			}
		})
	}
}

// TestDecideApproved: a person's yes turns an ask into an allow with
// Override, through the checks of an allowed host; it never turns a deny
// (a rule, managed_allowed_domains_only, the local guard) into an allow.
func TestDecideApproved(t *testing.T) {
	for _, tc := range []struct {
		id     string
		policy *Effective
		host   string
		dns    map[string]string
		reason Reason
		over   bool
	}{
		{"miss", pol(), "new.example", map[string]string{"new.example": pub}, ReasonAllowed, true},
		{"miss resolving privately", pol(), "intranet.example", map[string]string{"intranet.example": "10.0.0.3"}, ReasonNotAllowedLocal, false},
		{"user deny", pol(domains("ads.example", "deny")), "ads.example", nil, ReasonDenied, false},
		{"managed only", pol(managedOnly, managedDomains("corp.example", "allow")), "new.example", nil, ReasonNotAllowed, false},
		{"full-access miss is deny", pol(fullAccess), "new.example", nil, ReasonNotAllowed, false},
		{"local literal", pol(), "10.0.0.1", nil, ReasonNotAllowedLocal, false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			c, err := Compile(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			d := c.Decide(context.Background(), Request{Host: tc.host, Port: 443, Protocol: ProtoHTTPSConnect, Approved: true}, newStub(t, tc.dns))
			if d.Reason != tc.reason || d.Override != tc.over || d.Allowed() != (tc.reason == ReasonAllowed) {
				t.Fatalf("got reason=%s override=%v allowed=%v, want %s %v", d.Reason, d.Override, d.Allowed(), tc.reason, tc.over)
			}
			if tc.over && (len(d.Addrs) != 1 || d.Addrs[0].String() != pub || !d.Resolved) {
				t.Fatalf("approved host not checked through DNS: %+v", d)
			}
		})
	}
}

package policy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// stubResolver answers from a table. A name it has no entry for fails the
// test: every row says exactly which names may be looked up ("resolver: not
// consulted" rows give none). An entry "error" makes the lookup fail; "hang"
// blocks until the context is done; "ignore-ctx" blocks until the test ends,
// whatever the context says.
type stubResolver struct {
	t       testing.TB
	answers map[string]string
	release chan struct{}

	mu    sync.Mutex
	calls []string
}

func newStub(t testing.TB, answers map[string]string) *stubResolver {
	s := &stubResolver{t: t, answers: answers, release: make(chan struct{})}
	t.Cleanup(func() { close(s.release) })
	return s
}

func (s *stubResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	s.mu.Lock()
	s.calls = append(s.calls, host)
	s.mu.Unlock()
	if network != "ip" {
		s.t.Errorf("resolver: network %q, want ip", network)
	}
	ans, ok := s.answers[host]
	if !ok {
		s.t.Errorf("resolver: consulted for %q, which must not be looked up", host)
		return nil, errors.New("unexpected lookup")
	}
	switch ans {
	case "error":
		return nil, errors.New("no such host")
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "ignore-ctx":
		<-s.release
		return nil, errors.New("released")
	case "":
		return nil, nil
	}
	var out []netip.Addr
	for _, a := range strings.Split(ans, ",") {
		out = append(out, netip.MustParseAddr(strings.TrimSpace(a)))
	}
	return out, nil
}

func (s *stubResolver) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// pol builds an Effective with the VECTORS §0 defaults: no managed file,
// workspace-write (misses ask), enabled, mode full, no local binding.
func pol(opts ...func(*Effective)) *Effective {
	e := &Effective{
		SessionMode: ModeWorkspaceWrite,
		OnMiss:      Setting[OnMiss]{Value: MissAsk},
		Enabled:     Setting[bool]{Value: true},
		Mode:        Setting[NetworkMode]{Value: ModeFull},
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// domains adds rules from pattern, permission pairs, in order.
func domains(kv ...string) func(*Effective) {
	return func(e *Effective) {
		for i := 0; i+1 < len(kv); i += 2 {
			r := Rule{Pattern: kv[i], Source: Source{File: "config.toml", Line: 3 + i/2, Origin: OriginUser}}
			switch kv[i+1] {
			case "allow":
				r.Perm = Allow
				e.Allow = append(e.Allow, r)
			case "deny":
				r.Perm = Deny
				e.Deny = append(e.Deny, r)
			default:
				panic("bad permission " + kv[i+1])
			}
		}
	}
}

func sockets(kv ...string) func(*Effective) {
	return func(e *Effective) {
		for i := 0; i+1 < len(kv); i += 2 {
			p, ok := ParseSocketPermission(kv[i+1])
			if !ok {
				panic("bad socket permission " + kv[i+1])
			}
			e.Sockets = append(e.Sockets, SocketRule{Path: kv[i], Perm: p})
		}
	}
}

func localBinding(e *Effective)    { e.AllowLocalBinding.Value = true }
func limitedMode(e *Effective)     { e.Mode.Value = "limited" }
func allowAllSockets(e *Effective) { e.DangerouslyAllowAllUnixSockets.Value = true }
func proxyOff(e *Effective)        { e.Enabled.Value = false }
func fullAccess(e *Effective) {
	e.SessionMode, e.OnMiss.Value = ModeFullAccess, MissDeny
}

const pub = "93.184.216.34"

type decideCase struct {
	id     string
	policy *Effective
	host   string
	// dns is what the stub answers; a name not listed must not be looked up.
	dns  map[string]string
	want Reason
	// rule is the pattern of the deciding rule ("" = none).
	rule string
	// addrs are the expected Decision.Addrs of an allowed request ("" = none).
	addrs string
	// req adjusts the request (protocol, method, NoResolve).
	req func(*Request)
	// detail is the expected Decision.Detail ("" = none).
	detail string
}

func dnsOf(kv ...string) map[string]string {
	m := make(map[string]string)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func hostDecisionCases() []decideCase {
	v019 := pol(domains("*.example.com", "allow", "**.example.org", "allow"))
	v021 := pol(domains("*", "allow", "evil.example.net", "deny"))
	v023 := pol(domains("*", "allow", "*.example.com", "deny"))
	exampleCom := pol(domains("example.com", "allow"))
	none := pol()
	v025 := pol(domains("localhost", "allow"))
	v026 := pol(domains("10.0.0.1", "allow"))
	star := pol(domains("*", "allow"))
	v030 := pol(localBinding, domains("*", "allow", "fd00::1", "deny"))
	v031 := pol(localBinding, domains("*", "allow", "fd00::1%eth0", "deny"))
	v039 := pol(domains("93.184.216.34", "allow", "2606:4700::1111", "allow"))

	return []decideCase{
		{id: "V019a", policy: v019, host: "api.example.com:443", dns: dnsOf("api.example.com", pub), want: ReasonAllowed, rule: "*.example.com", addrs: pub},
		{id: "V019b", policy: v019, host: "example.com:443", want: ReasonNotAllowed},
		{id: "V019c", policy: v019, host: "example.org", dns: dnsOf("example.org", pub), want: ReasonAllowed, rule: "**.example.org", addrs: pub},
		{id: "V019d", policy: v019, host: "a.b.example.org", dns: dnsOf("a.b.example.org", pub), want: ReasonAllowed, rule: "**.example.org", addrs: pub},

		{id: "V020a", policy: exampleCom, host: "8.8.8.8", want: ReasonNotAllowed},
		{id: "V020b", policy: none, host: "example.com", want: ReasonNotAllowed},

		{id: "V021a", policy: v021, host: "example.com", dns: dnsOf("example.com", pub), want: ReasonAllowed, rule: "*", addrs: pub},
		{id: "V021b", policy: v021, host: "8.8.8.8", want: ReasonAllowed, rule: "*", addrs: "8.8.8.8"},
		{id: "V021c", policy: v021, host: "evil.example.net", want: ReasonDenied, rule: "evil.example.net"},
		{id: "V021d", policy: v021, host: "EVIL.Example.NET.:8443", want: ReasonDenied, rule: "evil.example.net"},

		{id: "V022", policy: pol(domains("example.com", "allow", "EXAMPLE.COM.", "deny")), host: "example.com", want: ReasonDenied, rule: "EXAMPLE.COM."},

		{id: "V023a", policy: v023, host: "example.com", dns: dnsOf("example.com", pub), want: ReasonAllowed, rule: "*", addrs: pub},
		{id: "V023b", policy: v023, host: "api.example.com", want: ReasonDenied, rule: "*.example.com"},

		{id: "V024a", policy: exampleCom, host: "127.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V024b", policy: exampleCom, host: "localhost", want: ReasonNotAllowedLocal},
		{id: "V024c", policy: exampleCom, host: "10.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V024d", policy: exampleCom, host: "fe80::1%lo0", want: ReasonNotAllowedLocal},
		{id: "V024e", policy: none, host: "127.0.0.1", want: ReasonNotAllowedLocal},

		{id: "V025a", policy: v025, host: "localhost", want: ReasonAllowed, rule: "localhost", addrs: "127.0.0.1,::1"},
		{id: "V025b", policy: v025, host: "LOCALHOST.:8080", want: ReasonAllowed, rule: "localhost", addrs: "127.0.0.1,::1"},
		{id: "V025c", policy: v025, host: "127.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V025d", policy: v025, host: "::1", want: ReasonNotAllowedLocal},

		{id: "V026a", policy: v026, host: "10.0.0.1", want: ReasonAllowed, rule: "10.0.0.1", addrs: "10.0.0.1"},
		{id: "V026b", policy: v026, host: "10.0.0.1:5432", want: ReasonAllowed, rule: "10.0.0.1", addrs: "10.0.0.1"},
		{id: "V026c", policy: v026, host: "10.0.0.2", want: ReasonNotAllowedLocal},

		{id: "V027a", policy: star, host: "127.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V027b", policy: star, host: "localhost", want: ReasonNotAllowedLocal},
		{id: "V027c", policy: star, host: "10.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V027d", policy: star, host: "169.254.169.254", want: ReasonNotAllowedLocal},
		{id: "V027e", policy: star, host: "0.0.0.0", want: ReasonNotAllowedLocal},
		{id: "V027f", policy: star, host: "[::]", want: ReasonNotAllowedLocal},
		{id: "V027g", policy: star, host: "[::1]:443", want: ReasonNotAllowedLocal},
		{id: "V027h", policy: pol(domains("**.localhost", "allow")), host: "localhost", want: ReasonNotAllowedLocal},

		{id: "V028a/1", policy: pol(domains("fe80::1", "allow")), host: "fe80::1%lo0", want: ReasonAllowed, rule: "fe80::1", addrs: "fe80::1%lo0"},
		{id: "V028a/2", policy: pol(domains("fe80::1", "allow")), host: "[fe80::1%25lo0]", want: ReasonAllowed, rule: "fe80::1", addrs: "fe80::1%lo0"},
		{id: "V028b/1", policy: pol(domains("fe80::1%eth0", "allow")), host: "fe80::1%eth0", want: ReasonAllowed, rule: "fe80::1%eth0", addrs: "fe80::1%eth0"},
		{id: "V028b/2", policy: pol(domains("fe80::1%eth0", "allow")), host: "fe80::1%eth1", want: ReasonNotAllowedLocal},
		{id: "V028b/3", policy: pol(domains("fe80::1%eth0", "allow")), host: "fe80::1", want: ReasonNotAllowedLocal},

		{id: "V029a", policy: pol(localBinding, domains("fe80::1%eth0", "allow")), host: "fe80::1%eth0", want: ReasonAllowed, rule: "fe80::1%eth0", addrs: "fe80::1%eth0"},
		{id: "V029b", policy: pol(localBinding, domains("fe80::1%eth0", "allow")), host: "fe80::1%eth1", want: ReasonNotAllowed},

		{id: "V030a", policy: v030, host: "fd00::1%eth0", want: ReasonDenied, rule: "fd00::1"},
		{id: "V030b", policy: v030, host: "[fd00::1%eth0]", want: ReasonDenied, rule: "fd00::1"},
		{id: "V030c", policy: v030, host: "[fd00::1%25eth0]:443", want: ReasonDenied, rule: "fd00::1"},
		{id: "V030d", policy: v030, host: "fd00::1", want: ReasonDenied, rule: "fd00::1"},

		{id: "V031a", policy: v031, host: "fd00::1%eth0", want: ReasonDenied, rule: "fd00::1%eth0"},
		{id: "V031b", policy: v031, host: "fd00::1%eth1", want: ReasonAllowed, rule: "*", addrs: "fd00::1%eth1"},
		{id: "V031c", policy: v031, host: "fd00::1", want: ReasonAllowed, rule: "*", addrs: "fd00::1"},

		{id: "V032a", policy: pol(localBinding, domains("*", "allow")), host: "127.0.0.1", want: ReasonAllowed, rule: "*", addrs: "127.0.0.1"},
		{id: "V032b", policy: pol(localBinding, domains("example.com", "allow")), host: "127.0.0.1", want: ReasonNotAllowed},
		{id: "V032c", policy: pol(localBinding, domains("db.corp.example", "allow")), host: "db.corp.example", dns: dnsOf("db.corp.example", "10.1.2.3"), want: ReasonAllowed, rule: "db.corp.example", addrs: "10.1.2.3"},

		{id: "V033a", policy: pol(domains("*.corp.example", "allow")), host: "db.corp.example", dns: dnsOf("db.corp.example", "10.1.2.3"), want: ReasonNotAllowedLocal, rule: "*.corp.example", detail: "db.corp.example resolved to 10.1.2.3 (private)"},
		{id: "V033b", policy: pol(domains("mixed.example", "allow")), host: "mixed.example", dns: dnsOf("mixed.example", "93.184.216.34, 127.0.0.1"), want: ReasonNotAllowedLocal, rule: "mixed.example", detail: "mixed.example resolved to 127.0.0.1 (loopback)"},
		{id: "V033c", policy: pol(domains("v6.example", "allow")), host: "v6.example", dns: dnsOf("v6.example", "2606:4700::1111, fd00::5"), want: ReasonNotAllowedLocal, rule: "v6.example", detail: "v6.example resolved to fd00::5 (private)"},
		{id: "V033d", policy: pol(domains("meta.example", "allow")), host: "meta.example", dns: dnsOf("meta.example", "169.254.169.254"), want: ReasonNotAllowedLocal, rule: "meta.example", detail: "meta.example resolved to 169.254.169.254 (link-local)"},

		{id: "V034a", policy: pol(domains("does-not-resolve.example", "allow")), host: "does-not-resolve.example", dns: dnsOf("does-not-resolve.example", "error"), want: ReasonNotAllowedLocal, rule: "does-not-resolve.example", detail: "lookup does-not-resolve.example: no such host"},
		{id: "V034b", policy: pol(domains("slow.example", "allow")), host: "slow.example", dns: dnsOf("slow.example", "hang"), want: ReasonNotAllowedLocal, rule: "slow.example", detail: "DNS timeout after 50ms"},
		{id: "V034c", policy: exampleCom, host: "typo.example", want: ReasonNotAllowed},

		{id: "V035a", policy: exampleCom, host: "intranet.example", want: ReasonNotAllowed},
		{id: "V035b", policy: exampleCom, host: "foo.localhost", want: ReasonNotAllowed},
		{id: "V035c", policy: exampleCom, host: "other.example.net", want: ReasonNotAllowed},

		{id: "V036a", policy: star, host: "2130706433", want: ReasonNotAllowedLocal},
		{id: "V036b", policy: star, host: "0x7f.1", want: ReasonNotAllowedLocal},
		{id: "V036c", policy: star, host: "127.1", want: ReasonNotAllowedLocal},
		{id: "V036d", policy: star, host: "0177.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V036e", policy: star, host: "0x7f000001", want: ReasonNotAllowedLocal},
		{id: "V036f", policy: star, host: "0", want: ReasonNotAllowedLocal},
		{id: "V036g", policy: star, host: "10.1", want: ReasonNotAllowedLocal},

		{id: "V037a", policy: star, host: "::ffff:127.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V037b", policy: star, host: "[::ffff:7f00:1]:80", want: ReasonNotAllowedLocal},
		{id: "V037c", policy: star, host: "::127.0.0.1", want: ReasonNotAllowedLocal},
		{id: "V037d", policy: star, host: "64:ff9b::7f00:1", want: ReasonNotAllowedLocal},
		{id: "V037e", policy: star, host: "2002:7f00:1::1", want: ReasonNotAllowedLocal},
		{id: "V037f", policy: star, host: "::ffff:169.254.169.254", want: ReasonNotAllowedLocal},

		{id: "V038a", policy: star, host: "", want: ReasonNotAllowed},
		{id: "V038b", policy: star, host: "   ", want: ReasonNotAllowed},
		{id: "V038c", policy: star, host: ".", want: ReasonNotAllowed},
		{id: "V038d", policy: star, host: "[]", want: ReasonNotAllowed},

		{id: "V039a", policy: v039, host: "93.184.216.34:443", want: ReasonAllowed, rule: "93.184.216.34", addrs: pub},
		{id: "V039b", policy: v039, host: "[2606:4700::1111]:443", want: ReasonAllowed, rule: "2606:4700::1111", addrs: "2606:4700::1111"},
		{id: "V039c", policy: v039, host: "93.184.216.35", want: ReasonNotAllowed},
	}
}

// extraDecisionCases are choices the vectors leave open, or guards the
// implementation adds; each says why.
func extraDecisionCases() []decideCase {
	return []decideCase{
		// The unspecified addresses are refused even when listed, and even
		// with allow_local_binding (POLICY §4.1 step 3).
		{id: "unspec-listed", policy: pol(domains("0.0.0.0", "allow")), host: "0.0.0.0", want: ReasonNotAllowedLocal},
		{id: "unspec-local-binding", policy: pol(localBinding, domains("*", "allow", "::", "allow")), host: "[::]", want: ReasonNotAllowedLocal},
		{id: "unspec-mapped", policy: pol(localBinding, domains("*", "allow")), host: "::ffff:0.0.0.0", want: ReasonNotAllowedLocal},
		// A name answering 0.0.0.0 reaches local listeners: refused even
		// with allow_local_binding, like the literal.
		{id: "unspec-answer", policy: pol(localBinding, domains("sink.example", "allow")), host: "sink.example", dns: dnsOf("sink.example", "0.0.0.0"), want: ReasonNotAllowedLocal, rule: "sink.example", detail: "sink.example resolved to 0.0.0.0 (unspecified)"},
		// A deny rule on an IP also covers names that resolve to it.
		{id: "deny-ip-answer", policy: pol(localBinding, domains("*", "allow", "169.254.169.254", "deny")), host: "metadata.example", dns: dnsOf("metadata.example", "169.254.169.254"), want: ReasonDenied, rule: "169.254.169.254", detail: "metadata.example resolved to 169.254.169.254 (denied)"},
		// Deny compares addresses, so other spellings are denied too.
		{id: "deny-spelling", policy: pol(localBinding, domains("*", "allow", "127.0.0.1", "deny")), host: "0x7f.1", want: ReasonDenied, rule: "127.0.0.1"},
		{id: "deny-mapped", policy: pol(localBinding, domains("*", "allow", "10.0.0.1", "deny")), host: "[::ffff:10.0.0.1]", want: ReasonDenied, rule: "10.0.0.1"},
		{id: "deny-glob-spelling", policy: pol(localBinding, domains("*", "allow", "10.0.0.*", "deny")), host: "167772165", want: ReasonDenied, rule: "10.0.0.*"},
		// An explicit rule in another spelling names the same address.
		{id: "explicit-spelling", policy: pol(domains("127.0.0.1", "allow")), host: "127.1", want: ReasonAllowed, rule: "127.0.0.1", addrs: "127.0.0.1"},
		// With allow_local_binding the name is resolved once; a failure
		// leaves nothing to dial but the decision stays allowed (step 5 is
		// skipped), and ResolveErr says why.
		{id: "local-binding-lookup-error", policy: pol(localBinding, domains("gone.example", "allow")), host: "gone.example", dns: dnsOf("gone.example", "error"), want: ReasonAllowed, rule: "gone.example", detail: "lookup gone.example: no such host"},
		// An empty answer fails closed.
		{id: "empty-answer", policy: pol(domains("empty.example", "allow")), host: "empty.example", dns: dnsOf("empty.example", ""), want: ReasonNotAllowedLocal, rule: "empty.example", detail: "lookup empty.example: no addresses"},
		// NoResolve skips step 5.
		{id: "no-resolve", policy: pol(domains("example.com", "allow")), host: "example.com", want: ReasonAllowed, rule: "example.com", req: func(r *Request) { r.NoResolve = true }},
		// The most specific allow rule is reported.
		{id: "specific-rule", policy: pol(domains("*", "allow", "**.example.com", "allow", "*.api.example.com", "allow", "v*.api.example.com", "allow", "v1.api.example.com", "allow")),
			host: "v1.api.example.com", dns: dnsOf("v1.api.example.com", pub), want: ReasonAllowed, rule: "v1.api.example.com", addrs: pub},
		{id: "specific-glob", policy: pol(domains("*", "allow", "**.example.com", "allow", "*.api.example.com", "allow", "v*.api.example.com", "allow")),
			host: "v2.api.example.com", dns: dnsOf("v2.api.example.com", pub), want: ReasonAllowed, rule: "v*.api.example.com", addrs: pub},
		{id: "specific-suffix", policy: pol(domains("*", "allow", "**.example.com", "allow", "*.api.example.com", "allow")),
			host: "x.api.example.com", dns: dnsOf("x.api.example.com", pub), want: ReasonAllowed, rule: "*.api.example.com", addrs: pub},
		// full-access: misses deny (the verdict is checked in the runner).
		{id: "full-access-miss", policy: pol(fullAccess, domains("example.com", "allow")), host: "other.example.net", want: ReasonNotAllowed},
	}
}

func runDecideCase(t *testing.T, tt decideCase) {
	t.Helper()
	c := mustCompile(t, tt.policy)
	stub := newStub(t, tt.dns)
	req := Request{Host: tt.host, Port: 443, Protocol: ProtoHTTPSConnect}
	if tt.req != nil {
		tt.req(&req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d := c.Decide(ctx, req, stub)

	if d.Reason != tt.want {
		t.Errorf("%s: Decide(%q).Reason = %s, want %s (decision %+v)", tt.id, tt.host, d.Reason, tt.want, d)
	}
	var verdict Verdict
	switch tt.want {
	case ReasonAllowed:
		verdict = VerdictAllow
	case ReasonNotAllowed:
		verdict = VerdictAsk
		if tt.policy.OnMiss.Value == MissDeny {
			verdict = VerdictDeny
		}
	default:
		verdict = VerdictDeny
	}
	if d.Verdict != verdict {
		t.Errorf("%s: Verdict = %s, want %s", tt.id, d.Verdict, verdict)
	}
	if d.Source != SourceBaseline {
		t.Errorf("%s: Source = %s, want %s", tt.id, d.Source, SourceBaseline)
	}
	if d.Host != NormalizeHost(tt.host) {
		t.Errorf("%s: Host = %q, want %q", tt.id, d.Host, NormalizeHost(tt.host))
	}
	gotRule := ""
	if d.Rule != nil {
		gotRule = d.Rule.Pattern
	}
	if gotRule != tt.rule {
		t.Errorf("%s: Rule = %q, want %q", tt.id, gotRule, tt.rule)
	}
	if d.Detail != tt.detail {
		t.Errorf("%s: Detail = %q, want %q", tt.id, d.Detail, tt.detail)
	}
	var wantAddrs []netip.Addr
	if tt.addrs != "" {
		for _, a := range strings.Split(tt.addrs, ",") {
			wantAddrs = append(wantAddrs, netip.MustParseAddr(a))
		}
	}
	if !slices.Equal(d.Addrs, wantAddrs) {
		t.Errorf("%s: Addrs = %v, want %v", tt.id, d.Addrs, wantAddrs)
	}
	// Every name the row lists must be looked up exactly once, and nothing
	// else (names not listed are reported by the stub itself).
	calls := stub.Calls()
	var want []string
	for name := range tt.dns {
		want = append(want, name)
	}
	slices.Sort(calls)
	slices.Sort(want)
	if !slices.Equal(calls, want) {
		t.Errorf("%s: resolver calls = %q, want %q", tt.id, calls, want)
	}
	if d.Resolved != (len(want) > 0) {
		t.Errorf("%s: Resolved = %v, want %v", tt.id, d.Resolved, len(want) > 0)
	}
}

func TestDecideHostVectors(t *testing.T) {
	for _, tt := range hostDecisionCases() {
		runDecideCase(t, tt)
	}
}

func TestDecideExtras(t *testing.T) {
	for _, tt := range extraDecisionCases() {
		runDecideCase(t, tt)
	}
}

// V034b: the lookup that never answers is cut by the timeout, also when the
// resolver ignores its context.
func TestDecideLookupTimeout(t *testing.T) {
	for _, mode := range []string{"hang", "ignore-ctx"} {
		c := mustCompile(t, pol(domains("slow.example", "allow")))
		stub := newStub(t, dnsOf("slow.example", mode))
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		d := c.Decide(ctx, Request{Host: "slow.example", Protocol: ProtoHTTP, Method: "GET"}, stub)
		cancel()
		el := time.Since(start)
		if d.Reason != ReasonNotAllowedLocal || d.Verdict != VerdictDeny || d.ResolveErr == nil {
			t.Errorf("V034b/%s: decision %+v, want deny not_allowed_local with ResolveErr", mode, d)
		}
		if !errors.Is(d.ResolveErr, context.DeadlineExceeded) && mode == "ignore-ctx" {
			t.Errorf("V034b/%s: ResolveErr = %v, want a deadline error", mode, d.ResolveErr)
		}
		if el < 50*time.Millisecond || el > 2*time.Second {
			t.Errorf("V034b/%s: took %v, want about the 50ms timeout", mode, el)
		}
	}
	if b := lookupBudget(context.Background()); b != DefaultLookupTimeout {
		t.Errorf("budget without a deadline = %v, want %v", b, DefaultLookupTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if b := lookupBudget(ctx); b != DefaultLookupTimeout {
		t.Errorf("budget under a later deadline = %v, want %v", b, DefaultLookupTimeout)
	}
}

// A cancelled request context fails the lookup closed as well.
func TestDecideCancelledContext(t *testing.T) {
	c := mustCompile(t, pol(domains("slow.example", "allow")))
	stub := newStub(t, dnsOf("slow.example", "hang"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := c.Decide(ctx, Request{Host: "slow.example"}, stub)
	if d.Reason != ReasonNotAllowedLocal {
		t.Errorf("cancelled: decision %+v, want not_allowed_local", d)
	}
}

func TestDecideProxyDisabled(t *testing.T) {
	// Every request, whatever its host, before any rule and without DNS.
	c := mustCompile(t, pol(proxyOff, domains("example.com", "allow"), sockets("/run/a.sock", "allow")))
	for _, req := range []Request{
		{Host: "example.com", Protocol: ProtoHTTP, Method: "GET"},
		{Host: "127.0.0.1", Protocol: ProtoHTTPSConnect},
		{Host: "", Protocol: ProtoSOCKS5TCP},
		{Host: "localhost", Protocol: ProtoHTTP, Method: "GET", UnixSocket: "/run/a.sock"},
	} {
		d := c.Decide(context.Background(), req, newStub(t, nil))
		if d.Verdict != VerdictDeny || d.Reason != ReasonProxyDisabled || d.Source != SourceProxyState {
			t.Errorf("disabled: Decide(%+v) = %+v, want deny proxy_disabled proxy_state", req, d)
		}
	}
}

// TestDecideModeGuard covers V100, V101, V104 and V107 at the decision level.
func TestDecideModeGuard(t *testing.T) {
	c := mustCompile(t, pol(limitedMode, domains("example.com", "allow", "blocked.example.com", "deny")))
	type row struct {
		id      string
		host    string
		proto   Protocol
		method  string
		dns     map[string]string
		want    Reason
		verdict Verdict
		source  DecisionSource
	}
	rows := []row{
		{"V100a/GET", "example.com", ProtoHTTP, "GET", dnsOf("example.com", pub), ReasonAllowed, VerdictAllow, SourceBaseline},
		{"V100a/HEAD", "example.com", ProtoHTTP, "HEAD", dnsOf("example.com", pub), ReasonAllowed, VerdictAllow, SourceBaseline},
		{"V100a/OPTIONS", "example.com", ProtoHTTP, "OPTIONS", dnsOf("example.com", pub), ReasonAllowed, VerdictAllow, SourceBaseline},
		// The mode guard blocks before any lookup: no DNS leak.
		{"V100b/POST", "example.com", ProtoHTTP, "POST", nil, ReasonMethodNotAllowed, VerdictDeny, SourceModeGuard},
		{"V100b/PUT", "example.com", ProtoHTTP, "PUT", nil, ReasonMethodNotAllowed, VerdictDeny, SourceModeGuard},
		{"V100b/PATCH", "example.com", ProtoHTTP, "PATCH", nil, ReasonMethodNotAllowed, VerdictDeny, SourceModeGuard},
		{"V100b/DELETE", "example.com", ProtoHTTP, "DELETE", nil, ReasonMethodNotAllowed, VerdictDeny, SourceModeGuard},
		{"V101a", "blocked.example.com", ProtoHTTP, "POST", nil, ReasonDenied, VerdictDeny, SourceBaseline},
		{"V101b", "other.example.net", ProtoHTTP, "POST", nil, ReasonNotAllowed, VerdictAsk, SourceBaseline},
		{"V104", "example.com", ProtoHTTPSConnect, "", nil, ReasonMITMRequired, VerdictDeny, SourceModeGuard},
		{"V107", "example.com", ProtoSOCKS5TCP, "", nil, ReasonMITMRequired, VerdictDeny, SourceModeGuard},
		{"local-first", "127.0.0.1", ProtoHTTP, "POST", nil, ReasonNotAllowedLocal, VerdictDeny, SourceBaseline},
	}
	for _, r := range rows {
		stub := newStub(t, r.dns)
		d := c.Decide(context.Background(), Request{Host: r.host, Port: 80, Protocol: r.proto, Method: r.method}, stub)
		if d.Reason != r.want || d.Verdict != r.verdict || d.Source != r.source {
			t.Errorf("%s: decision %s/%s/%s, want %s/%s/%s", r.id, d.Verdict, d.Reason, d.Source, r.verdict, r.want, r.source)
		}
		if d.Reason == ReasonMethodNotAllowed || d.Reason == ReasonMITMRequired {
			// The block keeps the allow rule that matched the host
			// (POLICY §5), and nothing was looked up.
			if d.Rule == nil || d.Rule.Pattern != "example.com" || len(d.Addrs) != 0 || d.Resolved {
				t.Errorf("%s: mode guard decision: rule %v, addrs %v, resolved %v; want rule example.com, no addrs, not resolved", r.id, d.Rule, d.Addrs, d.Resolved)
			}
		}
		if got := len(stub.Calls()); got != len(r.dns) {
			t.Errorf("%s: %d lookups, want %d", r.id, got, len(r.dns))
		}
	}
	full := mustCompile(t, pol(domains("example.com", "allow")))
	d := full.Decide(context.Background(), Request{Host: "example.com", Protocol: ProtoHTTP, Method: "POST"}, newStub(t, dnsOf("example.com", pub)))
	if d.Reason != ReasonAllowed {
		t.Errorf("full mode POST: %s, want allowed", d.Reason)
	}
}

// TestDecideUpgrade: in limited mode an Upgrade request is refused by the
// mode guard, before any lookup, keeping the allow rule; a socket request
// too. In full mode the flag changes nothing.
func TestDecideUpgrade(t *testing.T) {
	limited := mustCompile(t, pol(limitedMode, domains("example.com", "allow"), func(e *Effective) {
		e.Sockets = []SocketRule{{Path: "/run/app.sock", Perm: Allow}}
	}))
	full := mustCompile(t, pol(domains("example.com", "allow")))
	for _, r := range []struct {
		id     string
		c      *Compiled
		req    Request
		dns    map[string]string
		reason Reason
		source DecisionSource
	}{
		{"limited/GET", limited, Request{Host: "example.com", Protocol: ProtoHTTP, Method: "GET", Upgrade: true}, nil, ReasonMethodNotAllowed, SourceModeGuard},
		{"limited/no method", limited, Request{Host: "example.com", Upgrade: true}, nil, ReasonMethodNotAllowed, SourceModeGuard},
		{"limited/socket", limited, Request{Host: "localhost", UnixSocket: "/run/app.sock", Protocol: ProtoHTTP, Method: "GET", Upgrade: true}, nil, ReasonMethodNotAllowed, SourceModeGuard},
		{"limited/unlisted", limited, Request{Host: "other.example", Protocol: ProtoHTTP, Method: "GET", Upgrade: true}, nil, ReasonNotAllowed, SourceBaseline},
		{"full/GET", full, Request{Host: "example.com", Protocol: ProtoHTTP, Method: "GET", Upgrade: true}, dnsOf("example.com", pub), ReasonAllowed, SourceBaseline},
	} {
		stub := newStub(t, r.dns)
		d := r.c.Decide(context.Background(), r.req, stub)
		if d.Reason != r.reason || d.Source != r.source {
			t.Errorf("%s: %s/%s, want %s/%s", r.id, d.Reason, d.Source, r.reason, r.source)
		}
		if r.reason == ReasonMethodNotAllowed && (d.Rule == nil && d.Socket == nil || d.Resolved) {
			t.Errorf("%s: the block must keep the allow entry and look nothing up: rule %v socket %v resolved %v", r.id, d.Rule, d.Socket, d.Resolved)
		}
		if got := len(stub.Calls()); got != len(r.dns) {
			t.Errorf("%s: %d lookups, want %d", r.id, got, len(r.dns))
		}
	}
}

// TestDecideSocket covers V108–V111 at the decision level.
func TestDecideSocket(t *testing.T) {
	const app, other = "/tmp/t/app.sock", "/tmp/t/other.sock"
	type row struct {
		id     string
		policy *Effective
		path   string
		method string
		want   Reason
		source DecisionSource
	}
	rows := []row{
		{"V108a", pol(sockets(app, "allow")), app, "GET", ReasonAllowed, SourceBaseline},
		{"V108b", pol(sockets(app, "allow"), domains("localhost", "deny")), app, "GET", ReasonAllowed, SourceBaseline},
		{"V109a", pol(), app, "GET", ReasonNotAllowed, SourceBaseline},
		{"V109b", pol(sockets(app, "none")), app, "GET", ReasonNotAllowed, SourceBaseline},
		{"V109c", pol(sockets(app, "deny")), app, "GET", ReasonNotAllowed, SourceBaseline},
		{"V109d", pol(sockets(other, "allow")), app, "GET", ReasonNotAllowed, SourceBaseline},
		{"V110a", pol(allowAllSockets), "/tmp/t/any.sock", "GET", ReasonAllowed, SourceBaseline},
		{"V110b", pol(allowAllSockets), "relative.sock", "GET", ReasonNotAllowed, SourceBaseline},
		{"V111a", pol(limitedMode, sockets(app, "allow")), app, "POST", ReasonMethodNotAllowed, SourceModeGuard},
		{"V111b", pol(limitedMode, sockets(app, "allow")), app, "GET", ReasonAllowed, SourceBaseline},
		// Not vectors.
		{"relative-allow-rule", pol(sockets("relative.sock", "allow")), "relative.sock", "GET", ReasonNotAllowed, SourceBaseline},
		{"nul", pol(allowAllSockets), "/tmp/a\x00b", "GET", ReasonNotAllowed, SourceBaseline},
		{"none-beats-allow-all", pol(allowAllSockets, sockets(app, "none")), app, "GET", ReasonNotAllowed, SourceBaseline},
		{"none-beats-allow-all-cleaned", pol(allowAllSockets, sockets(app, "none")), "/tmp/t/../t//app.sock", "GET", ReasonNotAllowed, SourceBaseline},
		{"none-beats-allow", pol(sockets(app, "allow", app, "none")), app, "GET", ReasonNotAllowed, SourceBaseline},
		{"cleaned-path", pol(sockets(app, "allow")), "/tmp/t/./x/../app.sock", "GET", ReasonAllowed, SourceBaseline},
		{"cleaned-rule", pol(sockets("/tmp/t//app.sock", "allow")), app, "GET", ReasonAllowed, SourceBaseline},
		{"other-name", pol(sockets(app, "allow")), "/tmp/t/app2.sock", "GET", ReasonNotAllowed, SourceBaseline},
		{"proc-root", pol(allowAllSockets), "/proc/self/root" + app, "GET", ReasonNotAllowed, SourceBaseline},
		{"proc-pid-root", pol(allowAllSockets), "/proc/1/root" + app, "GET", ReasonNotAllowed, SourceBaseline},
		{"proc-cleaned", pol(allowAllSockets), "//proc/./self/../self/root" + app, "GET", ReasonNotAllowed, SourceBaseline},
		{"proc-allowed-by-rule", pol(sockets("/proc/self/root"+app, "allow")), "/proc/self/root" + app, "GET", ReasonNotAllowed, SourceBaseline},
		{"proc-itself", pol(allowAllSockets), "/proc", "GET", ReasonNotAllowed, SourceBaseline},
		{"procfs-lookalike", pol(allowAllSockets), "/procx/app.sock", "GET", ReasonAllowed, SourceBaseline},
		{"limited-refused-socket", pol(limitedMode), app, "POST", ReasonNotAllowed, SourceBaseline},
	}
	for _, r := range rows {
		c := mustCompile(t, r.policy)
		req := Request{Host: "localhost", Port: 80, Protocol: ProtoHTTP, Method: r.method, UnixSocket: r.path}
		d := c.Decide(context.Background(), req, newStub(t, nil))
		if d.Reason != r.want || d.Source != r.source {
			t.Errorf("%s: decision %s/%s, want %s/%s", r.id, d.Reason, d.Source, r.want, r.source)
		}
		wantVerdict := VerdictDeny
		if r.want == ReasonAllowed {
			wantVerdict = VerdictAllow
		}
		if d.Verdict != wantVerdict {
			t.Errorf("%s: verdict %s, want %s (a refused socket is never an ask)", r.id, d.Verdict, wantVerdict)
		}
		if r.want != ReasonNotAllowed {
			continue
		}
		if pe := d.Reason.ProxyError(); pe != "blocked-by-allowlist" {
			t.Errorf("%s: x-proxy-error %s, want blocked-by-allowlist", r.id, pe)
		}
	}
	c := mustCompile(t, pol(sockets(app, "allow")))
	d := c.DecideSocket(Request{Host: "localhost", Protocol: ProtoHTTP, Method: "GET", UnixSocket: app})
	if d.Socket == nil || d.Socket.Path != app {
		t.Errorf("allowed socket: Socket = %+v, want the %s entry", d.Socket, app)
	}
}

func TestReasonBlockAnswer(t *testing.T) {
	// V114.
	tests := []struct {
		reason      Reason
		header, msg string
	}{
		{ReasonNotAllowed, "blocked-by-allowlist", "Domain not in allowlist."},
		{ReasonNotAllowedLocal, "blocked-by-allowlist", "Local/private network addresses are blocked by policy."},
		{ReasonDenied, "blocked-by-denylist", "Domain denied by policy."},
		{ReasonMethodNotAllowed, "blocked-by-method-policy", "Method not allowed in limited mode."},
		{ReasonMITMRequired, "blocked-by-mitm-required", "HTTPS interception required in limited mode."},
		{ReasonProxyDisabled, "blocked-by-policy", "Request blocked by network policy."},
		{Reason("whatever"), "blocked-by-policy", "Request blocked by network policy."},
	}
	for _, tt := range tests {
		h, m := tt.reason.ProxyError(), tt.reason.Message()
		if h != tt.header || m != tt.msg {
			t.Errorf("V114: ProxyError, Message of %s = %q, %q; want %q, %q", tt.reason, h, m, tt.header, tt.msg)
		}
	}
}

func TestExplicitLocalAllow(t *testing.T) {
	c := mustCompile(t, pol(domains("localhost", "allow", "fe80::1", "allow", "fd00::1%eth0", "allow",
		"10.0.0.1", "allow", "*.corp.example", "allow", "**.localhost", "allow", "*", "allow")))
	yes := map[string]string{
		"localhost": "localhost", "fe80::1%lo0": "fe80::1", "fe80::1": "fe80::1",
		"fd00::1%eth0": "fd00::1%eth0", "10.0.0.1": "10.0.0.1", "::ffff:10.0.0.1": "10.0.0.1",
	}
	for host, want := range yes {
		r, ok := c.ExplicitLocalAllow(host)
		if !ok || r.Pattern != want {
			t.Errorf("ExplicitLocalAllow(%q) = %v, %v; want rule %q", host, r, ok, want)
		}
	}
	for _, host := range []string{"127.0.0.1", "::1", "fd00::1", "fd00::1%eth1", "db.corp.example", "a.localhost", "10.0.0.2", ""} {
		if r, ok := c.ExplicitLocalAllow(host); ok {
			t.Errorf("ExplicitLocalAllow(%q) = %q, want none", host, r.Pattern)
		}
	}
}

func TestCompileSkipsInvalidAndCopies(t *testing.T) {
	e := pol(domains("api?.example.com", "allow", "example.com", "allow", "bad/.example", "deny"))
	c := mustCompile(t, e)
	if _, ok := c.MatchAllow("example.com"); !ok {
		t.Error("a valid rule next to an invalid one was lost")
	}
	if _, ok := c.MatchAllow("api?.example.com"); ok {
		t.Error("an invalid pattern matched")
	}
	e.Allow[1].Pattern = "changed.example"
	if r, ok := c.MatchAllow("example.com"); !ok || r.Pattern != "example.com" || c.Effective().Allow[1].Pattern != "example.com" {
		t.Error("Compiled shares rules with the Effective it was built from")
	}
	if _, err := Compile(nil); err == nil {
		t.Error("Compile(nil) succeeded")
	}
}

// The first of several equal rules (managed entries come first) is reported.
func TestFirstRuleWins(t *testing.T) {
	e := pol()
	e.Allow = []Rule{
		{Pattern: "Example.com", Perm: Allow, Source: Source{File: "requirements.toml", Line: 2, Origin: OriginManaged}},
		{Pattern: "example.com.", Perm: Allow, Source: Source{File: "config.toml", Line: 5, Origin: OriginUser}},
	}
	c := mustCompile(t, e)
	if r, _ := c.MatchAllow("example.com"); r == nil || r.Source.Origin != OriginManaged {
		t.Errorf("MatchAllow reported %+v, want the managed rule", r)
	}
}

// The detail of a failed lookup, in the words of POLICY §5.
func TestLookupDetail(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "DNS timeout after 2s"},
		{&net.DNSError{Err: "i/o timeout", Name: "x.example", IsTimeout: true}, "DNS timeout after 2s"},
		{&net.DNSError{Err: "no such host", Name: "x.example", Server: "10.0.0.53:53", IsNotFound: true}, "lookup x.example: no such host"},
		{&net.DNSError{Err: "server misbehaving", Name: "x.example"}, "lookup x.example: server misbehaving"},
		{context.Canceled, "lookup x.example: canceled"},
		{errors.New("refused"), "lookup x.example: refused"},
	} {
		if got := lookupDetail("x.example", tc.err, DefaultLookupTimeout); got != tc.want {
			t.Errorf("lookupDetail(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

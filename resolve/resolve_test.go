package resolve_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/resolve"
	"github.com/netpolicy/netpolicy/resolve/dnstest"
)

// clock is a settable time for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// setup starts a DNS server on 127.0.0.1 and a resolver that asks only it,
// with no hosts file and a fake clock.
func setup(t *testing.T, mod ...func(*resolve.Config)) (*dnstest.Server, *resolve.Resolver, *clock) {
	t.Helper()
	srv, err := dnstest.Start("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := resolve.Config{Servers: []string{srv.Addr}, Ndots: 1, Timeout: time.Second, Attempts: 1, Now: clk.Now}
	for _, m := range mod {
		m(&cfg)
	}
	return srv, resolve.New(cfg), clk
}

func lookup(t *testing.T, r *resolve.Resolver, name string) ([]string, error) {
	t.Helper()
	addrs, err := r.LookupNetIP(context.Background(), "ip", name)
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out, err
}

func wantAddrs(t *testing.T, r *resolve.Resolver, name string, want ...string) {
	t.Helper()
	got, err := lookup(t, r, name)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("lookup %s = %v, %v; want %v", name, got, err, want)
	}
}

// wantQueries checks the A and AAAA queries the server got for name.
func wantQueries(t *testing.T, srv *dnstest.Server, name string, a, aaaa int) {
	t.Helper()
	if ga, g6 := srv.Count(name, dns.TypeA), srv.Count(name, dns.TypeAAAA); ga != a || g6 != aaaa {
		t.Errorf("%s: %d A and %d AAAA queries, want %d and %d", name, ga, g6, a, aaaa)
	}
}

func u32(v uint32) *uint32 { return &v }

func TestPositiveAnswersCachedForTheirTTL(t *testing.T) {
	srv, r, clk := setup(t)
	srv.Set("pub.example.net", dnstest.Answer{Addrs: []string{"93.184.216.34", "2606:2800:220:1::1"}, TTL: 60})
	wantAddrs(t, r, "pub.example.net", "93.184.216.34", "2606:2800:220:1::1")
	wantAddrs(t, r, "PUB.example.net.", "93.184.216.34", "2606:2800:220:1::1")
	clk.Advance(59 * time.Second)
	wantAddrs(t, r, "pub.example.net", "93.184.216.34", "2606:2800:220:1::1")
	wantQueries(t, srv, "pub.example.net", 1, 1)
	clk.Advance(time.Second)
	wantAddrs(t, r, "pub.example.net", "93.184.216.34", "2606:2800:220:1::1")
	wantQueries(t, srv, "pub.example.net", 2, 2)

	// One family on request, from the cache.
	a6, err := r.LookupNetIP(context.Background(), "ip6", "pub.example.net")
	if err != nil || len(a6) != 1 || !a6[0].Is6() {
		t.Errorf("ip6 lookup = %v, %v", a6, err)
	}
	wantQueries(t, srv, "pub.example.net", 2, 2)
}

func TestTTLClampedToOneSecondAndFiveMinutes(t *testing.T) {
	srv, r, clk := setup(t)
	srv.Set("zero.example.net", dnstest.Answer{Addrs: []string{"93.184.216.1"}, TTL: 0})
	srv.Set("long.example.net", dnstest.Answer{Addrs: []string{"93.184.216.2"}, TTL: 86400})
	// The shortest TTL of the two families counts.
	srv.Set("mixed.example.net", dnstest.Answer{Addrs: []string{"93.184.216.3"}, TTL: 30})
	for _, n := range []string{"zero", "long", "mixed"} {
		lookup(t, r, n+".example.net")
	}
	clk.Advance(999 * time.Millisecond)
	for _, n := range []string{"zero", "long", "mixed"} {
		lookup(t, r, n+".example.net")
	}
	wantQueries(t, srv, "zero.example.net", 1, 1)
	clk.Advance(time.Millisecond)
	lookup(t, r, "zero.example.net")
	wantQueries(t, srv, "zero.example.net", 2, 2)

	clk.Advance(5*time.Minute - time.Second - time.Millisecond)
	lookup(t, r, "long.example.net")
	wantQueries(t, srv, "long.example.net", 1, 1)
	clk.Advance(time.Millisecond)
	lookup(t, r, "long.example.net")
	wantQueries(t, srv, "long.example.net", 2, 2)
	wantQueries(t, srv, "mixed.example.net", 1, 1)
}

func TestNegativeAnswersCachedAtMostFiveSeconds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer dnstest.Answer
		ttl    time.Duration
	}{
		{"nxdomain-no-soa", dnstest.Answer{Rcode: dns.RcodeNameError}, 5 * time.Second},
		{"nxdomain-soa-2s", dnstest.Answer{Rcode: dns.RcodeNameError, SOA: u32(2)}, 2 * time.Second},
		{"nxdomain-soa-1h", dnstest.Answer{Rcode: dns.RcodeNameError, SOA: u32(3600)}, 5 * time.Second},
		{"nodata-soa-3s", dnstest.Answer{SOA: u32(3)}, 3 * time.Second},
		{"nodata-no-soa", dnstest.Answer{}, 5 * time.Second},
		{"servfail", dnstest.Answer{Rcode: dns.RcodeServerFailure}, resolve.FailureTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, r, clk := setup(t)
			name := tc.name + ".example.net"
			srv.Set(name, tc.answer)
			_, err := lookup(t, r, name)
			var de *net.DNSError
			if !errors.As(err, &de) {
				t.Fatalf("lookup error %v, want a *net.DNSError", err)
			}
			if tc.answer.Rcode == dns.RcodeServerFailure {
				if de.IsNotFound || de.Err != "server misbehaving (SERVFAIL)" {
					t.Errorf("error %+v", de)
				}
			} else if !de.IsNotFound || de.Err != "no such host" || de.Name != name {
				t.Errorf("error %+v, want no such host for %s", de, name)
			}
			clk.Advance(tc.ttl - time.Millisecond)
			lookup(t, r, name)
			wantQueries(t, srv, name, 1, 1)
			clk.Advance(time.Millisecond)
			lookup(t, r, name)
			wantQueries(t, srv, name, 2, 2)
		})
	}
}

func TestSOAZeroIsNotCached(t *testing.T) {
	srv, r, _ := setup(t)
	srv.Set("gone.example.net", dnstest.Answer{Rcode: dns.RcodeNameError, SOA: u32(0)})
	lookup(t, r, "gone.example.net")
	lookup(t, r, "gone.example.net")
	wantQueries(t, srv, "gone.example.net", 2, 2)
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	srv, r, _ := setup(t)
	srv.Set("big.example.net", dnstest.Answer{Addrs: []string{"93.184.216.7", "93.184.216.8"}, TTL: 60, Truncate: true})
	wantAddrs(t, r, "big.example.net", "93.184.216.7", "93.184.216.8")
	var udp, tcp int
	for _, q := range srv.Queries() {
		if q.Net == "udp" {
			udp++
		} else {
			tcp++
		}
	}
	if udp != 2 || tcp != 2 {
		t.Errorf("queries: %d over UDP, %d over TCP; want 2 and 2 (A and AAAA each)", udp, tcp)
	}
}

func TestAAndAAAAInParallelAndDelays(t *testing.T) {
	srv, r, _ := setup(t)
	srv.Set("slowish.example.net", dnstest.Answer{Addrs: []string{"93.184.216.9", "2606:2800:220:1::9"}, TTL: 60, Delay: 300 * time.Millisecond})
	start := time.Now()
	wantAddrs(t, r, "slowish.example.net", "93.184.216.9", "2606:2800:220:1::9")
	if el := time.Since(start); el > 550*time.Millisecond {
		t.Errorf("lookup took %v: A and AAAA were not asked in parallel", el)
	}
}

func TestDeadServerTimesOutWithinBudget(t *testing.T) {
	srv, r, clk := setup(t, func(c *resolve.Config) {
		c.Budget = 300 * time.Millisecond
		c.Timeout = 100 * time.Millisecond
		c.Attempts = 5
	})
	srv.Set("dead.example.net", dnstest.Answer{Drop: true})
	start := time.Now()
	_, err := lookup(t, r, "dead.example.net")
	el := time.Since(start)
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout {
		t.Fatalf("error %v, want a DNS timeout", err)
	}
	if el < 250*time.Millisecond || el > time.Second {
		t.Errorf("gave up after %v, want about the 300ms budget", el)
	}
	// Remembered for FailureTTL: no new queries in that time.
	n := srv.Count("dead.example.net", 0)
	if _, err := lookup(t, r, "dead.example.net"); err == nil {
		t.Fatal("cached failure answered")
	}
	if got := srv.Count("dead.example.net", 0); got != n {
		t.Errorf("failure not cached: %d queries, then %d", n, got)
	}
	clk.Advance(resolve.FailureTTL)
	lookup(t, r, "dead.example.net")
	if got := srv.Count("dead.example.net", 0); got == n {
		t.Error("failure cached longer than FailureTTL")
	}
}

func TestNextServerWhenOneFails(t *testing.T) {
	srv, _, _ := setup(t)
	srv.Set("x.example.net", dnstest.Answer{Addrs: []string{"93.184.216.10"}, TTL: 60})
	bad, err := dnstest.Start("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Set("x.example.net", dnstest.Answer{Rcode: dns.RcodeRefused})
	r := resolve.New(resolve.Config{Servers: []string{bad.Addr, srv.Addr}, Timeout: time.Second, Attempts: 1})
	wantAddrs(t, r, "x.example.net", "93.184.216.10")
}

func TestConcurrentLookupsCoalesce(t *testing.T) {
	srv, r, _ := setup(t)
	srv.Set("hot.example.net", dnstest.Answer{Addrs: []string{"93.184.216.11"}, TTL: 60, Delay: 100 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := r.LookupNetIP(context.Background(), "ip", "hot.example.net")
			if err == nil && (len(a) != 1 || a[0].String() != "93.184.216.11") {
				err = errors.New("wrong answer " + a[0].String())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantQueries(t, srv, "hot.example.net", 1, 1)
}

func TestCallerContextEndsItsWaitOnly(t *testing.T) {
	srv, r, _ := setup(t)
	srv.Set("late.example.net", dnstest.Answer{Addrs: []string{"93.184.216.12"}, TTL: 60, Delay: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.LookupNetIP(ctx, "ip", "late.example.net"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the caller's deadline", err)
	}
	// The flight goes on and fills the cache for the next caller.
	wantAddrs(t, r, "late.example.net", "93.184.216.12")
	wantQueries(t, srv, "late.example.net", 1, 1)
}

func TestHostsFileFirst(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("# test\n127.0.0.1 localhost\n93.184.216.20  Pinned.example.net pinned-alias # comment\n10.0.0.9 priv.example.net\nnot-an-ip bad.example.net\n"), 0o644)
	srv, r, clk := setup(t, func(c *resolve.Config) { c.HostsFile = hosts })
	srv.Set("pinned.example.net", dnstest.Answer{Addrs: []string{"93.184.216.99"}, TTL: 60})
	wantAddrs(t, r, "pinned.example.net", "93.184.216.20")
	wantAddrs(t, r, "pinned-alias", "93.184.216.20")
	wantAddrs(t, r, "priv.example.net", "10.0.0.9")
	if n := len(srv.Queries()); n != 0 {
		t.Errorf("%d DNS queries for names in the hosts file", n)
	}
	// An edit is seen after the recheck interval.
	os.WriteFile(hosts, []byte("93.184.216.21 pinned.example.net\n"), 0o644)
	os.Chtimes(hosts, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	clk.Advance(5 * time.Second)
	wantAddrs(t, r, "pinned.example.net", "93.184.216.21")
}

func TestSearchListAndNdots(t *testing.T) {
	srv, r, _ := setup(t, func(c *resolve.Config) { c.Search = []string{"corp.example", "lab.example"}; c.Ndots = 2 })
	srv.Set("db.lab.example", dnstest.Answer{Addrs: []string{"93.184.216.30"}, TTL: 60})
	srv.Set("a.b.c", dnstest.Answer{Addrs: []string{"93.184.216.31"}, TTL: 60})
	// "db" has fewer dots than ndots: the search list first, in order.
	wantAddrs(t, r, "db", "93.184.216.30")
	var order []string
	for _, q := range srv.Queries() {
		if q.Type == dns.TypeA {
			order = append(order, q.Name)
		}
	}
	if !slices.Equal(order, []string{"db.corp.example.", "db.lab.example."}) {
		t.Errorf("A queries in order %v", order)
	}
	// Two dots or more: as is, first.
	srv.Reset()
	wantAddrs(t, r, "a.b.c", "93.184.216.31")
	if n := len(srv.Queries()); n != 2 {
		t.Errorf("%d queries for a.b.c, want 2 (as is only)", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	srv, r, _ := setup(t, func(c *resolve.Config) { c.MaxEntries = 3 })
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		srv.Set(n+".example.net", dnstest.Answer{Addrs: []string{"93.184.216.40"}, TTL: 60})
		wantAddrs(t, r, n+".example.net", "93.184.216.40")
	}
	if n := r.Len(); n != 3 {
		t.Errorf("cache holds %d names, want 3", n)
	}
	wantAddrs(t, r, "a.example.net", "93.184.216.40") // evicted: asked again
	wantQueries(t, srv, "a.example.net", 2, 2)
	wantAddrs(t, r, "e.example.net", "93.184.216.40") // kept
	wantQueries(t, srv, "e.example.net", 1, 1)

	srv2, rb, _ := setup(t, func(c *resolve.Config) { c.MaxBytes = 1000 })
	for i := range 50 {
		name := string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".example.net"
		srv2.Set(name, dnstest.Answer{Addrs: []string{"93.184.216.41"}, TTL: 60})
		wantAddrs(t, rb, name, "93.184.216.41")
	}
	if n := rb.Len(); n == 0 || n > 10 {
		t.Errorf("byte-bounded cache holds %d names, want a few", n)
	}
}

// The policy applies its rules to every answer, cached or not: a cached
// private answer blocks every time, a denied name is never looked up.
func TestDecideWithTheCache(t *testing.T) {
	srv, r, _ := setup(t)
	srv.Set("priv.example.net", dnstest.Answer{Addrs: []string{"10.0.0.5"}, TTL: 60})
	srv.Set("pub.example.net", dnstest.Answer{Addrs: []string{"93.184.216.34"}, TTL: 60})
	e := &policy.Effective{SessionMode: policy.ModeWorkspaceWrite, OnMiss: policy.Setting[policy.OnMiss]{Value: policy.MissAsk}}
	e.Enabled.Value, e.Mode.Value = true, "full"
	e.Allow = []policy.Rule{{Pattern: "*.example.net", Perm: policy.Allow}}
	e.Deny = []policy.Rule{{Pattern: "denied.example.net", Perm: policy.Deny}}
	c, err := policy.Compile(e)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d := c.Decide(context.Background(), policy.Request{Host: "priv.example.net", Port: 443, Protocol: policy.ProtoHTTPSConnect}, r)
		if d.Reason != policy.ReasonNotAllowedLocal || d.Detail != "priv.example.net resolved to 10.0.0.5 (private)" {
			t.Errorf("cached private answer: %s %q", d.Reason, d.Detail)
		}
		d = c.Decide(context.Background(), policy.Request{Host: "pub.example.net", Port: 443, Protocol: policy.ProtoHTTPSConnect}, r)
		if !d.Allowed() || !slices.Equal(d.Addrs, []netip.Addr{netip.MustParseAddr("93.184.216.34")}) {
			t.Errorf("pub: %+v", d)
		}
		for _, h := range []string{"denied.example.net", "other.example.org"} {
			if d := c.Decide(context.Background(), policy.Request{Host: h, Port: 443, Protocol: policy.ProtoHTTPSConnect}, r); d.Allowed() || d.Resolved {
				t.Errorf("%s: %+v", h, d)
			}
		}
	}
	wantQueries(t, srv, "priv.example.net", 1, 1)
	wantQueries(t, srv, "pub.example.net", 1, 1)
	for _, q := range srv.Queries() {
		if q.Name != "priv.example.net." && q.Name != "pub.example.net." {
			t.Errorf("looked up %s", q.Name)
		}
	}
}

func TestSystemConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# generated\nnameserver 127.0.0.53\nnameserver ::1\nsearch corp.example lab.example\noptions ndots:2 timeout:1 attempts:3 edns0\n"), 0o644)
	cfg, err := resolve.SystemConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Servers, []string{"127.0.0.53:53", "[::1]:53"}) || !slices.Equal(cfg.Search, []string{"corp.example", "lab.example"}) ||
		cfg.Ndots != 2 || cfg.Timeout != time.Second || cfg.Attempts != 3 || cfg.HostsFile != "/etc/hosts" {
		t.Errorf("config %+v", cfg)
	}
	os.WriteFile(p, []byte("search x.example\n"), 0o644)
	if cfg, err := resolve.SystemConfig(p); err != nil || !slices.Equal(cfg.Servers, []string{"127.0.0.1:53"}) {
		t.Errorf("no nameserver: %v %v", cfg.Servers, err)
	}
}

func TestServerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:53", "127.0.0.1:5353": "127.0.0.1:5353", "::1": "[::1]:53", "[::1]": "[::1]:53", "[::1]:5300": "[::1]:5300",
		"dns.example": "", "127.0.0.1:0": "", "127.0.0.1:x": "",
	} {
		got, err := resolve.ServerAddr(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("ServerAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// A changed resolv.conf is taken in (checked at most every 5 s); a fixed
// server (--dns) stays.
func TestResolvConfChangesTakenIn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("nameserver 192.0.2.53\nsearch a.example\n"), 0o644)
	cfg, err := resolve.SystemConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	srv, r, clk := setup(t, func(c *resolve.Config) {
		c.ResolvConf, c.Search, c.FixedServers = cfg.ResolvConf, cfg.Search, true
	})
	srv.Set("db.a.example", dnstest.Answer{Addrs: []string{"93.184.216.50"}, TTL: 1})
	srv.Set("db.b.example", dnstest.Answer{Addrs: []string{"93.184.216.51"}, TTL: 1})
	wantAddrs(t, r, "db", "93.184.216.50")
	os.WriteFile(p, []byte("nameserver 192.0.2.53\nsearch b.example\n"), 0o644)
	os.Chtimes(p, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	clk.Advance(2 * time.Second) // the cached answer has expired, the file is not rechecked yet
	wantAddrs(t, r, "db", "93.184.216.50")
	clk.Advance(3 * time.Second)
	wantAddrs(t, r, "db", "93.184.216.51")
	// The fixed server was kept: every query reached it, none went to
	// resolv.conf's 192.0.2.53.
	if n := srv.Count("db.b.example", dns.TypeA); n != 1 {
		t.Errorf("%d A queries for db.b.example at the fixed server, want 1", n)
	}
}

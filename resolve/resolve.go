// Package resolve is the DNS resolver behind netpolicy's decisions (POLICY
// §4.1 step 5): it consults a hosts file first, then asks DNS servers over
// the wire (github.com/miekg/dns, since net.Resolver exposes no TTLs), and
// caches every answer per name for its TTL.
//
// The cache holds addresses only — never a decision: the policy's rules are
// applied afresh to every answer, cached or not, so a cached private answer
// blocks as a fresh one would. Positive answers live for their TTL, clamped
// to [MinTTL, MaxTTL]; empty answers (NXDOMAIN, NODATA) for at most
// MaxNegativeTTL, less when the zone's SOA minimum says so; failures
// (timeouts, SERVFAIL) for FailureTTL. Concurrent lookups of one name share
// one set of queries (A and AAAA, sent in parallel). The cache is bounded in
// entries and bytes, least recently used first out. There is no background
// prefetching.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/netpolicy/netpolicy/internal/lru"
	"github.com/netpolicy/netpolicy/policy"
	"golang.org/x/sync/singleflight"
)

// Cache lifetimes (POLICY §4.1).
const (
	// MaxTTL caps how long a positive answer is cached.
	MaxTTL = 5 * time.Minute
	// MinTTL is the shortest time a positive answer is cached (a TTL of 0
	// would make every connection pay a lookup).
	MinTTL = time.Second
	// MaxNegativeTTL caps how long NXDOMAIN and NODATA are cached.
	MaxNegativeTTL = 5 * time.Second
	// FailureTTL is how long a failed lookup (timeout, SERVFAIL, REFUSED)
	// is remembered, so that a dead server is not asked again for every
	// connection.
	FailureTTL = time.Second
)

// Defaults for the zero values of Config.
const (
	DefaultBudget     = 2 * time.Second
	DefaultTimeout    = 5 * time.Second // resolv.conf's default "timeout"
	DefaultAttempts   = 2               // resolv.conf's default "attempts"
	DefaultMaxEntries = 10000
	DefaultMaxBytes   = 4 << 20
	// DefaultHostsFile and DefaultResolvConf are the system's files.
	DefaultHostsFile  = "/etc/hosts"
	DefaultResolvConf = "/etc/resolv.conf"
)

// hostsRecheck is how often the hosts file and resolv.conf are checked for
// changes.
const hostsRecheck = 5 * time.Second

// Config says where and how to resolve. The zero value of each field has
// the meaning documented on it.
type Config struct {
	// Servers are the DNS servers, "ip:port", asked in order.
	Servers []string
	// Search and Ndots are resolv.conf's search list and ndots option: a
	// name with fewer than Ndots dots is tried with each search suffix
	// before it is tried as is; a name with a trailing dot only as is.
	Search []string
	Ndots  int
	// Timeout bounds one query to one server (resolv.conf "timeout"; if
	// zero, DefaultTimeout) and Attempts is how many rounds over the
	// servers are made (if zero, DefaultAttempts); both within Budget.
	Timeout  time.Duration
	Attempts int
	// Budget bounds one lookup in total. If zero, DefaultBudget.
	Budget time.Duration
	// HostsFile is consulted before DNS. "" means no hosts file.
	HostsFile string
	// ResolvConf, if set, is the resolv.conf these settings came from
	// (SystemConfig sets it): it is checked for changes at most every 5 s,
	// and a changed file's search, ndots, timeout and attempts replace the
	// ones above, and its nameservers too unless FixedServers is set (a
	// --dns server stays).
	ResolvConf   string
	FixedServers bool
	// MaxEntries and MaxBytes bound the cache. If zero,
	// DefaultMaxEntries and DefaultMaxBytes.
	MaxEntries int
	MaxBytes   int
	// Observe, if set, is called with the duration of every lookup that
	// went to the wire (not for cache or hosts-file answers).
	Observe func(time.Duration)
	// Now is the clock (tests). If nil, time.Now.
	Now func() time.Time
}

// SystemConfig reads resolv.conf at path (DefaultResolvConf if "") the way
// the system does — nameservers, search/domain, options ndots, timeout and
// attempts — and uses DefaultHostsFile. A file without nameservers means
// the local server (127.0.0.1:53), as in glibc.
func SystemConfig(path string) (Config, error) {
	if path == "" {
		path = DefaultResolvConf
	}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{HostsFile: DefaultHostsFile, ResolvConf: path}
	cfg.setFrom(cc, true)
	return cfg, nil
}

// setFrom takes the settings of a parsed resolv.conf, its nameservers too
// when servers is set.
func (cfg *Config) setFrom(cc *dns.ClientConfig, servers bool) {
	cfg.Search, cfg.Ndots = cc.Search, cc.Ndots
	cfg.Timeout = time.Duration(cc.Timeout) * time.Second
	cfg.Attempts = cc.Attempts
	if !servers {
		return
	}
	cfg.Servers = nil
	for _, s := range cc.Servers {
		cfg.Servers = append(cfg.Servers, net.JoinHostPort(s, cc.Port))
	}
	if len(cfg.Servers) == 0 {
		cfg.Servers = []string{"127.0.0.1:53"}
	}
}

// ServerAddr reads a --dns value: an IP address, with or without a port
// (default 53).
func ServerAddr(s string) (string, error) {
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return "", fmt.Errorf("DNS server %q: want an IP address, optionally with a port (1.2.3.4, 1.2.3.4:53, [::1]:53)", s)
	}
	return ap.String(), nil
}

// Resolver answers LookupNetIP (the policy.Resolver interface) from the
// hosts file, its cache, or DNS. It is safe for concurrent use.
type Resolver struct {
	cfg   Config
	group singleflight.Group
	hosts hostsTable

	// sys is what resolution uses of cfg (servers, search, ndots, timeout,
	// attempts), replaced when ResolvConf changes.
	sys    atomic.Pointer[Config]
	confMu sync.Mutex
	conf   fileStamp

	cache   *lru.Cache[string, *entry]
	queries atomic.Int64
}

// New returns a resolver for cfg.
func New(cfg Config) *Resolver {
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Resolver{cfg: cfg, cache: lru.New[string, *entry](cfg.MaxEntries, cfg.MaxBytes)}
	r.hosts.path = cfg.HostsFile
	sys := cfg
	r.sys.Store(&sys)
	if cfg.ResolvConf != "" {
		if fi, err := os.Stat(cfg.ResolvConf); err == nil {
			r.conf.set(fi)
		}
		r.conf.checked = cfg.Now()
	}
	return r
}

// system returns the resolution settings in force, first taking in a
// changed resolv.conf (checked at most every hostsRecheck).
func (r *Resolver) system() *Config {
	if r.cfg.ResolvConf == "" {
		return r.sys.Load()
	}
	r.confMu.Lock()
	defer r.confMu.Unlock()
	if !r.conf.due(r.cfg.Now()) {
		return r.sys.Load()
	}
	fi, err := os.Stat(r.cfg.ResolvConf)
	if err != nil || r.conf.same(fi) {
		return r.sys.Load()
	}
	cc, err := dns.ClientConfigFromFile(r.cfg.ResolvConf)
	if err != nil {
		return r.sys.Load() // keep what worked
	}
	r.conf.set(fi)
	sys := *r.sys.Load()
	sys.setFrom(cc, !r.cfg.FixedServers)
	if sys.Timeout <= 0 {
		sys.Timeout = DefaultTimeout
	}
	if sys.Attempts <= 0 {
		sys.Attempts = DefaultAttempts
	}
	r.sys.Store(&sys)
	return &sys
}

// entry is one cached answer: addresses, or the error to repeat.
type entry struct {
	name    string
	addrs   []netip.Addr
	err     error
	expires time.Time
}

// Queries returns how many DNS queries the resolver has sent.
func (r *Resolver) Queries() int64 { return r.queries.Load() }

// Len returns the number of cached names.
func (r *Resolver) Len() int { return r.cache.Len() }

// LookupNetIP returns the addresses of host: network "ip" for all, "ip4"
// or "ip6" for one family. A failure is a *net.DNSError.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return filter(network, []netip.Addr{a}), nil
	}
	name := policy.NormalizeHost(host)
	if name == "" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if addrs := r.hosts.lookup(name, r.cfg.Now()); len(addrs) > 0 {
		return filter(network, addrs), nil
	}
	if e := r.cached(name); e != nil {
		return e.result(network)
	}
	ch := r.group.DoChan(name, func() (any, error) {
		if e := r.cached(name); e != nil {
			return e, nil // a flight that just ended stored it
		}
		start := time.Now()
		e := r.resolve(name)
		if r.cfg.Observe != nil {
			r.cfg.Observe(time.Since(start))
		}
		r.store(e)
		return e, nil
	})
	select {
	case res := <-ch:
		return res.Val.(*entry).result(network)
	case <-ctx.Done():
		return nil, fmt.Errorf("lookup %s: %w", name, ctx.Err())
	}
}

func (e *entry) result(network string) ([]netip.Addr, error) {
	if e.err != nil {
		return nil, e.err
	}
	addrs := filter(network, e.addrs)
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: e.name, IsNotFound: true}
	}
	return addrs, nil
}

// filter returns the addresses of one family ("ip4", "ip6"), or a copy of
// all of them ("ip"), so callers never share the cache's slice.
func filter(network string, addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		switch {
		case network == "ip4" && !a.Unmap().Is4(), network == "ip6" && a.Unmap().Is4():
			continue
		}
		out = append(out, a)
	}
	return out
}

// cached returns the live cache entry of name, or nil.
func (r *Resolver) cached(name string) *entry {
	now := r.cfg.Now()
	e, _ := r.cache.Get(name, func(e *entry) bool { return now.Before(e.expires) })
	return e
}

// store caches e (unless its lifetime is zero); the least recently used
// entries beyond the bounds are evicted.
func (r *Resolver) store(e *entry) {
	if !e.expires.After(r.cfg.Now()) {
		return
	}
	r.cache.Put(e.name, e, 96+2*len(e.name)+24*len(e.addrs)) // struct, key, addresses
}

// outcome of one query for one type.
type outcome uint8

const (
	answered outcome = iota // records of the type (maybe none: NODATA)
	nxdomain
	failed
)

type answer struct {
	addrs   []netip.Addr
	ttl     time.Duration // of the records, or the negative TTL
	outcome outcome
	err     error // for failed
}

// resolve looks name up in DNS, trying the search-list candidates in the
// system's order, within the budget, and returns the entry to cache.
func (r *Resolver) resolve(name string) *entry {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Budget)
	defer cancel()
	now := r.cfg.Now()
	sys := r.system()
	cc := dns.ClientConfig{Search: sys.Search, Ndots: sys.Ndots}
	notFound := &entry{name: name, err: &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}, expires: now.Add(MaxNegativeTTL)}
	for _, fqdn := range cc.NameList(name) {
		var a4, a6 answer
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a4 = r.query(ctx, sys, fqdn, dns.TypeA) }()
		go func() { defer wg.Done(); a6 = r.query(ctx, sys, fqdn, dns.TypeAAAA) }()
		wg.Wait()
		addrs := append(a4.addrs, a6.addrs...)
		switch {
		case len(addrs) > 0:
			ttl := MaxTTL
			for _, a := range []answer{a4, a6} {
				switch {
				case a.outcome == failed:
					ttl = min(ttl, FailureTTL) // ask again soon for the other family
				case len(a.addrs) > 0:
					ttl = min(ttl, a.ttl)
				}
			}
			return &entry{name: name, addrs: addrs, expires: now.Add(max(ttl, MinTTL))}
		case a4.outcome == failed || a6.outcome == failed:
			err := a4.err
			if a4.outcome != failed {
				err = a6.err
			}
			return &entry{name: name, err: err, expires: now.Add(FailureTTL)}
		}
		// NXDOMAIN or NODATA for both: the next candidate, remembering
		// the shortest negative TTL the zones asked for.
		notFound.expires = minTime(notFound.expires, now.Add(min(a4.ttl, a6.ttl, MaxNegativeTTL)))
	}
	return notFound
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// query asks the servers for one type of record of fqdn, Attempts rounds
// over the servers, each query bounded by Timeout, all within ctx. A
// truncated UDP answer is asked again over TCP.
func (r *Resolver) query(ctx context.Context, sys *Config, fqdn string, qtype uint16) answer {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.SetEdns0(1232, false)
	var lastErr error
	for attempt := 0; attempt < sys.Attempts; attempt++ {
		for _, server := range sys.Servers {
			if ctx.Err() != nil {
				return answer{outcome: failed, err: timeoutErr(fqdn, server)}
			}
			resp, err := r.exchange(ctx, m, server, sys.Timeout)
			if err != nil {
				lastErr = err
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() || ctx.Err() != nil {
					lastErr = timeoutErr(fqdn, server)
				}
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess:
				addrs, ttl := records(resp, fqdn, qtype)
				if len(addrs) == 0 {
					ttl = negativeTTL(resp)
				}
				return answer{addrs: addrs, ttl: ttl, outcome: answered}
			case dns.RcodeNameError:
				return answer{ttl: negativeTTL(resp), outcome: nxdomain}
			}
			lastErr = &net.DNSError{Err: "server misbehaving (" + dns.RcodeToString[resp.Rcode] + ")", Name: trimDot(fqdn), Server: server, IsTemporary: true}
		}
	}
	if lastErr == nil {
		lastErr = &net.DNSError{Err: "no DNS servers", Name: trimDot(fqdn)}
	}
	return answer{outcome: failed, err: lastErr}
}

func timeoutErr(fqdn, server string) error {
	return &net.DNSError{Err: "i/o timeout", Name: trimDot(fqdn), Server: server, IsTimeout: true, IsTemporary: true}
}

func trimDot(s string) string { return strings.TrimSuffix(s, ".") }

// exchange sends m to server over UDP, and again over TCP if the answer
// was truncated.
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	c := dns.Client{Net: "udp", Timeout: timeout, UDPSize: 1232}
	r.queries.Add(1)
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		r.queries.Add(1)
		resp, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// records follows the CNAME chain from fqdn in the answer section and
// returns the addresses of type qtype at its end, with the smallest TTL of
// the chain and the records.
func records(resp *dns.Msg, fqdn string, qtype uint16) ([]netip.Addr, time.Duration) {
	cur := strings.ToLower(fqdn)
	ttl := MaxTTL
	for range 16 { // a longer chain is a loop or abuse
		var next string
		for _, rr := range resp.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				next = strings.ToLower(c.Target)
				ttl = min(ttl, time.Duration(c.Hdr.Ttl)*time.Second)
			}
		}
		if next == "" {
			break
		}
		cur = next
	}
	var addrs []netip.Addr
	for _, rr := range resp.Answer {
		if !strings.EqualFold(rr.Header().Name, cur) || rr.Header().Rrtype != qtype {
			continue
		}
		var ip net.IP
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A
		case *dns.AAAA:
			ip = v.AAAA
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		if qtype == dns.TypeA {
			a = a.Unmap()
		}
		addrs = append(addrs, a)
		ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
	}
	return addrs, ttl
}

// negativeTTL is how long an empty answer may be cached (RFC 2308 §5: the
// smaller of the SOA record's TTL and its MINIMUM field), at most
// MaxNegativeTTL; MaxNegativeTTL when the answer carries no SOA.
func negativeTTL(resp *dns.Msg) time.Duration {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, MaxNegativeTTL)
		}
	}
	return MaxNegativeTTL
}

package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var (
	loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})

	errNoAddresses = errors.New("no addresses")
)

// Decide answers one request (POLICY §4.1, §4.3, §5): the proxy and `check`
// both call it, so they cannot disagree. In order:
//
//   - a disabled proxy refuses everything (proxy_disabled), with no DNS;
//   - a unix socket request goes to DecideSocket;
//   - the host decision: normalise (numeric IPv4 spellings are literals),
//     deny rules, the local-literal guard, the allowlist;
//   - the mode guard, only for a host the rules allow; it is applied before
//     any lookup, so a request it blocks never leaks a DNS query;
//   - for an allowed name, one lookup through r (nil: net.DefaultResolver)
//     bounded by DefaultLookupTimeout (or ctx's deadline, when sooner), whose answers must all be public unless
//     allow_local_binding is set. Decision.Addrs are the checked addresses
//     the proxy must dial.
//
// A denied or unlisted name is never resolved. With allow_local_binding the
// name is still resolved once, so the proxy dials what was checked; any
// answer is acceptable then except an unspecified address (0.0.0.0/8, ::),
// which reaches local listeners and is refused as for literals. A resolved
// answer that a deny rule's IP literal names is denied, so a name cannot
// reach an address the policy denies. req.NoResolve skips the lookup: Addrs
// stay empty and Resolved false.
//
// With req.Approved, an allowlist miss that would be asked (verdict ask)
// is decided on as allowed — through the same checks an allowed host goes
// through — and the allow carries Override (a person's answer, POLICY §8).
//
// Every block says whose policy made it (Decision.Layer). With
// req.ReportOnly (POLICY §8 report-only rollout), a block of the user's
// policy — an allowlist miss the user could allow, a user deny rule, the
// user's limited mode — is decided and reported as usual but not enforced:
// the decision goes on as if the host were allowed, through every check
// that stays enforced (managed deny rules, the local guard, host_mismatch,
// the DNS answers), and comes back with NotEnforced set and the addresses
// to dial. Such a name is resolved.
func (c *Compiled) Decide(ctx context.Context, req Request, r Resolver) Decision {
	d := c.decide(ctx, req, r)
	d.ReportOnly = req.ReportOnly
	return d
}

func (c *Compiled) decide(ctx context.Context, req Request, r Resolver) Decision {
	if !c.enabled {
		return disabled(NormalizeHost(req.Host))
	}
	if req.UnixSocket != "" {
		return c.DecideSocket(req)
	}
	host := NormalizeHost(req.Host)
	d := Decision{Host: host, Source: SourceBaseline}
	if !ValidHost(host) {
		// Empty, or not a name any resolver could answer for (see
		// ValidHost): no rule can speak for it, and nothing can let it
		// through.
		m := c.miss(d)
		m.Layer = OriginDefault
		return m
	}
	// would is the block of the user's policy that a report-only request
	// goes past; approved is set when a person's answer turns an ask into
	// an allow (req.Approved).
	var would *Decision
	approved := false
	h := viewHost(host)
	if rule := c.deny.match(&h); rule != nil {
		if m := c.mdeny.match(&h); m != nil {
			return denied(d, m)
		}
		if !req.ReportOnly || rule.Source.Origin == OriginManaged {
			return denied(d, rule)
		}
		w := denied(d, rule)
		would = &w
	}
	if h.isIP && IsUnspecified(h.ip) {
		return local(d)
	}
	var rule *Rule
	if !c.allowLocal && (host == "localhost" || h.isIP && !IsPublic(h.ip)) {
		if rule = c.allow.exact(&h); rule == nil {
			return local(d)
		}
	} else if rule = c.allow.match(&h); rule == nil {
		m := c.miss(d)
		switch {
		case req.Approved && m.Verdict == VerdictAsk:
			// A person said yes to this ask: decided on as allowed.
			approved = true
		case !req.ReportOnly || m.Layer != OriginUser:
			return m
		case would == nil:
			would = &m
		}
	}
	d.Rule = rule
	if g, blocked := c.nameGuard(ctx, d, req); blocked {
		return g
	}
	if g, blocked := c.modeGuard(d, req); blocked {
		if !req.ReportOnly {
			return g
		}
		if would == nil {
			would = &g
		}
	}

	d.Verdict, d.Reason = VerdictAllow, ReasonAllowed
	d.Intercept = c.intercepts(req.Protocol)
	switch {
	case h.isIP:
		d.Addrs = []netip.Addr{h.ip}
	case host == "localhost":
		d.Addrs = localhostAddrs()
	case req.NoResolve:
	default:
		d = c.checkAnswers(ctx, d, r, req.ReportOnly)
	}
	d = loopGuard(d, req)
	if d.NotEnforced && would == nil {
		would = &Decision{}
		*would = d
	}
	if approved && d.Verdict == VerdictAllow {
		d.Override = true
	}
	if would == nil || !d.Allowed() {
		return d
	}
	// Let through: what would have been decided, with what was checked.
	w := *would
	w.Addrs, w.Resolved, w.ResolveErr, w.Intercept = d.Addrs, d.Resolved, d.ResolveErr, d.Intercept
	w.NotEnforced = true
	return w
}

// loopGuard refuses an allowed decision of which any checked address is one
// of the proxy's own listeners (req.Own): dialling it would nest the proxy
// into itself, one hop per request, until its descriptors run out. It is
// the proxy's state, not the user's policy: report-only never lets it pass.
func loopGuard(d Decision, req Request) Decision {
	if !d.Allowed() || req.Own == nil || !ValidPort(req.Port) {
		return d
	}
	for _, a := range d.Addrs {
		ap := netip.AddrPortFrom(a.Unmap(), uint16(req.Port))
		if req.Own(ap) {
			d = blockAfterRule(d, ReasonLoopDetected)
			d.Source, d.NotEnforced = SourceProxyState, false
			d.Detail = ap.String() + " is a listener of this proxy"
			return d
		}
	}
	return d
}

// checkAnswers is step 5: resolve the allowed name d.Host once and classify
// every answer; any bad answer blocks the whole request. A block keeps the
// allow rule that matched the name and says in Detail what happened.
//
// With report set, an answer that only a user deny rule names does not
// block: the result is that denial with NotEnforced set and the addresses,
// when nothing else blocks.
func (c *Compiled) checkAnswers(ctx context.Context, d Decision, r Resolver, report bool) Decision {
	budget := lookupBudget(ctx)
	addrs, err := lookup(ctx, r, d.Host)
	d.Resolved = true
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: errNoAddresses.Error(), Name: d.Host, IsNotFound: true}
	}
	if err != nil {
		d.ResolveErr = err
		d.Detail = lookupDetail(d.Host, err, budget)
		if c.allowLocal {
			return d // allowed, nothing to dial: the proxy answers 502
		}
		return blockAfterRule(d, ReasonNotAllowedLocal)
	}
	var would *Decision
	for _, a := range addrs {
		h := hostView{ip: a, isIP: true}
		rule := c.mdeny.exact(&h)
		if rule == nil {
			rule = c.deny.exact(&h)
		}
		if rule != nil {
			b := denied(d, rule)
			b.Detail = fmt.Sprintf("%s resolved to %s (denied)", d.Host, a)
			if report && rule.Source.Origin != OriginManaged {
				if would == nil {
					would = &b
				}
				continue
			}
			return b
		}
	}
	for _, a := range addrs {
		if !a.IsValid() || IsUnspecified(a) || !c.allowLocal && !IsPublic(a) {
			d = blockAfterRule(d, ReasonNotAllowedLocal)
			d.Detail = fmt.Sprintf("%s resolved to %s (%s)", d.Host, a, AddrClass(a))
			return d
		}
	}
	d.Addrs = addrs
	if would != nil {
		w := *would
		w.Addrs, w.NotEnforced = addrs, true
		return w
	}
	return d
}

// lookupDetail says in words why a lookup gave nothing usable (the block
// body's detail, POLICY §5): "DNS timeout after 2s" when the budget ran
// out, else "lookup NAME: what the resolver said".
func lookupDetail(host string, err error, budget time.Duration) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "DNS timeout after " + budget.String()
	case errors.Is(err, context.Canceled):
		return "lookup " + host + ": canceled"
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return "DNS timeout after " + budget.String()
		}
		return "lookup " + host + ": " + dnsErr.Err
	}
	if msg := err.Error(); strings.HasPrefix(msg, "lookup ") {
		return msg
	}
	return "lookup " + host + ": " + err.Error()
}

// lookupBudget is how long a lookup starting now may take: the
// DefaultLookupTimeout, or what is left of ctx when its deadline comes
// sooner (rounded to 10 ms, so that a block's detail reads as the timeout
// the caller set).
func lookupBudget(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < DefaultLookupTimeout {
			return max(left, 0).Round(10 * time.Millisecond)
		}
	}
	return DefaultLookupTimeout
}

// lookup resolves host within DefaultLookupTimeout (or ctx's earlier
// deadline). It stops waiting when the time is up even if the resolver
// ignores its context: a hung resolver must fail closed, not hang the
// request.
func lookup(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultLookupTimeout)
	defer cancel()
	type result struct {
		addrs []netip.Addr
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		a, err := r.LookupNetIP(ctx, "ip", host)
		ch <- result{a, err}
	}()
	select {
	case res := <-ch:
		return res.addrs, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("lookup %s: %w", host, ctx.Err())
	}
}

// intercepts reports whether an allowed tunnel of protocol p is
// intercepted: CONNECT and SOCKS5 in limited mode with mitm = true (§6).
// Full mode never intercepts.
func (c *Compiled) intercepts(p Protocol) bool {
	return c.limited && c.mitm && (p == ProtoHTTPSConnect || p == ProtoSOCKS5TCP)
}

// Intercepts reports whether an allowed CONNECT or SOCKS5 tunnel is
// intercepted under this policy (limited mode with mitm = true).
func (c *Compiled) Intercepts() bool { return c.intercepts(ProtoHTTPSConnect) }

// nameGuard checks that a request names no other host than the one whose
// rules allowed it (POLICY §5, §6), before the mode guard:
//
//   - a tunnel's TLS server name (req.SNI) must normalise to the CONNECT
//     host, and a ClientHello the proxy cannot read (FirstBadTLS) names
//     nothing it could check. A tunnel to an IP literal that is not intercepted may carry
//     any name the rules allow by themselves (decided without DNS); an
//     intercepted one, whose certificate is minted for the CONNECT host,
//     may not.
//   - an intercepted request's authority (req.Authority) must name the
//     CONNECT host, and its port, when given, the CONNECT port.
//
// Either failure is host_mismatch, source mode_guard.
func (c *Compiled) nameGuard(ctx context.Context, d Decision, req Request) (Decision, bool) {
	ok := true
	switch req.Protocol {
	case ProtoHTTPS:
		ok = authorityNames(req.Authority, d.Host, req.Port)
	case ProtoHTTPSConnect, ProtoSOCKS5TCP:
		if req.First == FirstBadTLS {
			ok = false
			break
		}
		if req.SNI == "" {
			return d, false
		}
		sni := NormalizeHost(req.SNI)
		switch _, literal := ParseHostIP(d.Host); {
		case sni == d.Host:
		case !ValidHost(sni), !literal, c.intercepts(req.Protocol):
			ok = false
		default:
			named := c.Decide(ctx, Request{Host: sni, Port: req.Port, Protocol: ProtoHTTP, Method: "GET", NoResolve: true}, nil)
			ok = named.Allowed()
		}
	}
	if ok {
		return d, false
	}
	d.Verdict, d.Reason, d.Source = VerdictDeny, ReasonHostMismatch, SourceModeGuard
	return d, true
}

// authorityNames reports whether an authority ("host", "host:port") names
// host (normalised) and, when it has a port, port.
func authorityNames(authority, host string, port int) bool {
	h, p, hasPort, err := SplitHostPort(authority)
	if err != nil || NormalizeHost(h) != host {
		return false
	}
	return !hasPort || p == port
}

// modeGuard applies mode = "limited" to a request whose host (or socket) is
// allowed: plain HTTP and requests inside an intercepted tunnel keep GET,
// HEAD and OPTIONS (an empty method counts as GET, for `check` without
// --method) unless they ask for an Upgrade, whose byte stream the guard
// cannot see into; CONNECT and SOCKS5 cannot be inspected and need
// interception (mitm = true, then they pass here and the proxy intercepts
// them); anything else is blocked as mitm_required. d carries the allow rule
// (or socket entry) that matched; a block keeps it, so the answer says which
// rule let the host through (POLICY §5).
func (c *Compiled) modeGuard(d Decision, req Request) (Decision, bool) {
	if !c.limited {
		return d, false
	}
	if c.intercepts(req.Protocol) {
		if req.First != FirstNotTLS {
			return d, false
		}
		// An intercepted tunnel that does not speak TLS cannot be
		// inspected either.
		d.Verdict, d.Source, d.Layer, d.Reason = VerdictDeny, SourceModeGuard, OriginUser, ReasonMITMRequired
		return d, true
	}
	d.Verdict, d.Source, d.Layer = VerdictDeny, SourceModeGuard, OriginUser
	switch req.Protocol {
	case ProtoHTTP, ProtoHTTPS, "":
		if readOnlyMethod(req.Method) && !req.Upgrade && !overridesToWrite(req.MethodOverride) {
			return d, false
		}
		d.Reason = ReasonMethodNotAllowed
	default:
		d.Reason = ReasonMITMRequired
	}
	return d, true
}

// readOnlyMethod reports whether limited mode lets method through (an
// empty method counts as GET, for `check` without --method).
func readOnlyMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "":
		return true
	}
	return false
}

// overridesToWrite reports whether any method-override header value names
// a method limited mode refuses. Frameworks compare the value without case
// and spaces, so this does too; an empty value overrides nothing.
func overridesToWrite(values []string) bool {
	for _, v := range values {
		v = strings.ToUpper(strings.TrimSpace(v))
		if v != "" && !readOnlyMethod(v) {
			return true
		}
	}
	return false
}

// MethodOverrideHeaders are the request headers that many web frameworks
// read as the request's real method (POLICY §4.3), in canonical form.
var MethodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// MethodOverrides collects the values of the method-override headers of a
// request's header map (an http.Header) for Request.MethodOverride.
func MethodOverrides(h map[string][]string) []string {
	var out []string
	for _, k := range MethodOverrideHeaders {
		out = append(out, h[k]...)
	}
	return out
}

// DecideSocket answers a unix socket request (req.UnixSocket set; POLICY §5).
// Domain rules do not apply. A relative path, one holding NUL, and one that
// is /proc or under it once cleaned lexically (/proc/<pid>/root/…,
// /proc/self/fd/…) are always refused. A "none" entry for the cleaned path
// refuses it, even with dangerously_allow_all_unix_sockets. Otherwise an
// "allow" entry for the path, or allow-all, lets it through; the
// limited-mode method guard then applies as for plain HTTP. A refused socket
// is a deny with reason not_allowed (header blocked-by-allowlist); it is
// never an ask, because socket requests are not domain rule evaluations.
//
// With req.SocketFile set (the proxy always sets it), sockets are compared
// as files, not strings: the file must be a socket; a "none" entry refuses
// it when the entry's path names the same file (device and inode, symlinks
// followed), however the request spelled it (a symlink, a hard link); an
// "allow" entry admits it only when the entry names the same file. Without
// SocketFile (`check`, which connects to nothing) paths are compared as
// cleaned strings.
func (c *Compiled) DecideSocket(req Request) Decision {
	host := NormalizeHost(req.Host)
	if !c.enabled {
		return disabled(host)
	}
	d := Decision{Host: host, Source: SourceBaseline}
	refuse := func(s *SocketRule) Decision {
		d.Verdict, d.Reason, d.Socket = VerdictDeny, ReasonNotAllowed, s
		return d
	}
	p := req.UnixSocket
	if !ValidSocketPath(p) {
		return refuse(nil)
	}
	clean := filepath.Clean(p)
	if underProc(filepath.ToSlash(clean)) {
		return refuse(nil)
	}
	if s := c.sockNone[p]; s != nil {
		return refuse(s)
	}
	if s := c.sockNone[clean]; s != nil {
		return refuse(s)
	}
	var s *SocketRule
	if req.SocketFile != nil {
		fi, err := req.SocketFile.Stat()
		if err != nil || fi.Mode().Type() != fs.ModeSocket {
			return refuse(nil) // no such file, or not a socket
		}
		for _, e := range c.sockFiles {
			if !sameFile(e.Path, fi) {
				continue
			}
			if e.Perm != Allow {
				return refuse(e)
			}
			if s == nil {
				s = e
			}
		}
	} else {
		s = c.sockAllow[clean]
	}
	if s == nil && !c.allowAll {
		return refuse(nil)
	}
	d.Socket = s
	if g, blocked := c.modeGuard(d, req); blocked {
		return g
	}
	d.Verdict, d.Reason, d.Socket = VerdictAllow, ReasonAllowed, s
	return d
}

// sameFile reports whether path names the file fi describes (symlinks
// followed). A path that does not exist names nothing.
func sameFile(path string, fi fs.FileInfo) bool {
	pi, err := os.Stat(path)
	return err == nil && os.SameFile(pi, fi)
}

func disabled(host string) Decision {
	return Decision{Verdict: VerdictDeny, Reason: ReasonProxyDisabled, Source: SourceProxyState, Host: host}
}

func denied(d Decision, rule *Rule) Decision {
	d.Verdict, d.Reason, d.Rule, d.Addrs = VerdictDeny, ReasonDenied, rule, nil
	d.Layer = rule.Source.Origin
	return d
}

func local(d Decision) Decision {
	d.Verdict, d.Reason, d.Rule, d.Addrs = VerdictDeny, ReasonNotAllowedLocal, nil, nil
	return d
}

// blockAfterRule blocks a request whose host an allow rule matched, keeping
// that rule in the decision (step 5).
func blockAfterRule(d Decision, reason Reason) Decision {
	d.Verdict, d.Reason, d.Addrs = VerdictDeny, reason, nil
	return d
}

// miss is step 4's not_allowed: ask or deny per the merge table.
func (c *Compiled) miss(d Decision) Decision {
	d.Reason, d.Rule, d.Layer = ReasonNotAllowed, nil, c.missLayer
	if c.askOnMiss {
		d.Verdict = VerdictAsk
	} else {
		d.Verdict = VerdictDeny
	}
	return d
}

// ProxyError is the x-proxy-error header value of a block for reason r
// (POLICY §5).
func (r Reason) ProxyError() string {
	switch r {
	case ReasonNotAllowed, ReasonNotAllowedLocal:
		return "blocked-by-allowlist"
	case ReasonDenied:
		return "blocked-by-denylist"
	case ReasonMethodNotAllowed:
		return "blocked-by-method-policy"
	case ReasonMITMRequired:
		return "blocked-by-mitm-required"
	}
	return "blocked-by-policy"
}

// Message is the message of a block response for reason r (POLICY §5).
func (r Reason) Message() string {
	switch r {
	case ReasonNotAllowed:
		return "Domain not in allowlist."
	case ReasonNotAllowedLocal:
		return "Local/private network addresses are blocked by policy."
	case ReasonDenied:
		return "Domain denied by policy."
	case ReasonMethodNotAllowed:
		return "Method not allowed in limited mode."
	case ReasonMITMRequired:
		return "HTTPS interception required in limited mode."
	case ReasonHostMismatch:
		return "Request host does not match the CONNECT target."
	case ReasonLoopDetected:
		return "Request would loop back into the proxy."
	}
	return "Request blocked by network policy."
}

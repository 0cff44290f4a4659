package policy

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// Compiled is an immutable, ready-to-match form of an Effective policy. It is
// safe for concurrent use; the proxy swaps whole values on reload. Matching a
// host costs a few hash lookups per label of the host, whatever the number of
// rules.
type Compiled struct {
	eff   *Effective
	allow ruleSet
	deny  ruleSet
	// mdeny holds the managed deny rules alone: a report-only request
	// goes past a user deny rule only when no managed one matches.
	mdeny ruleSet
	// missLayer is whose policy an allowlist miss is: the user's, unless
	// only managed allow rules count (managed_allowed_domains_only, or
	// full-access with managed allow rules, which replace the user's).
	missLayer Origin

	sockAllow map[string]*SocketRule // by path as written and cleaned
	sockNone  map[string]*SocketRule
	// sockFiles are the entries with an absolute path, none entries first,
	// one per cleaned path: the ones a socket file is compared with.
	sockFiles []*SocketRule

	enabled    bool
	limited    bool
	mitm       bool // intercept CONNECT / SOCKS5 in limited mode
	allowLocal bool
	allowAll   bool // dangerously_allow_all_unix_sockets
	askOnMiss  bool
}

// ruleSet indexes the rules of one permission. Every lookup is a hash lookup
// on the host or one of its parent suffixes, except for globs without a
// literal tail ("foo.*"), which are few in any real policy.
type ruleSet struct {
	names  map[string]*Rule     // exact names
	ips    map[netip.Addr]*Rule // unscoped IPs, IPv4-mapped unmapped
	scoped map[netip.Addr]*Rule // scoped IPv6, zone kept
	sub    map[string]*Rule     // "*.x" by x
	apex   map[string]*Rule     // "**.x" by x
	globs  map[string][]globRule
	loose  []globRule // globs with no literal tail
	global *Rule
}

type globRule struct {
	lead uint8
	body string
	rule *Rule
}

// Compile builds the matcher for e. Rules whose pattern does not parse are
// skipped (lint reports them as NP020); a global wildcard deny rule is an
// error, as POLICY §2.2 rejects it. The Compiled keeps its own copy of e.
func Compile(e *Effective) (*Compiled, error) {
	if e == nil {
		return nil, errors.New("policy: Compile of a nil Effective")
	}
	cp := *e
	cp.Allow = slices.Clone(e.Allow)
	cp.Deny = slices.Clone(e.Deny)
	cp.Sockets = slices.Clone(e.Sockets)
	cp.Dropped = slices.Clone(e.Dropped)
	c := &Compiled{
		eff:        &cp,
		enabled:    cp.Enabled.Value,
		limited:    cp.Mode.Value == ModeLimited,
		mitm:       cp.MITM.Value,
		allowLocal: cp.AllowLocalBinding.Value,
		allowAll:   cp.DangerouslyAllowAllUnixSockets.Value,
		askOnMiss:  cp.OnMiss.Value == MissAsk,
	}
	for i := range cp.Deny {
		r := &cp.Deny[i]
		p, err := ParsePattern(r.Pattern)
		if err != nil {
			continue
		}
		if p.IsGlobal() {
			return nil, errors.New(GlobalDenyMessage(r.Pattern))
		}
		c.deny.add(p, r)
		if r.Source.Origin == OriginManaged {
			c.mdeny.add(p, r)
		}
	}
	c.missLayer = OriginUser
	if cp.ManagedAllowedDomainsOnly.Value {
		c.missLayer = OriginManaged
	}
	for i := range cp.Allow {
		r := &cp.Allow[i]
		p, err := ParsePattern(r.Pattern)
		if err != nil {
			continue
		}
		c.allow.add(p, r)
		if r.Source.Origin == OriginManaged && !cp.SessionMode.Restricted() {
			c.missLayer = OriginManaged
		}
	}
	for i := range cp.Sockets {
		s := &cp.Sockets[i]
		switch s.Perm {
		case Allow:
			if ValidSocketPath(s.Path) {
				putFirst(&c.sockAllow, s.Path, s)
				putFirst(&c.sockAllow, filepath.Clean(s.Path), s)
			}
		case None, Deny:
			putFirst(&c.sockNone, s.Path, s)
			if ValidSocketPath(s.Path) {
				putFirst(&c.sockNone, filepath.Clean(s.Path), s)
			}
		}
	}
	seen := map[string]bool{}
	for _, perm := range []Permission{None, Allow} {
		for i := range cp.Sockets {
			s := &cp.Sockets[i]
			if (s.Perm == Allow) != (perm == Allow) || !ValidSocketPath(s.Path) || seen[filepath.Clean(s.Path)] {
				continue
			}
			seen[filepath.Clean(s.Path)] = true
			c.sockFiles = append(c.sockFiles, s)
		}
	}
	return c, nil
}

// Effective returns the policy c was compiled from. Treat it as read-only.
func (c *Compiled) Effective() *Effective { return c.eff }

// putFirst stores v under k unless k is taken: with managed entries first,
// the first of several equivalent rules is the one reported.
func putFirst[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = make(map[K]V)
	}
	if _, ok := (*m)[k]; !ok {
		(*m)[k] = v
	}
}

func (rs *ruleSet) add(p Pattern, r *Rule) {
	switch p.Kind {
	case PatternExact:
		putFirst(&rs.names, p.Norm, r)
	case PatternIP:
		if p.Addr.Zone() != "" {
			putFirst(&rs.scoped, scopedKey(p.Addr), r)
		} else {
			putFirst(&rs.ips, unscopedKey(p.Addr), r)
		}
	case PatternSubdomains:
		putFirst(&rs.sub, p.Suffix, r)
	case PatternApexAndSubdomains:
		putFirst(&rs.apex, p.Suffix, r)
	case PatternGlobal:
		if rs.global == nil {
			rs.global = r
		}
	case PatternGlob:
		g := globRule{lead: p.lead, body: p.body, rule: r}
		if p.Suffix == "" {
			rs.loose = append(rs.loose, g)
			return
		}
		if rs.globs == nil {
			rs.globs = make(map[string][]globRule)
		}
		rs.globs[p.Suffix] = append(rs.globs[p.Suffix], g)
	}
}

// hostView is a normalised host with its IP parse done once.
type hostView struct {
	norm string
	ip   netip.Addr // valid when isIP, zone kept
	isIP bool
	// text is what wildcard patterns see: the name, the canonical dotted
	// quad of an IPv4 literal, or "" for IPv6 (wildcards never match it).
	text string
}

func viewHost(norm string) hostView {
	h := hostView{norm: norm, text: norm}
	if a, ok := ParseHostIP(norm); ok {
		h.ip, h.isIP = a, true
		switch u := unscopedKey(a); {
		case !u.Is4():
			h.text = ""
		case !isDottedQuad(norm):
			h.text = u.String()
		}
	}
	return h
}

// match returns the most specific rule of rs that matches h: an exact name
// or IP, then a glob, then the "*." / "**." rule with the longest suffix,
// then a global rule.
func (rs *ruleSet) match(h *hostView) *Rule {
	if h.norm == "" {
		return nil
	}
	if r := rs.exact(h); r != nil {
		return r
	}
	if h.text != "" {
		if r := rs.matchGlob(h.text); r != nil {
			return r
		}
		if r := rs.matchSuffix(h.text); r != nil {
			return r
		}
	}
	return rs.global
}

// exact looks up the rules without a wildcard: the name, or the IP (a scoped
// IP also as unscoped).
func (rs *ruleSet) exact(h *hostView) *Rule {
	if !h.isIP {
		return rs.names[h.norm]
	}
	if h.ip.Zone() != "" && len(rs.scoped) > 0 {
		if r := rs.scoped[scopedKey(h.ip)]; r != nil {
			return r
		}
	}
	if len(rs.ips) > 0 {
		return rs.ips[unscopedKey(h.ip)]
	}
	return nil
}

func (rs *ruleSet) matchSuffix(s string) *Rule {
	if len(rs.sub) == 0 && len(rs.apex) == 0 {
		return nil
	}
	if r := rs.apex[s]; r != nil {
		return r
	}
	for i := strings.IndexByte(s, '.'); i >= 0; {
		s = s[i+1:]
		if r := rs.sub[s]; r != nil {
			return r
		}
		if r := rs.apex[s]; r != nil {
			return r
		}
		i = strings.IndexByte(s, '.')
	}
	return nil
}

func (rs *ruleSet) matchGlob(s string) *Rule {
	if len(rs.globs) > 0 {
		// Globs are indexed by their literal tail; walk the host's suffixes
		// from the longest, so the longest tail wins. A glob's tail is
		// always followed by a wildcard label, so the host itself never
		// equals a tail that matches.
		t := s
		for i := strings.IndexByte(t, '.'); i >= 0; i = strings.IndexByte(t, '.') {
			t = t[i+1:]
			for _, g := range rs.globs[t] {
				if matchGlob(g.lead, g.body, s) {
					return g.rule
				}
			}
		}
	}
	for _, g := range rs.loose {
		if matchGlob(g.lead, g.body, s) {
			return g.rule
		}
	}
	return nil
}

// MatchDeny returns the most specific deny rule matching a normalised host.
func (c *Compiled) MatchDeny(normHost string) (*Rule, bool) {
	h := viewHost(normHost)
	r := c.deny.match(&h)
	return r, r != nil
}

// MatchAllow returns the most specific allow rule matching a normalised host.
func (c *Compiled) MatchAllow(normHost string) (*Rule, bool) {
	h := viewHost(normHost)
	r := c.allow.match(&h)
	return r, r != nil
}

// ExplicitLocalAllow returns an allow rule with no wildcard that names
// exactly this normalised host: the same name (so "localhost" only by name),
// or the same IP, where a scoped host also finds an unscoped rule. Only such
// a rule lets a local literal through (POLICY §4.1 step 3).
func (c *Compiled) ExplicitLocalAllow(normHost string) (*Rule, bool) {
	h := viewHost(normHost)
	if h.norm == "" {
		return nil, false
	}
	r := c.allow.exact(&h)
	return r, r != nil
}

// isDottedQuad reports whether an IPv4 literal is already spelled as its
// canonical dotted quad (four decimal parts, no leading zeros), which saves
// formatting it again.
func isDottedQuad(s string) bool {
	parts, digits := 1, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if digits == 0 {
				return false
			}
			parts, digits = parts+1, 0
		case '0' <= c && c <= '9':
			if digits == 1 && s[i-1] == '0' {
				return false
			}
			digits++
		default:
			return false
		}
	}
	return parts == 4 && digits > 0
}

// ValidSocketPath reports whether p can name a unix socket a request may
// use: absolute, without NUL. Anything else is refused whatever the rules.
func ValidSocketPath(p string) bool {
	return strings.HasPrefix(p, "/") && strings.IndexByte(p, 0) < 0
}

// underProc reports whether a cleaned absolute path is /proc or below it:
// /proc/<pid>/root, /proc/self/fd and the like name files by another route
// than their path, so no socket request may go through them.
func underProc(clean string) bool {
	return clean == "/proc" || strings.HasPrefix(clean, "/proc/")
}

// Package merge combines the administrator's requirements, the user's
// network table and the session mode into the one effective policy that
// `effective` prints, `check` decides on and the proxy enforces (POLICY.md
// §3). Every rule and setting of the result says where it came from, and
// every user entry that did not make it says why, so that a blocked request
// can always be traced back to a line of a file.
package merge

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// Default listener ports (POLICY.md §1.2, §5).
const (
	DefaultHTTPPort  = 3128
	DefaultSocksPort = 8081
)

// loopbackHost is where every clamped or port-only listener binds.
const loopbackHost = "127.0.0.1"

// Effective merges managed [experimental_network] and the user's network
// table for a session mode. managed may be nil (no requirements file) and
// user may be nil (no config file). profile selects the user's profile; ""
// means default_permissions, else the standalone [network] table.
func Effective(managed, user *policy.File, profile string, mode policy.SessionMode) (*policy.Effective, error) {
	if _, ok := policy.ParseSessionMode(string(mode)); !ok {
		return nil, fmt.Errorf("unknown session mode %q (want read-only, workspace-write or full-access)", mode)
	}
	var m, u *policy.Network
	if managed != nil {
		m = managed.Managed
	}
	if user != nil {
		n, err := user.UserNetwork(profile)
		if err != nil {
			return nil, err
		}
		u = n
	} else if profile != "" && !policy.IsBuiltinProfile(profile) {
		return nil, &policy.ProfileError{Profile: profile, Msg: fmt.Sprintf("profile %q is not defined (no config file)", profile)}
	}
	return Tables(m, u, mode), nil
}

// Tables merges a managed and a user network table (either may be nil) for
// a session mode: what Effective does once the files and the profile are
// resolved. lint reports what it forces and drops, table by table.
func Tables(m, u *policy.Network, mode policy.SessionMode) *policy.Effective {
	b := &builder{m: m, u: u, eff: &policy.Effective{SessionMode: mode}}
	if u != nil {
		b.eff.Dropped = append(b.eff.Dropped, u.Overridden...)
	}
	b.settings()
	b.onMiss()
	b.domains()
	b.sockets()
	b.listeners()
	return b.eff
}

type builder struct {
	m, u *policy.Network // either may be nil
	eff  *policy.Effective
}

var defaultSource = policy.Source{Origin: policy.OriginDefault}

func (b *builder) drop(what string, src policy.Source, format string, args ...any) {
	b.eff.Dropped = append(b.eff.Dropped, policy.Dropped{What: what, Source: src, Why: fmt.Sprintf(format, args...)})
}

// settings fills the scalars from the key table: ceiling keys take the
// managed value when set (a user true under a managed false is Forced),
// user keys come from the user's table, managed-only keys from the managed
// table, each else its default.
func (b *builder) settings() {
	e := b.eff
	for i := range policy.NetworkKeys {
		k := &policy.NetworkKeys[i]
		s := k.EffectiveBool(e)
		if s == nil {
			continue
		}
		switch {
		case k.Ceiling:
			*s = b.ceiling(k)
		case k.User:
			*s = orDefault(k.Bool(b.u), k.Default)
		case k.Managed:
			*s = orDefault(k.Bool(b.m), k.Default)
		}
	}

	e.Mode = policy.Setting[policy.NetworkMode]{Value: policy.ModeFull, Source: defaultSource}
	if u := b.u; u != nil && u.Mode != nil {
		m, ok := policy.ParseNetworkMode(u.Mode.Value)
		e.Mode = policy.Setting[policy.NetworkMode]{Value: m, Source: u.Mode.Source}
		if !ok {
			// Lint refuses this (NP002); should a caller merge anyway, fail
			// closed: limited lets less through than full.
			e.Mode.Value = policy.ModeLimited
			e.Mode.Note = fmt.Sprintf("unknown mode %s treated as \"limited\"", tomldoc.QuoteString(u.Mode.Value))
		}
	}

	if b.m != nil {
		if b.m.HTTPPort != nil {
			p := *b.m.HTTPPort
			e.HTTPPort = &p
		}
		if b.m.SocksPort != nil {
			p := *b.m.SocksPort
			e.SocksPort = &p
		}
	}

	// Keys a user table may not set: the file loader reads them anyway, so
	// say that they were ignored rather than letting them vanish.
	for i := range policy.NetworkKeys {
		k := &policy.NetworkKeys[i]
		if k.User || !k.Setting() {
			continue
		}
		v, src, ok := k.Value(b.u)
		if !ok {
			continue
		}
		why := "only the managed requirements file can set " + k.Name
		if k.Type == policy.TypePort {
			why = k.Name + " is a managed key; a user table sets listeners with proxy_url / socks_url"
		}
		b.drop(k.Name+" = "+v, src, "%s", why)
	}
}

// ceiling merges a managed "value and ceiling" boolean: a managed value,
// when set, is the effective value (it forces the setting on or off); a user
// true lowered to false is reported as Forced.
func (b *builder) ceiling(k *policy.KeySpec) policy.Setting[bool] {
	key := k.Name
	mv, uv := k.Bool(b.m), k.Bool(b.u)
	switch {
	case mv != nil:
		s := *mv
		if uv != nil && uv.Value && !mv.Value {
			s.Forced = true
			s.Note = fmt.Sprintf("user %s = true (%s) forced to false by the managed ceiling (%s)", key, uv.Source, mv.Source)
		} else if uv != nil && uv.Value != mv.Value {
			s.Note = fmt.Sprintf("managed value replaces user %s = %t (%s)", key, uv.Value, uv.Source)
		}
		return s
	case uv != nil:
		return *uv
	}
	return policy.Setting[bool]{Value: k.Default, Source: defaultSource}
}

func orDefault(s *policy.Setting[bool], def bool) policy.Setting[bool] {
	if s != nil {
		return *s
	}
	return policy.Setting[bool]{Value: def, Source: defaultSource}
}

// split returns the allow and deny rules of a table.
func split(n *policy.Network) (allow, deny []policy.Rule) {
	if n == nil {
		return nil, nil
	}
	for _, r := range n.Domains {
		switch r.Perm {
		case policy.Allow:
			allow = append(allow, r)
		case policy.Deny:
			deny = append(deny, r)
		}
	}
	return allow, deny
}

func ruleText(r policy.Rule) string {
	return "domains." + tomldoc.QuoteKey(r.Pattern) + " = " + tomldoc.QuoteString(r.Perm.String())
}

// domains applies the merge table of POLICY.md §3.
func (b *builder) domains() {
	e := b.eff
	A, D := split(b.m)
	U, UD := split(b.u)
	only := e.ManagedAllowedDomainsOnly.Value
	restricted := e.SessionMode.Restricted()

	e.Allow = append(e.Allow, A...)
	switch {
	case only:
		for _, r := range U {
			b.drop(ruleText(r), r.Source, "managed_allowed_domains_only = true (%s): only managed allow rules count", e.ManagedAllowedDomainsOnly.Source)
		}
	case !restricted && len(A) > 0:
		for _, r := range U {
			b.drop(ruleText(r), r.Source, "full-access session: the managed allow list is not empty, so the user's allow rules do not apply")
		}
	default:
		for _, r := range U {
			if a, ok := equalPattern(A, r.Pattern); ok {
				b.drop(ruleText(r), r.Source, "same pattern as the managed allow rule %s (%s)", tomldoc.QuoteString(a.Pattern), a.Source)
				continue
			}
			e.Allow = append(e.Allow, r)
		}
	}

	e.Deny = append(e.Deny, D...)
	if !restricted && len(D) > 0 {
		for _, r := range UD {
			b.drop(ruleText(r), r.Source, "full-access session: the managed deny list is not empty, so the user's deny rules do not apply")
		}
	} else {
		e.Deny = append(e.Deny, UD...)
	}
}

// onMiss decides what an allowlist miss becomes (POLICY.md §3, the last
// column of the merge table): denied under managed_allowed_domains_only
// (from where that setting came), else asked in a restricted session and
// denied in full access (a default of the session mode). The note says
// which.
func (b *builder) onMiss() {
	e := b.eff
	switch {
	case e.ManagedAllowedDomainsOnly.Value:
		e.OnMiss = policy.Setting[policy.OnMiss]{Value: policy.MissDeny, Source: e.ManagedAllowedDomainsOnly.Source,
			Note: "managed_allowed_domains_only = true: misses are denied, never asked"}
	case e.SessionMode.Restricted():
		e.OnMiss = policy.Setting[policy.OnMiss]{Value: policy.MissAsk, Source: defaultSource,
			Note: string(e.SessionMode) + " is a restricted session: misses are asked"}
	default:
		e.OnMiss = policy.Setting[policy.OnMiss]{Value: policy.MissDeny, Source: defaultSource,
			Note: "full-access session: misses are denied"}
	}
}

// equalPattern finds a rule whose pattern is the same string as p ignoring
// ASCII case (POLICY.md §3: "equal to an A entry, case-insensitively").
// Patterns are ASCII (lint NP023), so ASCII folding is all that is needed.
func equalPattern(rules []policy.Rule, p string) (policy.Rule, bool) {
	for _, r := range rules {
		if equalFoldASCII(r.Pattern, p) {
			return r, true
		}
	}
	return policy.Rule{}, false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// sockets applies the managed socket override: managed socket rules replace
// the user's allow entries (user none entries stay), and switch off a user's
// allow-all unless the managed file itself turns it on.
func (b *builder) sockets() {
	e := b.eff
	if b.m == nil || len(b.m.Sockets) == 0 {
		if b.u != nil {
			e.Sockets = append(e.Sockets, b.u.Sockets...)
		}
		return
	}
	first := b.m.Sockets[0].Source
	e.Sockets = append(e.Sockets, b.m.Sockets...)
	if b.u != nil {
		for _, s := range b.u.Sockets {
			if s.Perm == policy.Allow {
				b.drop("unix_sockets."+tomldoc.QuoteKey(s.Path)+" = \"allow\"", s.Source, "managed unix_sockets rules (%s) replace the user's allow sockets", first)
				continue
			}
			e.Sockets = append(e.Sockets, s)
		}
	}
	all := &e.DangerouslyAllowAllUnixSockets
	if b.m.DangerouslyAllowAllUnixSockets == nil && all.Value {
		user := all.Source
		all.Value = false
		all.Forced = true
		all.Source = first
		all.Note = fmt.Sprintf("user dangerously_allow_all_unix_sockets = true (%s) forced to false: the managed file has unix_sockets rules (%s) and does not set it", user, first)
	}
}

// listeners computes the HTTP and SOCKS5 listener addresses (POLICY.md §5):
// a managed port pins 127.0.0.1:<port>; otherwise the user's URL (scheme
// ignored) or the default; a non-loopback host is clamped to 127.0.0.1
// unless dangerously_allow_non_loopback_proxy, and always when any unix
// socket can be reached through the proxy.
func (b *builder) listeners() {
	e := b.eff
	var proxyURL, socksURL *policy.Setting[string]
	if b.u != nil {
		proxyURL, socksURL = b.u.ProxyURL, b.u.SocksURL
	}
	e.HTTPAddr = listener("proxy_url", proxyURL, e.HTTPPort, DefaultHTTPPort, e)
	if !e.EnableSocks5.Value {
		e.SocksAddr = policy.Setting[string]{Source: e.EnableSocks5.Source, Note: "no SOCKS5 listener: enable_socks5 = false"}
		return
	}
	e.SocksAddr = listener("socks_url", socksURL, e.SocksPort, DefaultSocksPort, e)
}

// ClampReason says why a non-loopback listener may not be used under e
// (POLICY.md §5), or "" when it may: dangerously_allow_non_loopback_proxy is
// off, or a unix socket can be reached through the proxy. serve applies the
// same rule to --http / --socks through ClampListener.
func ClampReason(e *policy.Effective) string {
	switch {
	case e.DangerouslyAllowAllUnixSockets.Value:
		return "forced to loopback: dangerously_allow_all_unix_sockets is on"
	case slices.ContainsFunc(e.Sockets, func(s policy.SocketRule) bool { return s.Perm == policy.Allow }):
		return "forced to loopback: a unix socket is allowed"
	case !e.DangerouslyAllowNonLoopbackProxy.Value:
		return "clamped to loopback: dangerously_allow_non_loopback_proxy is false"
	}
	return ""
}

// ClampListener applies POLICY §5 to a listener address host:port: a
// non-loopback host becomes 127.0.0.1 when ClampReason(e) gives a reason,
// which note then is. Port 0 (a free port) is accepted. The policy's
// listeners and serve's --http / --socks both go through it.
func ClampListener(addr string, e *policy.Effective) (out, note string, err error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", err
	}
	if _, ok := policy.ParsePort(portText); !ok && portText != "0" {
		return "", "", fmt.Errorf("invalid port %q", portText)
	}
	why := ClampReason(e)
	if why != "" && !(policy.Listener{Host: policy.NormalizeHost(host)}).Loopback() {
		return net.JoinHostPort(loopbackHost, portText), why, nil
	}
	return net.JoinHostPort(host, portText), "", nil
}

// listener computes one listener address of e.
func listener(key string, url *policy.Setting[string], port *policy.Setting[int], def int, e *policy.Effective) policy.Setting[string] {
	if port != nil && policy.ValidPort(port.Value) {
		s := policy.Setting[string]{Value: net.JoinHostPort(loopbackHost, strconv.Itoa(port.Value)), Source: port.Source}
		if url != nil {
			s.Note = fmt.Sprintf("managed port replaces %s %s (%s)", key, tomldoc.QuoteString(url.Value), url.Source)
		}
		return s
	}
	dflt := policy.Setting[string]{Value: net.JoinHostPort(loopbackHost, strconv.Itoa(def)), Source: defaultSource}
	if port != nil {
		dflt.Note = fmt.Sprintf("managed port %d (%s) is out of range and was ignored", port.Value, port.Source)
	}
	if url == nil {
		return dflt
	}
	l, err := policy.ParseListener(url.Value)
	if err != nil {
		dflt.Note = fmt.Sprintf("invalid %s %s (%s) ignored", key, tomldoc.QuoteString(url.Value), url.Source)
		return dflt
	}
	p := l.Port
	if p == 0 {
		p = def
	}
	s := policy.Setting[string]{Source: url.Source, Note: dflt.Note}
	addr, why, err := ClampListener(net.JoinHostPort(l.Host, strconv.Itoa(p)), e)
	if err != nil {
		dflt.Note = fmt.Sprintf("invalid %s %s (%s) ignored", key, tomldoc.QuoteString(url.Value), url.Source)
		return dflt
	}
	s.Value = addr
	if why != "" {
		s.Forced = true
		s.Note = fmt.Sprintf("%s %s %s", key, tomldoc.QuoteString(url.Value), why)
	}
	return s
}

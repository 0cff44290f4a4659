package lint

import (
	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// Listener rules: NP040, NP041, NP042.

var ruleNP040 = &Rule{
	ID:       "NP040",
	Title:    "non-loopback listener without `dangerously_allow_non_loopback_proxy` (will be clamped)",
	Severity: SevWarning,
	Scope:    ScopeFile,
	Doc: `proxy_url or socks_url names an address other than loopback (127.0.0.0/8,
::1, localhost), but the table does not set
dangerously_allow_non_loopback_proxy = true. The proxy clamps the listener to
127.0.0.1 on the same port, so the setting does not do what it says. A
proxy reachable from the network lets other machines use your allowlist;
set the dangerous flag only if that is really meant.`,
	Example: `[network]
proxy_url = "http://0.0.0.0:3128"`,
	Fixed: `[network]
proxy_url = "http://127.0.0.1:3128"`,
	Run: runNP040,
}

var ruleNP041 = &Rule{
	ID:       "NP041",
	Title:    "listener URL or port invalid (port 0 or > 65535, no host)",
	Severity: SevError,
	Scope:    ScopeFile,
	Doc: `A listener cannot be opened as written: proxy_url or socks_url does not
parse, has no host, or has a port that is not 1–65535 in plain decimal; or
the managed http_port / socks_port is outside 1–65535. (To pick a free port
in tests, use serve --http 127.0.0.1:0; a policy file names a fixed port.)`,
	Example: `[network]
proxy_url = "http://127.0.0.1:0"`,
	Fixed: `[network]
proxy_url = "http://127.0.0.1:3128"`,
	Run: runNP041,
}

var ruleNP042 = &Rule{
	ID:       "NP042",
	Title:    "`enable_socks5_udp = true`: UDP ASSOCIATE is not supported by `serve`",
	Severity: SevInfo,
	Scope:    ScopeFile,
	Doc: `enable_socks5_udp is accepted for compatibility, but netpolicy serve does
not relay UDP: a SOCKS5 UDP ASSOCIATE request is answered with reply 0x07
(command not supported). Clients that need UDP through the proxy will fail.`,
	Example: `[network]
enable_socks5_udp = true`,
	Fixed: `[network]
enable_socks5_udp = false`,
	Run: runNP042,
}

var ruleNP043 = &Rule{
	ID:       "NP043",
	Title:    "`mitm = true` in a table whose `mode` is not `limited`: interception only happens in limited mode",
	Severity: SevInfo,
	Scope:    ScopeFile,
	Doc: `mitm = true asks serve to intercept HTTPS so that limited mode can check
the method of each request inside a CONNECT or SOCKS5 tunnel. In full mode
every method is allowed anyway, so serve never intercepts there: the key
has no effect unless the table's mode (for a profile, after extends) is
"limited".`,
	Example: `[network]
mode = "full"
mitm = true`,
	Fixed: `[network]
mode = "limited"
mitm = true`,
	Run: runNP043,
}

// listenerKeys are the user listener settings.
var listenerKeys = []string{"proxy_url", "socks_url"}

// listenerURL returns the string value of a listener key of n.
func listenerURL(n *policy.Network, key string) (*tomldoc.Entry, string, bool) {
	e := n.Table.Get(key)
	if e == nil || e.Value.Kind != tomldoc.KindString {
		return nil, "", false
	}
	return e, e.Value.Str, true
}

func runNP040(p *Pass) {
	f := p.File
	owner := map[*policy.Network]string{} // a profile's network table → the profile
	for _, pr := range f.Profiles {
		if pr.Network != nil {
			owner[pr.Network] = pr.Name
		}
	}
	for _, n := range networkTables(f) {
		if isManaged(n) || nonLoopbackAllowed(f, n, owner) {
			continue
		}
		for _, key := range listenerKeys {
			e, s, ok := listenerURL(n, key)
			if !ok {
				continue
			}
			l, err := policy.ParseListener(s)
			if err != nil || l.Loopback() {
				continue
			}
			p.Reportf(f, e.KeySpan, nil, "%s %q listens on non-loopback %s without dangerously_allow_non_loopback_proxy = true; it will be clamped to 127.0.0.1",
				key, s, l.Host)
		}
	}
}

// nonLoopbackAllowed reports whether n (with what its profile, owner[n],
// inherits through extends) sets dangerously_allow_non_loopback_proxy = true.
func nonLoopbackAllowed(f *policy.File, n *policy.Network, owner map[*policy.Network]string) bool {
	if s := n.DangerouslyAllowNonLoopbackProxy; s != nil {
		return s.Value
	}
	if name, ok := owner[n]; ok {
		if eff, err := f.InheritedSettings(name); err == nil && eff != nil {
			if s := eff.DangerouslyAllowNonLoopbackProxy; s != nil {
				return s.Value
			}
		}
	}
	return false
}

func runNP041(p *Pass) {
	f := p.File
	for _, n := range networkTables(f) {
		if isManaged(n) {
			for _, key := range []string{"http_port", "socks_port"} {
				e := n.Table.Get(key)
				if e == nil || e.Value.Kind != tomldoc.KindInteger {
					continue
				}
				if v := e.Value.Int; v != int64(int(v)) || !policy.ValidPort(int(v)) {
					p.Reportf(f, e.KeySpan, nil, "%s = %s is not a port: want 1–65535", key, e.Value.Str)
				}
			}
			continue
		}
		for _, key := range listenerKeys {
			e, s, ok := listenerURL(n, key)
			if !ok {
				continue
			}
			if _, err := policy.ParseListener(s); err != nil {
				p.Reportf(f, e.KeySpan, nil, "%s %q is not a usable listener: %v", key, s, err)
			}
		}
	}
}

func runNP042(p *Pass) {
	for _, n := range networkTables(p.File) {
		if s := n.EnableSocks5UDP; s != nil && s.Value {
			sp := keySpan(n.Table, "enable_socks5_udp")
			p.Reportf(p.File, sp, nil, "enable_socks5_udp = true has no effect: serve answers SOCKS5 UDP ASSOCIATE with 0x07 (not supported)")
		}
	}
}

func runNP043(p *Pass) {
	f := p.File
	check := func(n, resolved *policy.Network) {
		if n == nil || n.MITM == nil || !n.MITM.Value || isManaged(n) {
			return
		}
		mode := "full"
		if resolved != nil && resolved.Mode != nil {
			mode = resolved.Mode.Value
		}
		if mode == "limited" {
			return
		}
		sp := keySpan(n.Table, "mitm")
		p.Reportf(f, sp, nil, "mitm = true has no effect: %s has mode %q, and only limited mode intercepts HTTPS", tableLabel(n), mode)
	}
	check(f.Network, f.Network)
	for _, pr := range f.Profiles {
		resolved := pr.Network
		if r, err := f.InheritedSettings(pr.Name); err == nil && r != nil {
			resolved = r
		}
		check(pr.Network, resolved)
	}
}

package lint

import (
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

func init() { Register(ruleNP040, ruleNP041, ruleNP042) }

// listenerKeys are the user listener settings.
var listenerKeys = []string{"proxy_url", "socks_url"}

// listenerURL returns the string value of a listener key of n.
func listenerURL(n *policy.Network, key string) (*policy.Entry, string, bool) {
	e := n.Table.Get(key)
	if e == nil || e.Value.Kind != policy.KindString {
		return nil, "", false
	}
	return e, e.Value.Str, true
}

func runNP040(p *Pass) {
	f := p.File
	for _, n := range networkTables(f) {
		if isManaged(n) || nonLoopbackAllowed(f, n) {
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

// nonLoopbackAllowed reports whether n (with what its profile inherits
// through extends) sets dangerously_allow_non_loopback_proxy = true.
func nonLoopbackAllowed(f *policy.File, n *policy.Network) bool {
	if s := n.DangerouslyAllowNonLoopbackProxy; s != nil {
		return s.Value
	}
	for _, pr := range f.Profiles {
		if pr.Network != n {
			continue
		}
		if eff, err := f.UserNetwork(pr.Name); err == nil && eff != nil {
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
				if e == nil || e.Value.Kind != policy.KindInteger {
					continue
				}
				if v := e.Value.Int; v < 1 || v > 65535 {
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
			sp, _ := keySpan(n.Table, "enable_socks5_udp")
			p.Reportf(p.File, sp, nil, "enable_socks5_udp = true has no effect: serve answers SOCKS5 UDP ASSOCIATE with 0x07 (not supported)")
		}
	}
}

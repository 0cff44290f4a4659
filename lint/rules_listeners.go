package lint

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

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

// listener is a parsed proxy_url / socks_url.
type listener struct {
	host string // as written, without brackets
	err  string // why the URL is invalid, "" when it is fine
}

// parseListener reads a listener URL. The scheme is ignored (socks_url is
// often written http://); a value without "://" is read as host:port. A
// missing port is fine (the default applies).
func parseListener(s string) listener {
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return listener{err: err.Error()}
		}
		hostport = u.Host
	}
	host, _, _, err := policy.SplitHostPort(hostport)
	if err != nil {
		return listener{err: err.Error()}
	}
	if strings.TrimSpace(host) == "" {
		return listener{err: "no host"}
	}
	return listener{host: host}
}

// isLoopback reports whether a listener host is a loopback address or
// localhost.
func isLoopback(host string) bool {
	norm := policy.NormalizeHost(host)
	if norm == "localhost" {
		return true
	}
	a, ok := policy.ParseHostIP(norm)
	return ok && a.WithZone("").Unmap().IsLoopback()
}

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
			l := parseListener(s)
			if l.err != "" || isLoopback(l.host) {
				continue
			}
			p.Reportf(f, e.KeySpan, nil, "%s %q listens on non-loopback %s without dangerously_allow_non_loopback_proxy = true; it will be clamped to 127.0.0.1",
				key, s, l.host)
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
			if l := parseListener(s); l.err != "" {
				p.Reportf(f, e.KeySpan, nil, "%s", fmt.Sprintf("%s %q is not a usable listener: %s", key, s, l.err))
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

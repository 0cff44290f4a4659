package policy

import (
	"errors"
	"strings"
)

// Listener is a parsed proxy_url / socks_url value.
type Listener struct {
	// Host is normalised; an IP literal is in its canonical form.
	Host string
	// Port is 0 when the URL names none (the default port applies).
	Port int
}

// ParseListener reads a proxy_url / socks_url value: an optional
// "scheme://" (ignored: socks_url is often written http://), optional
// userinfo, host[:port], then an optional path, query or fragment (ignored).
// lint reports the error (NP041); merge falls back to the default listener.
func ParseListener(s string) (Listener, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	h, p, _, err := SplitHostPort(s)
	if err != nil {
		return Listener{}, err
	}
	h = NormalizeHost(h)
	if h == "" {
		return Listener{}, errors.New("no host")
	}
	if a, isIP := ParseHostIP(h); isIP {
		h = a.String()
	}
	return Listener{Host: h, Port: p}, nil
}

// Loopback reports whether the listener binds only to loopback: localhost
// or a loopback address.
func (l Listener) Loopback() bool {
	if l.Host == "localhost" {
		return true
	}
	a, ok := ParseHostIP(l.Host)
	return ok && a.WithZone("").Unmap().IsLoopback()
}

package policy

import (
	"errors"
	"net/netip"
	"strings"
	"unicode"
)

// NormalizeHost returns the canonical form of a request host or pattern body
// (POLICY §2.1): white space trimmed, brackets or a port removed, ASCII
// letters lowercased, trailing dots stripped and a "%25" scope escape decoded.
//
// It never fails: text that is not a host comes back normalised as far as the
// rules go, and an empty result means "no host". The result is idempotent:
// NormalizeHost(NormalizeHost(s)) == NormalizeHost(s).
func NormalizeHost(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 0 && s[0] == '[' {
		if j := strings.IndexByte(s, ']'); j > 0 {
			// The text between the brackets; whatever follows "]" (a port)
			// is dropped. The inner text goes through the same steps as an
			// unbracketed host, which keeps the function idempotent even for
			// junk such as "[a:b]".
			s = strings.TrimSpace(s[1:j])
		}
	}
	if strings.Count(s, ":") == 1 {
		s = s[:strings.IndexByte(s, ':')]
	}
	s = strings.TrimRightFunc(s, isDotOrSpace)
	s = lowerASCII(s)
	return decodeZone(s)
}

func isDotOrSpace(r rune) bool { return r == '.' || unicode.IsSpace(r) }

// lowerASCII lowercases A–Z only, and allocates only when it has to.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// decodeZone turns the URI escape "%25" that introduces an IPv6 scope id
// (RFC 6874) into a plain "%". A zone that still starts with "25" after one
// decoding is decoded again, as long as something is left after it: that
// keeps normalisation idempotent ("%2525x" → "%x", while a zone that is
// exactly "25" stays).
func decodeZone(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 || strings.IndexByte(s[:i], ':') < 0 {
		return s
	}
	zone := s[i+1:]
	z := zone
	for len(z) > 2 && z[0] == '2' && z[1] == '5' {
		z = z[2:]
	}
	if len(z) == len(zone) {
		return s
	}
	return s[:i+1] + z
}

// SplitHostPort splits a request target or CONNECT authority into host and
// port. An IPv6 host must be bracketed when a port follows ("[::1]:443"); a
// bare IPv6 address without brackets is returned whole, with no port. The
// port must be decimal digits without sign or leading zero, 1–65535. An empty
// port after ":" counts as no port. The host is returned as written (without
// brackets): pass it to NormalizeHost before deciding.
func SplitHostPort(s string) (host string, port int, hasPort bool, err error) {
	var portText string
	colon := false
	if strings.HasPrefix(s, "[") {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return "", 0, false, errors.New("missing ']' in host")
		}
		host = s[1:j]
		rest := s[j+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, false, errors.New("unexpected text after ']' in host")
			}
			colon, portText = true, rest[1:]
		}
		if a, err := netip.ParseAddr(decodeZone(lowerASCII(host))); err != nil || !a.Is6() {
			return "", 0, false, errors.New("brackets must hold an IPv6 address")
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
			host = s
		case 1:
			i := strings.IndexByte(s, ':')
			host, colon, portText = s[:i], true, s[i+1:]
		default:
			if a, err := netip.ParseAddr(decodeZone(lowerASCII(s))); err != nil || !a.Is6() {
				return "", 0, false, errors.New("too many colons in host")
			}
			return s, 0, false, nil
		}
	}
	if !colon || portText == "" {
		return host, 0, false, nil
	}
	p, ok := ParsePort(portText)
	if !ok {
		return "", 0, false, errors.New("invalid port " + portQuote(portText) + ": want 1-65535, decimal digits only")
	}
	return host, p, true, nil
}

// ParsePort accepts 1–65535 written as plain decimal digits with no leading
// zero (net.SplitHostPort would let "+443" and "0443" through).
func ParsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, ValidPort(n)
}

// ValidPort reports whether p is a TCP port a request or listener may name:
// 1–65535.
func ValidPort(p int) bool { return p >= 1 && p <= 65535 }

// Errors of ParseTarget.
var (
	ErrMissingHost = errors.New("missing host")
	ErrInvalidHost = errors.New("invalid host")
	ErrMissingPort = errors.New("missing port")
)

// ParseTarget reads a request's target authority ("host", "host:port",
// "[v6]:port") as the proxy and `check` take it: the host as written
// (without brackets; NormalizeHost it before deciding) and the port, which
// is defaultPort when the authority names none. defaultPort 0 makes the port
// required (CONNECT). A host that is neither an IP literal nor an ASCII DNS
// name (ValidHost) is refused here, before any decision: the error is then
// ErrMissingHost or ErrInvalidHost with the host still returned; a bad port
// or shape gives SplitHostPort's error.
func ParseTarget(authority string, defaultPort int) (host string, port int, err error) {
	if authority == "" {
		return "", 0, ErrMissingHost
	}
	host, port, hasPort, err := SplitHostPort(authority)
	if err != nil {
		return "", 0, err
	}
	switch norm := NormalizeHost(host); {
	case norm == "":
		return host, 0, ErrMissingHost
	case !ValidHost(norm):
		return host, 0, ErrInvalidHost
	}
	if !hasPort {
		if defaultPort == 0 {
			return host, 0, ErrMissingPort
		}
		port = defaultPort
	}
	return host, port, nil
}

func portQuote(s string) string {
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return `"` + s + `"`
}

// ParseIPv4Literal reads the IPv4 spellings inet_aton accepts: one to four
// dot-separated parts, each decimal, hexadecimal ("0x…") or octal (leading
// "0"), where the last part fills all remaining bytes ("127.1",
// "2130706433", "0x7f.1", "0177.0.0.1"). Anything else, including names like
// "a.example" or "1.2.3.4.5", is not an IPv4 literal.
func ParseIPv4Literal(s string) (netip.Addr, bool) {
	var parts [4]uint64
	n := 0
	for {
		i := strings.IndexByte(s, '.')
		p := s
		if i >= 0 {
			p = s[:i]
		}
		if n == len(parts) {
			return netip.Addr{}, false
		}
		v, ok := parseAtonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	// The last part fills the bytes that are left; the ones before it are
	// single bytes.
	for i := 0; i < n-1; i++ {
		if parts[i] > 0xff {
			return netip.Addr{}, false
		}
	}
	last := parts[n-1]
	if last >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	var v uint32
	for i := 0; i < n-1; i++ {
		v |= uint32(parts[i]) << (24 - 8*i)
	}
	v |= uint32(last)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseAtonPart reads one part of an inet_aton address; it rejects empty
// parts, stray characters and values above 32 bits.
func parseAtonPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(p) > 1 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
		if p == "" {
			return 0, false
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	var v uint64
	for i := 0; i < len(p); i++ {
		c := p[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

// ParseHostIP reports whether an already normalised host is an IP literal:
// an IPv6 address (zone kept), a dotted quad, or one of the other numeric
// IPv4 spellings ParseIPv4Literal accepts. The address is returned as written
// (an IPv4-mapped IPv6 address stays mapped; classify with IsPublic).
func ParseHostIP(norm string) (addr netip.Addr, ok bool) {
	if norm == "" {
		return netip.Addr{}, false
	}
	if strings.IndexByte(norm, ':') >= 0 {
		a, err := netip.ParseAddr(norm)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a, true
	}
	// Every inet_aton part starts with a digit; this keeps names cheap.
	if c := norm[0]; c < '0' || c > '9' {
		return netip.Addr{}, false
	}
	return ParseIPv4Literal(norm)
}

// HostAddrs returns the addresses a normalised host stands for without any
// DNS, as Decide checks them: an IP literal's own address (ParseHostIP), or
// 127.0.0.1 and ::1 for localhost. ok is false for any other name.
func HostAddrs(norm string) (addrs []netip.Addr, ok bool) {
	if a, ok := ParseHostIP(norm); ok {
		return []netip.Addr{a}, true
	}
	if norm == "localhost" {
		return localhostAddrs(), true
	}
	return nil, false
}

// localhostAddrs are the addresses localhost is checked as.
func localhostAddrs() []netip.Addr { return []netip.Addr{loopback4, loopback6} }

// ValidHost reports whether a normalised request host is one to act on: an
// IP literal (any spelling ParseHostIP reads), or an ASCII DNS name — labels
// of letters, digits, '-' and '_', 1 to 63 bytes each, 253 bytes in all.
// Anything else may mean one thing to the policy and another to a resolver
// or an upstream proxy: IDNA maps "ｂlocked.example" to "blocked.example",
// and CR LF in a SOCKS5 name would become header lines of an upstream
// proxy's CONNECT. No such name can be resolved anyway, so refusing it
// costs nothing.
func ValidHost(norm string) bool {
	if _, ok := ParseHostIP(norm); ok {
		return true
	}
	if norm == "" || len(norm) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(norm); i++ {
		switch c := norm[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	return label > 0
}

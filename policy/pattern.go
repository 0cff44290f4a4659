package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// PatternKind says what a domain pattern matches (POLICY §2.2).
type PatternKind uint8

const (
	// PatternExact matches one host name.
	PatternExact PatternKind = iota
	// PatternIP matches one IP literal (a scoped pattern only that scope).
	PatternIP
	// PatternSubdomains is "*.x": every name below x, not x itself.
	PatternSubdomains
	// PatternApexAndSubdomains is "**.x": x and every name below it.
	PatternApexAndSubdomains
	// PatternGlobal matches every host ("*", "**.*", "*.*", "[*]"…).
	PatternGlobal
	// PatternGlob has a "*" inside a label, or a wildcard label that is not
	// a plain "*." / "**." prefix ("edge*.cdn.example.net", "x.*.example.com").
	PatternGlob
)

// String names the kind, for messages and tests.
func (k PatternKind) String() string {
	switch k {
	case PatternExact:
		return "exact"
	case PatternIP:
		return "ip"
	case PatternSubdomains:
		return "subdomains"
	case PatternApexAndSubdomains:
		return "apex-and-subdomains"
	case PatternGlobal:
		return "global"
	case PatternGlob:
		return "glob"
	}
	return "invalid"
}

// How many labels a wildcard pattern's leading "*." or "**." stands for.
const (
	leadNone      uint8 = iota // no wildcard prefix: label counts must agree
	leadOneOrMore              // "*.": at least one more label
	leadAny                    // "**.": zero or more labels
)

// Pattern is a parsed domain pattern. It is a small comparable value; the
// zero Pattern matches nothing.
type Pattern struct {
	// Raw is the key as written in the file.
	Raw string
	// Norm is the normalised pattern (NormalizeHost of Raw).
	Norm string
	// Kind says what the pattern matches.
	Kind PatternKind
	// Addr is the address of a PatternIP, zone kept.
	Addr netip.Addr
	// Suffix is, for PatternSubdomains and PatternApexAndSubdomains, the part
	// after "*." or "**."; for PatternGlob, the labels to the right of the
	// last wildcard label (possibly empty). Empty for other kinds.
	Suffix string

	lead     uint8  // wildcard prefix of Subdomains, ApexAndSubdomains and Glob
	body     string // the labels after the prefix (Norm without "*." / "**.")
	nonASCII bool
}

// PatternError says why a domain pattern is invalid (lint NP020).
type PatternError struct {
	Pattern string // as written
	Reason  string
}

// Error formats the pattern and the reason together.
func (e *PatternError) Error() string {
	return fmt.Sprintf("invalid domain pattern %q: %s", e.Pattern, e.Reason)
}

func patternErr(raw, format string, args ...any) error {
	return &PatternError{Pattern: raw, Reason: fmt.Sprintf(format, args...)}
}

// GlobalDenyMessage is the error text for a global wildcard used as a deny
// rule (POLICY §2.2, lint NP021).
func GlobalDenyMessage(raw string) string {
	return fmt.Sprintf("unsupported global wildcard domain pattern %q; use exact hosts or scoped wildcards like *.example.com or **.example.com", raw)
}

// ParsePattern parses and validates a domain pattern as written in a
// domains map. Non-ASCII letters are not an error here (see NonASCII; lint
// NP023 reports them); a port is accepted and ignored (see HasPort).
func ParsePattern(raw string) (Pattern, error) {
	if err := checkRawSyntax(raw); err != nil {
		return Pattern{}, err
	}
	norm := NormalizeHost(raw)
	p := Pattern{Raw: raw, Norm: norm}
	if norm == "" {
		return Pattern{}, patternErr(raw, "empty pattern")
	}
	if strings.IndexByte(norm, ':') >= 0 {
		a, err := netip.ParseAddr(norm)
		if err != nil || !a.Is6() {
			if strings.IndexByte(norm, '*') >= 0 {
				return Pattern{}, patternErr(raw, "wildcards are not supported in IP addresses")
			}
			return Pattern{}, patternErr(raw, "invalid IPv6 literal %q", norm)
		}
		if z := a.Zone(); z != "" {
			for i := 0; i < len(z); i++ {
				if !isZoneByte(z[i]) {
					return Pattern{}, patternErr(raw, "invalid character %q in IPv6 scope id", string(rune(z[i])))
				}
			}
		}
		p.Kind, p.Addr = PatternIP, a
		return p, nil
	}
	for i := 0; i < len(norm); {
		c := norm[i]
		if c < utf8.RuneSelf {
			if !isPatternByte(c) {
				return Pattern{}, patternErr(raw, "%s", badCharReason(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(norm[i:])
		if r == utf8.RuneError && size == 1 {
			return Pattern{}, patternErr(raw, "not valid UTF-8")
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsPrint(r) {
			return Pattern{}, patternErr(raw, "invalid character %q", r)
		}
		p.nonASCII = true
		i += size
	}
	if strings.HasPrefix(norm, ".") || strings.Contains(norm, "..") {
		return Pattern{}, patternErr(raw, "empty label")
	}
	if isGlobalNorm(norm) {
		p.Kind = PatternGlobal
		return p, nil
	}
	if strings.IndexByte(norm, '*') < 0 {
		if a, ok := ParseHostIP(norm); ok {
			p.Kind, p.Addr = PatternIP, a
			return p, nil
		}
		p.Kind = PatternExact
		p.body = norm
		return p, nil
	}

	first, rest, _ := strings.Cut(norm, ".")
	switch first {
	case "*":
		p.lead, p.body = leadOneOrMore, rest
	case "**":
		p.lead, p.body = leadAny, rest
	default:
		p.lead, p.body = leadNone, norm
	}
	if strings.Contains(p.body, "**") {
		return Pattern{}, patternErr(raw, `"**" is only supported as a whole first label ("**.example.com")`)
	}
	if p.lead != leadNone && p.body == "" {
		// "*." alone normalises to "*" and is global; this is unreachable
		// but keeps the invariant that a prefix has something after it.
		return Pattern{}, patternErr(raw, "empty label")
	}
	if strings.IndexByte(p.body, '*') < 0 {
		p.Suffix = p.body
		if p.lead == leadOneOrMore {
			p.Kind = PatternSubdomains
		} else {
			p.Kind = PatternApexAndSubdomains
		}
		return p, nil
	}
	p.Kind = PatternGlob
	p.Suffix = literalTail(p.body)
	return p, nil
}

// checkRawSyntax rejects bracket misuse, which normalisation would hide:
// "[ab]c.example.com" must not silently become "ab".
func checkRawSyntax(raw string) error {
	s := strings.TrimSpace(raw)
	if !strings.HasPrefix(s, "[") {
		if strings.ContainsAny(s, "[]") {
			return patternErr(raw, `"[" and "]" are only allowed around an IPv6 literal`)
		}
		return checkPort(raw, s)
	}
	j := strings.IndexByte(s, ']')
	if j < 0 {
		return patternErr(raw, `missing "]"`)
	}
	inner, after := strings.TrimSpace(s[1:j]), s[j+1:]
	switch {
	case inner == "" || strings.Trim(inner, "*") == "":
		// "[]" is reported as empty by the caller, "[*]" is global.
	case strings.IndexByte(inner, ':') < 0 || strings.IndexByte(inner, '[') >= 0:
		return patternErr(raw, `"[" and "]" are only allowed around an IPv6 literal`)
	default:
		if a, err := netip.ParseAddr(decodeZone(lowerASCII(inner))); err != nil || !a.Is6() {
			if strings.IndexByte(inner, '*') >= 0 {
				return patternErr(raw, "wildcards are not supported in IP addresses")
			}
			return patternErr(raw, "invalid IPv6 literal %q", inner)
		}
	}
	if after != "" {
		if after[0] != ':' {
			return patternErr(raw, `unexpected text after "]"`)
		}
		if _, ok := ParsePort(after[1:]); !ok {
			return patternErr(raw, "invalid port %s", portQuote(after[1:]))
		}
	}
	return nil
}

// checkPort validates the port of an unbracketed pattern with exactly one
// colon; the port is ignored, but "example.com:http" is a typo worth an error.
func checkPort(raw, s string) error {
	if strings.Count(s, ":") != 1 {
		return nil
	}
	port := s[strings.IndexByte(s, ':')+1:]
	if _, ok := ParsePort(port); !ok {
		return patternErr(raw, "invalid port %s", portQuote(port))
	}
	return nil
}

func isPatternByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '*'
}

func isZoneByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

func badCharReason(c byte) string {
	switch c {
	case '?', '{', '}', '[', ']':
		return fmt.Sprintf("%q is not pattern syntax (only \"*\" is a wildcard)", string(rune(c)))
	case '/':
		return `"/" is not allowed: a pattern is a host, not a URL`
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return "white space inside the pattern"
	case '%':
		return `"%" is only allowed in the scope id of an IPv6 literal`
	}
	return fmt.Sprintf("invalid character %q", string(rune(c)))
}

// isGlobalNorm reports whether every label is made of "*" only: such a
// pattern is written to match every host.
func isGlobalNorm(norm string) bool {
	for _, l := range strings.Split(norm, ".") {
		if l == "" || strings.Trim(l, "*") != "" {
			return false
		}
	}
	return true
}

// literalTail returns the labels to the right of the last label holding a
// "*" ("edge*.cdn.example.net" → "cdn.example.net").
func literalTail(body string) string {
	i := strings.LastIndexByte(body, '*')
	j := strings.IndexByte(body[i:], '.')
	if j < 0 {
		return ""
	}
	return body[i+j+1:]
}

// IsGlobal reports whether p matches every host.
func (p Pattern) IsGlobal() bool { return p.Kind == PatternGlobal }

// HasWildcard reports whether p contains a "*" (global patterns included).
// A wildcard pattern never explicitly allows a local address.
func (p Pattern) HasWildcard() bool {
	switch p.Kind {
	case PatternSubdomains, PatternApexAndSubdomains, PatternGlobal, PatternGlob:
		return true
	}
	return false
}

// NonASCII reports whether the pattern holds non-ASCII characters. Such a
// pattern only matches the same non-ASCII text, never its punycode form.
func (p Pattern) NonASCII() bool { return p.nonASCII }

// Match reports whether p matches a host already normalised by NormalizeHost.
// IP hosts (in any IPv4 spelling) match IP patterns by address, so a scoped
// host matches the unscoped pattern; wildcard patterns see an IPv4 host as
// its canonical dotted quad and never match an IPv6 host.
func (p Pattern) Match(normHost string) bool {
	if normHost == "" {
		return false
	}
	switch p.Kind {
	case PatternGlobal:
		return true
	case PatternExact:
		return normHost == p.Norm
	case PatternIP:
		a, ok := ParseHostIP(normHost)
		if !ok {
			return false
		}
		if p.Addr.Zone() != "" {
			return scopedKey(a) == scopedKey(p.Addr)
		}
		return unscopedKey(a) == unscopedKey(p.Addr)
	case PatternSubdomains, PatternApexAndSubdomains, PatternGlob:
		text, ok := wildcardText(normHost)
		if !ok {
			return false
		}
		if p.Kind == PatternGlob {
			return matchGlob(p.lead, p.body, text)
		}
		if text == p.body {
			return p.Kind == PatternApexAndSubdomains
		}
		return len(text) > len(p.body) && strings.HasSuffix(text, p.body) && text[len(text)-len(p.body)-1] == '.'
	}
	return false
}

// wildcardText is the text wildcard patterns are matched against: the host
// itself for a name, the canonical dotted quad for an IPv4 literal in any
// spelling (so "10.1" cannot slip past "10.0.0.*"), nothing for IPv6.
func wildcardText(norm string) (string, bool) {
	a, ok := ParseHostIP(norm)
	if !ok {
		return norm, true
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String(), true
	}
	return "", false
}

// scopedKey and unscopedKey are the map keys of IP rules: IPv4-mapped IPv6
// addresses compare as their IPv4 address (they reach the same host).
func scopedKey(a netip.Addr) netip.Addr {
	if a.Zone() == "" {
		return a.Unmap()
	}
	return a
}

func unscopedKey(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// matchGlob matches host against body's labels from the right, then checks
// the labels left over against the prefix: none, at least one, or any.
func matchGlob(lead uint8, body, host string) bool {
	b, h := body, host
	bMore, hMore := true, true
	for bMore {
		if !hMore {
			return false
		}
		var bl, hl string
		b, bl, bMore = cutLastLabel(b)
		h, hl, hMore = cutLastLabel(h)
		if !matchLabel(bl, hl) {
			return false
		}
	}
	switch lead {
	case leadNone:
		return !hMore
	case leadOneOrMore:
		return hMore
	}
	return true
}

func cutLastLabel(s string) (rest, label string, more bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// matchLabel matches one label against a label pattern in which "*" stands
// for any run of characters (labels hold no dots, so it never crosses one).
func matchLabel(p, s string) bool {
	i := strings.IndexByte(p, '*')
	if i < 0 {
		return p == s
	}
	if !strings.HasPrefix(s, p[:i]) {
		return false
	}
	s, p = s[i:], p[i+1:]
	for {
		j := strings.IndexByte(p, '*')
		if j < 0 {
			return strings.HasSuffix(s, p)
		}
		k := strings.Index(s, p[:j])
		if k < 0 {
			return false
		}
		s, p = s[k+j:], p[j+1:]
	}
}

// HasPort reports whether a pattern as written carries a port that
// StripPort may remove ("example.com:8443", "[::1]:8080"): lint NP022. A
// port that is not 1-65535 in digits ("example.com:http") makes the pattern
// invalid instead (NP020), and stripping it would turn a rule the proxy
// skips into one it applies, so it does not count.
func HasPort(raw string) bool {
	if _, _, ok := portSpan(raw); !ok {
		return false
	}
	_, _, ok, err := SplitHostPort(strings.TrimSpace(raw))
	return ok && err == nil
}

// StripPort removes the port from a pattern as written and keeps the rest of
// its spelling ("Example.com:8443" → "Example.com", "[::1]:8080" → "[::1]").
func StripPort(raw string) string {
	i, j, ok := portSpan(raw)
	if !ok {
		return raw
	}
	return raw[:i] + raw[j:]
}

// portSpan finds the ":port" of raw as byte offsets [i, j).
func portSpan(raw string) (i, j int, ok bool) {
	start := len(raw) - len(strings.TrimLeftFunc(raw, unicode.IsSpace))
	end := len(strings.TrimRightFunc(raw, unicode.IsSpace))
	if start >= end {
		return 0, 0, false
	}
	s := raw[start:end]
	if s[0] == '[' {
		k := strings.IndexByte(s, ']')
		if k < 0 || k+1 >= len(s) || s[k+1] != ':' {
			return 0, 0, false
		}
		return start + k + 1, end, true
	}
	if strings.Count(s, ":") != 1 {
		return 0, 0, false
	}
	return start + strings.IndexByte(s, ':'), end, true
}

// ToPunycode converts the non-ASCII labels of a pattern as written to their
// IDNA (punycode) form and keeps every other label, wildcards included, as
// written: "*.bücher.example" → "*.xn--bcher-kva.example" (lint NP023).
func ToPunycode(raw string) (string, error) {
	labels := strings.Split(raw, ".")
	for i, l := range labels {
		if IsASCII(l) {
			continue
		}
		if strings.IndexByte(l, '*') >= 0 {
			return "", fmt.Errorf("cannot convert %q to punycode: label %q mixes a wildcard with non-ASCII characters", raw, l)
		}
		lead := len(l) - len(strings.TrimLeftFunc(l, unicode.IsSpace))
		trail := len(strings.TrimRightFunc(l, unicode.IsSpace))
		if lead >= trail {
			return "", fmt.Errorf("cannot convert %q to punycode: empty label", raw)
		}
		a, err := idna.Lookup.ToASCII(l[lead:trail])
		if err != nil {
			return "", fmt.Errorf("cannot convert %q to punycode: %v", raw, err)
		}
		labels[i] = l[:lead] + a + l[trail:]
	}
	return strings.Join(labels, "."), nil
}

// IsASCII reports whether s holds only ASCII: a pattern that does not is
// matched by nothing until written in punycode (lint NP023).
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FixedPattern returns a domain pattern as the NP022 and NP023 fixes write
// it: without its port, and with non-ASCII labels in punycode. When a label
// has no punycode form (or it would make a valid pattern invalid), it
// returns the pattern without its port and the error.
func FixedPattern(raw string) (string, error) {
	s := raw
	if HasPort(s) {
		s = StripPort(s)
	}
	if IsASCII(s) {
		return s, nil
	}
	p, err := ToPunycode(s)
	if err != nil {
		return s, err
	}
	// IDNA maps some characters to nothing; a fix must not turn a pattern
	// the proxy reads into one it skips.
	if _, perr := ParsePattern(p); perr != nil {
		if _, rerr := ParsePattern(raw); rerr == nil {
			return s, fmt.Errorf("cannot convert %q to punycode: the result %q is not a valid pattern", s, p)
		}
	}
	return p, nil
}

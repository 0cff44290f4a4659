package policy

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var hostSeeds = []string{
	"Example.COM.", "  ExAmPlE.CoM  ", "\texample.com\n", "LOCALHOST", "BÜCHER.Example",
	"example.com:1234", "example.com.:443", "127.0.0.1:8080", "localhost:3000",
	"example.com...", "LOCALHOST.", "127.0.0.1.", "[::1]", "[::1]:443",
	"[2001:DB8::1]:8443", "[::ffff:127.0.0.1]:80", "2001:db8::1", "::1", "fe80::1%lo0",
	"[fe80::1%lo0]", "[fe80::1%25lo0]", "fe80::1%25lo0", "[fd00::1%25eth0]:8080",
	"", "   ", ".", "...", "[]", "*.Example.COM.", "**.Example.COM.", "example.com:8443",
	"[*]", " * ", "2130706433", "0x7f.1", "127.1", "0177.0.0.1", "0", "10.1",
	"fe80::1%2525x", "[[a:b]", "[a:b]", "a. . ", "[ ::1 ]:80",
}

// FuzzNormalizeHost: normalisation never panics, is idempotent, and leaves
// no surrounding space, trailing dot or ASCII capital.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range hostSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeHost(s)
		if again := NormalizeHost(n); again != n {
			t.Fatalf("not idempotent: %q → %q → %q", s, n, again)
		}
		if strings.TrimSpace(n) != n || strings.HasSuffix(n, ".") {
			t.Fatalf("%q → %q: surrounding space or trailing dot left", s, n)
		}
		if strings.IndexFunc(n, func(r rune) bool { return r < unicode.MaxASCII && unicode.IsUpper(r) }) >= 0 {
			t.Fatalf("%q → %q: ASCII capital left", s, n)
		}
		// Parsing an IP out of any normalised host must not panic either.
		if a, ok := ParseHostIP(n); ok {
			IsPublic(a)
			IsUnspecified(a)
		}
	})
}

// refMatch is a reference matcher written from POLICY §2.2 alone: a linear
// reading of the normalised pattern turned into a regular expression, with
// no suffix maps and no label walking.
func refMatch(p Pattern, host string) bool {
	h := NormalizeHost(host)
	if h == "" {
		return false
	}
	labels := strings.Split(p.Norm, ".")
	global := true
	for _, l := range labels {
		if l == "" || strings.Trim(l, "*") != "" {
			global = false
		}
	}
	if global {
		return true
	}
	// IP patterns compare addresses; a scoped pattern wants the same scope,
	// an unscoped one ignores the host's scope. IPv4-mapped = IPv4.
	if pa, err := netip.ParseAddr(p.Norm); err == nil || p.Kind == PatternIP {
		if err != nil {
			pa = p.Addr // a numeric IPv4 spelling
		}
		ha, ok := ParseHostIP(h)
		if !ok {
			return false
		}
		if pa.Zone() == "" {
			ha = ha.WithZone("")
		}
		return ha.Unmap() == pa.Unmap() && ha.Zone() == pa.Zone()
	}
	text := h
	if ha, ok := ParseHostIP(h); ok {
		ha = ha.WithZone("").Unmap()
		if !ha.Is4() {
			return false
		}
		text = ha.String()
	}
	var re strings.Builder
	re.WriteString("^")
	for i, l := range labels {
		switch {
		case i == 0 && l == "*" && len(labels) > 1:
			re.WriteString(`(?:[^.]*\.)+`)
			continue
		case i == 0 && l == "**" && len(labels) > 1:
			re.WriteString(`(?:[^.]*\.)*`)
			continue
		}
		parts := strings.Split(l, "*")
		for j := range parts {
			parts[j] = regexp.QuoteMeta(parts[j])
		}
		re.WriteString(strings.Join(parts, `[^.]*`))
		if i < len(labels)-1 {
			re.WriteString(`\.`)
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(text)
}

// FuzzMatch: the compiled matcher and Pattern.Match agree with refMatch, and
// the rule the compiled matcher reports really matches.
func FuzzMatch(f *testing.F) {
	seeds := [][3]string{
		{"example.com", "*.example.com", "api.example.com"},
		{"**.example.com", "example.com:8443", "EXAMPLE.com."},
		{"edge*.cdn.example.net", "x.*.example.com", "edge1.cdn.example.net"},
		{"x.*.example.com", "foo.*", "x.y.z.example.com"},
		{"*", "10.0.0.1", "10.1"},
		{"[fe80::1%25lo0]", "fe80::1", "fe80::1%lo1"},
		{"fd00::1%eth0", "localhost", "[fd00::1%25eth0]:443"},
		{"10.0.0.*", "127.0.0.1", "2130706433"},
		{"xn--bcher-kva.example", "bücher.example", "bücher.example"},
		{"a*b*c.example.com", "*.edge*.example.com", "axbyc.example.com"},
		{"**.edge*.example.com", "*.*.com", "edge.example.com"},
		{"*.com", "**.com", "com"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, p1, p2, host string) {
		var pats []Pattern
		var rules []Rule
		for _, raw := range []string{p1, p2} {
			p, err := ParsePattern(raw)
			if err != nil {
				continue
			}
			pats = append(pats, p)
			rules = append(rules, Rule{Pattern: raw, Perm: Allow})
		}
		if len(pats) == 0 {
			return
		}
		norm := NormalizeHost(host)
		want := false
		for _, p := range pats {
			ref := refMatch(p, host)
			if got := p.Match(norm); got != ref {
				t.Fatalf("Pattern(%q).Match(%q) = %v, reference says %v", p.Raw, norm, got, ref)
			}
			want = want || ref
		}
		c, err := Compile(&Effective{Allow: rules})
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		r, got := c.MatchAllow(norm)
		if got != want {
			t.Fatalf("MatchAllow(%q) with %q = %v, reference says %v", norm, []string{p1, p2}, got, want)
		}
		if got {
			p, _ := ParsePattern(r.Pattern)
			if !refMatch(p, host) {
				t.Fatalf("MatchAllow(%q) reported %q, which does not match", norm, r.Pattern)
			}
		}
		// Explicit local allows are exact rules only.
		if r, ok := c.ExplicitLocalAllow(norm); ok {
			p, _ := ParsePattern(r.Pattern)
			if p.HasWildcard() || !refMatch(p, host) {
				t.Fatalf("ExplicitLocalAllow(%q) reported %q", norm, r.Pattern)
			}
		}
	})
}

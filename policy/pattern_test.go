package policy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestPatternMatch covers VECTORS §2: each host is normalised as the proxy
// does, then matched by Pattern.Match and by a Compiled allow list holding
// only that pattern (the two must agree).
func TestPatternMatch(t *testing.T) {
	tests := []struct {
		id      string
		pattern string
		yes, no []string
	}{
		{"V008", "example.com",
			[]string{"example.com", "EXAMPLE.com.", "example.com:8443"},
			[]string{"api.example.com", "notexample.com", "example.com.evil.net"}},
		{"V009", "*.example.com",
			[]string{"api.example.com", "a.b.example.com", "API.Example.COM."},
			[]string{"example.com", "evilexample.com"}},
		{"V010", "**.example.com",
			[]string{"example.com", "api.example.com", "a.b.example.com"},
			[]string{"evilexample.com", "example.com.evil.net"}},
		{"V011", "*",
			[]string{"example.com", "localhost", "8.8.8.8", "::1"},
			nil},
		{"V012a", "edge*.cdn.example.net",
			[]string{"edge1.cdn.example.net", "edge.cdn.example.net"},
			[]string{"xedge1.cdn.example.net", "foo.edge1.cdn.example.net", "edge1.eu.cdn.example.net"}},
		{"V012b", "x.*.example.com",
			[]string{"x.y.example.com"},
			[]string{"x.y.z.example.com", "x.example.com"}},
		{"V013a", "Example.COM.",
			[]string{"example.com"},
			[]string{"api.example.com"}},
		{"V013b", "*.Example.COM.",
			[]string{"api.example.com"},
			[]string{"example.com"}},
		{"V013c", "ExAmPle.CoM",
			[]string{"example.com", "EXAMPLE.COM"},
			nil},
		{"V013d", "example.com:8443",
			[]string{"example.com", "example.com:443"},
			nil},
		{"V014a", "10.0.0.1",
			[]string{"10.0.0.1", "10.0.0.1:8080"},
			[]string{"10.0.0.10"}},
		{"V014b", "[::1]",
			[]string{"::1", "[::1]:443"},
			nil},
		{"V014c", "::1",
			[]string{"[::1]"},
			nil},
		{"V015a", "[fe80::1%25lo0]",
			[]string{"fe80::1%lo0"},
			[]string{"fe80::1%lo1", "fe80::1"}},
		{"V015b", "fe80::1",
			[]string{"fe80::1%lo0", "[fe80::1%25eth0]", "fe80::1"},
			[]string{"fe80::2%lo0"}},
		{"V016", "localhost",
			[]string{"LOCALHOST", "localhost.", "localhost:3000"},
			[]string{"foo.localhost", "notlocalhost"}},
		{"V017", "xn--bcher-kva.example",
			[]string{"xn--bcher-kva.example", "XN--BCHER-KVA.example"},
			[]string{"bücher.example"}},

		// Beyond the vectors: IPv4 hosts in any spelling meet wildcard
		// patterns as their dotted quad, and IP patterns by address.
		{"ipv4-glob", "10.0.0.*",
			[]string{"10.0.0.5", "10.5", "167772165", "::ffff:10.0.0.5"},
			[]string{"10.0.1.5", "fd00::5"}},
		{"ip-spellings", "127.0.0.1",
			[]string{"127.1", "2130706433", "0x7f.1", "::ffff:127.0.0.1"},
			[]string{"127.0.0.2", "localhost"}},
		{"mid-glob-multi", "a*b*c.example.com",
			[]string{"abc.example.com", "axxbyyc.example.com", "abbc.example.com"},
			[]string{"ab.example.com", "acb.example.com", "abc.x.example.com"}},
		{"sub-glob", "*.edge*.example.com",
			[]string{"a.edge1.example.com", "a.b.edge.example.com"},
			[]string{"edge1.example.com", "a.xedge.example.com"}},
		{"apex-glob", "**.edge*.example.com",
			[]string{"a.edge1.example.com", "edge.example.com"},
			[]string{"example.com"}},
		{"glob-no-tail", "foo.*",
			[]string{"foo.com", "foo.x"},
			[]string{"foo", "a.foo.com", "foo.a.b"}},
		{"scoped-v6", "fd00::1%eth0",
			[]string{"fd00::1%eth0", "[fd00::1%25eth0]:443"},
			[]string{"fd00::1", "fd00::1%eth1"}},
		{"non-ascii-pattern", "bücher.example",
			[]string{"BüCHER.example"},
			[]string{"xn--bcher-kva.example"}},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Errorf("%s: ParsePattern(%q): %v", tt.id, tt.pattern, err)
			continue
		}
		c := mustCompile(t, &Effective{Allow: []Rule{{Pattern: tt.pattern, Perm: Allow}}})
		check := func(host string, want bool) {
			norm := NormalizeHost(host)
			if got := p.Match(norm); got != want {
				t.Errorf("%s: Pattern(%q).Match(%q) = %v, want %v", tt.id, tt.pattern, host, got, want)
			}
			if _, got := c.MatchAllow(norm); got != want {
				t.Errorf("%s: Compiled{%q}.MatchAllow(%q) = %v, want %v", tt.id, tt.pattern, host, got, want)
			}
		}
		for _, h := range tt.yes {
			check(h, true)
		}
		for _, h := range tt.no {
			check(h, false)
		}
	}
}

func mustCompile(t testing.TB, e *Effective) *Compiled {
	t.Helper()
	c, err := Compile(e)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func TestParsePatternKinds(t *testing.T) {
	tests := []struct {
		id, raw  string
		norm     string
		kind     PatternKind
		suffix   string
		wildcard bool
	}{
		{"V007a", "*.Example.COM.", "*.example.com", PatternSubdomains, "example.com", true},
		{"V007b", "**.Example.COM.", "**.example.com", PatternApexAndSubdomains, "example.com", true},
		{"V007c", "example.com:8443", "example.com", PatternExact, "", false},
		{"V007d", "[*]", "*", PatternGlobal, "", true},
		{"V007e", " * ", "*", PatternGlobal, "", true},
		{"V012a", "edge*.cdn.example.net", "edge*.cdn.example.net", PatternGlob, "cdn.example.net", true},
		{"V012b", "x.*.example.com", "x.*.example.com", PatternGlob, "example.com", true},
		{"V014a", "10.0.0.1", "10.0.0.1", PatternIP, "", false},
		{"V014b", "[::1]", "::1", PatternIP, "", false},
		{"V015a", "[fe80::1%25lo0]", "fe80::1%lo0", PatternIP, "", false},
		{"V016", "localhost", "localhost", PatternExact, "", false},
		{"V060d", "EXAMPLE.com.", "example.com", PatternExact, "", false},
		{"numeric-ip", "0x7f.1", "0x7f.1", PatternIP, "", false},
		{"underscore", "_dmarc.example.com", "_dmarc.example.com", PatternExact, "", false},
		{"glob-no-tail", "foo.*", "foo.*", PatternGlob, "", true},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.raw)
		if err != nil {
			t.Errorf("%s: ParsePattern(%q): %v", tt.id, tt.raw, err)
			continue
		}
		if p.Raw != tt.raw || p.Norm != tt.norm || p.Kind != tt.kind || p.Suffix != tt.suffix || p.HasWildcard() != tt.wildcard {
			t.Errorf("%s: ParsePattern(%q) = {Raw %q Norm %q Kind %v Suffix %q wildcard %v}, want {Norm %q Kind %v Suffix %q wildcard %v}",
				tt.id, tt.raw, p.Raw, p.Norm, p.Kind, p.Suffix, p.HasWildcard(), tt.norm, tt.kind, tt.suffix, tt.wildcard)
		}
	}
	p, _ := ParsePattern("[fe80::1%25lo0]")
	if p.Addr != netip.MustParseAddr("fe80::1%lo0") {
		t.Errorf("V015a: Addr = %v, want fe80::1%%lo0", p.Addr)
	}
	p, _ = ParsePattern("0x7f.1")
	if p.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("0x7f.1: Addr = %v, want 127.0.0.1", p.Addr)
	}
	a, _ := ParsePattern("*.example.com")
	b, _ := ParsePattern("*.example.com")
	if a != b {
		t.Error("Pattern values of the same text differ")
	}
}

func TestGlobalWildcard(t *testing.T) {
	// V018 (and V059's spellings).
	for _, raw := range []string{"*", " * ", "[*]", "**.*", "*.*", "*.*.*", "**", "*.**"} {
		p, err := ParsePattern(raw)
		if err != nil || !p.IsGlobal() {
			t.Errorf("V018: ParsePattern(%q) = %v, %v; want a global wildcard", raw, p.Kind, err)
		}
	}
	for _, raw := range []string{"*.com", "**.com", "*.example.com", "edge*.example.net", "*.*.com", "a*"} {
		p, err := ParsePattern(raw)
		if err != nil || p.IsGlobal() {
			t.Errorf("V018: ParsePattern(%q) = %v, %v; want a valid non-global pattern", raw, p.Kind, err)
		}
	}
	// Allowed as allow; as deny, Compile refuses with the NP021 message.
	if _, err := Compile(&Effective{Allow: []Rule{{Pattern: "*", Perm: Allow}}}); err != nil {
		t.Errorf("V018: global allow refused: %v", err)
	}
	_, err := Compile(&Effective{Deny: []Rule{{Pattern: "*", Perm: Deny}}})
	const want = `unsupported global wildcard domain pattern "*"; use exact hosts or scoped wildcards like *.example.com or **.example.com`
	if err == nil || err.Error() != want {
		t.Errorf("V018: global deny: err = %v, want %q", err, want)
	}
}

func TestParsePatternErrors(t *testing.T) {
	tests := []struct{ id, raw, why string }{
		{"V058a", "api?.example.com", `"?" is not pattern syntax`},
		{"V058b", "{a,b}.example.com", `"{" is not pattern syntax`},
		{"V058c", "[ab]c.example.com", `only allowed around an IPv6 literal`},
		{"V058d", "", "empty pattern"},
		{"V058e", "example.com/path", `"/" is not allowed`},
		{"V058f", "[fe80::zz]", "invalid IPv6 literal"},
		{"empty-spaces", "   ", "empty pattern"},
		{"empty-brackets", "[]", "empty pattern"},
		{"dots", "...", "empty pattern"},
		{"inner-space", "exa mple.com", "white space"},
		{"tab", "exa\tmple.com", "white space"},
		{"empty-label", "a..example.com", "empty label"},
		{"leading-dot", ".example.com", "empty label"},
		{"double-star-mid", "a.**.example.com", `"**" is only supported`},
		{"triple-star", "***.example.com", `"**" is only supported`},
		{"bracket-name", "[example.com]", "only allowed around an IPv6 literal"},
		{"bracket-v4", "[10.0.0.1]", "only allowed around an IPv6 literal"},
		{"bracket-tail", "[::1]x", `unexpected text after "]"`},
		{"bracket-open", "[::1", `missing "]"`},
		{"v6-wildcard", "fd00::*", "wildcards are not supported in IP addresses"},
		{"bad-v6", "a:b:c", "invalid IPv6 literal"},
		{"bad-port", "example.com:http", "invalid port"},
		{"port-zero", "example.com:0", "invalid port"},
		{"percent", "a%2f.example.com", `"%" is only allowed`},
		{"at", "user@example.com", "invalid character"},
		{"comma", "a,b.example.com", "invalid character"},
		{"bad-zone", "fe80::1%a/b", "invalid character"},
		{"nbsp", "a\u00a0b.example.com", "invalid character"},
		{"bad-utf8", "a\xffb.example.com", "UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParsePattern(tt.raw)
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("%s: ParsePattern(%q) err = %v, want a *PatternError", tt.id, tt.raw, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) || pe.Pattern != tt.raw {
			t.Errorf("%s: ParsePattern(%q) err = %q, want it to mention %q", tt.id, tt.raw, err, tt.why)
		}
	}

	// V060: valid patterns produce no error; non-ASCII is recorded, not
	// rejected (V062 is NP023's business).
	for _, raw := range []string{"*", "ads.example", "*.com", "**.example.net", "EXAMPLE.com.",
		"10.0.0.1", "[::1]", "edge*.cdn.example.net", "[::1]:8080", "example.com:8443"} {
		if _, err := ParsePattern(raw); err != nil {
			t.Errorf("V060: ParsePattern(%q): %v", raw, err)
		}
	}
	for _, raw := range []string{"bücher.example", "*.bücher.example"} {
		p, err := ParsePattern(raw)
		if err != nil || !p.NonASCII() {
			t.Errorf("V062: ParsePattern(%q) = NonASCII %v, %v; want accepted and NonASCII", raw, p.NonASCII(), err)
		}
	}
	if p, _ := ParsePattern("example.com"); p.NonASCII() {
		t.Error("NonASCII() = true for example.com")
	}
}

func TestPortInPattern(t *testing.T) {
	tests := []struct {
		id, raw  string
		has      bool
		stripped string
	}{
		{"V061a", "example.com:8443", true, "example.com"},
		{"V061b", "[::1]:8080", true, "[::1]"},
		{"V050", "api.example.com:8443", true, "api.example.com"},
		{"keep-spelling", "API.Example.com.:443", true, "API.Example.com."},
		{"keep-space", " example.com:80 ", true, " example.com "},
		{"none", "example.com", false, "example.com"},
		{"bracket-no-port", "[::1]", false, "[::1]"},
		{"bare-v6", "fe80::1", false, "fe80::1"},
		{"glob", "*.example.com:443", true, "*.example.com"},
		{"named-port-is-invalid", "example.com:http", false, "example.com"},
		{"port-zero-is-invalid", "example.com:0", false, "example.com"},
	}
	for _, tt := range tests {
		if got := HasPort(tt.raw); got != tt.has {
			t.Errorf("%s: HasPort(%q) = %v, want %v", tt.id, tt.raw, got, tt.has)
		}
		if got := StripPort(tt.raw); got != tt.stripped {
			t.Errorf("%s: StripPort(%q) = %q, want %q", tt.id, tt.raw, got, tt.stripped)
		}
		if tt.has && NormalizeHost(StripPort(tt.raw)) != NormalizeHost(tt.raw) {
			t.Errorf("%s: stripping the port of %q changed what it matches", tt.id, tt.raw)
		}
	}
}

func TestToPunycode(t *testing.T) {
	tests := []struct{ id, raw, want string }{
		{"V062a", "bücher.example", "xn--bcher-kva.example"},
		{"V062b", "*.bücher.example", "*.xn--bcher-kva.example"},
		{"apex", "**.bücher.example", "**.xn--bcher-kva.example"},
		{"upper", "BÜCHER.Example", "xn--bcher-kva.Example"},
		{"ascii", "Example.com", "Example.com"},
		{"glob-ascii-label", "edge*.bücher.example", "edge*.xn--bcher-kva.example"},
		{"trailing-dot", "bücher.example.", "xn--bcher-kva.example."},
	}
	for _, tt := range tests {
		got, err := ToPunycode(tt.raw)
		if err != nil || got != tt.want {
			t.Errorf("%s: ToPunycode(%q) = %q, %v; want %q", tt.id, tt.raw, got, err, tt.want)
		}
		if p, err := ParsePattern(got); err != nil || p.NonASCII() {
			t.Errorf("%s: the punycode form %q is not a clean pattern: %v", tt.id, got, err)
		}
	}
	for _, raw := range []string{"bü*cher.example", "a\u00a0b.example"} {
		if got, err := ToPunycode(raw); err == nil {
			t.Errorf("ToPunycode(%q) = %q, want an error", raw, got)
		}
	}
}

func TestFixedPattern(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"example.com", "example.com", ""},
		{"example.com:8443", "example.com", ""},
		{"[::1]:8080", "[::1]", ""},
		{"::1", "::1", ""},
		{"Bücher.example", "xn--bcher-kva.example", ""},
		{"*.bücher.example:443", "*.xn--bcher-kva.example", ""},
		{"Mixed.Case:1", "Mixed.Case", ""},
		{"*ü.example:1", "*ü.example", "wildcard"},
	} {
		got, err := FixedPattern(tc.in)
		if got != tc.want || (err != nil) != (tc.err != "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("FixedPattern(%q) = %q, %v; want %q, error %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

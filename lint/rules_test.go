package lint_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// checkIDs lints the files and returns the sorted set of rule IDs.
func checkIDs(t *testing.T, files ...src) ([]string, []lint.Diagnostic) {
	t.Helper()
	ds := lint.Check(load(files)...)
	return ruleIDs(ds), ds
}

// TestSuppression covers the suppression rules beyond V074.
func TestSuppression(t *testing.T) {
	const covered = "[network.domains]\n\"*.example.com\" = \"deny\"\n"
	for _, tc := range []struct {
		name  string
		files []src
		want  []string
	}{
		{"line above", []src{C(covered + "# netpolicy: ignore[NP026] documented\n\"api.example.com\" = \"allow\"\n")}, nil},
		{"end of line", []src{C(covered + "\"api.example.com\" = \"allow\" # netpolicy: ignore[NP026] documented\n")}, nil},
		{"lower-case id and spaces", []src{C(covered + "#netpolicy:ignore[ np026 ] documented\n\"api.example.com\" = \"allow\"\n")}, nil},
		{"stacked above one line", []src{C(covered + "# netpolicy: ignore[NP026] a\n# netpolicy: ignore[NP024] b\n\"api.example.com\" = \"allow\"\n\"API.example.com\" = \"deny\"\n")}, []string{"NP090"}},
		// Each unused code of a list is reported on its own (ruff's RUF100).
		{"list, one rule used", []src{C(covered + "# netpolicy: ignore[NP024,NP026] either\n\"api.example.com\" = \"allow\"\n")}, []string{"NP090"}},
		{"a blank line breaks it", []src{C(covered + "# netpolicy: ignore[NP026] documented\n\n\"api.example.com\" = \"allow\"\n")}, []string{"NP026", "NP090"}},
		{"only the named rule", []src{C(covered + "# netpolicy: ignore[NP024] wrong rule\n\"api.example.com\" = \"allow\"\n")}, []string{"NP026", "NP090"}},
		{"no reason does not silence", []src{C(covered + "# netpolicy: ignore[NP026]\n\"api.example.com\" = \"allow\"\n")}, []string{"NP026", "NP090"}},
		{"unknown rule", []src{C("[network]\nenabled = true # netpolicy: ignore[NP999] typo\n")}, []string{"NP090"}},
		{"malformed", []src{C("[network]\n# netpolicy: ignore NP003 no brackets\nalow = true\n")}, []string{"NP003", "NP090"}},
		{"not suppressible", []src{C("[network.domains]\n\"*\" = \"deny\" # netpolicy: ignore[NP021] really\n")}, []string{"NP021", "NP090"}},
		{"meta rules are not suppressible", []src{C("# netpolicy: ignore[NP090] no\n[network]\n")}, []string{"NP090"}},
		{"inside an array", []src{R("[experimental_network]\n# netpolicy: ignore[NP003] for the next release\nfuture_key = 1\nallowed_domains = [\n  # netpolicy: ignore[NP002] a placeholder\n  1,\n  \"a?\",  # netpolicy: ignore[NP020] also fine\n]\n")}, []string{"NP012"}},
		{"comment-only file", []src{C("# netpolicy: ignore[NP003] nothing here\n")}, []string{"NP090"}},
		// A config linted alone does not run the cross-file rules, so a
		// suppression of NP062 there is not stale.
		{"cross rule, user file alone", []src{C("[network]\nallow_local_binding = true # netpolicy: ignore[NP062] approved by IT\n")}, nil},
		{"cross rule, silenced", []src{R("[experimental_network]\nallow_local_binding = false\n"),
			C("[network]\nallow_local_binding = true # netpolicy: ignore[NP062] approved by IT\n")}, nil},
		{"cross rule, stale", []src{R("[experimental_network]\nallow_local_binding = true\n"),
			C("[network]\nallow_local_binding = true # netpolicy: ignore[NP062] approved by IT\n")}, []string{"NP090"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ds := checkIDs(t, tc.files...)
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s%s", diff, dump(ds))
			}
		})
	}
}

// TestNP026Cover lists allow/deny pairs and whether the deny rule covers
// every host of the allow rule. A pair with the same normalised pattern is
// NP024, never NP026.
func TestNP026Cover(t *testing.T) {
	for _, tc := range []struct {
		allow, deny string
		want        []string
	}{
		{"api.example.com", "*.example.com", []string{"NP026"}},
		{"a.b.example.com", "*.example.com", []string{"NP026"}},
		{"example.com", "*.example.com", nil},
		{"example.com", "**.example.com", []string{"NP026"}},
		{"*.a.example.com", "*.example.com", []string{"NP026"}},
		{"*.example.com", "*.EXAMPLE.com.", []string{"NP024"}},
		{"**.example.com", "*.example.com", nil},
		{"*.example.com", "**.example.com", []string{"NP026"}},
		{"**.example.com", "**.Example.com", []string{"NP024"}},
		{"**.a.example.com", "*.example.com", []string{"NP026"}},
		{"edge*.cdn.example.net", "*.example.net", []string{"NP026"}},
		{"edge*.cdn.example.net", "*.cdn.example.net", []string{"NP026"}},
		{"edge*.cdn.example.net", "**.cdn.example.net", []string{"NP026"}},
		{"edge*.cdn.example.net", "*.eu.cdn.example.net", nil},
		{"edge*.cdn.example.net", "EDGE*.cdn.example.net", []string{"NP024"}},
		{"x.*.example.com", "*.example.com", []string{"NP026"}},
		{"foo*", "*.com", nil},
		{"api.example.com", "api*.example.com", []string{"NP026"}},
		{"*.example.com", "api*.example.com", nil},
		{"10.0.0.1", "10.0.0.*", []string{"NP026"}},
		{"127.1", "127.0.0.1", []string{"NP026"}},
		{"10.0.0.1", "::ffff:10.0.0.1", []string{"NP026"}},
		{"fe80::1%eth0", "fe80::1", []string{"NP026"}},
		{"fe80::1", "fe80::1%eth0", nil},
		{"*", "*.example.com", nil},
		{"api.example.com", "*.example.org", nil},
	} {
		t.Run(tc.allow+" vs "+tc.deny, func(t *testing.T) {
			text := "[network.domains]\n" + tomldoc.QuoteString(tc.allow) + " = \"allow\"\n" + tomldoc.QuoteString(tc.deny) + " = \"deny\"\n"
			got, ds := checkIDs(t, C(text))
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s%s", diff, dump(ds))
			}
			for _, d := range ds {
				if d.Pos.Line != 2 {
					t.Errorf("%s reported on line %d, want the allow rule (line 2)", d.Rule.ID, d.Pos.Line)
				}
			}
		})
	}
}

// TestNP024Shadows: every allow rule of a host that a deny rule of the same
// host shadows is reported, before or after the deny, each naming the
// host's first deny rule; a global deny is NP021's and shadows nothing.
func TestNP024Shadows(t *testing.T) {
	text := "[network.domains]\n" +
		"\"deny.example\" = \"allow\"\n" + // 2
		"\"Deny.example\" = \"deny\"\n" + // 3
		"\"deny.example:443\" = \"allow\"\n" + // 4: NP022 too
		"\"DENY.example.\" = \"deny\"\n" + // 5
		"\"ok.example\" = \"allow\"\n" // 6
	var got []string
	for _, d := range byRule(lint.Check(load([]src{C(text)})...), "NP024") {
		got = append(got, fmt.Sprintf("%d: %s", d.Pos.Line, d.Message))
	}
	want := []string{
		`2: "deny.example" is allowed and "Deny.example" (line 3) denies the same host in [network]; deny wins`,
		`4: "deny.example:443" is allowed and "Deny.example" (line 3) denies the same host in [network]; deny wins`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NP024 (-want +got):\n%s", diff)
	}
	global := "[network.domains]\n\"*\" = \"allow\"\n\"*.\" = \"deny\"\n"
	if ds := byRule(lint.Check(load([]src{C(global)})...), "NP024"); len(ds) != 0 {
		t.Errorf("a global deny shadows: %s", dump(ds))
	}
}

// TestRuleScope checks what must never be reported: other tables of either
// file, the obsolete shapes left to NP013, and a requirements file's
// non-network tables.
func TestRuleScope(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []src
		want  []string
	}{
		{"config keys outside network", []src{C("model = \"o3\"\n[history]\npersistence = \"none\"\n[mcp_servers.x]\ncommand = 1\n[network]\nenabled = true\n")}, nil},
		{"[network] in a requirements file is not policy", []src{R("[network]\njunk = 1\nenabled = \"x\"\n")}, nil},
		{"user key in the managed table", []src{R("[experimental_network]\nproxy_url = \"http://127.0.0.1:1\"\n")}, []string{"NP003"}},
		{"profile keys", []src{C("[permissions.dev]\nextends = \":read-only\"\ndescription = \"d\"\nenabled = true\n")}, []string{"NP003"}},
		{"profile network is unknown-checked", []src{C("[permissions.dev.network]\nalow_local_binding = true\n")}, []string{"NP003"}},
		{"wrong-type profile parts", []src{C("default_permissions = true\n[permissions]\ndev = 1\n")}, []string{"NP002"}},
		{"dotted pattern key", []src{C("[network.domains]\napi.example.com = \"allow\"\n")}, []string{"NP002"}},
		{"legacy list with a number", []src{R("[experimental_network]\nallowed_domains = [\"a.example\", 1]\n")}, []string{"NP002", "NP012"}},
		{"NP040 through extends", []src{C("[permissions.base.network]\ndangerously_allow_non_loopback_proxy = true\n[permissions.lan]\nextends = \"base\"\n[permissions.lan.network]\nproxy_url = \"http://0.0.0.0:3128\"\n")}, nil},
		{"NP040 hostname and IPv6", []src{C("[network]\nproxy_url = \"http://proxy.internal:3128\"\nsocks_url = \"[::1]:8081\"\n")}, []string{"NP040"}},
		{"NP041 bad URL", []src{C("[network]\nproxy_url = \"http://127.0.0.1:port\"\n")}, []string{"NP041"}},
		{"NP041 listener without a port is fine", []src{C("[network]\nproxy_url = \"http://localhost\"\n")}, nil},
		{"NP062 sockets forced", []src{R("[experimental_network]\nunix_sockets = { \"/run/a.sock\" = \"allow\" }\n"), C("[network]\ndangerously_allow_all_unix_sockets = true\n")}, []string{"NP062"}},
		{"NP062 sockets allowed by managed", []src{R("[experimental_network]\ndangerously_allow_all_unix_sockets = true\nunix_sockets = { \"/run/a.sock\" = \"allow\" }\n"), C("[network]\ndangerously_allow_all_unix_sockets = true\n")}, nil},
		{"NP062 in a profile", []src{R("[experimental_network]\nallow_upstream_proxy = false\n"), C("[permissions.dev.network]\nallow_upstream_proxy = true\n")}, []string{"NP062"}},
		{"cross rules skip a broken file", []src{R("[experimental_network]\nenabled = false\n"), C("[network]\nenabled = true\nx = \n")}, []string{"NP001"}},
		{"NP050 self extends", []src{C("[permissions.a]\nextends = \"a\"\n")}, []string{"NP050"}},
		{"NP050 builtin default", []src{C("default_permissions = \":workspace\"\n")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skipUnregistered(t, tc.want)
			got, ds := checkIDs(t, tc.files...)
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s%s", diff, dump(ds))
			}
		})
	}
}

// TestPositions checks the spans: the key by default, the value for NP002
// and NP031, the parser's position (one character) for NP001; columns in
// Unicode characters, end exclusive.
func TestPositions(t *testing.T) {
	for _, tc := range []struct {
		name, text, rule string
		// the text the span covers
		covers string
		line   int
		col    int
	}{
		{"NP002 value", "[network]\nenabled = \"yes\"\n", "NP002", `"yes"`, 2, 11},
		{"NP031 value", "[network]\ndomains = { \"ü.example\" = \"block\" }\n", "NP031", `"block"`, 2, 27},
		{"NP003 key", "[network]\nalow = 1\n", "NP003", "alow", 2, 1},
		{"NP020 key", "[network.domains]\n\"a?.example\" = \"allow\"\n", "NP020", `"a?.example"`, 2, 1},
		{"NP020 list string", "[experimental_network]\ndenied_domains = [\"ok.example\", \"a b\"]\n", "NP020", `"a b"`, 2, 33},
		{"NP001 parser position", "[network]\nenabled = tru\n", "NP001", "t", 2, 11},
		{"NP001 at end of line", "[network\n", "NP001", "", 1, 9},
		{"NP001 inside a character", "\"ü", "NP001", "ü", 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := policy.Load("x.toml", []byte(tc.text), policy.KindAuto)
			var found bool
			for _, d := range lint.Check(f) {
				if d.Rule.ID != tc.rule {
					continue
				}
				found = true
				if got := tc.text[d.Pos.Offset:d.End.Offset]; got != tc.covers {
					t.Errorf("span covers %q, want %q", got, tc.covers)
				}
				if d.Pos.Line != tc.line || d.Pos.Column != tc.col {
					t.Errorf("at %d:%d, want %d:%d", d.Pos.Line, d.Pos.Column, tc.line, tc.col)
				}
				if want := d.Pos.Column + len([]rune(tc.covers)); d.End.Line == d.Pos.Line && d.End.Column != want {
					t.Errorf("end column %d, want %d", d.End.Column, want)
				}
			}
			if !found {
				t.Fatalf("no %s in %v", tc.rule, strings.Join(ruleIDs(lint.Check(f)), ","))
			}
		})
	}
}

// TestSuppressionUnusedCode pins the position and message of NP090 for one
// unused code in a list: at the code itself, naming it.
func TestSuppressionUnusedCode(t *testing.T) {
	f := policy.Load("config.toml", []byte("[network.domains]\n\"*.example.com\" = \"deny\"\n"+
		"\"api.example.com\" = \"allow\" # netpolicy: ignore[NP026, np024] documented\n"), policy.KindConfig)
	ds := lint.Check(f)
	if len(ds) != 1 {
		t.Fatalf("want one diagnostic, got%s", dump(ds))
	}
	d := ds[0]
	if d.Rule.ID != "NP090" || d.Pos.Line != 3 || d.Pos.Column != 56 || d.End.Column != 61 ||
		d.Message != "NP024 in suppression ignore[NP026,NP024] suppresses nothing on line 3" {
		t.Errorf("got %s (end col %d)", d.String(), d.End.Column)
	}
}

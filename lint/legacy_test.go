package lint_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/lint"
)

// byRule returns the diagnostics of one rule.
func byRule(ds []lint.Diagnostic, id string) []lint.Diagnostic {
	var out []lint.Diagnostic
	for _, d := range ds {
		if d.Rule.ID == id {
			out = append(out, d)
		}
	}
	return out
}

// TestLegacyFixShared: the legacy keys of one table share one fix per
// family (V056a: both domain lists one fix, the socket list its own), and
// findings on list strings carry that same fix.
func TestLegacyFixShared(t *testing.T) {
	files := load([]src{R("[experimental_network]\nallowed_domains = [\"a.example\", \"A.example:443\"]\ndenied_domains = [\"b.example\"]\nallow_unix_sockets = [\"/run/a.sock\"]\n")})
	ds := lint.Check(files...)
	np012 := byRule(ds, "NP012")
	if len(np012) != 3 {
		t.Fatalf("want NP012 on 3 keys:%s", dump(ds))
	}
	if diff := cmp.Diff(np012[0].Fix, np012[1].Fix); diff != "" {
		t.Errorf("allowed_domains and denied_domains carry different fixes:\n%s", diff)
	}
	if cmp.Equal(np012[0].Fix, np012[2].Fix) {
		t.Error("the socket list shares the domain lists' fix")
	}
	for _, id := range []string{"NP022", "NP025"} {
		got := byRule(ds, id)
		if len(got) != 1 || !cmp.Equal(got[0].Fix, np012[0].Fix) {
			t.Errorf("%s on the list string does not carry the table's fix:%s", id, dump(got))
		}
	}
	out := applyFix(files[0].Src, np012[0].Fix)
	want := "[experimental_network]\ndomains.\"a.example\" = \"allow\"\ndomains.\"b.example\" = \"deny\"\nallow_unix_sockets = [\"/run/a.sock\"]\n"
	if out != want {
		t.Errorf("domain fix gives\n%s\nwant\n%s", out, want)
	}
}

// TestPatternFixes: NP022, NP023 and NP025 on keys of a domains table.
// Findings on one key share one fix that writes the final form; a rename
// that would collide with another key is not offered.
func TestPatternFixes(t *testing.T) {
	for _, tc := range []struct {
		name, domains string
		fixable       map[string]bool
		want          string // the table after applying every distinct fix
	}{
		{"port and punycode, one fix", `{ "bücher.example:8443" = "allow" }`,
			map[string]bool{"NP022": true, "NP023": true}, `{ "xn--bcher-kva.example" = "allow" }`},
		{"duplicate removed, its port too", `{ "a.example" = "allow", "A.example:443" = "allow" }`,
			map[string]bool{"NP022": true, "NP025": true}, `{ "a.example" = "allow" }`},
		{"rename into the removed duplicate's key", `{ "a.example:1" = "allow", "a.example" = "allow" }`,
			map[string]bool{"NP022": true, "NP025": true}, `{ "a.example" = "allow" }`},
		{"renames that would collide", `{ "a.example:1" = "allow", "a.example:2" = "deny" }`,
			map[string]bool{"NP022": false}, `{ "a.example:1" = "allow", "a.example:2" = "deny" }`},
		{"rename onto an invalid entry", `{ "a.example:1" = "allow", "a.example" = "block" }`,
			map[string]bool{"NP022": false}, `{ "a.example:1" = "allow", "a.example" = "block" }`},
		{"no punycode form", `{ "*ü.example" = "allow" }`,
			map[string]bool{"NP023": false}, `{ "*ü.example" = "allow" }`},
		{"dotted keys", "\ndomains.\"x.example:80\" = \"deny\"\ndomains.\"X.example\" = \"deny\"",
			map[string]bool{"NP022": true, "NP025": true}, "\ndomains.\"x.example\" = \"deny\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := "[network]\ndomains = " + tc.domains + "\n"
			if strings.HasPrefix(tc.domains, "\n") {
				text = "[network]" + tc.domains + "\n"
			}
			files := load([]src{C(text)})
			ds := lint.Check(files...)
			for id, fixable := range tc.fixable {
				got := byRule(ds, id)
				if len(got) == 0 {
					t.Errorf("no %s:%s", id, dump(ds))
				}
				for _, d := range got {
					if d.Fixable() != fixable {
						t.Errorf("%s at %d:%d fixable = %v, want %v", id, d.Pos.Line, d.Pos.Column, d.Fixable(), fixable)
					}
				}
			}
			var edits []lint.Edit
			seen := map[lint.Edit]bool{}
			for _, d := range ds {
				if d.Fixable() {
					for _, e := range d.Fix.Edits {
						if !seen[e] {
							seen[e] = true
							edits = append(edits, e)
						}
					}
				}
			}
			got := text
			if len(edits) > 0 {
				got = applyFix(files[0].Src, &lint.Fix{Edits: edits})
			}
			want := strings.Replace(text, tc.domains, tc.want, 1)
			if got != want {
				t.Errorf("fixed:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestFixBlocker: a finding that cannot be fixed says why, naming what
// conflicts; migrate refuses with that.
func TestFixBlocker(t *testing.T) {
	for _, tc := range []struct {
		id   string
		file src
		rule string
		want []string
	}{
		{"V055c", R("[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\ndenied_domains = [\"a.example\"]\n"), "NP011",
			[]string{`"a.example" is "allow" in domains (line 2) but "deny" in denied_domains (line 3)`}},
		{"V055c-normalised", R("[experimental_network]\ndomains = { \"A.example.\" = \"deny\" }\nallowed_domains = [\"a.example:443\"]\n"), "NP011",
			[]string{`"A.example." is "deny" in domains (line 2) but "allow" in allowed_domains (line 3)`}},
		// The table's own deny wins over its allow of the same host; the
		// conflict names the table's first entry for it.
		{"V055c-deny-wins-in-domains", R("[experimental_network]\nallowed_domains = [\"a.example\"]\n[experimental_network.domains]\n\"a.example\" = \"allow\"\n\"A.example\" = \"deny\"\n"), "NP011",
			[]string{`"a.example" is "deny" in domains (line 4) but "allow" in allowed_domains (line 2)`}},
		// The lists' deny of the same host (another spelling) wins over
		// their allow.
		{"V055c-deny-wins-in-lists", R("[experimental_network]\ndomains = { \"b.example\" = \"allow\" }\nallowed_domains = [\"b.example\"]\ndenied_domains = [\"B.example\"]\n"), "NP011",
			[]string{`"b.example" is "allow" in domains (line 2) but "deny" in denied_domains (line 4)`}},
		{"sockets", R("[experimental_network]\nunix_sockets = { \"/run/a.sock\" = \"none\" }\nallow_unix_sockets = [\"/run/a.sock\"]\n"), "NP011",
			[]string{`"/run/a.sock" is "none" in unix_sockets (line 2) but "allow" in allow_unix_sockets (line 3)`}},
		{"user table", C("[network]\ndomains = { \"a.example\" = \"deny\" }\nallowed_domains = [\"a.example\"]\n"), "NP010",
			[]string{`[network]: "a.example" is "deny" in domains (line 2)`}},
		{"not strings", C("[network]\nallowed_domains = [\"a.example\", 1]\n"), "NP010",
			[]string{"network.allowed_domains is not an array of strings"}},
		{"network exists", C("[network]\nenabled = true\n[network_proxy]\nenabled = true\n"), "NP013",
			[]string{"[network] already exists"}},
		{"two obsolete tables", C("[network_proxy]\nenabled = true\n[permissions.network]\nenabled = false\n"), "NP013",
			[]string{"both [network_proxy] and [permissions.network] would become [network]"}},
		{"permissions.network dotted", C("[permissions]\nnetwork.enabled = true\n"), "NP013",
			[]string{"written as dotted keys under [permissions]"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			files := load([]src{tc.file})
			ds := byRule(lint.Check(files...), tc.rule)
			if len(ds) == 0 {
				t.Fatalf("no %s", tc.rule)
			}
			for _, d := range ds {
				if d.Fixable() {
					t.Errorf("%s at %d:%d is fixable", tc.rule, d.Pos.Line, d.Pos.Column)
				}
				why := d.NoFix
				for _, w := range tc.want {
					if !strings.Contains(why, w) {
						t.Errorf("blocker %q does not say %q", why, w)
					}
				}
			}
		})
	}
}

// TestMixedFamilies: domains and sockets are checked separately (V043c):
// a block mixing only the domain forms reports NP011 on the domain lists
// and NP012 on the socket list, each fixable on its own.
func TestMixedFamilies(t *testing.T) {
	ds := lint.Check(load([]src{R("[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\ndenied_domains = [\"a.example\"]\nallow_unix_sockets = [\"/run/b.sock\"]\n")})...)
	got := map[string][]int{}
	for _, d := range ds {
		if d.Rule.ID == "NP011" || d.Rule.ID == "NP012" {
			got[d.Rule.ID] = append(got[d.Rule.ID], d.Pos.Line)
			if want := d.Rule.ID == "NP012"; d.Fixable() != want {
				t.Errorf("%s fixable = %v", d.Rule.ID, d.Fixable())
			}
		}
	}
	if diff := cmp.Diff(map[string][]int{"NP011": {3}, "NP012": {4}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s%s", diff, dump(ds))
	}
}

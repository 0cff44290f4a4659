package lint_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// src is one file of a vector: C (config.toml) or R (requirements.toml).
type src struct{ name, text string }

func C(text string) src { return src{"config.toml", text} }
func R(text string) src { return src{"requirements.toml", text} }

// vector is one row (or sub-case) of VECTORS.md §5 / §4.1.
type vector struct {
	id    string
	files []src
	// want is the exact set of rule IDs; with includes, only these must be
	// among the findings.
	want     []string
	includes bool
	// needs are rules the row depends on without expecting them (a
	// suppression of NP022 needs NP022 to exist to suppress anything).
	needs []string
	// lines, when set, are the lines a rule must be reported on.
	lines map[string][]int
	// fixable, when set, says whether the rule's diagnostics carry a fix.
	fixable map[string]bool
	// fixed, when set, is text the source must contain once the fix of the
	// given rule is applied.
	fixed map[string]string
	// message, when set, is the exact message of the given rule.
	message map[string]string
}

var vectors = []vector{
	// §5 lint findings.
	{id: "V052a", files: []src{C("[network]\ndomains = { \"a.example\" = allow }\n")}, want: []string{"NP001"}},
	{id: "V052b", files: []src{C("[network]\nenabled = true\nenabled = false\n")}, want: []string{"NP001"}},
	{id: "V052c", files: []src{C("[network]\nenabled = \"yes\"\n")}, want: []string{"NP002"}},
	{id: "V052d", files: []src{R("[experimental_network]\nhttp_port = \"3128\"\n")}, want: []string{"NP002"}},

	{id: "V053a", files: []src{C("[network]\nalow_local_binding = true\n")}, want: []string{"NP003"}},
	{id: "V053b", files: []src{C("model = \"any\"\napproval_policy = \"never\"\n[network]\nenabled = true\n")}},
	{id: "V053c", files: []src{R("allowed_sandbox_modes = [\"read-only\"]\nallowed_approval_policies = [\"never\"]\n[experimental_network]\nenabled = true\n")}},

	{id: "V054a", files: []src{C("[network]\nallowed_domains = [\"a.example\"]\n")}, want: []string{"NP010"}, fixable: map[string]bool{"NP010": true}},
	{id: "V054b", files: []src{C("[permissions.dev.network]\ndenied_domains = [\"a.example\"]\nallow_unix_sockets = [\"/run/a.sock\"]\n")},
		want: []string{"NP010"}, lines: map[string][]int{"NP010": {2, 3}}},

	{id: "V055a", files: []src{R("[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\nallowed_domains = [\"b.example\"]\n")},
		want: []string{"NP011"}, includes: true, fixable: map[string]bool{"NP011": true}},
	{id: "V055b", files: []src{R("[experimental_network]\nunix_sockets = { \"/run/a.sock\" = \"allow\" }\nallow_unix_sockets = [\"/run/b.sock\"]\n")},
		want: []string{"NP011"}, includes: true, fixable: map[string]bool{"NP011": true}},
	{id: "V055c", files: []src{R("[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\ndenied_domains = [\"a.example\"]\n")},
		want: []string{"NP011"}, includes: true, fixable: map[string]bool{"NP011": false}},

	{id: "V056a", files: []src{R("[experimental_network]\nallowed_domains = [\"a.example\"]\ndenied_domains = [\"b.example\"]\nallow_unix_sockets = [\"/run/a.sock\"]\n")},
		want: []string{"NP012"}, lines: map[string][]int{"NP012": {2, 3, 4}}, fixable: map[string]bool{"NP012": true}},
	{id: "V056b", files: []src{R("[experimental_network]\nallowed_domains = [\"*\"]\n")}, want: []string{"NP012"}},
	{id: "V056c", files: []src{R("[experimental_network]\ndenied_domains = [\"*\"]\n")}, want: []string{"NP012", "NP021"}},

	{id: "V057a", files: []src{C("[network_proxy]\nenabled = true\n[network_proxy.policy]\nallowed_domains = [\"a.example\"]\n")}, want: []string{"NP013"}, includes: true},
	{id: "V057b", files: []src{C("[permissions.network]\nallowed_domains = [\"a.example\"]\n")}, want: []string{"NP013"}, includes: true},
	{id: "V057c", files: []src{C("[network]\nadmin_url = \"http://127.0.0.1:8080\"\n")}, want: []string{"NP014"}, fixable: map[string]bool{"NP014": true}},
	{id: "V057d", files: []src{C("[network]\ndangerously_allow_non_loopback_admin = true\n")}, want: []string{"NP014"}},
	{id: "V057e", files: []src{R("[experimental_network]\ndanger_full_access_denylist_only = true\n")}, want: []string{"NP014"}},

	{id: "V058a", files: []src{C("[network]\ndomains = { \"api?.example.com\" = \"allow\" }\n")}, want: []string{"NP020"}},
	{id: "V058b", files: []src{C("[network]\ndomains = { \"{a,b}.example.com\" = \"allow\" }\n")}, want: []string{"NP020"}},
	{id: "V058c", files: []src{C("[network]\ndomains = { \"[ab]c.example.com\" = \"allow\" }\n")}, want: []string{"NP020"}},
	{id: "V058d", files: []src{C("[network]\ndomains = { \"\" = \"allow\" }\n")}, want: []string{"NP020"}},
	{id: "V058e", files: []src{C("[network]\ndomains = { \"example.com/path\" = \"allow\" }\n")}, want: []string{"NP020"}},
	{id: "V058f", files: []src{C("[network]\ndomains = { \"[fe80::zz]\" = \"allow\" }\n")}, want: []string{"NP020"}},

	{id: "V059a", files: []src{C("[network]\ndomains = { \"*\" = \"deny\" }\n")}, want: []string{"NP021"},
		message: map[string]string{"NP021": `unsupported global wildcard domain pattern "*"; use exact hosts or scoped wildcards like *.example.com or **.example.com`}},
	{id: "V059b", files: []src{R("[experimental_network]\ndomains = { \"*\" = \"deny\" }\n")}, want: []string{"NP021"}},
	{id: "V059c", files: []src{C("[network]\ndomains = { \"**.*\" = \"deny\", \"*.*\" = \"deny\" }\n")}, want: []string{"NP021"}},
	{id: "V059d", files: []src{C("[network]\ndomains = { \"[*]\" = \"deny\" }\n")}, want: []string{"NP021"}, includes: true},
	{id: "V059e", files: []src{C("[network.domains]\n# netpolicy: ignore[NP021] we mean it\n\"*\" = \"deny\"\n")}, want: []string{"NP021"}, includes: true},

	{id: "V060a", files: []src{C("[network]\ndomains = { \"*\" = \"allow\", \"ads.example\" = \"deny\" }\n")}},
	{id: "V060b", files: []src{R("[experimental_network]\ndomains = { \"*\" = \"allow\" }\n")}},
	{id: "V060c", files: []src{C("[network]\ndomains = { \"*.com\" = \"deny\", \"**.example.net\" = \"deny\" }\n")}},
	{id: "V060d", files: []src{C("[network]\ndomains = { \"EXAMPLE.com.\" = \"allow\", \"10.0.0.1\" = \"allow\", \"[::1]\" = \"allow\", \"edge*.cdn.example.net\" = \"allow\" }\n")}},
	{id: "V060e", files: []src{C("[network]\nunix_sockets = { \"/run/a.sock\" = \"allow\", \"/run/b.sock\" = \"none\", \"/run/c.sock\" = \"deny\" }\n")}},

	{id: "V061a", files: []src{C("[network]\ndomains = { \"example.com:8443\" = \"allow\" }\n")}, want: []string{"NP022"},
		fixable: map[string]bool{"NP022": true}, fixed: map[string]string{"NP022": `{ "example.com" = "allow" }`}},
	{id: "V061b", files: []src{C("[network]\ndomains = { \"[::1]:8080\" = \"allow\" }\n")}, want: []string{"NP022"}, fixable: map[string]bool{"NP022": true}},

	{id: "V062a", files: []src{C("[network]\ndomains = { \"bücher.example\" = \"allow\" }\n")}, want: []string{"NP023"},
		fixable: map[string]bool{"NP023": true}, fixed: map[string]string{"NP023": `"xn--bcher-kva.example"`}},
	{id: "V062b", files: []src{C("[network]\ndomains = { \"*.bücher.example\" = \"deny\" }\n")}, want: []string{"NP023"},
		fixable: map[string]bool{"NP023": true}, fixed: map[string]string{"NP023": `"*.xn--bcher-kva.example"`}},

	{id: "V063", files: []src{C("[network]\ndomains = { \"example.com\" = \"allow\", \"EXAMPLE.COM.\" = \"deny\" }\n")}, want: []string{"NP024"}, includes: true},
	{id: "V064", files: []src{C("[network]\ndomains = { \"example.com\" = \"allow\", \"Example.COM.\" = \"allow\" }\n")}, want: []string{"NP025"}, fixable: map[string]bool{"NP025": true}},

	{id: "V065a", files: []src{C("[network]\ndomains = { \"api.example.com\" = \"allow\", \"*.example.com\" = \"deny\" }\n")}, want: []string{"NP026"}, includes: true},
	{id: "V065b", files: []src{C("[network]\ndomains = { \"example.com\" = \"allow\", \"*.example.com\" = \"deny\" }\n")}},

	{id: "V066a", files: []src{C("[network]\nunix_sockets = { \"relative.sock\" = \"allow\" }\n")}, want: []string{"NP030"}},
	{id: "V066b", files: []src{C("[network]\nunix_sockets = { \"/run/a\\u0000.sock\" = \"allow\" }\n")}, want: []string{"NP030"}},
	{id: "V066c", files: []src{C("[network]\nunix_sockets = { \"relative.sock\" = \"none\" }\n")}},
	{id: "V066d", files: []src{C("[network]\nunix_sockets = { \"relative.sock\" = \"deny\" }\n")}},

	{id: "V067a", files: []src{C("[network]\ndomains = { \"a.example\" = \"block\" }\n")}, want: []string{"NP031"}},
	{id: "V067b", files: []src{C("[network]\ndomains = { \"a.example\" = \"none\" }\n")}, want: []string{"NP031"}},
	{id: "V067c", files: []src{C("[network]\nunix_sockets = { \"/run/a.sock\" = \"yes\" }\n")}, want: []string{"NP031"}},

	{id: "V068a", files: []src{C("[network]\nproxy_url = \"http://0.0.0.0:3128\"\n")}, want: []string{"NP040"}},
	{id: "V068b", files: []src{C("[network]\nsocks_url = \"http://192.168.1.10:8081\"\n")}, want: []string{"NP040"}},
	{id: "V068c", files: []src{C("[network]\nproxy_url = \"http://0.0.0.0:3128\"\ndangerously_allow_non_loopback_proxy = true\n")}},
	{id: "V068d", files: []src{C("[network]\nproxy_url = \"http://127.0.0.1:3129\"\n")}},

	{id: "V069a", files: []src{C("[network]\nproxy_url = \"http://127.0.0.1:0\"\n")}, want: []string{"NP041"}},
	{id: "V069b", files: []src{C("[network]\nproxy_url = \"http://127.0.0.1:65536\"\n")}, want: []string{"NP041"}},
	{id: "V069c", files: []src{C("[network]\nproxy_url = \"http://:3128\"\n")}, want: []string{"NP041"}},
	{id: "V069d", files: []src{C("[network]\nsocks_url = \"socks5://127.0.0.1:0\"\n")}, want: []string{"NP041"}},
	{id: "V069e", files: []src{R("[experimental_network]\nhttp_port = 0\n")}, want: []string{"NP041"}},
	{id: "V069f", files: []src{R("[experimental_network]\nsocks_port = 70000\n")}, want: []string{"NP041"}},

	{id: "V070a", files: []src{C("default_permissions = \"dev\"\n[permissions.ops.network]\nenabled = true\n")}, want: []string{"NP050"}},
	{id: "V070b", files: []src{C("[permissions.child]\nextends = \"base\"\n")}, want: []string{"NP050"}},
	{id: "V070c", files: []src{C("[permissions.alpha]\nextends = \"beta\"\n[permissions.beta]\nextends = \"alpha\"\n")}, want: []string{"NP050"},
		lines: map[string][]int{"NP050": {2, 4}}},
	{id: "V070d", files: []src{C("[permissions.\":mine\"]\ndescription = \"x\"\n")}, want: []string{"NP050"}},
	{id: "V070e", files: []src{C("[permissions.child]\nextends = \":danger-full-access\"\n")}, want: []string{"NP050"}},
	{id: "V070f", files: []src{C("[permissions.child]\nextends = \":workspace\"\n")}},

	{id: "V071a", files: []src{R("[experimental_network]\nmanaged_allowed_domains_only = true\n")}, want: []string{"NP060"}},
	{id: "V071b", files: []src{R("[experimental_network]\nmanaged_allowed_domains_only = true\ndomains = { \"ads.example\" = \"deny\" }\n")}, want: []string{"NP060"}},
	{id: "V071c", files: []src{R("[experimental_network]\nmanaged_allowed_domains_only = true\ndomains = { \"corp.example.com\" = \"allow\" }\n")}},

	{id: "V072a", files: []src{v072R, C("[network]\nenabled = true\ndomains = { \"git.example.org\" = \"allow\" }\n")}, want: []string{"NP061"}},
	{id: "V072b", files: []src{v072R, C("[network]\nenabled = true\ndomains = { \"ads.example\" = \"deny\" }\n")}},
	{id: "V072c-managed-alone", files: []src{v072R}},
	{id: "V072c-user-alone", files: []src{C("[network]\nenabled = true\ndomains = { \"git.example.org\" = \"allow\" }\n")}},

	{id: "V073a", files: ceiling("enabled", "false", "true"), want: []string{"NP062"}},
	{id: "V073b", files: ceiling("allow_local_binding", "false", "true"), want: []string{"NP062"}},
	{id: "V073c", files: ceiling("allow_upstream_proxy", "false", "true"), want: []string{"NP062"}},
	{id: "V073d", files: ceiling("dangerously_allow_non_loopback_proxy", "false", "true"), want: []string{"NP062"}},
	{id: "V073e", files: ceiling("dangerously_allow_all_unix_sockets", "false", "true"), want: []string{"NP062"}},
	{id: "V073f", files: ceiling("allow_local_binding", "true", "true")},
	{id: "V073g", files: []src{R("[experimental_network]\nenabled = true\n"), C("[network]\nallow_local_binding = true\n")}},

	{id: "V074a", files: []src{C("[network.domains]\n# netpolicy: ignore[NP022] vendor docs give the port\n\"api.example.com:8443\" = \"allow\"\n")}, needs: []string{"NP022"}},
	{id: "V074b", files: []src{C("[network.domains]\n\"api.example.com:8443\" = \"allow\"  # netpolicy: ignore[NP022] vendor docs give the port\n")}, needs: []string{"NP022"}},
	{id: "V074c", files: []src{C("[network.domains]\n# netpolicy: ignore[NP022]\n\"api.example.com:8443\" = \"allow\"\n")}, want: []string{"NP090"}, includes: true},
	{id: "V074d", files: []src{C("[network.domains]\n# netpolicy: ignore[NP024] left over\n\"api.example.com\" = \"allow\"\n")}, want: []string{"NP090"}},

	// §4.1, the lint parts.
	{id: "V043a-allowed", files: []src{R("[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\nallowed_domains = [\"b.example\"]\n")}, want: []string{"NP011"}, includes: true},
	{id: "V043a-denied", files: []src{R("[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\ndenied_domains = [\"b.example\"]\n")}, want: []string{"NP011"}, includes: true},
	{id: "V043b", files: []src{R("[experimental_network]\nunix_sockets = { \"/run/a.sock\" = \"allow\" }\nallow_unix_sockets = [\"/run/b.sock\"]\n")}, want: []string{"NP011"}, includes: true},
	{id: "V043c", files: []src{R("[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\nallow_unix_sockets = [\"/run/b.sock\"]\n")}, want: []string{"NP012"}},
	{id: "V045a", files: []src{C("[network]\nunix_sockets = { \"/run/a.sock\" = \"deny\" }\n")}},
	{id: "V045b", files: []src{C("[network]\nunix_sockets = { \"/run/a.sock\" = \"none\" }\n")}},
}

var v072R = R("[experimental_network]\nmanaged_allowed_domains_only = true\ndomains = { \"corp.example.com\" = \"allow\" }\n")

// ceiling is a V073 pair: managed K = m, user K = u, linted together.
func ceiling(key, m, u string) []src {
	return []src{
		R("[experimental_network]\n" + key + " = " + m + "\n"),
		C("[network]\n" + key + " = " + u + "\n"),
	}
}

func load(files []src) []*policy.File {
	var out []*policy.File
	for _, s := range files {
		out = append(out, policy.Load(s.name, []byte(s.text), policy.KindAuto))
	}
	return out
}

// ruleIDs is the set of rule IDs of ds, sorted.
func ruleIDs(ds []lint.Diagnostic) []string {
	set := map[string]bool{}
	for _, d := range ds {
		set[d.Rule.ID] = true
	}
	out := []string{}
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// skipUnregistered skips a row that involves a rule nobody registered yet
// (the fixable rules are written in parallel).
func skipUnregistered(t *testing.T, ids ...[]string) {
	t.Helper()
	for _, list := range ids {
		for _, id := range list {
			if lint.Lookup(id) == nil {
				t.Skipf("rule %s is not registered yet", id)
			}
		}
	}
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.id, func(t *testing.T) {
			skipUnregistered(t, v.want, v.needs)
			files := load(v.files)
			ds := lint.Check(files...)
			got := ruleIDs(ds)
			want := append([]string{}, v.want...)
			sort.Strings(want)
			if v.includes {
				for _, id := range want {
					if !contains(got, id) {
						t.Errorf("want %s among the findings, got %v\n%s", id, got, dump(ds))
					}
				}
			} else if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rule IDs (-want +got):\n%s%s", diff, dump(ds))
			}
			for id, lines := range v.lines {
				var gotLines []int
				for _, d := range ds {
					if d.Rule.ID == id {
						gotLines = append(gotLines, d.Pos.Line)
					}
				}
				if diff := cmp.Diff(lines, gotLines); diff != "" {
					t.Errorf("%s lines (-want +got):\n%s", id, diff)
				}
			}
			for id, fixable := range v.fixable {
				for _, d := range ds {
					if d.Rule.ID == id && d.Fixable() != fixable {
						t.Errorf("%s at %d:%d: fixable = %v, want %v", id, d.Pos.Line, d.Pos.Column, d.Fixable(), fixable)
					}
				}
			}
			for id, text := range v.fixed {
				for _, d := range ds {
					if d.Rule.ID != id || d.Fix == nil {
						continue
					}
					out := applyFix(files[0].Src, d.Fix)
					if !strings.Contains(out, text) {
						t.Errorf("%s fix gives %q, want it to contain %q", id, out, text)
					}
				}
			}
			for id, msg := range v.message {
				for _, d := range ds {
					if d.Rule.ID == id && d.Message != msg {
						t.Errorf("%s message:\n got %q\nwant %q", id, d.Message, msg)
					}
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func dump(ds []lint.Diagnostic) string {
	var sb strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&sb, "\n  %s:%d:%d: %s %s", d.File, d.Pos.Line, d.Pos.Column, d.Rule.ID, d.Message)
	}
	return sb.String()
}

// applyFix applies a fix's edits (in any order, not overlapping) to src.
func applyFix(src []byte, fix *lint.Fix) string {
	edits := append([]lint.Edit{}, fix.Edits...)
	lint.SortEdits(edits)
	return string(lint.ApplyEdits(src, edits))
}

// TestRulesList: the rule list is sorted by ID without duplicates, and
// Lookup finds each rule whatever the case of its ID.
func TestRulesList(t *testing.T) {
	rs := lint.Rules()
	for i, r := range rs {
		if i > 0 && rs[i-1].ID >= r.ID {
			t.Errorf("rules out of order or duplicated: %s before %s", rs[i-1].ID, r.ID)
		}
		if lint.Lookup(strings.ToLower(r.ID)) != r {
			t.Errorf("Lookup(%s) does not find the rule", strings.ToLower(r.ID))
		}
	}
	if lint.Lookup("NP999") != nil {
		t.Error("Lookup(NP999) found a rule")
	}
}

// TestNP061CountsWhatMergeDrops: NP061 counts the allow rules merge leaves
// out, after the legacy lists are read (a repeated string is one rule, a
// string also denied is a deny rule, not an ignored allow).
func TestNP061CountsWhatMergeDrops(t *testing.T) {
	ds := lint.Check(load([]src{
		R("[experimental_network]\nmanaged_allowed_domains_only = true\ndomains = { \"corp.example\" = \"allow\" }\n"),
		C("[network]\nallowed_domains = [\"x.example\", \"x.example\", \"y.example\"]\ndenied_domains = [\"y.example\"]\n"),
	})...)
	var msgs []string
	for _, d := range ds {
		if d.Rule.ID == "NP061" {
			msgs = append(msgs, fmt.Sprintf("%d:%d %s", d.Pos.Line, d.Pos.Column, d.Message))
		}
	}
	want := []string{`2:20 1 allow rule of [network] is ignored: the managed requirements set managed_allowed_domains_only = true (requirements.toml:2)`}
	if d := cmp.Diff(want, msgs); d != "" {
		t.Errorf("NP061 (-want +got):\n%s", d)
	}
}

package migrate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// domainMap is the canonical map of a network table: key as written →
// permission. VECTORS.md §4.2 asserts the map, not the text.
func domainMap(n *policy.Network) map[string]string {
	m := map[string]string{}
	if n == nil {
		return m
	}
	for _, r := range n.Domains {
		m[r.Pattern] = r.Perm.String()
	}
	return m
}

func socketMap(n *policy.Network) map[string]string {
	m := map[string]string{}
	for _, s := range n.Sockets {
		m[s.Path] = s.Perm.String()
	}
	return m
}

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(goldenDir, name+".input"))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func migrateOK(t *testing.T, path string, src []byte) (*policy.File, *policy.File) {
	t.Helper()
	f := policy.Load(path, src, policy.KindAuto)
	out, _, err := Apply(f)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return f, policy.Load(path, out, f.Kind)
}

// lines returns the first n lines of src, line endings included.
func firstLines(src []byte, n int) string {
	parts := strings.SplitAfter(string(src), "\n")
	return strings.Join(parts[:min(n, len(parts))], "")
}

func findings(ds []lint.Diagnostic) map[string][]int {
	m := map[string][]int{}
	for _, d := range ds {
		m[d.Rule.ID] = append(m[d.Rule.ID], d.Pos.Line)
	}
	return m
}

func TestV046(t *testing.T) {
	src := readVector(t, "v046_profile")
	f, g := migrateOK(t, "config.toml", src)
	if diff := cmp.Diff(map[string][]int{"NP010": {10, 11}}, findings(lint.Check(f))); diff != "" {
		t.Errorf("lint before (-want +got):\n%s", diff)
	}
	n := g.Profile("dev").Network
	want := map[string]string{"api.example.com": "allow", "*.cdn.example.net": "allow", "tracker.example.com": "deny"}
	if diff := cmp.Diff(want, domainMap(n)); diff != "" {
		t.Errorf("domains (-want +got):\n%s", diff)
	}
	if n.AllowedDomainsEntry != nil || n.DeniedDomainsEntry != nil {
		t.Error("a legacy key is left")
	}
	if n.Mode == nil || n.Mode.Value != "full" || !bytes.Contains(g.Src, []byte("\nmode = 'full'\n")) {
		t.Errorf("mode = 'full' is no longer a key of [permissions.dev.network] as written")
	}
	if a, b := firstLines(src, 8), firstLines(g.Src, 8); a != b {
		t.Errorf("lines 1-8 changed:\n%s", Diff("config.toml", []byte(a), []byte(b)))
	}
	if !bytes.Contains(g.Src, []byte("\n# hosts the build needs\n")) {
		t.Error("the comment line is gone")
	}
	if d := Diff("config.toml", src, g.Src); !strings.HasPrefix(d, "--- a/config.toml\n+++ b/config.toml\n") {
		t.Errorf("diff starts %q", d[:min(len(d), 40)])
	}
}

func TestV047(t *testing.T) {
	for _, name := range []string{"v047_both_lists", "v051b_crlf"} {
		t.Run(name, func(t *testing.T) {
			src := readVector(t, name)
			f, g := migrateOK(t, "config.toml", src)
			want := map[string]string{"x.example": "deny", "y.example": "allow"}
			if diff := cmp.Diff(want, domainMap(g.Network)); diff != "" {
				t.Errorf("domains (-want +got):\n%s", diff)
			}
			for _, n := range []*policy.Network{f.Network, g.Network} {
				c, err := policy.Compile(&policy.Effective{Allow: pick(n.Domains, policy.Allow), Deny: pick(n.Domains, policy.Deny)})
				if err != nil {
					t.Fatal(err)
				}
				if _, denied := c.MatchDeny("x.example"); !denied {
					t.Errorf("x.example is not denied in\n%s", n.File)
				}
			}
		})
	}
}

func pick(rules []policy.Rule, p policy.Permission) []policy.Rule {
	var out []policy.Rule
	for _, r := range rules {
		if r.Perm == p {
			out = append(out, r)
		}
	}
	return out
}

func TestV048(t *testing.T) {
	src := readVector(t, "v048_managed")
	f, g := migrateOK(t, "requirements.toml", src)
	if diff := cmp.Diff(map[string][]int{"NP012": {7, 8, 9}}, findings(lint.Check(f))); diff != "" {
		t.Errorf("lint before (-want +got):\n%s", diff)
	}
	want := map[string]string{"*.vendor.example": "allow", "status.vendor.example": "allow", "ads.vendor.example": "deny"}
	if diff := cmp.Diff(want, domainMap(g.Managed)); diff != "" {
		t.Errorf("domains (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"/var/run/docker.sock": "allow"}, socketMap(g.Managed)); diff != "" {
		t.Errorf("unix_sockets (-want +got):\n%s", diff)
	}
	if a, b := firstLines(src, 6), firstLines(g.Src, 6); a != b {
		t.Errorf("lines 1-6 changed:\n%s", Diff("requirements.toml", []byte(a), []byte(b)))
	}
	if s := g.Managed.ManagedAllowedDomainsOnly; s == nil || !s.Value {
		t.Error("managed_allowed_domains_only = true is gone from [experimental_network]")
	}
	if ds := lint.Check(g); len(ds) != 0 {
		t.Errorf("lint afterwards: %v", findings(ds))
	}
}

func TestV049(t *testing.T) {
	src := readVector(t, "v049_mixed")
	f, g := migrateOK(t, "requirements.toml", src)
	fixable := false
	for _, d := range lint.Check(f) {
		fixable = fixable || d.Rule.ID == "NP011" && d.Fixable()
	}
	if !fixable {
		t.Error("no fixable NP011")
	}
	want := map[string]string{"a.example": "allow", "b.example": "deny"}
	if diff := cmp.Diff(want, domainMap(g.Managed)); diff != "" {
		t.Errorf("domains (-want +got):\n%s", diff)
	}
	if g.Managed.DeniedDomainsEntry != nil {
		t.Error("denied_domains is left")
	}

	// The conflicting variant is refused, naming both entries.
	conflict := policy.Load("requirements.toml", readVector(t, "v049_conflict"), policy.KindAuto)
	_, _, err := Apply(conflict)
	if err == nil {
		t.Fatal("a conflicting mixed block was migrated")
	}
	for _, s := range []string{"NP011", `"a.example" is "allow" in domains (line 2)`, `"deny" in denied_domains (line 3)`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestV050(t *testing.T) {
	src := readVector(t, "v050_obsolete_key_port")
	_, g := migrateOK(t, "config.toml", src)
	if g.Network.Table.Get("admin_url") != nil {
		t.Error("admin_url is left")
	}
	want := map[string]string{"api.example.com": "allow", "docs.example.com": "allow"}
	if diff := cmp.Diff(want, domainMap(g.Network)); diff != "" {
		t.Errorf("domains (-want +got):\n%s", diff)
	}
	for _, line := range []string{"enabled = true\n", "proxy_url = \"http://127.0.0.1:3128\"\n", "[network.domains]\n", "\"docs.example.com\" = \"allow\"\n"} {
		if !bytes.Contains(g.Src, []byte(line)) {
			t.Errorf("line %q is not kept byte for byte", line)
		}
	}
}

func TestV051(t *testing.T) {
	t.Run("a", func(t *testing.T) {
		src := readVector(t, "v051a_canonical")
		f := policy.Load("config.toml", src, policy.KindAuto)
		out, _, err := Apply(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, src) {
			t.Errorf("a canonical file changed:\n%s", Diff("config.toml", src, out))
		}
		if d := Diff("config.toml", src, out); d != "" {
			t.Errorf("diff of an unchanged file: %q", d)
		}
	})
	t.Run("b", func(t *testing.T) {
		src := readVector(t, "v051b_crlf")
		_, g := migrateOK(t, "config.toml", src)
		for i, l := range strings.SplitAfter(string(g.Src), "\n") {
			if l != "" && !strings.HasSuffix(l, "\r\n") {
				t.Errorf("line %d %q does not end in CRLF", i+1, l)
			}
		}
		if ds := lint.Check(g); len(ds) != 0 {
			t.Errorf("lint afterwards: %v", findings(ds))
		}
	})
}

// TestSuppressedFixNotApplied: migrate applies only the fixes of findings
// lint reports; a suppressed one (V074a, V074b) stays as written.
func TestSuppressedFixNotApplied(t *testing.T) {
	for _, src := range []string{
		"[network.domains]\n# netpolicy: ignore[NP022] vendor docs give the port\n\"api.example.com:8443\" = \"allow\"\n",
		"[network.domains]\n\"api.example.com:8443\" = \"allow\"  # netpolicy: ignore[NP022] vendor docs give the port\n",
	} {
		f := policy.Load("config.toml", []byte(src), policy.KindAuto)
		out, _, err := Apply(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != src {
			t.Errorf("a suppressed fix was applied:\n%s", Diff("config.toml", []byte(src), out))
		}
	}
}

// TestOverlappingFixesRefused: fixes from different findings that touch
// the same bytes are an error, not merged.
func TestOverlappingFixesRefused(t *testing.T) {
	ds := []lint.Diagnostic{
		{Rule: lint.Lookup("NP014"), Fix: &lint.Fix{Edits: []lint.Edit{{Start: 0, End: 5, New: ""}}}},
		{Rule: lint.Lookup("NP022"), Fix: &lint.Fix{Edits: []lint.Edit{{Start: 3, End: 4, New: "x"}}}},
		{Rule: lint.Lookup("NP025"), Fix: &lint.Fix{Edits: []lint.Edit{{Start: 0, End: 5, New: ""}}}},
	}
	if _, err := fixEdits(ds); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlapping edits: err = %v", err)
	}
	// Identical edits (one fix carried by several findings) collapse.
	edits, err := fixEdits([]lint.Diagnostic{ds[0], ds[2]})
	if err != nil || len(edits) != 1 {
		t.Errorf("identical edits: %v, %v", edits, err)
	}
}

// TestRuleExamples: the Example of every fixable rule migrates to its
// Fixed text, so --explain never shows a fix migrate would not make.
func TestRuleExamples(t *testing.T) {
	for _, r := range lint.Rules() {
		if r.Fixable == "" {
			continue
		}
		t.Run(r.ID, func(t *testing.T) {
			if r.Example == "" || r.Fixed == "" {
				t.Fatal("a fixable rule needs an Example and its Fixed form")
			}
			f := policy.Load("example.toml", []byte(r.Example+"\n"), policy.KindAuto)
			out, _, err := Apply(f)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != r.Fixed+"\n" {
				t.Errorf("Example migrates to\n%s\nFixed says\n%s", out, r.Fixed)
			}
		})
	}
}

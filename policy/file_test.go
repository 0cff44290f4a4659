package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ruleMap is a Network's domain rules as pattern → permission.
func ruleMap(n *Network) map[string]string {
	m := map[string]string{}
	if n == nil {
		return m
	}
	for _, r := range n.Domains {
		m[r.Pattern] = r.Perm.String()
	}
	return m
}

func socketMap(n *Network) map[string]string {
	m := map[string]string{}
	if n == nil {
		return m
	}
	for _, s := range n.Sockets {
		m[s.Path] = s.Perm.String()
	}
	return m
}

func mustLoad(t *testing.T, name, src string) *File {
	t.Helper()
	f := Load(name, []byte(src), KindAuto)
	if f.SyntaxErr != nil {
		t.Fatalf("%s: unexpected syntax error: %v", name, f.SyntaxErr)
	}
	return f
}

// V044: four spellings of one managed block mean the same thing.
func TestManagedBlockForms(t *testing.T) {
	want := map[string]string{"a.example": "allow", "b.example": "deny"}
	for name, src := range map[string]string{
		"V044a-inline-value": "[experimental_network]\ndomains = { \"a.example\" = \"allow\", \"b.example\" = \"deny\" }\n",
		"V044b-subtable":     "[experimental_network.domains]\n\"a.example\" = \"allow\"\n\"b.example\" = \"deny\"\n",
		"V044c-dotted":       "experimental_network.domains.\"a.example\" = \"allow\"\nexperimental_network.domains.\"b.example\" = \"deny\"\n",
		"V044d-inline-block": "experimental_network = { domains = { \"a.example\" = \"allow\", \"b.example\" = \"deny\" } }\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := mustLoad(t, "requirements.toml", src)
			if f.Kind != KindRequirements || f.Managed == nil {
				t.Fatalf("kind %v, managed %v: want a requirements file with a managed block", f.Kind, f.Managed)
			}
			if diff := cmp.Diff(want, ruleMap(f.Managed)); diff != "" {
				t.Errorf("domains (-want +got):\n%s", diff)
			}
			if f.Managed.Path != "experimental_network" {
				t.Errorf("path %q", f.Managed.Path)
			}
		})
	}
}

// V040–V042: legacy lists normalise into canonical maps.
func TestLegacyNormalisation(t *testing.T) {
	tests := []struct {
		id, src      string
		wantDomains  map[string]string
		wantSockets  map[string]string
		wantAllowLen int
	}{
		{"V040", "[experimental_network]\nallowed_domains = [\"b.example\", \"a.example\", \"b.example\"]\ndenied_domains = [\"b.example\", \"C.example\"]\n",
			map[string]string{"a.example": "allow", "b.example": "deny", "C.example": "deny"}, map[string]string{}, 1},
		{"V041a", "[experimental_network]\nallowed_domains = []\ndenied_domains = []\n", map[string]string{}, map[string]string{}, 0},
		{"V041b", "[experimental_network]\nallowed_domains = [\"a.example\"]\n", map[string]string{"a.example": "allow"}, map[string]string{}, 1},
		{"V041c", "[experimental_network]\ndenied_domains = [\"x.example\"]\n", map[string]string{"x.example": "deny"}, map[string]string{}, 0},
		{"V042", "[experimental_network]\nallow_unix_sockets = [\"/var/run/docker.sock\", \"/run/user/1000/podman.sock\"]\n",
			map[string]string{}, map[string]string{"/var/run/docker.sock": "allow", "/run/user/1000/podman.sock": "allow"}, 0},
		{"V043c", "[experimental_network]\ndomains = { \"a.example\" = \"allow\" }\nallow_unix_sockets = [\"/run/b.sock\"]\n",
			map[string]string{"a.example": "allow"}, map[string]string{"/run/b.sock": "allow"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			f := mustLoad(t, "requirements.toml", tt.src)
			if diff := cmp.Diff(tt.wantDomains, ruleMap(f.Managed)); diff != "" {
				t.Errorf("domains (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSockets, socketMap(f.Managed)); diff != "" {
				t.Errorf("sockets (-want +got):\n%s", diff)
			}
			allows := 0
			for _, r := range f.Managed.Domains {
				if r.Perm == Allow {
					allows++
				}
			}
			if allows != tt.wantAllowLen {
				t.Errorf("%d allow rules, want %d", allows, tt.wantAllowLen)
			}
		})
	}
}

// V040: the position of a legacy entry is the line of its string.
func TestLegacyRuleSource(t *testing.T) {
	f := mustLoad(t, "requirements.toml", "[experimental_network]\nallowed_domains = [\n  \"a.example\",\n  \"b.example\",\n]\n")
	got := map[string]int{}
	for _, r := range f.Managed.Domains {
		got[r.Pattern] = r.Source.Line
		if r.Source.Origin != OriginManaged || r.Source.File != "requirements.toml" {
			t.Errorf("%s: source %+v", r.Pattern, r.Source)
		}
	}
	if diff := cmp.Diff(map[string]int{"a.example": 3, "b.example": 4}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestLegacyFold: the legacy lists fold as the domains map does: one rule
// per string, at the string's first position with allowed_domains read
// before denied_domains (wherever they stand), deny winning, and each rule
// naming the line of the entry that won (the first of its permission).
func TestLegacyFold(t *testing.T) {
	src := "[experimental_network]\n" +
		"denied_domains = [\n" + // line 2
		"  \"c.example\",\n" + // 3
		"  \"b.example\",\n" + // 4
		"  \"b.example\",\n" + // 5
		"  \"c.example\",\n" + // 6
		"]\n" +
		"allowed_domains = [\n" + // 8
		"  \"a.example\",\n" + // 9
		"  \"b.example\",\n" + // 10
		"  \"a.example\",\n" + // 11
		"  \"A.example\",\n" + // 12
		"]\n"
	f := mustLoad(t, "requirements.toml", src)
	var got []string
	for _, r := range f.Managed.Domains {
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Pattern, r.Perm, r.Source.Line))
	}
	want := []string{"a.example=allow@9", "b.example=deny@4", "A.example=allow@12", "c.example=deny@3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("legacy rules (-want +got):\n%s", diff)
	}
}

// TestLoadPositions: Load keeps the document it parsed (its spans are
// offsets of f.Src; tomldoc's own tests hold the spans themselves), rules
// name the line they were written on, and a setting of the wrong type is
// left unset (lint reports it).
func TestLoadPositions(t *testing.T) {
	src := "# héllo\n[network]\nenabled = \"yes\" # trailing\n[network.domains]\n\"bücher.example\" = \"allow\"\n"
	f := mustLoad(t, "config.toml", src)
	e := f.Doc.Root.Sub("network").Get("enabled")
	if e == nil || e.Value.Span.Text(f.Src) != `"yes"` || e.KeySpan.Start.Line != 3 {
		t.Fatalf("enabled entry %+v", e)
	}
	n := f.Network
	if n == nil || n.Enabled != nil {
		t.Fatalf("a wrongly typed enabled must be left unset: %+v", n)
	}
	if len(n.Domains) != 1 || n.Domains[0].Pattern != "bücher.example" ||
		n.Domains[0].Source != (Source{File: "config.toml", Line: 5, Origin: OriginUser}) {
		t.Errorf("domain rules %+v", n.Domains)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for name, src := range map[string]string{
		"V052a-bare-value":    "[network]\ndomains = { \"a.example\" = allow }\n",
		"V052b-duplicate-key": "[network]\nenabled = true\nenabled = false\n",
		"unterminated":        "[network\n",
		"byte-order mark":     "\xef\xbb\xbf[network]\nenabled = true\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := Load("config.toml", []byte(src), KindConfig)
			if f.SyntaxErr == nil {
				t.Fatal("want a syntax error")
			}
			p := f.SyntaxErr.Pos
			if p.Line < 1 || p.Column < 1 || p.Offset > len(src) {
				t.Errorf("position out of the file: %+v", p)
			}
		})
	}
	if f := Load("config.toml", []byte("\xef\xbb\xbf[network]\n"), KindConfig); !strings.Contains(f.SyntaxErr.Message, "byte-order mark") {
		t.Errorf("a BOM must be named as such: %q", f.SyntaxErr.Message)
	}
	f := Load("config.toml", []byte("[network]\nenabled = true\nenabled = false\n"), KindConfig)
	if f.SyntaxErr.Pos.Line != 3 {
		t.Errorf("duplicate key reported at line %d, want 3", f.SyntaxErr.Pos.Line)
	}
}

func TestDetectKind(t *testing.T) {
	for _, tt := range []struct {
		path, src string
		want      FileKind
	}{
		{"requirements.toml", "", KindRequirements},
		{"requirements-prod.toml", "[network]\n", KindRequirements},
		{"x/managed.toml", "[experimental_network]\nenabled = true\n", KindRequirements},
		{"config.toml", "# experimental_network is mentioned only here\n[network]\n", KindConfig},
		{"config.toml", "[network]\n", KindConfig},
	} {
		if got := DetectKind(tt.path, []byte(tt.src)); got != tt.want {
			t.Errorf("DetectKind(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

const v089 = `default_permissions = "dev"

[permissions.dev.network]
enabled = true
domains = { "dev.example.com" = "allow" }

[permissions.ops.network]
enabled = true
domains = { "ops.example.com" = "allow" }

[network]
enabled = true
domains = { "plain.example.com" = "allow" }
`

// V089: which user table counts.
func TestUserNetworkSelection(t *testing.T) {
	f := mustLoad(t, "config.toml", v089)
	for _, tt := range []struct {
		id, profile string
		file        *File
		want        map[string]string
	}{
		{"V089a", "", f, map[string]string{"dev.example.com": "allow"}},
		{"V089b", "ops", f, map[string]string{"ops.example.com": "allow"}},
		{"V089c", "", mustLoad(t, "config.toml", strings.Replace(v089, `default_permissions = "dev"`, "", 1)), map[string]string{"plain.example.com": "allow"}},
		{"builtin", ":workspace", f, map[string]string{"plain.example.com": "allow"}},
	} {
		t.Run(tt.id, func(t *testing.T) {
			n, err := tt.file.UserNetwork(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ruleMap(n)); diff != "" {
				t.Errorf("domains (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := f.UserNetwork("nope"); err == nil {
		t.Error("an undefined profile must be an error")
	}
}

// V090: extends applies the parent first; the child's allow replaces the
// parent's deny of the same normalised pattern.
func TestExtends(t *testing.T) {
	src := `default_permissions = "child"

[permissions.base.network]
enabled = true
mode = "limited"
domains = { "base.example.com" = "allow", "SHARED.EXAMPLE.COM." = "deny" }
unix_sockets = { "/run/base.sock" = "allow", "/run/keep.sock" = "allow" }

[permissions.child]
extends = "base"

[permissions.child.network]
mode = "full"
allow_local_binding = true
domains = { "shared.example.com" = "allow", "child.example.com" = "allow" }
unix_sockets = { "/run/base.sock" = "none" }
`
	f := mustLoad(t, "config.toml", src)
	n, err := f.UserNetwork("")
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled == nil || !n.Enabled.Value || n.Enabled.Source.Line != 4 {
		t.Errorf("enabled must be inherited from line 4: %+v", n.Enabled)
	}
	if n.Mode == nil || n.Mode.Value != "full" {
		t.Errorf("mode %+v", n.Mode)
	}
	if n.AllowLocalBinding == nil || !n.AllowLocalBinding.Value {
		t.Errorf("allow_local_binding %+v", n.AllowLocalBinding)
	}
	want := map[string]string{"base.example.com": "allow", "shared.example.com": "allow", "child.example.com": "allow"}
	if diff := cmp.Diff(want, ruleMap(n)); diff != "" {
		t.Errorf("domains (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"/run/base.sock": "none", "/run/keep.sock": "allow"}, socketMap(n)); diff != "" {
		t.Errorf("sockets (-want +got):\n%s", diff)
	}
	// What extends replaced is recorded, so effective --explain can say so.
	var over []string
	for _, d := range n.Overridden {
		over = append(over, fmt.Sprintf("%s @%d: %s", d.What, d.Source.Line, d.Why))
	}
	wantOver := []string{
		`domains."SHARED.EXAMPLE.COM." = "deny" @6: replaced through extends by "shared.example.com" = "allow" (config.toml:15)`,
		`unix_sockets."/run/base.sock" = "allow" @7: replaced through extends by "/run/base.sock" = "none" (config.toml:16)`,
	}
	if diff := cmp.Diff(wantOver, over); diff != "" {
		t.Errorf("overridden (-want +got):\n%s", diff)
	}
}

func TestProfileErrors(t *testing.T) {
	for name, src := range map[string]string{
		"V070b-undefined-parent": "default_permissions = \"child\"\n[permissions.child]\nextends = \"base\"\n",
		"V070c-cycle":            "default_permissions = \"alpha\"\n[permissions.alpha]\nextends = \"beta\"\n[permissions.beta]\nextends = \"alpha\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := mustLoad(t, "config.toml", src)
			_, err := f.UserNetwork("")
			if _, ok := err.(*ProfileError); !ok {
				t.Fatalf("want a *ProfileError, got %v", err)
			}
		})
	}
}

func TestObsoletePermissionsNetwork(t *testing.T) {
	f := mustLoad(t, "config.toml", "[permissions.network]\nallowed_domains = [\"a.example\"]\n")
	if f.Profile("network") != nil {
		t.Error("[permissions.network] holding a network key is the obsolete shape, not a profile")
	}
	f = mustLoad(t, "config.toml", "[permissions.network]\ndescription = \"a profile named network\"\n[permissions.network.network]\nenabled = true\n")
	if p := f.Profile("network"); p == nil || p.Network == nil {
		t.Error("[permissions.network] with only profile keys is a profile named network")
	}
}

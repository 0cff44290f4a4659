package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/netpolicy/netpolicy/internal/schematest"
	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/policy"
)

// schemaPath is a copy of the published app-server schema
// (shared/spec/ConfigRequirementsReadResponse.schema.json).
const schemaPath = "testdata/ConfigRequirementsReadResponse.schema.json"

// networkRequirements compiles the NetworkRequirements definition of the
// app-server schema with a real JSON Schema implementation.
func networkRequirements(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	return schematest.Compile(t, doc, "file:///ConfigRequirementsReadResponse.schema.json", "#/definitions/NetworkRequirements", false)
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return v
}

// effectiveKeys is the exact key set of `effective --format json` (CLI.md).
var effectiveKeys = []string{
	"sessionMode", "onMiss", "networkMode", "enabled", "httpPort", "socksPort",
	"allowUpstreamProxy", "dangerouslyAllowNonLoopbackProxy", "dangerouslyAllowAllUnixSockets",
	"allowLocalBinding", "managedAllowedDomainsOnly", "domains", "unixSockets",
	"allowedDomains", "deniedDomains", "allowUnixSockets", "enableSocks5", "enableSocks5Udp", "mitm",
	"http", "socks",
}

// TestSchemaValidator makes sure the schema rejects what it should, so a
// passing TestEffectiveJSONSchema means something.
func TestSchemaValidator(t *testing.T) {
	nr := networkRequirements(t)
	good := `{"enabled":true,"httpPort":3128,"socksPort":null,"domains":{"a":"allow"},"unixSockets":{},"allowedDomains":["a"],"deniedDomains":null}`
	if err := schematest.Validate(t, nr, []byte(good)); err != nil {
		t.Errorf("valid document rejected: %v", err)
	}
	bad := []string{
		`{"enabled":"yes"}`,
		`{"httpPort":-1}`,
		`{"httpPort":3.5}`,
		`{"domains":{"a":"maybe"}}`,
		`{"unixSockets":{"/a":"deny"}}`,
		`{"allowedDomains":"a"}`,
		`{"allowedDomains":[1]}`,
		`{"domains":[]}`,
	}
	for _, b := range bad {
		if err := schematest.Validate(t, nr, []byte(b)); err == nil {
			t.Errorf("invalid document accepted: %s", b)
		}
	}
}

func loadPolicy(t *testing.T, path, src string, kind policy.FileKind) *policy.File {
	t.Helper()
	f := policy.Load(path, []byte(src), kind)
	if f.SyntaxErr != nil {
		t.Fatal(f.SyntaxErr)
	}
	return f
}

// TestEffectiveJSONSchema renders vectors as JSON and checks every document
// against the NetworkRequirements definition, the exact key set, and the
// values the vectors name.
func TestEffectiveJSONSchema(t *testing.T) {
	nr := networkRequirements(t)
	cases := []struct {
		id, managed, user, mode string
		want                    map[string]string // key → expected JSON text
	}{
		{id: "V088", user: "", mode: "workspace-write", want: map[string]string{
			"sessionMode": `"workspace-write"`, "onMiss": `"ask"`, "networkMode": `"full"`, "enabled": "false",
			"httpPort": "3128", "socksPort": "8081", "http": `"127.0.0.1:3128"`, "socks": `"127.0.0.1:8081"`,
			"domains": "{}", "unixSockets": "{}", "allowedDomains": "null", "deniedDomains": "null", "allowUnixSockets": "null",
			"enableSocks5": "true", "enableSocks5Udp": "false", "mitm": "false", "allowUpstreamProxy": "false", "managedAllowedDomainsOnly": "false",
		}},
		{id: "V091a", user: "[network]\ndomains = { \"b.example\" = \"allow\", \"a.example\" = \"allow\", \"z.example\" = \"deny\" }\nunix_sockets = { \"/run/y.sock\" = \"none\", \"/run/x.sock\" = \"allow\" }\n", mode: "workspace-write", want: map[string]string{
			"sessionMode": `"workspace-write"`, "onMiss": `"ask"`, "networkMode": `"full"`,
			"domains":        `{"a.example":"allow","b.example":"allow","z.example":"deny"}`,
			"allowedDomains": `["a.example","b.example"]`, "deniedDomains": `["z.example"]`,
			"unixSockets": `{"/run/x.sock":"allow","/run/y.sock":"none"}`, "allowUnixSockets": `["/run/x.sock"]`,
		}},
		{id: "V091b", user: "[network]\ndomains = { \"z.example\" = \"deny\" }\n", mode: "workspace-write", want: map[string]string{
			"allowedDomains": "null", "allowUnixSockets": "null", "deniedDomains": `["z.example"]`, "unixSockets": "{}",
		}},
		{id: "V045a", user: "[network]\nunix_sockets = { \"/run/a.sock\" = \"deny\" }\n", mode: "workspace-write", want: map[string]string{
			"unixSockets": `{"/run/a.sock":"none"}`, "allowUnixSockets": "null",
		}},
		{id: "V045b", user: "[network]\nunix_sockets = { \"/run/a.sock\" = \"none\" }\n", mode: "workspace-write", want: map[string]string{
			"unixSockets": `{"/run/a.sock":"none"}`, "allowUnixSockets": "null",
		}},
		{id: "V075d", user: "[network]\ndomains = { \"api.example.com\" = \"allow\" }\n", mode: "danger-full-access", want: map[string]string{
			"sessionMode": `"full-access"`, "onMiss": `"deny"`,
		}},
		{id: "V079a", managed: "[experimental_network]\ndomains = { \"api.example.com\" = \"allow\" }\n", user: "[network]\ndomains = { \"api.example.com\" = \"deny\" }\n", mode: "workspace-write", want: map[string]string{
			// The same pattern both allowed and denied: deny wins.
			"domains": `{"api.example.com":"deny"}`, "allowedDomains": "null", "deniedDomains": `["api.example.com"]`,
		}},
		{id: "V081", managed: "[experimental_network]\nmanaged_allowed_domains_only = true\ndomains = { \"*.example.com\" = \"allow\" }\n", user: "[network]\ndomains = { \"api.example.com\" = \"allow\", \"tracker.example.com\" = \"deny\" }\n", mode: "full-access", want: map[string]string{
			"managedAllowedDomainsOnly": "true", "onMiss": `"deny"`,
			"domains": `{"*.example.com":"allow","tracker.example.com":"deny"}`,
		}},
		{id: "V087", managed: "[experimental_network]\nhttp_port = 9000\nsocks_port = 9001\n", user: "[network]\nproxy_url = \"http://0.0.0.0:3128\"\ndangerously_allow_non_loopback_proxy = true\n", mode: "workspace-write", want: map[string]string{
			"httpPort": "9000", "socksPort": "9001", "http": `"127.0.0.1:9000"`, "socks": `"127.0.0.1:9001"`,
		}},
		{id: "V113g", user: "[network]\nenable_socks5 = false\n", mode: "workspace-write", want: map[string]string{
			"enableSocks5": "false", "socks": "null", "socksPort": "null", "http": `"127.0.0.1:3128"`,
		}},
		{id: "V085a", managed: "[experimental_network]\nallow_local_binding = false\nenabled = false\n", user: "[network]\nallow_local_binding = true\nenabled = true\n", mode: "read-only", want: map[string]string{
			"allowLocalBinding": "false", "enabled": "false", "sessionMode": `"read-only"`,
		}},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			var m, u *policy.File
			if c.managed != "" {
				m = loadPolicy(t, "/etc/codex/requirements.toml", c.managed, policy.KindRequirements)
			}
			u = loadPolicy(t, "/home/me/.codex/config.toml", c.user, policy.KindConfig)
			mode, _ := policy.ParseSessionMode(c.mode)
			eff, err := merge.Effective(m, u, "", mode)
			if err != nil {
				t.Fatal(err)
			}
			for _, explain := range []bool{false, true} {
				var buf bytes.Buffer
				if err := writeEffectiveJSON(&buf, eff, explain); err != nil {
					t.Fatal(err)
				}
				doc := decodeJSON(t, buf.Bytes())
				if err := schematest.Validate(t, nr, buf.Bytes()); err != nil {
					t.Errorf("schema violations (explain=%v):\n%v\n%s", explain, err, buf.Bytes())
				}
				want := append([]string(nil), effectiveKeys...)
				if explain {
					want = append(want, "explain")
				}
				var got []string
				for k := range doc {
					got = append(got, k)
				}
				sort.Strings(got)
				sort.Strings(want)
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("keys (-want +got):\n%s", d)
				}
				var raw map[string]json.RawMessage
				if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
					t.Fatal(err)
				}
				for k, w := range c.want {
					var compact bytes.Buffer
					json.Compact(&compact, raw[k])
					if compact.String() != w {
						t.Errorf("%s = %s, want %s", k, compact.String(), w)
					}
				}
			}
			checkTOMLMatchesJSON(t, eff)
		})
	}
}

// checkTOMLMatchesJSON parses the TOML form (plain and --explain) and checks
// it carries the same rules as the JSON form.
func checkTOMLMatchesJSON(t *testing.T, eff *policy.Effective) {
	t.Helper()
	j := buildEffectiveJSON(eff, false)
	for _, explain := range []bool{false, true} {
		var buf bytes.Buffer
		if err := writeEffectiveTOML(&buf, eff, explain); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Mode    string `toml:"mode"`
			OnMiss  string `toml:"on_miss"`
			Network struct {
				Enabled     bool              `toml:"enabled"`
				Mode        string            `toml:"mode"`
				HTTP        string            `toml:"http"`
				Socks       string            `toml:"socks"`
				Domains     map[string]string `toml:"domains"`
				UnixSockets map[string]string `toml:"unix_sockets"`
			} `toml:"network"`
		}
		if err := toml.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("TOML output does not parse (explain=%v): %v\n%s", explain, err, buf.Bytes())
		}
		if doc.Mode != j.SessionMode || doc.OnMiss != j.OnMiss || doc.Network.Enabled != j.Settings["enabled"] || doc.Network.Mode != j.NetworkMode {
			t.Errorf("TOML scalars differ from JSON:\n%s", buf.Bytes())
		}
		if doc.Network.HTTP != deref(j.HTTP) || doc.Network.Socks != deref(j.Socks) {
			t.Errorf("TOML listeners %q %q, JSON %q %q", doc.Network.HTTP, doc.Network.Socks, deref(j.HTTP), deref(j.Socks))
		}
		if d := cmp.Diff(j.Domains, nonNil(doc.Network.Domains)); d != "" {
			t.Errorf("TOML domains differ from JSON (-json +toml):\n%s", d)
		}
		if d := cmp.Diff(j.UnixSockets, nonNil(doc.Network.UnixSockets)); d != "" {
			t.Errorf("TOML unix_sockets differ from JSON (-json +toml):\n%s", d)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// TestEffectiveTOMLQuoting: patterns and paths are written with TOML
// escapes, never Go's %q.
func TestEffectiveTOMLQuoting(t *testing.T) {
	u := loadPolicy(t, "c.toml", "[network]\ndomains = { \"we\\\"ird\\\\.example\" = \"allow\" }\nunix_sockets = { \"/run/\\u00e9.sock\" = \"allow\" }\n", policy.KindConfig)
	eff, err := merge.Effective(nil, u, "", policy.ModeWorkspaceWrite)
	if err != nil {
		t.Fatal(err)
	}
	checkTOMLMatchesJSON(t, eff)
	var buf bytes.Buffer
	writeEffectiveTOML(&buf, eff, false)
	if !strings.Contains(buf.String(), `"we\"ird\\.example" = "allow"`) || !strings.Contains(buf.String(), "\"/run/\u00e9.sock\" = \"allow\"") {
		t.Errorf("quoting:\n%s", buf.String())
	}
}

// TestEffectiveExplain checks the explain object carries provenance, forced
// ceilings and dropped entries with their reasons.
func TestEffectiveExplain(t *testing.T) {
	m := loadPolicy(t, "/etc/codex/requirements.toml", "[experimental_network]\nallow_local_binding = false\ndomains = { \"api.example.com\" = \"allow\" }\n", policy.KindRequirements)
	u := loadPolicy(t, "/home/me/.codex/config.toml", "[network]\nallow_local_binding = true\ndomains = { \"API.Example.com\" = \"allow\", \"docs.example.net\" = \"allow\" }\n", policy.KindConfig)
	eff, err := merge.Effective(m, u, "", policy.ModeWorkspaceWrite)
	if err != nil {
		t.Fatal(err)
	}
	x := buildEffectiveJSON(eff, true).Explain
	alb := x.Settings["allowLocalBinding"]
	if alb.Value != false || !alb.Forced || alb.Origin != "managed" || alb.File != "/etc/codex/requirements.toml" || alb.Line != 2 || !strings.Contains(alb.Note, "forced to false") {
		t.Errorf("allowLocalBinding explain = %+v", alb)
	}
	if d := x.Settings["enabled"]; d.Origin != "default" || d.File != "" {
		t.Errorf("enabled explain = %+v", d)
	}
	wantDomains := []ruleExplain{
		{Pattern: "api.example.com", Permission: "allow", Origin: "managed", File: "/etc/codex/requirements.toml", Line: 3},
		{Pattern: "docs.example.net", Permission: "allow", Origin: "user", File: "/home/me/.codex/config.toml", Line: 3},
	}
	if d := cmp.Diff(wantDomains, x.Domains); d != "" {
		t.Errorf("explain domains (-want +got):\n%s", d)
	}
	if len(x.Dropped) != 1 || x.Dropped[0].What != `domains."API.Example.com" = "allow"` || x.Dropped[0].Line != 3 || x.Dropped[0].Origin != "user" || !strings.Contains(x.Dropped[0].Why, "same pattern as the managed allow rule") {
		t.Errorf("explain dropped = %+v", x.Dropped)
	}
	var buf bytes.Buffer
	writeEffectiveTOML(&buf, eff, true)
	for _, want := range []string{
		`allow_local_binding = false # /etc/codex/requirements.toml:2, managed; forced; user allow_local_binding = true (/home/me/.codex/config.toml:2) forced to false`,
		`"api.example.com" = "allow" # /etc/codex/requirements.toml:3, managed`,
		`"docs.example.net" = "allow" # /home/me/.codex/config.toml:3, user`,
		`#   domains."API.Example.com" = "allow" (/home/me/.codex/config.toml:3, user): same pattern as the managed allow rule "api.example.com" (/etc/codex/requirements.toml:3)`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("TOML --explain lacks %q:\n%s", want, buf.String())
		}
	}
}

// runIn runs the CLI in-process with the given environment variables set
// (unset when the value is "<unset>").
func runIn(t *testing.T, envs map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	for k, v := range envs {
		if v == "<unset>" {
			t.Setenv(k, "")
			os.Unsetenv(k)
			continue
		}
		t.Setenv(k, v)
	}
	return runCLI(args)
}

// TestSourceDefaults covers the default paths, which scripts cannot reach:
// /etc/codex/requirements.toml (redirected here) and ~/.codex/config.toml.
func TestSourceDefaults(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "requirements.toml")
	os.WriteFile(req, []byte("[experimental_network]\ndomains = { \"managed.example\" = \"allow\" }\n"), 0o644)
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, ".codex"), 0o755)
	os.WriteFile(filepath.Join(home, ".codex", "config.toml"), []byte("[network]\ndomains = { \"home.example\" = \"allow\" }\n"), 0o644)
	codexHome := filepath.Join(dir, "codexhome")
	os.MkdirAll(codexHome, 0o755)
	os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte("[network]\ndomains = { \"codexhome.example\" = \"allow\" }\n"), 0o644)

	old := defaultRequirementsPath
	t.Cleanup(func() { defaultRequirementsPath = old })

	cases := []struct {
		name    string
		reqPath string
		envs    map[string]string
		args    []string
		want    []string // allowedDomains
	}{
		{"defaults", req, map[string]string{"NETPOLICY_REQUIREMENTS": "<unset>", "NETPOLICY_CONFIG": "<unset>", "CODEX_HOME": "<unset>", "HOME": home}, nil,
			[]string{"home.example", "managed.example"}},
		{"CODEX_HOME wins over HOME", req, map[string]string{"NETPOLICY_REQUIREMENTS": "<unset>", "NETPOLICY_CONFIG": "<unset>", "CODEX_HOME": codexHome, "HOME": home}, nil,
			[]string{"codexhome.example", "managed.example"}},
		{"no default requirements file", filepath.Join(dir, "absent.toml"), map[string]string{"NETPOLICY_REQUIREMENTS": "<unset>", "NETPOLICY_CONFIG": "<unset>", "CODEX_HOME": "<unset>", "HOME": home}, nil,
			[]string{"home.example"}},
		{"CODEX_HOME without config.toml", req, map[string]string{"NETPOLICY_REQUIREMENTS": "<unset>", "NETPOLICY_CONFIG": "<unset>", "CODEX_HOME": dir, "HOME": home}, nil,
			[]string{"managed.example"}},
		{"set-but-empty variables mean none", req, map[string]string{"NETPOLICY_REQUIREMENTS": "", "NETPOLICY_CONFIG": "", "CODEX_HOME": "<unset>", "HOME": home}, nil,
			nil},
		{"empty flags mean none", req, map[string]string{"NETPOLICY_REQUIREMENTS": "<unset>", "NETPOLICY_CONFIG": "<unset>", "CODEX_HOME": "<unset>", "HOME": home}, []string{"--requirements=", "--config="},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defaultRequirementsPath = c.reqPath
			code, out, errOut := runIn(t, c.envs, append([]string{"effective", "--format", "json"}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var doc effectiveJSON
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, doc.AllowedDomains); d != "" {
				t.Errorf("allowedDomains (-want +got):\n%s", d)
			}
		})
	}
}

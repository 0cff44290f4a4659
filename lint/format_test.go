package lint_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// sample lints a config with an error, a warning and an info finding.
func sample(t *testing.T) []lint.Diagnostic {
	t.Helper()
	f := policy.Load("dir/config.toml", []byte(`[network]
enabled = "yes"
alow_local_binding = true
domains = { "api.example.com" = "allow", "*.example.com" = "deny" }
`), policy.KindAuto)
	ds := lint.Check(f)
	if got := ruleIDs(ds); !cmp.Equal(got, []string{"NP002", "NP003", "NP026"}) {
		t.Fatalf("sample findings %v", got)
	}
	return ds
}

func TestWriteText(t *testing.T) {
	var buf bytes.Buffer
	if err := lint.WriteText(&buf, sample(t), false); err != nil {
		t.Fatal(err)
	}
	want := `dir/config.toml:2:11: error NP002 enabled must be a boolean, not a string
dir/config.toml:3:1: warning NP003 unknown key "alow_local_binding" in [network] (did you mean "allow_local_binding"?)
dir/config.toml:4:13: info NP026 allow "api.example.com" can never take effect: "*.example.com" (line 4) denies every host it matches
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	buf.Reset()
	lint.WriteText(&buf, sample(t), true)
	if !strings.Contains(buf.String(), "\x1b[1;31merror\x1b[0m") {
		t.Errorf("coloured text has no red error: %q", buf.String())
	}
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := lint.WriteJSON(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(buf.String()); got != "[]" {
		t.Errorf("clean JSON = %q, want []", got)
	}
	buf.Reset()
	lint.WriteJSON(&buf, sample(t))
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"file": "dir/config.toml", "line": 2.0, "column": 11.0, "end_line": 2.0, "end_column": 16.0,
		"rule": "NP002", "severity": "error", "message": "enabled must be a boolean, not a string", "fixable": false,
	}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("first JSON diagnostic (-want +got):\n%s", diff)
	}
	if len(got) != 3 {
		t.Errorf("%d diagnostics, want 3", len(got))
	}
}

// TestWriteSARIF checks the fields SARIF 2.1.0 consumers (GitHub code
// scanning among them) rely on.
func TestWriteSARIF(t *testing.T) {
	ds := sample(t)
	var buf bytes.Buffer
	if err := lint.WriteSARIF(&buf, ds, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	type text struct{ Text string }
	var log struct {
		Schema  string `json:"$schema"`
		Version string
		Runs    []struct {
			ColumnKind string
			Tool       struct {
				Driver struct {
					Name, Version, InformationURI string
					Rules                         []struct {
						ID, Name                          string
						ShortDescription, FullDescription text
						Help                              struct{ Text, Markdown string }
						DefaultConfiguration              struct{ Level string }
					}
				}
			}
			Results []struct {
				RuleID    string
				RuleIndex int
				Level     string
				Message   text
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn, EndLine, EndColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.Schema, "sarif-2.1.0") || log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("schema %q version %q runs %d", log.Schema, log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "netpolicy" || d.Version != "1.2.3" || d.InformationURI == "" {
		t.Errorf("driver %q %q %q", d.Name, d.Version, d.InformationURI)
	}
	if run.ColumnKind != "unicodeCodePoints" {
		t.Errorf("columnKind %q", run.ColumnKind)
	}
	var ids []string
	for _, r := range d.Rules {
		ids = append(ids, r.ID)
		if r.Name == "" || r.ShortDescription.Text == "" || r.FullDescription.Text == "" || r.Help.Text == "" || r.Help.Markdown == "" {
			t.Errorf("rule %s lacks a name or description: %+v", r.ID, r)
		}
		if want := map[string]string{"NP002": "error", "NP003": "warning", "NP026": "note"}[r.ID]; r.DefaultConfiguration.Level != want {
			t.Errorf("rule %s level %q, want %q", r.ID, r.DefaultConfiguration.Level, want)
		}
	}
	if diff := cmp.Diff([]string{"NP002", "NP003", "NP026"}, ids); diff != "" {
		t.Errorf("rules[] must hold exactly the rules used (-want +got):\n%s", diff)
	}
	if len(run.Results) != len(ds) {
		t.Fatalf("%d results, want %d", len(run.Results), len(ds))
	}
	for i, r := range run.Results {
		if d.Rules[r.RuleIndex].ID != r.RuleID || r.RuleID != ds[i].Rule.ID {
			t.Errorf("result %d: ruleId %s, ruleIndex %d → %s", i, r.RuleID, r.RuleIndex, d.Rules[r.RuleIndex].ID)
		}
		if want := map[lint.Severity]string{lint.SevError: "error", lint.SevWarning: "warning", lint.SevInfo: "note"}[ds[i].Severity()]; r.Level != want {
			t.Errorf("result %d level %q, want %q", i, r.Level, want)
		}
		if r.Message.Text != ds[i].Message || len(r.Locations) != 1 {
			t.Errorf("result %d message %q locations %d", i, r.Message.Text, len(r.Locations))
		}
		loc := r.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != "dir/config.toml" {
			t.Errorf("uri %q", loc.ArtifactLocation.URI)
		}
		reg := loc.Region
		if reg.StartLine != ds[i].Pos.Line || reg.StartColumn != ds[i].Pos.Column || reg.EndLine != ds[i].End.Line || reg.EndColumn != ds[i].End.Column {
			t.Errorf("result %d region %+v, diagnostic %v–%v", i, reg, ds[i].Pos, ds[i].End)
		}
	}

	buf.Reset()
	lint.WriteSARIF(&buf, nil, "1.2.3")
	if !strings.Contains(buf.String(), `"results": []`) || !strings.Contains(buf.String(), `"rules": []`) {
		t.Errorf("clean SARIF must have empty rules and results arrays:\n%s", buf.String())
	}
}

func TestWriteGitHub(t *testing.T) {
	rule := &lint.Rule{ID: "NP999", Title: "test", Severity: lint.SevWarning}
	ds := []lint.Diagnostic{{
		File: "a,b:c%d.toml", Rule: rule, Message: "100% sure:\r\nnext, line",
		Pos: tomldoc.Pos{Line: 3, Column: 5}, End: tomldoc.Pos{Line: 3, Column: 9},
	}}
	var buf bytes.Buffer
	if err := lint.WriteGitHub(&buf, ds); err != nil {
		t.Fatal(err)
	}
	want := "::warning file=a%2Cb%3Ac%25d.toml,line=3,col=5,endLine=3,endColumn=9,title=NP999::100%25 sure:%0D%0Anext, line\n"
	if got := buf.String(); got != want {
		t.Errorf("github:\n got %q\nwant %q", got, want)
	}
	buf.Reset()
	lint.WriteGitHub(&buf, sample(t))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, prefix := range []string{"::error file=dir/config.toml,line=2,", "::warning ", "::notice "} {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], prefix)
		}
	}
}

// TestRulesDocumented checks every registered rule carries what --explain,
// SARIF and the README table are generated from.
func TestRulesDocumented(t *testing.T) {
	idRe := regexp.MustCompile(`^NP\d{3}$`)
	for _, r := range lint.Rules() {
		if !idRe.MatchString(r.ID) || r.Title == "" || r.Doc == "" || r.Example == "" || r.Severity == 0 {
			t.Errorf("rule %s is not fully documented: %+v", r.ID, r)
		}
		if r.Scope != lint.ScopeMeta && r.Run == nil {
			t.Errorf("rule %s has no Run", r.ID)
		}
		ex := lint.Explain(r)
		for _, s := range []string{r.ID, r.Title, "severity:     " + r.Severity.String(), "fixable:", "suppressible:"} {
			if !strings.Contains(ex, s) {
				t.Errorf("Explain(%s) lacks %q:\n%s", r.ID, s, ex)
			}
		}
	}
	if r := lint.Lookup("np021"); r == nil || !r.NotSuppressible || !strings.Contains(lint.Explain(r), "suppressible: no") {
		t.Errorf("NP021 must be looked up case-insensitively and be not suppressible")
	}
}

func TestRulesMarkdown(t *testing.T) {
	md := lint.RulesMarkdown()
	if !strings.HasPrefix(md, "| id | severity | fixable | what |\n|---|---|---|---|\n") {
		t.Errorf("header:\n%s", md)
	}
	for _, want := range []string{
		"| NP001 | error | | not valid TOML (position of the syntax error) |\n",
		"| NP021 | error, not suppressible | | global wildcard used as `deny` |\n",
		"| NP090 | warning | | suppression without a reason, or suppressing nothing |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if n := strings.Count(md, "\n"); n != len(lint.Rules())+2 {
		t.Errorf("%d lines for %d rules", n, len(lint.Rules()))
	}
}

const (
	readmePath  = "../README.md"
	rulesBegin  = "<!-- rules:begin -->"
	rulesEndTag = "<!-- rules:end -->"
)

// TestReadmeRulesTable keeps the README's rules table equal to
// RulesMarkdown(); -update rewrites it between the markers.
func TestReadmeRulesTable(t *testing.T) {
	src, err := os.ReadFile(readmePath)
	if os.IsNotExist(err) {
		t.Skip("README.md does not exist yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	i, j := strings.Index(text, rulesBegin), strings.Index(text, rulesEndTag)
	if i < 0 || j < i {
		t.Skipf("README.md has no %s … %s markers yet", rulesBegin, rulesEndTag)
	}
	body := text[i+len(rulesBegin) : j]
	want := "\n" + lint.RulesMarkdown()
	if body == want {
		return
	}
	if *update {
		out := text[:i+len(rulesBegin)] + want + text[j:]
		if err := os.WriteFile(readmePath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README rules table is out of date; run go test ./lint -run TestReadmeRulesTable -update\n(-want +got):\n%s",
		cmp.Diff(want, body))
}

func TestWriteFull(t *testing.T) {
	src := []byte("[network]\n\tallowed_domains = [\"b.example\"]\nalow_local_binding = true\n")
	f := policy.Load("config.toml", src, policy.KindConfig)
	ds := lint.Check(f)
	ds = append(ds, lint.Unreadable("gone.toml", os.ErrNotExist))
	var buf bytes.Buffer
	if err := lint.WriteFull(&buf, ds, map[string][]byte{"config.toml": src}, false); err != nil {
		t.Fatal(err)
	}
	want := `config.toml:2:2: error NP010 allowed_domains is a legacy list, rejected in [network]; write the domains table
  |
2 |     allowed_domains = ["b.example"]
  |     ^^^^^^^^^^^^^^^
  = fix: ` + ds[0].Fix.Message + ` (netpolicy migrate --write config.toml)

config.toml:3:1: warning NP003 unknown key "alow_local_binding" in [network] (did you mean "allow_local_binding"?)
  |
3 | alow_local_binding = true
  | ^^^^^^^^^^^^^^^^^^

gone.toml:1:1: error NP000 file does not exist
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("full (-want +got):\n%s", diff)
	}
}

// TestSARIFUnreadable: a file that could not be read is a tool execution
// notification, not a result, and the run is not successful.
func TestSARIFUnreadable(t *testing.T) {
	ds := append(sample(t), lint.Unreadable("gone.toml", os.ErrNotExist))
	var buf bytes.Buffer
	if err := lint.WriteSARIF(&buf, ds, "1.0"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Invocations []struct {
				ExecutionSuccessful        bool `json:"executionSuccessful"`
				ToolExecutionNotifications []struct {
					Level      string
					Message    struct{ Text string }
					Descriptor struct{ ID string }
					Locations  []struct {
						PhysicalLocation struct {
							ArtifactLocation struct{ URI string }
						}
					}
				} `json:"toolExecutionNotifications"`
			}
			Results []struct{ RuleID string }
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Results) != 3 {
		t.Errorf("%d results, want the 3 findings only", len(run.Results))
	}
	inv := run.Invocations[0]
	if inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 1 {
		t.Fatalf("invocation = %+v, want one notification and not successful", inv)
	}
	n := inv.ToolExecutionNotifications[0]
	if n.Level != "error" || n.Descriptor.ID != "NP000" || n.Message.Text != "file does not exist" ||
		len(n.Locations) != 1 || n.Locations[0].PhysicalLocation.ArtifactLocation.URI != "gone.toml" {
		t.Errorf("notification = %+v", n)
	}

	buf.Reset()
	lint.WriteSARIF(&buf, sample(t), "1.0")
	if !strings.Contains(buf.String(), `"executionSuccessful": true`) {
		t.Errorf("a clean read must be a successful execution:\n%s", buf.String())
	}
}

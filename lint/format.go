package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// Format is an output format of `netpolicy lint`.
type Format string

// The output formats (CLI.md).
const (
	FormatText   Format = "text"
	FormatJSON   Format = "json"
	FormatSARIF  Format = "sarif"
	FormatGitHub Format = "github"
	// FormatFull is the text format with the source line and a caret under
	// the span after each finding (what text means on a terminal).
	FormatFull Format = "full"
	// FormatConcise is the one-line text format, also on a terminal.
	FormatConcise Format = "concise"
)

// ParseFormat reads a --format value.
func ParseFormat(s string) (Format, bool) {
	switch f := Format(s); f {
	case FormatText, FormatJSON, FormatSARIF, FormatGitHub, FormatFull, FormatConcise:
		return f, true
	}
	return "", false
}

// WriteOptions tune Write.
type WriteOptions struct {
	// Color adds ANSI colours to the text format (the caller decides
	// whether the output is a terminal and NO_COLOR is unset).
	Color bool
	// ToolVersion is the netpolicy version written into SARIF.
	ToolVersion string
	// Sources are the files' contents by path: with them the full format
	// shows the source line under each finding.
	Sources map[string][]byte
}

// Write writes sorted diagnostics in the given format.
func Write(w io.Writer, f Format, ds []Diagnostic, o WriteOptions) error {
	switch f {
	case FormatJSON:
		return WriteJSON(w, ds)
	case FormatSARIF:
		return WriteSARIF(w, ds, o.ToolVersion)
	case FormatGitHub:
		return WriteGitHub(w, ds)
	case FormatFull:
		return WriteFull(w, ds, o.Sources, o.Color)
	}
	return WriteText(w, ds, o.Color)
}

// ANSI colours of the text format, by severity.
var sevColor = map[Severity]string{SevError: "\x1b[1;31m", SevWarning: "\x1b[1;33m", SevInfo: "\x1b[1;36m"}

const (
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiReset = "\x1b[0m"
)

// WriteText writes one `path:line:col: severity NPxxx message` line per
// diagnostic.
func WriteText(w io.Writer, ds []Diagnostic, color bool) error {
	var sb strings.Builder
	for _, d := range ds {
		if color {
			fmt.Fprintf(&sb, "%s%s:%d:%d:%s %s%s%s %s%s%s %s\n", ansiBold, d.File, d.Pos.Line, d.Pos.Column, ansiReset,
				sevColor[d.Severity()], d.Severity(), ansiReset, ansiDim, d.Rule.ID, ansiReset, d.Message)
			continue
		}
		sb.WriteString(d.String() + "\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// jsonDiagnostic is the JSON form of a diagnostic (CLI.md).
type jsonDiagnostic struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	EndLine   int    `json:"end_line"`
	EndColumn int    `json:"end_column"`
	Rule      string `json:"rule"`
	Severity  string `json:"severity"`
	Message   string `json:"message"`
	Fixable   bool   `json:"fixable"`
}

// WriteJSON writes the diagnostics as one JSON array ("[]" when clean).
func WriteJSON(w io.Writer, ds []Diagnostic) error {
	out := make([]jsonDiagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, jsonDiagnostic{
			File: d.File, Line: d.Pos.Line, Column: d.Pos.Column, EndLine: d.End.Line, EndColumn: d.End.Column,
			Rule: d.Rule.ID, Severity: d.Severity().String(), Message: d.Message, Fixable: d.Fixable(),
		})
	}
	return encodeJSON(w, out)
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteGitHub writes GitHub Actions workflow commands, one per diagnostic.
func WriteGitHub(w io.Writer, ds []Diagnostic) error {
	var sb strings.Builder
	for _, d := range ds {
		cmd := map[Severity]string{SevError: "error", SevWarning: "warning", SevInfo: "notice"}[d.Severity()]
		fmt.Fprintf(&sb, "::%s file=%s,line=%d,col=%d,endLine=%d,endColumn=%d,title=%s::%s\n",
			cmd, githubProperty(d.File), d.Pos.Line, d.Pos.Column, d.End.Line, d.End.Column,
			githubProperty(d.Rule.ID), githubData(d.Message))
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// githubData escapes a workflow command's message.
func githubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubProperty escapes a workflow command's property value, which also
// may not hold ':' or ','.
func githubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s Severity) string {
	switch s {
	case SevError:
		return "error"
	case SevWarning:
		return "warning"
	}
	return "note"
}

// SARIF 2.1.0 types: only the fields netpolicy writes.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool        sarifTool         `json:"tool"`
		Invocations []sarifInvocation `json:"invocations"`
		ColumnKind  string            `json:"columnKind"`
		Results     []sarifResult     `json:"results"`
	}
	sarifInvocation struct {
		ExecutionSuccessful        bool                `json:"executionSuccessful"`
		ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications"`
	}
	sarifNotification struct {
		Level      string          `json:"level"`
		Message    sarifText       `json:"message"`
		Locations  []sarifLocation `json:"locations,omitempty"`
		Descriptor sarifRef        `json:"descriptor"`
	}
	sarifRef struct {
		ID string `json:"id"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string       `json:"id"`
		Name                 string       `json:"name"`
		ShortDescription     sarifText    `json:"shortDescription"`
		FullDescription      sarifText    `json:"fullDescription"`
		Help                 sarifHelp    `json:"help"`
		DefaultConfiguration sarifConfig  `json:"defaultConfiguration"`
		Properties           sarifRuleTag `json:"properties"`
	}
	sarifRuleTag struct {
		Tags []string `json:"tags,omitempty"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifHelp struct {
		Text     string `json:"text"`
		Markdown string `json:"markdown"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifText       `json:"message"`
		Locations []sarifLocation `json:"locations"`
		Fixes     []sarifFix      `json:"fixes,omitempty"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn"`
		EndLine     int `json:"endLine"`
		EndColumn   int `json:"endColumn"`
	}
	sarifFix struct {
		Description     sarifText             `json:"description"`
		ArtifactChanges []sarifArtifactChange `json:"artifactChanges"`
	}
	sarifArtifactChange struct {
		ArtifactLocation sarifArtifact      `json:"artifactLocation"`
		Replacements     []sarifReplacement `json:"replacements"`
	}
	sarifReplacement struct {
		DeletedRegion   sarifByteRegion `json:"deletedRegion"`
		InsertedContent sarifText       `json:"insertedContent"`
	}
	sarifByteRegion struct {
		ByteOffset int `json:"byteOffset"`
		ByteLength int `json:"byteLength"`
	}
)

const (
	sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"
	// InformationURI is the project home, written into SARIF.
	InformationURI = "https://github.com/netpolicy/netpolicy"
)

// WriteSARIF writes a SARIF 2.1.0 log with one run. rules[] holds one entry
// per rule used, in ID order; columns count Unicode code points, as the
// text and JSON formats do. Files that could not be read (NP000) are not
// results: they are tool execution notifications of the run's invocation,
// whose executionSuccessful is then false.
func WriteSARIF(w io.Writer, ds []Diagnostic, version string) error {
	if version == "" {
		version = "dev"
	}
	inv := sarifInvocation{ExecutionSuccessful: true, ToolExecutionNotifications: []sarifNotification{}}
	var results []Diagnostic
	for _, d := range ds {
		if d.Rule.ID != ruleNP000.ID {
			results = append(results, d)
			continue
		}
		inv.ExecutionSuccessful = false
		n := sarifNotification{Level: "error", Message: sarifText{Text: d.Message}, Descriptor: sarifRef{ID: d.Rule.ID}}
		if d.File != "" {
			n.Locations = []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: fileURI(d.File)}}}}
		}
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
	}
	ds = results
	index := map[string]int{}
	driver := sarifDriver{Name: "netpolicy", Version: version, InformationURI: InformationURI, Rules: []sarifRule{}}
	for _, r := range usedRules(ds) {
		index[r.ID] = len(driver.Rules)
		driver.Rules = append(driver.Rules, sarifRuleOf(r))
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Invocations: []sarifInvocation{inv}, ColumnKind: "unicodeCodePoints", Results: []sarifResult{}}
	for _, d := range ds {
		uri := fileURI(d.File)
		res := sarifResult{
			RuleID:    d.Rule.ID,
			RuleIndex: index[d.Rule.ID],
			Level:     sarifLevel(d.Severity()),
			Message:   sarifText{Text: d.Message},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: uri},
				Region:           &sarifRegion{StartLine: d.Pos.Line, StartColumn: d.Pos.Column, EndLine: d.End.Line, EndColumn: d.End.Column},
			}}},
		}
		if d.Fixable() {
			change := sarifArtifactChange{ArtifactLocation: sarifArtifact{URI: uri}}
			for _, e := range d.Fix.Edits {
				change.Replacements = append(change.Replacements, sarifReplacement{
					DeletedRegion:   sarifByteRegion{ByteOffset: e.Start, ByteLength: e.End - e.Start},
					InsertedContent: sarifText{Text: e.New},
				})
			}
			res.Fixes = []sarifFix{{Description: sarifText{Text: d.Fix.Message}, ArtifactChanges: []sarifArtifactChange{change}}}
		}
		run.Results = append(run.Results, res)
	}
	return encodeJSON(w, sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

// usedRules returns the distinct rules of ds in ID order.
func usedRules(ds []Diagnostic) []*Rule {
	seen := map[string]bool{}
	var out []*Rule
	for _, r := range Rules() {
		for _, d := range ds {
			if d.Rule.ID == r.ID && !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
	}
	// Rules not in the registry (a test's ad-hoc rule) still need an entry.
	for _, d := range ds {
		if !seen[d.Rule.ID] {
			seen[d.Rule.ID] = true
			out = append(out, d.Rule)
		}
	}
	return out
}

func sarifRuleOf(r *Rule) sarifRule {
	full := r.Title
	if para, _, _ := strings.Cut(r.Doc, "\n\n"); para != "" {
		full = strings.Join(strings.Fields(para), " ")
	}
	var tags []string
	if r.Fixable != "" {
		tags = append(tags, "fixable")
	}
	if r.NotSuppressible {
		tags = append(tags, "not-suppressible")
	}
	return sarifRule{
		ID:                   r.ID,
		Name:                 ruleName(r),
		ShortDescription:     sarifText{Text: r.Title},
		FullDescription:      sarifText{Text: full},
		Help:                 sarifHelp{Text: Explain(r), Markdown: explainMarkdown(r)},
		DefaultConfiguration: sarifConfig{Level: sarifLevel(r.Severity)},
		Properties:           sarifRuleTag{Tags: tags},
	}
}

// ruleName is a PascalCase identifier made from the title's words, as SARIF
// wants for reportingDescriptor.name ("NotValidTOML").
func ruleName(r *Rule) string {
	title, _, _ := strings.Cut(r.Title, "(")
	var sb strings.Builder
	for _, w := range strings.FieldsFunc(title, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	}) {
		sb.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	if sb.Len() == 0 {
		return r.ID
	}
	return sb.String()
}

// fileURI turns a path into a SARIF artifact URI: absolute paths become
// file:// URIs, relative ones stay relative (to the working directory).
func fileURI(path string) string {
	p := filepath.ToSlash(path)
	if filepath.IsAbs(path) {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}

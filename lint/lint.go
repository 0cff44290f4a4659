// Package lint checks requirements.toml and config.toml files against the
// rules of CLI.md (NP001–NP090). Rules are declarative values with their ID,
// severity and documentation; a diagnostic carries a position range and, for
// fixable rules, a Fix made of byte edits on the original file, which is all
// migrate ever applies.
package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netpolicy/netpolicy/policy"
)

// Severity of a rule.
type Severity uint8

const (
	SevInfo Severity = iota + 1
	SevWarning
	SevError
)

func (s Severity) String() string {
	switch s {
	case SevInfo:
		return "info"
	case SevWarning:
		return "warning"
	case SevError:
		return "error"
	}
	return "unknown"
}

// ParseSeverity reads a --fail-on value.
func ParseSeverity(s string) (Severity, bool) {
	switch s {
	case "info":
		return SevInfo, true
	case "warning":
		return SevWarning, true
	case "error":
		return SevError, true
	}
	return 0, false
}

// Edit replaces Src[Start:End] with New. Offsets are bytes of the original
// file.
type Edit struct {
	Start, End int
	New        string
}

// Fix is a suggested fix: edits applied together, sorted, never overlapping.
type Fix struct {
	Message string
	Edits   []Edit
}

// Diagnostic is one finding.
type Diagnostic struct {
	File     string
	Pos, End policy.Pos
	Rule     *Rule
	Message  string
	Fix      *Fix
}

// Severity is the rule's severity.
func (d *Diagnostic) Severity() Severity { return d.Rule.Severity }

// String is the diagnostic as one line of the text format (CLI.md):
// `path:line:col: severity NPxxx message`.
func (d *Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s %s %s", d.File, d.Pos.Line, d.Pos.Column, d.Severity(), d.Rule.ID, d.Message)
}

// Fixable reports whether the diagnostic carries a fix.
func (d *Diagnostic) Fixable() bool { return d.Fix != nil && len(d.Fix.Edits) > 0 }

// Pass is what a rule's Run sees: the file(s) being linted and a Report
// function. Managed and User are set together for cross-file rules.
type Pass struct {
	File *policy.File
	// For cross-file rules (NP06x): the managed and the user file linted in
	// one call. Nil otherwise.
	Managed, User *policy.File

	report func(Diagnostic)
}

// Report records a diagnostic for the pass's rule.
func (p *Pass) Report(d Diagnostic) { p.report(d) }

// Reportf reports a diagnostic at span sp of file f.
func (p *Pass) Reportf(f *policy.File, sp policy.Span, fix *Fix, format string, args ...any) {
	p.report(Diagnostic{File: f.Path, Pos: sp.Start, End: sp.End, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// Scope says what a rule looks at.
type Scope uint8

const (
	// ScopeFile rules run on each parsed file alone.
	ScopeFile Scope = iota
	// ScopeCross rules run once on a managed + user pair.
	ScopeCross
	// ScopeMeta rules are produced by the driver itself (NP001, NP090).
	ScopeMeta
)

// Rule is one lint rule: a value with its ID, severity, documentation and
// run function. --explain, SARIF rules[] and the README table come from it.
type Rule struct {
	ID       string
	Title    string // one line, for tables and SARIF shortDescription
	Severity Severity
	Fixable  string // "" (no), "yes", or a qualifier like "yes, when no entry conflicts"
	// NotSuppressible rules cannot be silenced by a suppression comment.
	NotSuppressible bool
	Scope           Scope
	// Doc explains what the rule catches, why it matters and how to fix it;
	// Example shows an offending snippet (and Fixed, its fix, if any).
	Doc     string
	Example string
	Fixed   string
	Run     func(*Pass)
}

var registry = map[string]*Rule{}

// Register adds rules to the registry. Called from init of rule files.
func Register(rules ...*Rule) {
	for _, r := range rules {
		if _, dup := registry[r.ID]; dup {
			panic("lint: rule registered twice: " + r.ID)
		}
		registry[r.ID] = r
	}
}

// Rules returns every rule sorted by ID.
func Rules() []*Rule {
	out := make([]*Rule, 0, len(registry))
	for _, r := range registry {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the rule with the given ID (case-insensitive), or nil.
func Lookup(id string) *Rule { return registry[strings.ToUpper(id)] }

// SortDiagnostics sorts by path, line, column, rule and drops exact
// duplicates.
func SortDiagnostics(ds []Diagnostic) []Diagnostic {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Column != b.Pos.Column {
			return a.Pos.Column < b.Pos.Column
		}
		return a.Rule.ID < b.Rule.ID
	})
	out := ds[:0]
	for i, d := range ds {
		if i > 0 {
			p := out[len(out)-1]
			if p.File == d.File && p.Pos == d.Pos && p.End == d.End && p.Rule == d.Rule && p.Message == d.Message {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

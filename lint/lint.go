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

	"github.com/netpolicy/netpolicy/internal/tomldoc"
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
	Pos, End tomldoc.Pos
	Rule     *Rule
	Message  string
	Fix      *Fix
	// NoFix says why a finding of a fixable rule carries no fix, when the
	// reason is one migrate must refuse over: a legacy entry that conflicts
	// with the canonical table, an obsolete table that cannot be moved, a
	// list that is not an array of strings. It is "" for every other
	// finding, and for per-pattern findings whose fix could not be made
	// (those are left to the user).
	NoFix string
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

// Pass is what a rule's Run sees: the file(s) being linted and a report
// function. Managed and User are set together for cross-file rules.
type Pass struct {
	File *policy.File
	// For cross-file rules (NP06x): the managed and the user file linted in
	// one call. Nil otherwise.
	Managed, User *policy.File

	report func(Diagnostic)
	check  *checkState
}

// checkState is what the passes of one Check call share: the fix plan of
// each file, made once for all its fixable rules. Each Check has its own,
// so concurrent calls share nothing.
type checkState struct {
	plans map[*policy.File]*plan
}

// plan returns the fix plan of p.File, made on first use in this Check.
func (p *Pass) plan() *plan {
	if p.check == nil {
		p.check = &checkState{}
	}
	if p.check.plans == nil {
		p.check.plans = map[*policy.File]*plan{}
	}
	pl, ok := p.check.plans[p.File]
	if !ok {
		pl = makePlan(p.File)
		p.check.plans[p.File] = pl
	}
	return pl
}

// Reportf reports a diagnostic at span sp of file f.
func (p *Pass) Reportf(f *policy.File, sp tomldoc.Span, fix *Fix, format string, args ...any) {
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

// rules is every rule, sorted by ID. A new rule is added here (a test
// checks the order and that every rule has its golden fixtures).
var rules = []*Rule{
	ruleNP000, ruleNP001, ruleNP002, ruleNP003,
	ruleNP010, ruleNP011, ruleNP012, ruleNP013, ruleNP014,
	ruleNP020, ruleNP021, ruleNP022, ruleNP023, ruleNP024, ruleNP025, ruleNP026,
	ruleNP030, ruleNP031,
	ruleNP040, ruleNP041, ruleNP042, ruleNP043,
	ruleNP050,
	ruleNP060, ruleNP061, ruleNP062,
	ruleNP090,
}

// Rules returns every rule sorted by ID.
func Rules() []*Rule { return append([]*Rule(nil), rules...) }

// Lookup returns the rule with the given ID (case-insensitive), or nil.
func Lookup(id string) *Rule {
	id = strings.ToUpper(id)
	for _, r := range rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

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

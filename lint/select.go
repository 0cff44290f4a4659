package lint

import (
	"fmt"
	"strings"
)

// Selection says which rules' findings a run reports: --select and
// --ignore (rule IDs or prefixes: "NP022", "NP02", "NP0", or "ALL"), and
// per-file ignores. A finding is kept when its rule matches a selected
// prefix (all rules when Select is empty) and no ignored one. Findings
// that must always be seen are never dropped: NP000 and NP001 (nothing of
// the file could be checked) and rules that cannot be suppressed (NP021).
type Selection struct {
	Select, Ignore []string
	// PerFile are ignores that apply only to matching files.
	PerFile []PerFileIgnore
}

// PerFileIgnore ignores rules in the files Match accepts.
type PerFileIgnore struct {
	Match func(path string) bool
	Rules []string
}

// ParseCodes splits --select / --ignore values (each may hold several codes
// separated by commas) and checks that every one names at least one rule.
func ParseCodes(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			c = strings.ToUpper(strings.TrimSpace(c))
			if c == "" {
				continue
			}
			if !matchesAnyRule(c) {
				return nil, fmt.Errorf("%q names no rule (want a rule ID such as NP022, a prefix such as NP02, or ALL)", c)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func matchesAnyRule(code string) bool {
	for _, r := range Rules() {
		if codeMatches(code, r.ID) {
			return true
		}
	}
	return false
}

// codeMatches reports whether a selection code covers rule id.
func codeMatches(code, id string) bool {
	return code == "ALL" || strings.HasPrefix(id, code)
}

func anyMatches(codes []string, id string) bool {
	for _, c := range codes {
		if codeMatches(c, id) {
			return true
		}
	}
	return false
}

// Enabled reports whether findings of rule r in file path are reported.
func (s *Selection) Enabled(r *Rule, path string) bool {
	if s == nil || r.ID == "NP000" || r.ID == "NP001" || r.NotSuppressible {
		return true
	}
	if len(s.Select) > 0 && !anyMatches(s.Select, r.ID) {
		return false
	}
	if anyMatches(s.Ignore, r.ID) {
		return false
	}
	for _, p := range s.PerFile {
		if anyMatches(p.Rules, r.ID) && p.Match(path) {
			return false
		}
	}
	return true
}

// Filter returns the diagnostics whose rules are enabled for their files,
// and whose severity is at least min (0: any).
func (s *Selection) Filter(ds []Diagnostic, min Severity) []Diagnostic {
	out := ds[:0:0]
	for _, d := range ds {
		if d.Severity() >= min && s.Enabled(d.Rule, d.File) {
			out = append(out, d)
		}
	}
	return out
}

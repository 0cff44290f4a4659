package migrate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// NormalizePattern turns a pattern as a person typed it into the form a
// rule is written in (POLICY.md §8): no port, punycode, lower case, no
// trailing dot, brackets of an IPv6 literal dropped. It fails when the
// result is not a valid pattern (the error is lint NP020's) or, for a deny
// rule, when it matches every host (NP021).
func NormalizePattern(raw string, perm policy.Permission) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errors.New("empty pattern")
	}
	fixed, err := policy.FixedPattern(raw)
	if err != nil {
		return "", err
	}
	norm := policy.NormalizeHost(fixed)
	p, err := policy.ParsePattern(norm)
	if err != nil {
		return "", err
	}
	if perm == policy.Deny && p.IsGlobal() {
		return "", errors.New(policy.GlobalDenyMessage(raw))
	}
	return norm, nil
}

// EditRule gives the host pattern norm (from NormalizePattern) permission
// perm in the domains table of the network table at path of f, or removes
// its rules (perm PermInvalid), through the planner of lint.PlanRule. g is
// the edited document, loaded as f was (f itself when nothing changes).
//
// Before anything is returned the result is verified, as a migration is:
// it must parse, lint without a finding f did not have, and have the same
// rules as f in every table except the one rule of the edit (and
// enabled = true in a network table the edit created). Otherwise the error
// says why and the file must be left alone.
//
// comment, when set, goes after a new rule line (see lint.PlanRule).
func EditRule(f *policy.File, path []string, norm string, perm policy.Permission, comment string) (g *policy.File, ch *lint.RuleChange, err error) {
	if f.SyntaxErr != nil || f.Doc == nil {
		return nil, nil, fmt.Errorf("not valid TOML: %v", f.SyntaxErr)
	}
	ch, err = lint.PlanRule(f, path, norm, perm, comment)
	if err != nil {
		return nil, nil, err
	}
	if ch.Op == lint.RuleUnchanged {
		return f, ch, nil
	}
	g = policy.Load(f.Path, keepFinalNewline(f.Src, lint.ApplyEdits(f.Src, ch.Fix.Edits)), f.Kind)
	if err := verifyRuleEdit(f, g, path, norm, perm, ch.NewNetwork); err != nil {
		return nil, nil, err
	}
	return g, ch, nil
}

// verifyRuleEdit checks an edited document g against the original f.
func verifyRuleEdit(f, g *policy.File, path []string, norm string, perm policy.Permission, newNetwork bool) error {
	if g.SyntaxErr != nil {
		return fmt.Errorf("refusing the edit: the result would not be valid TOML (%v)", g.SyntaxErr)
	}
	if news := newFindings(lint.Check(f), lint.Check(g)); len(news) > 0 {
		return fmt.Errorf("refusing the edit: the result would have new lint findings: %s", strings.Join(news, "; "))
	}
	want := fileRules(f)
	name := "[" + tomldoc.JoinKey(path) + "]"
	t := want[name]
	if t.domains == nil {
		t = tableRules{domains: map[string]policy.Permission{}, sockets: map[string]policy.Permission{}, scalars: map[string]string{}}
	}
	k := strconv.Quote(norm)
	if perm == policy.PermInvalid {
		delete(t.domains, k)
	} else {
		t.domains[k] = perm
	}
	if newNetwork {
		t.scalars["enabled"] = "true"
	}
	want[name] = t
	if diffs := compareFiles(want, fileRules(g)); len(diffs) > 0 {
		return fmt.Errorf("refusing the edit: the rules would change by more than the edit: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// newFindings lists the findings of after whose rule reports more often
// than in before (positions move with an edit, so findings are counted by
// rule, not compared by place).
func newFindings(before, after []lint.Diagnostic) []string {
	count := map[string]int{}
	for _, d := range before {
		count[d.Rule.ID]++
	}
	extra := map[string]int{}
	for _, d := range after {
		extra[d.Rule.ID]++
	}
	var out []string
	for _, d := range after {
		if extra[d.Rule.ID] > count[d.Rule.ID] {
			out = append(out, fmt.Sprintf("%d:%d: %s %s", d.Pos.Line, d.Pos.Column, d.Rule.ID, d.Message))
		}
	}
	return out
}

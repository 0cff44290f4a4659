// Package migrate rewrites the legacy and obsolete forms of requirements.toml
// and config.toml (legacy lists, old table shapes, obsolete keys, ports and
// non-ASCII in patterns, duplicate rules) into canonical ones. It applies the
// fixes the fixable lint rules carry and nothing else, so lint and migrate
// never disagree about what is legacy; then it proves the result means the
// same before anyone writes it: the output parses, lints with no fixable
// finding left, and has the same effective rules as the original.
//
// Everything the fixes do not touch keeps its bytes: comments, key order,
// quoting, blank lines, line endings, a missing final newline.
package migrate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// maxRounds bounds the fix-relint loop. One round does almost everything;
// a second is needed when a fix exposes another (an obsolete table moved to
// [network] still holds legacy lists).
const maxRounds = 5

// Apply migrates f. out is the migrated document (f.Src itself when nothing
// changes); diags are the findings of f as lint.Check reports them. An error
// means the file must be left alone: it is not valid TOML, a fix was refused
// (conflicting entries, an obsolete table that cannot be moved), fixes
// overlap, or the result failed verification.
func Apply(f *policy.File) (out []byte, diags []lint.Diagnostic, err error) {
	if f.SyntaxErr != nil || f.Doc == nil {
		msg := "not valid TOML"
		if f.SyntaxErr != nil {
			msg += ": " + f.SyntaxErr.Error()
		}
		return nil, lint.Check(f), errors.New(msg)
	}
	cur := f
	for round := 0; ; round++ {
		ds := lint.Check(cur)
		if round == 0 {
			diags = ds
		}
		if err := refusals(ds, round); err != nil {
			return nil, diags, err
		}
		edits, err := fixEdits(ds)
		if err != nil {
			return nil, diags, err
		}
		if len(edits) == 0 {
			break
		}
		if round == maxRounds {
			return nil, diags, fmt.Errorf("fixes still pending after %d rounds (a fix keeps exposing another): %s", maxRounds, ds[0].Message)
		}
		next := keepFinalNewline(f.Src, lint.ApplyEdits(cur.Src, edits))
		cur = policy.Load(f.Path, next, f.Kind)
		if cur.SyntaxErr != nil {
			return nil, diags, fmt.Errorf("the migrated document would not be valid TOML (%v); nothing written", cur.SyntaxErr)
		}
	}
	if err := sameRules(f, cur); err != nil {
		return nil, diags, err
	}
	return cur.Src, diags, nil
}

// refusals turns findings that should carry a fix but cannot (lint says why)
// into the error migrate refuses with.
func refusals(ds []lint.Diagnostic, round int) error {
	var why []string
	for _, d := range ds {
		if d.Rule == nil || d.Rule.Fixable == "" || d.Fixable() {
			continue
		}
		if b := d.NoFix; b != "" {
			where := fmt.Sprintf("%d:%d", d.Pos.Line, d.Pos.Column)
			if round > 0 {
				where = "after the first fixes, " + where
			}
			msg := fmt.Sprintf("%s: %s %s", where, d.Rule.ID, d.Message)
			if !strings.Contains(d.Message, b) {
				msg += ": " + b
			}
			why = append(why, msg)
		}
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New("refusing to migrate: " + strings.Join(why, "; "))
}

// fixEdits collects the edits of every fixable finding, sorted. Identical
// edits (findings sharing one fix) collapse; edits that overlap otherwise
// are an error, never merged.
func fixEdits(ds []lint.Diagnostic) ([]lint.Edit, error) {
	owner := map[lint.Edit]*lint.Diagnostic{} // the first finding with the edit
	var edits []lint.Edit
	for i := range ds {
		d := &ds[i]
		if !d.Fixable() {
			continue
		}
		for _, e := range d.Fix.Edits {
			if _, ok := owner[e]; !ok {
				owner[e] = d
				edits = append(edits, e)
			}
		}
	}
	lint.SortEdits(edits)
	for i := 1; i < len(edits); i++ {
		if lint.Overlap(edits[i-1], edits[i]) {
			a, b := owner[edits[i-1]], owner[edits[i]]
			return nil, fmt.Errorf("refusing to migrate: the fixes of %s (%d:%d) and %s (%d:%d) overlap; fix one by hand and run migrate again",
				a.Rule.ID, a.Pos.Line, a.Pos.Column, b.Rule.ID, b.Pos.Line, b.Pos.Column)
		}
	}
	return edits, nil
}

// keepFinalNewline keeps a missing final newline missing: removing the last
// line of such a file leaves the line ending of the one before it last.
func keepFinalNewline(orig, out []byte) []byte {
	if len(orig) == 0 || orig[len(orig)-1] == '\n' || len(out) == 0 || out[len(out)-1] != '\n' {
		return out
	}
	out = out[:len(out)-1]
	if len(out) > 0 && out[len(out)-1] == '\r' {
		out = out[:len(out)-1]
	}
	return out
}

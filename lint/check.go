package lint

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/netpolicy/netpolicy/policy"
)

// Check lints files and returns the diagnostics, sorted and de-duplicated.
//
// A file that is not valid TOML gets NP001 and nothing else. Every other file
// runs the file-scoped rules; when the call holds at least one requirements
// file and one config file, the cross-file rules run on (managed, user)
// pairs: with a single requirements file, it pairs with every config file;
// with several (a directory tree holding more than one setup), each config
// file pairs with the requirements files of its own directory. Suppression comments are applied last, and wrong or unused ones are
// reported as NP090.
func Check(files ...*policy.File) []Diagnostic {
	var ds []Diagnostic
	var managed, user []*policy.File
	for _, f := range files {
		if f == nil {
			continue
		}
		if f.SyntaxErr != nil || f.Doc == nil {
			ds = append(ds, syntaxDiagnostic(f))
			continue
		}
		for _, r := range Rules() {
			if r.Scope == ScopeFile && r.Run != nil {
				ds = runRule(r, &Pass{File: f}, ds)
			}
		}
		if f.Kind == policy.KindRequirements {
			managed = append(managed, f)
		} else {
			user = append(user, f)
		}
	}
	crossRan := map[string]bool{}
	for _, u := range user {
		for _, m := range managed {
			if len(managed) > 1 && filepath.Dir(m.Path) != filepath.Dir(u.Path) {
				continue
			}
			crossRan[u.Path] = true
			for _, r := range Rules() {
				if r.Scope == ScopeCross && r.Run != nil {
					ds = runRule(r, &Pass{File: u, Managed: m, User: u}, ds)
				}
			}
		}
	}
	return SortDiagnostics(suppress(files, ds, crossRan))
}

// runRule runs one rule and appends what it reports, stamped with the rule.
func runRule(r *Rule, p *Pass, ds []Diagnostic) []Diagnostic {
	p.report = func(d Diagnostic) {
		d.Rule = r
		if d.File == "" && p.File != nil {
			d.File = p.File.Path
		}
		ds = append(ds, d)
	}
	r.Run(p)
	return ds
}

// syntaxDiagnostic is NP001 at the parser's position, one character wide
// (empty at the end of a line or of the file).
func syntaxDiagnostic(f *policy.File) Diagnostic {
	src := f.Src
	off, msg := 0, "not valid TOML"
	if f.SyntaxErr != nil {
		off, msg = f.SyntaxErr.Pos.Offset, f.SyntaxErr.Message
	}
	off = max(0, min(off, len(src)))
	// The parser counts bytes and may point inside a multi-byte character:
	// start at that character.
	for i := 0; i < utf8.UTFMax-1 && off > 0 && off < len(src) && !utf8.RuneStart(src[off]); i++ {
		off--
	}
	pos := posAt(src, off)
	end := pos
	if off < len(src) {
		if r, size := utf8.DecodeRune(src[off:]); r != '\n' && r != '\r' {
			end = policy.Pos{Offset: off + size, Line: pos.Line, Column: pos.Column + 1}
		}
	}
	return Diagnostic{File: f.Path, Pos: pos, End: end, Rule: ruleNP001, Message: msg}
}

// posAt is the position of byte offset off of src, for files that did not
// parse (and so have no Doc to ask).
func posAt(src []byte, off int) policy.Pos {
	ls := bytes.LastIndexByte(src[:off], '\n') + 1
	return policy.Pos{Offset: off, Line: bytes.Count(src[:off], []byte("\n")) + 1, Column: utf8.RuneCount(src[ls:off]) + 1}
}

// directiveRe recognises a suppression comment; reNetpolicy any comment that
// means to be a netpolicy directive, so a malformed one can be reported.
var (
	directiveRe = regexp.MustCompile(`^#\s*netpolicy\s*:\s*ignore\s*\[([^\]]*)\](.*)$`)
	reNetpolicy = regexp.MustCompile(`^#\s*netpolicy\s*:`)
)

// suppression is one `# netpolicy: ignore[…] reason` comment.
type suppression struct {
	span   policy.Span
	ids    []string
	reason string
	// line is the line it silences: its own for a trailing comment, else
	// the next line that is not only a comment.
	line int
	used bool
}

// suppress drops the diagnostics silenced by suppression comments and adds
// NP090 for suppressions that are malformed, lack a reason, name an unknown
// or unsuppressible rule, or silence nothing. A suppression is only judged
// stale when every rule it names ran on its file: a config linted alone
// does not run the cross-file rules, so ignore[NP062] there is not stale.
func suppress(files []*policy.File, ds []Diagnostic, crossRan map[string]bool) []Diagnostic {
	byPath := map[string][]*suppression{}
	var meta []Diagnostic
	for _, f := range files {
		if f == nil || f.Doc == nil {
			continue
		}
		if _, seen := byPath[f.Path]; seen {
			continue
		}
		sups, bad := suppressions(f)
		byPath[f.Path] = sups
		meta = append(meta, bad...)
	}
	kept := ds[:0]
	for _, d := range ds {
		if !silenced(byPath[d.File], d) {
			kept = append(kept, d)
		}
	}
	for _, f := range files {
		if f == nil {
			continue
		}
		for _, s := range byPath[f.Path] {
			if s.reason != "" && !s.used && knownSuppressible(s.ids) && allRan(s.ids, crossRan[f.Path]) {
				meta = append(meta, Diagnostic{File: f.Path, Pos: s.span.Start, End: s.span.End, Rule: ruleNP090,
					Message: "suppression ignore[" + strings.Join(s.ids, ",") + "] suppresses nothing on line " + strconv.Itoa(s.line)})
			}
		}
		delete(byPath, f.Path)
	}
	return append(kept, meta...)
}

// silenced reports whether a valid suppression covers d, and marks it used.
func silenced(sups []*suppression, d Diagnostic) bool {
	if d.Rule == nil || d.Rule.NotSuppressible || d.Rule.Scope == ScopeMeta {
		return false
	}
	for _, s := range sups {
		if s.line != d.Pos.Line || s.reason == "" {
			continue
		}
		for _, id := range s.ids {
			if id == d.Rule.ID {
				s.used = true
				return true
			}
		}
	}
	return false
}

// knownSuppressible reports whether every id names a rule that can be
// silenced; other suppressions already got their own NP090.
func knownSuppressible(ids []string) bool {
	for _, id := range ids {
		r := Lookup(id)
		if r == nil || r.NotSuppressible || r.Scope == ScopeMeta {
			return false
		}
	}
	return true
}

// allRan reports whether every rule named ran on the file: file rules
// always do, cross-file rules only when the file met a managed file.
func allRan(ids []string, cross bool) bool {
	for _, id := range ids {
		if r := Lookup(id); r != nil && r.Scope == ScopeCross && !cross {
			return false
		}
	}
	return true
}

// suppressions reads the suppression comments of f and reports the
// malformed ones. A suppression without a reason silences nothing: the
// reason is the point of writing one.
func suppressions(f *policy.File) ([]*suppression, []Diagnostic) {
	var sups []*suppression
	var bad []Diagnostic
	report := func(sp policy.Span, msg string) {
		bad = append(bad, Diagnostic{File: f.Path, Pos: sp.Start, End: sp.End, Rule: ruleNP090, Message: msg})
	}
	seen := map[int]bool{}
	for _, sp := range f.Doc.Comments {
		if seen[sp.Start.Offset] {
			continue
		}
		seen[sp.Start.Offset] = true
		text := sp.Text(f.Src)
		if !reNetpolicy.MatchString(text) {
			continue
		}
		m := directiveRe.FindStringSubmatch(text)
		if m == nil {
			report(sp, "malformed suppression comment; write # netpolicy: ignore[NPxxx] reason")
			continue
		}
		s := &suppression{span: sp, reason: strings.TrimSpace(m[2]), line: suppressedLine(f, sp)}
		for _, id := range strings.Split(m[1], ",") {
			id = strings.ToUpper(strings.TrimSpace(id))
			if id == "" {
				continue
			}
			s.ids = append(s.ids, id)
			switch r := Lookup(id); {
			case r == nil:
				report(sp, "suppression names unknown rule "+id)
			case r.NotSuppressible:
				report(sp, id+" cannot be suppressed")
			case r.Scope == ScopeMeta:
				report(sp, id+" cannot be suppressed")
			}
		}
		switch {
		case len(s.ids) == 0:
			report(sp, "suppression names no rule; write # netpolicy: ignore[NPxxx] reason")
			continue
		case s.reason == "":
			report(sp, "suppression ignore["+strings.Join(s.ids, ",")+"] has no reason; say why after the ]")
		}
		sups = append(sups, s)
	}
	return sups, bad
}

// suppressedLine is the line a suppression comment applies to: its own line
// when code precedes it there, else the next line that is not a comment
// only (so several suppressions can be stacked above one line).
func suppressedLine(f *policy.File, sp policy.Span) int {
	src := f.Src
	ls := f.Doc.LineStart(sp.Start.Line)
	if len(bytes.TrimSpace(src[ls:sp.Start.Offset])) > 0 {
		return sp.Start.Line
	}
	line := sp.Start.Line + 1
	for {
		start := f.Doc.LineStart(line)
		if start >= len(src) {
			return line
		}
		end := len(src)
		if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
			end = start + i
		}
		if !bytes.HasPrefix(bytes.TrimSpace(src[start:end]), []byte("#")) {
			return line
		}
		line++
	}
}

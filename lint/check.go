package lint

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
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
	st := &checkState{}
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
				ds = runRule(r, &Pass{File: f, check: st}, ds)
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
					ds = runRule(r, &Pass{File: u, Managed: m, User: u, check: st}, ds)
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
	pos := tomldoc.PosIn(src, off)
	end := pos
	if off < len(src) {
		if r, size := utf8.DecodeRune(src[off:]); r != '\n' && r != '\r' {
			end = tomldoc.Pos{Offset: off + size, Line: pos.Line, Column: pos.Column + 1}
		}
	}
	return Diagnostic{File: f.Path, Pos: pos, End: end, Rule: ruleNP001, Message: msg}
}

// directiveRe recognises a suppression comment; reNetpolicy any comment that
// means to be a netpolicy directive, so a malformed one can be reported.
var (
	directiveRe = regexp.MustCompile(`^#\s*netpolicy\s*:\s*ignore\s*\[([^\]]*)\](.*)$`)
	reNetpolicy = regexp.MustCompile(`^#\s*netpolicy\s*:`)
)

// suppression is one `# netpolicy: ignore[…] reason` comment.
type suppression struct {
	span   tomldoc.Span
	ids    []string
	spans  []tomldoc.Span // of each id inside the comment
	reason string
	// line is the line it silences: its own for a trailing comment, else
	// the next line that is not only a comment.
	line int
	used map[string]bool // ids that silenced something
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
			meta = append(meta, s.stale(f.Path, crossRan[f.Path])...)
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
				s.used[id] = true
				return true
			}
		}
	}
	return false
}

// stale reports NP090 for what a valid suppression named but did not
// silence. A suppression of one rule that silenced nothing is reported as a
// whole; in a suppression of several rules each unused one is reported on its
// own, at its code (like ruff's RUF100), so the others can stay. Codes that
// are unknown or cannot be suppressed already got their own NP090, and a
// cross-file rule is not called unused in a file that met no managed file
// (cross false): it did not run there.
func (s *suppression) stale(path string, cross bool) []Diagnostic {
	if s.reason == "" {
		return nil
	}
	var unused []int
	for i, id := range s.ids {
		r := Lookup(id)
		switch {
		case r == nil || r.NotSuppressible || r.Scope == ScopeMeta:
		case r.Scope == ScopeCross && !cross:
		case !s.used[id]:
			unused = append(unused, i)
		}
	}
	all := "ignore[" + strings.Join(s.ids, ",") + "]"
	line := strconv.Itoa(s.line)
	if len(s.ids) == 1 && len(unused) == 1 {
		return []Diagnostic{{File: path, Pos: s.span.Start, End: s.span.End, Rule: ruleNP090,
			Message: "suppression " + all + " suppresses nothing on line " + line}}
	}
	var out []Diagnostic
	for _, i := range unused {
		sp := s.spans[i]
		out = append(out, Diagnostic{File: path, Pos: sp.Start, End: sp.End, Rule: ruleNP090,
			Message: s.ids[i] + " in suppression " + all + " suppresses nothing on line " + line})
	}
	return out
}

// suppressions reads the suppression comments of f and reports the
// malformed ones. A suppression without a reason silences nothing: the
// reason is the point of writing one.
func suppressions(f *policy.File) ([]*suppression, []Diagnostic) {
	var sups []*suppression
	var bad []Diagnostic
	report := func(sp tomldoc.Span, msg string) {
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
		s := &suppression{span: sp, reason: strings.TrimSpace(m[2]), line: suppressedLine(f, sp), used: map[string]bool{}}
		idx := directiveRe.FindStringSubmatchIndex(text)
		off := idx[2] // where the codes start inside the comment
		for _, raw := range strings.Split(m[1], ",") {
			start := off + len(raw) - len(strings.TrimLeft(raw, " \t"))
			off += len(raw) + 1
			id := strings.ToUpper(strings.TrimSpace(raw))
			if id == "" {
				continue
			}
			s.ids = append(s.ids, id)
			// Codes are ASCII; the comment is on one line.
			s.spans = append(s.spans, f.Doc.Span(sp.Start.Offset+start, sp.Start.Offset+start+len(id)))
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
func suppressedLine(f *policy.File, sp tomldoc.Span) int {
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

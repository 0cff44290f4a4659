package lint

import (
	"errors"
	"fmt"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// This file plans the edits of `netpolicy allow|deny|unset` (and of
// everything that writes through them: suggest, the "always" answer of a
// prompt). They are fixes like the ones of the fixable rules: byte edits
// on the original source, written with the same planner, so that one
// mechanism edits policy files. The three rules of plan.go hold here
// too; in addition a rule is always one line `"PATTERN" = "allow"` (or one
// item of an inline table) in the table's own style.

// RuleOp says what a rule edit does.
type RuleOp uint8

const (
	// RuleUnchanged: the table already says so (or, for a removal, has no
	// rule for the host); nothing is written.
	RuleUnchanged RuleOp = iota + 1
	// RuleAdded: a new rule line (and, when needed, its table).
	RuleAdded
	// RuleReplaced: a rule for the host with the other permission was
	// rewritten in place.
	RuleReplaced
	// RuleRemoved: the host's rules were removed.
	RuleRemoved
)

// RuleChange is the plan of one rule edit.
type RuleChange struct {
	Op  RuleOp
	Fix *Fix // nil for RuleUnchanged
	// Line is the line of the rule found in the table (Unchanged,
	// Replaced, Removed), 0 when there was none.
	Line int
	// Found is that rule's key as written.
	Found string
	// NewNetwork is set when the network table itself is created (it then
	// gets enabled = true).
	NewNetwork bool
}

// PlanRule plans the edit that gives host pattern norm (normalised and
// valid, see policy.ParsePattern) the permission perm in the domains table
// of the network table at path ("network", or "permissions", NAME,
// "network"); perm PermInvalid removes every rule for the host instead.
// The network table is created when it is missing (with enabled = true);
// a profile table must exist. Rules are matched by their normalised fixed
// pattern, so `"REGISTRY.npmjs.org."` is the rule for registry.npmjs.org.
//
// An existing rule with the other permission is rewritten in place (other
// rules for the same host are removed, so one rule is left); when the
// host is both allowed and denied, deny wins and an allow removes the deny
// rules.
//
// A non-empty comment goes after a new rule written as a line
// (`"a.example" = "allow"  # comment`); an inline table cannot hold it. It
// must be one line of printable text.
func PlanRule(f *policy.File, path []string, norm string, perm policy.Permission, comment string) (*RuleChange, error) {
	if f.Doc == nil {
		return nil, errors.New("not valid TOML")
	}
	for _, r := range comment {
		if r < 0x20 || r == 0x7f {
			return nil, errors.New("a rule comment must be printable text on one line")
		}
	}
	b := newPlanner(f)
	t := b.doc.TableAt(path)
	if t == nil && b.doc.Root.Get(path[0]) != nil && len(path) == 1 {
		return nil, fmt.Errorf("%s is not a table", tomldoc.JoinKey(path))
	}
	var dom *tomldoc.Entry
	if t != nil {
		dom = t.Get("domains")
		if dom != nil && dom.Value.Kind != tomldoc.KindTable {
			return nil, fmt.Errorf("%s.domains is not a table", tomldoc.JoinKey(path))
		}
	}
	var same, other []*tomldoc.Entry
	policy.MapEntries(dom, policy.ParseDomainPermission, func(r *tomldoc.Entry, p policy.Permission) {
		if p == policy.PermInvalid {
			return
		}
		if fixed, _ := policy.FixedPattern(r.Key); ruleGroup(r.Key, fixed) != norm {
			return
		}
		if p == perm {
			same = append(same, r)
		} else {
			other = append(other, r)
		}
	})
	ch := &RuleChange{}
	found := func(r *tomldoc.Entry) {
		ch.Line, ch.Found = r.KeySpan.Start.Line, r.Key
	}
	fb := &fixBuilder{}
	switch {
	case perm == policy.PermInvalid:
		if len(other) == 0 {
			return &RuleChange{Op: RuleUnchanged}, nil
		}
		found(other[0])
		ch.Op = RuleRemoved
		if err := b.removeEntries(fb, other); err != nil {
			return nil, err
		}
	case len(same) > 0 && (len(other) == 0 || perm == policy.Deny):
		found(same[0])
		ch.Op = RuleUnchanged
		return ch, nil
	case len(other) > 0:
		ch.Op = RuleReplaced
		rm := other
		if len(same) > 0 {
			found(same[0])
		} else {
			found(other[0])
			v := other[0].Value.Span
			val := tomldoc.QuoteString(perm.String())
			if f.Src[v.Start.Offset] == '\'' {
				val = "'" + perm.String() + "'" // keep a literal string literal
			}
			fb.replace(v.Start.Offset, v.End.Offset, val)
			rm = other[1:]
		}
		if err := b.removeEntries(fb, rm); err != nil {
			return nil, err
		}
	default:
		ch.Op = RuleAdded
		var err error
		if ch.NewNetwork, err = b.addRule(fb, path, t, dom, norm, perm, comment); err != nil {
			return nil, err
		}
	}
	ch.Fix = fb.fix(ruleMessage(ch.Op, norm, perm))
	if ch.Fix == nil {
		return nil, fmt.Errorf("the edit of %s would overlap itself", tomldoc.JoinKey(path))
	}
	return ch, nil
}

func ruleMessage(op RuleOp, norm string, perm policy.Permission) string {
	switch op {
	case RuleRemoved:
		return "remove the rules for " + tomldoc.QuoteString(norm)
	case RuleReplaced:
		return fmt.Sprintf("make %s %s", tomldoc.QuoteString(norm), perm)
	}
	return fmt.Sprintf("add %s = %s", tomldoc.QuoteString(norm), tomldoc.QuoteString(perm.String()))
}

// removeEntries deletes rule entries; entries of one inline table go in
// one deletion, so that their separators do not overlap.
func (b *planner) removeEntries(fb *fixBuilder, es []*tomldoc.Entry) error {
	inline := map[*tomldoc.Table][]*tomldoc.Entry{}
	for _, e := range es {
		if e.InInline {
			c := b.doc.InlineHolder(e.Parent)
			if c == nil {
				return fmt.Errorf("cannot find the inline table holding %s", tomldoc.QuoteString(e.Key))
			}
			inline[c] = append(inline[c], e)
			continue
		}
		if e.KV.End.Offset <= e.KV.Start.Offset {
			return fmt.Errorf("cannot remove %s", tomldoc.QuoteString(e.Key))
		}
		fb.replace(e.Expr.Line.Start.Offset, e.Expr.Line.End.Offset, "")
	}
	for c, es := range inline {
		items := c.InlineItems()
		if len(items) == len(es) && c.Value != nil {
			// Every item goes: an empty table reads "{}", not "{  }".
			fb.replace(c.Value.Span.Start.Offset, c.Value.Span.End.Offset, "{}")
			continue
		}
		fb.cut(c.InlineCuts(es))
	}
	return nil
}

// tableStyle is how a file writes its domains tables.
type tableStyle uint8

const (
	styleHeader tableStyle = iota // [x.domains] then "a" = "allow"
	styleDotted                   // domains."a" = "allow" in [x]
	styleInline                   // domains = { "a" = "allow" }
)

// fileStyle is the form most of the file's domains tables are written in;
// a file without any gets header tables, the form of the documentation.
func (b *planner) fileStyle() tableStyle {
	count := map[tableStyle]int{}
	for _, n := range networkTables(b.f) {
		e := n.DomainsEntry
		if e == nil || e.Value.Kind != tomldoc.KindTable {
			continue
		}
		switch e.Value.Table.Form {
		case tomldoc.FormHeader:
			count[styleHeader]++
		case tomldoc.FormDotted:
			count[styleDotted]++
		case tomldoc.FormInline:
			count[styleInline]++
		}
	}
	best := styleHeader
	for _, s := range []tableStyle{styleDotted, styleInline} {
		if count[s] > count[best] {
			best = s
		}
	}
	return best
}

// addRule writes a new rule: into the domains table dom when there is one,
// else into a new domains table of t, else into a new network table t at
// path (reported by the result).
func (b *planner) addRule(fb *fixBuilder, path []string, t *tomldoc.Table, dom *tomldoc.Entry, norm string, perm policy.Permission, comment string) (bool, error) {
	key := tomldoc.QuoteString(norm)
	val := tomldoc.QuoteString(perm.String())
	rule := key + " = " + val // in an inline table
	line := rule              // on a line of its own
	if comment != "" {
		line += "  # " + comment
	}
	where := tomldoc.JoinKey(path)
	if dom != nil {
		dt := dom.Value.Table
		switch dt.Form {
		case tomldoc.FormHeader:
			anchor := b.doc.LastKey(dt)
			fb.put(b.doc.LinesAfter(anchor.Line, []string{b.doc.Indent(anchor) + line}))
		case tomldoc.FormInline:
			b.intoInline(fb, dt, rule)
		case tomldoc.FormDotted:
			var last *tomldoc.Entry
			for _, r := range dt.Entries {
				if r.KV.End.Offset > r.KV.Start.Offset && (last == nil || r.KV.End.Offset > last.KV.End.Offset) {
					last = r
				}
			}
			if last == nil {
				return false, fmt.Errorf("cannot add to %s.domains: write the rule by hand", where)
			}
			if last.InInline {
				fb.insert(last.KV.End.Offset, ", "+b.doc.Prefix(last)+rule)
			} else {
				fb.put(b.doc.LinesAfter(last.Expr.Line, []string{b.doc.Indent(last.Expr) + b.doc.Prefix(last) + line}))
			}
		default:
			// Only deeper headers name it; a header of its own is still
			// allowed, at the end where it captures nothing.
			b.atEnd(fb, []string{"[" + tomldoc.JoinKey(append(append([]string(nil), path...), "domains")) + "]", line})
		}
		return false, nil
	}
	style := b.fileStyle()
	// The body of a new domains table in the file's style, relative to
	// its network table.
	body := func(header string) []string {
		switch style {
		case styleDotted:
			return []string{"domains." + line}
		case styleInline:
			return []string{"domains = { " + rule + " }"}
		}
		return []string{"", "[" + header + "]", line}
	}
	domPath := tomldoc.JoinKey(append(append([]string(nil), path...), "domains"))
	if t != nil {
		switch t.Form {
		case tomldoc.FormHeader:
			anchor := b.doc.LastKey(t)
			lines := body(domPath)
			if style != styleHeader {
				lines[0] = b.doc.Indent(anchor) + lines[0]
			}
			fb.put(b.doc.LinesAfter(anchor.Line, lines))
		case tomldoc.FormInline:
			b.intoInline(fb, t, "domains = { "+rule+" }")
		case tomldoc.FormDotted:
			if t.Value != nil && b.doc.InlineHolder(t) != nil {
				return false, fmt.Errorf("cannot add a domains table to %s: write the rule by hand", where)
			}
			var anchor *tomldoc.Expr
			for _, e := range b.doc.Exprs {
				if e.Kind == tomldoc.ExprKeyValue && e.Table != nil && hasPrefix(t.Path, e.Table.Path) &&
					hasPrefix(append(append([]string(nil), e.Table.Path...), e.Key...), t.Path) {
					anchor = e
				}
			}
			if anchor == nil {
				return false, fmt.Errorf("cannot add a domains table to %s: write the rule by hand", where)
			}
			rel := tomldoc.JoinKey(t.Path[len(anchor.Table.Path):])
			fb.put(b.doc.LinesAfter(anchor.Line, []string{b.doc.Indent(anchor) + rel + ".domains." + line}))
		default:
			// Named only by deeper headers: a [x.domains] header at the end.
			b.atEnd(fb, []string{"[" + domPath + "]", line})
		}
		return false, nil
	}
	// A new network table, under the root or a profile.
	parent := b.doc.TableAt(path[:len(path)-1])
	if parent == nil {
		return false, fmt.Errorf("cannot create %s: its parent table does not exist", where)
	}
	if parent.Form == tomldoc.FormInline {
		b.intoInline(fb, parent, tomldoc.QuoteKey(path[len(path)-1])+" = { enabled = true, domains = { "+rule+" } }")
		return true, nil
	}
	if parent.Form == tomldoc.FormDotted && b.doc.InlineHolder(parent) != nil {
		return false, fmt.Errorf("cannot create %s: write the rule by hand", where)
	}
	lines := []string{"[" + where + "]", "enabled = true"}
	b.atEnd(fb, append(lines, body(domPath)...))
	return true, nil
}

// intoInline adds one item (or several, comma-separated) at the end of
// inline table t.
func (b *planner) intoInline(fb *fixBuilder, t *tomldoc.Table, item string) {
	items := t.InlineItems()
	if len(items) == 0 {
		fb.replace(t.Value.Span.Start.Offset, t.Value.Span.End.Offset, "{ "+item+" }")
		return
	}
	fb.insert(items[len(items)-1].End.Offset, ", "+item)
}

// atEnd appends lines at the end of the document (Doc.AppendLines).
func (b *planner) atEnd(fb *fixBuilder, lines []string) {
	text, whole := b.doc.AppendLines(lines)
	if whole {
		fb.replace(0, len(b.src), text)
		return
	}
	fb.insert(len(b.src), text)
}

func hasPrefix(path, prefix []string) bool {
	if len(path) < len(prefix) {
		return false
	}
	for i := range prefix {
		if path[i] != prefix[i] {
			return false
		}
	}
	return true
}

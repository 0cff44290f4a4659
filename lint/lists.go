package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// This file rewrites the legacy lists (allowed_domains, denied_domains,
// allow_unix_sockets) into the canonical maps: reading them, planning each
// entry, and placing the new entries with their comments.

// listElem is one string of a legacy list with the comments that travel
// with it, and what the rewrite makes of it.
type listElem struct {
	v     *tomldoc.Value
	above []string // own-line comments before it
	trail []string // comments after it on its line
	emit  bool
	key   string
	perm  policy.Permission
}

// legacyList is one legacy key with its elements.
type legacyList struct {
	e     *tomldoc.Entry
	elems []*listElem
	after []string // own-line comments after the last element
}

// readList splits a legacy array into elements and comments; ok is false
// when it is not an array of strings.
func (b *planner) readList(e *tomldoc.Entry) (*legacyList, bool) {
	if e.Value.Kind != tomldoc.KindArray {
		return nil, false
	}
	l := &legacyList{e: e}
	var pending []string
	var last *listElem
	for _, it := range e.Value.Items {
		if it.Value == nil {
			c := it.Comment.Text(b.src)
			if last != nil && it.Comment.Start.Line == last.v.Span.End.Line {
				last.trail = append(last.trail, c)
			} else {
				pending = append(pending, c)
			}
			continue
		}
		if it.Value.Kind != tomldoc.KindString {
			return nil, false
		}
		last = &listElem{v: it.Value, above: pending}
		pending = nil
		l.elems = append(l.elems, last)
	}
	l.after = pending
	return l, true
}

// domainLists plans allowed_domains / denied_domains → domains: one fix for
// both lists of the table, carried by every finding on them (the legacy
// keys, and NP022 / NP023 / NP025 on their strings, whose fixes fold into
// the rewrite).
//
// It reports whether the rewrite writes any entry.
func (b *planner) domainLists(n *policy.Network, dm *domainMap, keepAlive *tomldoc.Entry) bool {
	var entries []*tomldoc.Entry
	for _, e := range []*tomldoc.Entry{n.AllowedDomainsEntry, n.DeniedDomainsEntry} {
		if e != nil {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return false
	}
	mixed := dm.entry != nil
	var lists []*legacyList
	var blockers []string
	for _, e := range entries {
		l, ok := b.readList(e)
		if !ok {
			blockers = append(blockers, fmt.Sprintf("%s.%s is not an array of strings", n.Path, e.Key))
			continue
		}
		lists = append(lists, l)
	}

	// Decide every string (POLICY §2.3): allowed entries as allow, denied
	// as deny, a string in both ends deny, duplicates collapse. Strings
	// are compared in their fixed form (no port, punycode); a later
	// string of the same host and permission is a duplicate (NP025).
	type item struct {
		spelling
		el    *listElem
		list  *legacyList
		perm  policy.Permission // of its list
		final policy.Permission // deny when also denied
		dup   *repeat           // the earlier string it repeats (NP025)
	}
	var items []*item
	for _, l := range lists {
		perm := policy.Allow
		if l.e.Key == "denied_domains" {
			perm = policy.Deny
		}
		for _, el := range l.elems {
			it := &item{el: el, list: l, perm: perm, spelling: spell(el.v.Str, el.v.Span)}
			it.el.key = it.spelling.final
			items = append(items, it)
		}
	}
	// Allowed before denied, whatever the document order.
	sort.SliceStable(items, func(i, j int) bool { return items[i].perm < items[j].perm })
	// What each string ends as (deny when also denied), then each host of
	// the lists: both the one deny-wins fold (policy.FoldBy), by fixed
	// string and by group.
	for _, f := range policy.FoldBy(items, func(it *item) policy.Permission { return it.perm }, func(it *item) string { return it.el.key }) {
		f.Win.final = f.Win.perm
		for _, it := range f.Shadow {
			it.final = f.Win.perm
		}
	}
	listEff := map[string]policy.Permission{}
	for _, f := range policy.FoldBy(items, func(it *item) policy.Permission { return it.final }, func(it *item) string { return it.group }) {
		listEff[f.Win.group] = f.Win.final
	}

	type gp struct {
		g string
		p policy.Permission
	}
	// seen is the first string of each host and permission: what a later
	// one repeats.
	seen := map[gp]*repeat{}
	for _, k := range dm.keys {
		if k.perm != policy.PermInvalid && k.dupOf == nil {
			seen[gp{k.group, k.perm}] = &repeat{raw: k.e.Key, line: k.e.KeySpan.Start.Line, perm: k.perm}
		}
	}
	for _, it := range items {
		perm := it.final
		if perm != it.perm {
			continue // also denied: written once, as deny, where it is denied
		}
		k := gp{it.group, perm}
		if r, ok := seen[k]; ok {
			it.dup = r
			continue
		}
		if _, inMap := dm.eff[it.group]; inMap {
			continue // the canonical table has this host already (or conflicts, below)
		}
		seen[k] = &repeat{raw: it.el.v.Str, line: it.el.v.Span.Start.Line, perm: perm}
		it.el.emit, it.el.perm = true, perm
	}
	// Against the canonical table: the same host with another permission
	// is a conflict (NP011 not fixable); so is a key the table has with an
	// invalid value, which the merge would duplicate.
	if mixed {
		told := map[string]bool{}
		for _, it := range items {
			lp := listEff[it.group]
			if dp, ok := dm.eff[it.group]; ok && dp != lp {
				if it.final != lp || told[it.group] {
					continue // name the list entry that gives the lists' permission, once
				}
				told[it.group] = true
				d := dm.first[it.group]
				blockers = append(blockers, fmt.Sprintf("%s: %s is %q in domains (line %d) but %q in %s (line %d)",
					tableLabel(n), tomldoc.QuoteString(d.e.Key), dp.String(), d.e.KeySpan.Start.Line, lp.String(), it.list.e.Key, it.el.v.Span.Start.Line))
				continue
			}
			if k, ok := dm.keyOf[it.el.key]; ok && k.perm == policy.PermInvalid {
				blockers = append(blockers, fmt.Sprintf("%s: %s is in domains (line %d) without a valid permission and in %s (line %d)",
					tableLabel(n), tomldoc.QuoteString(k.e.Key), k.e.KeySpan.Start.Line, it.list.e.Key, it.el.v.Span.Start.Line))
			}
		}
	}

	var fix *Fix
	blocker := strings.Join(dedupe(blockers), "; ")
	if blocker == "" {
		var why string
		canonFixed := false
		for _, k := range dm.keys {
			canonFixed = canonFixed || k.fix != nil
		}
		fix, why = b.placeLists(n, "domains", dm.entry, canonFixed, lists, keepAlive, "rewrite allowed_domains / denied_domains as the domains table")
		blocker = why
	}
	for _, e := range entries {
		rule, msg := legacyRule(n, e.Key, "domains", mixed)
		b.report(rule, e.KeySpan, fix, blocker, "%s", msg)
	}
	for _, it := range items {
		dup := it.dup
		if strings.HasPrefix(it.group, invalidGroup) {
			dup = nil
		}
		b.reportSpelling(it.spelling, fix, "", it.punyErr == nil, dup)
	}
	for _, l := range lists {
		if l.emits() {
			return true
		}
	}
	return false
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// socketList plans allow_unix_sockets → unix_sockets (every path allow).
// It reports whether the rewrite writes any entry.
func (b *planner) socketList(n *policy.Network, keepAlive *tomldoc.Entry) bool {
	e := n.AllowSocketsEntry
	if e == nil {
		return false
	}
	canon := n.SocketsEntry
	mixed := canon != nil
	rule, msg := legacyRule(n, e.Key, "unix_sockets", mixed)
	l, ok := b.readList(e)
	if !ok {
		b.report(rule, e.KeySpan, nil, fmt.Sprintf("%s.%s is not an array of strings", n.Path, e.Key), "%s", msg)
		return false
	}
	have := map[string]*tomldoc.Entry{}
	if canon != nil && canon.Value.Kind == tomldoc.KindTable {
		for _, r := range canon.Value.Table.Entries {
			have[r.Key] = r
		}
	}
	var blockers []string
	seen := map[string]bool{}
	for _, el := range l.elems {
		p := el.v.Str
		if seen[p] {
			continue
		}
		seen[p] = true
		if r, ok := have[p]; ok {
			perm := policy.PermInvalid
			if r.Value.Kind == tomldoc.KindString {
				perm, _ = policy.ParseSocketPermission(r.Value.Str)
			}
			if perm != policy.Allow {
				blockers = append(blockers, fmt.Sprintf("%s: %s is %s in unix_sockets (line %d) but \"allow\" in allow_unix_sockets (line %d)",
					tableLabel(n), tomldoc.QuoteString(p), socketPermText(r), r.KeySpan.Start.Line, el.v.Span.Start.Line))
			}
			continue
		}
		el.emit, el.key, el.perm = true, p, policy.Allow
	}
	var fix *Fix
	blocker := strings.Join(blockers, "; ")
	if blocker == "" {
		fix, blocker = b.placeLists(n, "unix_sockets", canon, false, []*legacyList{l}, keepAlive, "rewrite allow_unix_sockets as the unix_sockets table")
	}
	b.report(rule, e.KeySpan, fix, blocker, "%s", msg)
	return l.emits()
}

func socketPermText(r *tomldoc.Entry) string {
	if r.Value.Kind == tomldoc.KindString {
		return tomldoc.QuoteString(r.Value.Str)
	}
	return "not a permission"
}

// piece is one line (or inline item) of rewritten output: an entry
// key = perm with an optional trailing comment, an own-line comment, or
// raw code.
type piece struct {
	kind      pieceKind
	key, perm string
	text      string // comment text (pieceComment, or an entry's trailing comment) or raw code
}

type pieceKind uint8

const (
	pieceEntry pieceKind = iota
	pieceComment
	pieceRaw
)

// pieces lays out the output of one legacy list: elements in order, each
// with the comments that belonged to it. exprComment is the comment after
// the closing bracket (line form only): on the entry when the list writes
// one entry, else on its own line above them.
func (l *legacyList) pieces(exprComment string) []piece {
	nEmit := 0
	for _, el := range l.elems {
		if el.emit {
			nEmit++
		}
	}
	var ps []piece
	comment := func(c string) { ps = append(ps, piece{kind: pieceComment, text: c}) }
	for _, el := range l.elems {
		for _, c := range el.above {
			comment(c)
		}
		trail := el.trail
		if el.emit {
			if exprComment != "" && nEmit == 1 {
				trail = append(append([]string(nil), trail...), exprComment)
			}
			p := piece{kind: pieceEntry, key: el.key, perm: el.perm.String()}
			if len(trail) > 0 {
				p.text, trail = trail[0], trail[1:]
			}
			ps = append(ps, p)
		}
		for _, c := range trail {
			comment(c)
		}
	}
	for _, c := range l.after {
		comment(c)
	}
	if exprComment != "" && nEmit != 1 {
		// A comment after "]" usually speaks of the whole list.
		ps = append([]piece{{kind: pieceComment, text: exprComment}}, ps...)
	}
	return ps
}

func (l *legacyList) emits() bool {
	for _, el := range l.elems {
		if el.emit {
			return true
		}
	}
	return false
}

// placeLists writes the decided entries of the legacy lists of one family
// (domains, or unix_sockets) into the canonical table mapName, which may
// not exist yet (canon nil), and removes the lists. canonFixed says that
// other fixes edit the canonical table's keys. It returns the fix, or why
// there is none.
func (b *planner) placeLists(n *policy.Network, mapName string, canon *tomldoc.Entry, canonFixed bool, lists []*legacyList, keepAlive *tomldoc.Entry, msg string) (*Fix, string) {
	fb := &fixBuilder{}
	anyEmit := false
	for _, l := range lists {
		anyEmit = anyEmit || l.emits()
	}
	var form tomldoc.TableForm = tomldoc.FormDotted
	if canon != nil {
		if canon.Value.Kind != tomldoc.KindTable {
			return nil, fmt.Sprintf("%s.%s is not a table", n.Path, mapName)
		}
		form = canon.Value.Table.Form
	}
	inlineDel := map[*tomldoc.Table][]*tomldoc.Entry{}
	drop := func(l *legacyList) {
		if l.e.InInline {
			c := b.doc.InlineHolder(l.e.Parent)
			inlineDel[c] = append(inlineDel[c], l.e)
			return
		}
		fb.replace(l.e.Expr.Line.Start.Offset, l.e.Expr.Line.End.Offset, "")
	}
	// An inline table cannot hold the comments that travel with the list
	// entries. When there are some, and no other fix edits the table, the
	// table is written as dotted keys (its entries' text kept) and the
	// lists are rewritten in place, comments and all.
	if form == tomldoc.FormInline && !canon.InInline && !canonFixed && carryComments(lists) {
		items := canon.Value.Table.InlineItems()
		if len(items) > 0 {
			b.inlineToDotted(fb, canon, items)
			form = tomldoc.FormDotted
		}
	}
	switch form {
	case tomldoc.FormDotted:
		// In place: each list becomes dotted keys where it stands, with
		// the prefix it was written with (experimental_network.domains."a").
		for _, l := range lists {
			prefix := b.doc.Prefix(l.e)
			key := func(k string) string { return prefix + mapName + "." + tomldoc.QuoteKey(k) }
			if l.e.InInline {
				ps := l.pieces("")
				code, comments := renderInline(ps, key)
				fb.put(b.doc.LinesAbove(l.e.Expr, comments))
				if code == "" {
					drop(l)
				} else {
					fb.replace(l.e.KV.Start.Offset, l.e.KV.End.Offset, code)
				}
				continue
			}
			ps := l.pieces(b.doc.TrailingComment(l.e.Expr))
			if l.e == keepAlive && !anyEmit {
				ps = append(ps, piece{kind: pieceRaw, text: prefix + mapName + " = {}"})
			}
			lines := renderLines(ps, b.doc.Indent(l.e.Expr), key)
			if len(lines) == 0 {
				drop(l)
				continue
			}
			fb.replace(l.e.Expr.Line.Start.Offset, b.doc.BodyEnd(l.e.Expr.Line), strings.Join(lines, b.doc.EOL(l.e.Expr.Line)))
		}
	case tomldoc.FormInline:
		// Merge into the inline table; comments go above its line.
		var ps []piece
		for _, l := range lists {
			ex := ""
			if !l.e.InInline {
				ex = b.doc.TrailingComment(l.e.Expr)
			}
			ps = append(ps, l.pieces(ex)...)
			drop(l)
		}
		code, comments := renderInline(ps, tomldoc.QuoteKey)
		fb.put(b.doc.LinesAbove(canon.Expr, comments))
		if code != "" {
			b.intoInline(fb, canon.Value.Table, code)
		}
	case tomldoc.FormHeader:
		// Append to the [x.mapName] body, after its last key.
		t := canon.Value.Table
		anchor := b.doc.LastKey(t)
		var ps []piece
		for _, l := range lists {
			if l.e.InInline {
				return nil, fmt.Sprintf("cannot merge %s into [%s.%s]", l.e.Key, n.Path, mapName)
			}
			ps = append(ps, l.pieces(b.doc.TrailingComment(l.e.Expr))...)
			drop(l)
		}
		fb.put(b.doc.LinesAfter(anchor.Line, renderLines(ps, b.doc.Indent(anchor), tomldoc.QuoteKey)))
	default:
		return nil, fmt.Sprintf("cannot merge into %s.%s: it is defined only by deeper table headers", n.Path, mapName)
	}
	for c, es := range inlineDel {
		if c == nil {
			return nil, "cannot find the inline table holding " + es[0].Key
		}
		fb.cut(c.InlineCuts(es))
	}
	fix := fb.fix(msg)
	if fix == nil {
		return nil, "the rewrite of " + n.Path + " would overlap itself"
	}
	return fix, ""
}

// carryComments reports whether the rewritten lists have comments to carry.
func carryComments(lists []*legacyList) bool {
	for _, l := range lists {
		if l.e.Expr.Comment != nil && !l.e.InInline || len(l.after) > 0 {
			return true
		}
		for _, el := range l.elems {
			if len(el.above) > 0 || len(el.trail) > 0 {
				return true
			}
		}
	}
	return false
}

// inlineToDotted rewrites the line `mapName = { k = v, … }` as one dotted
// key per item (`mapName.k = v`), each item's text as written; a comment
// after the table stays on the line of a single item, else goes above.
func (b *planner) inlineToDotted(fb *fixBuilder, canon *tomldoc.Entry, items []tomldoc.Span) {
	prefix := b.doc.Prefix(canon) + canon.KeySpan.Text(b.src) + "."
	indent := b.doc.Indent(canon.Expr)
	var lines []string
	for _, it := range items {
		lines = append(lines, indent+prefix+it.Text(b.src))
	}
	if c := b.doc.TrailingComment(canon.Expr); c != "" && len(lines) == 1 {
		lines[0] += "  " + c
	} else if c != "" {
		lines = append([]string{indent + c}, lines...)
	}
	fb.replace(canon.Expr.Line.Start.Offset, b.doc.BodyEnd(canon.Expr.Line), strings.Join(lines, b.doc.EOL(canon.Expr.Line)))
}

// renderLines writes pieces as lines with the given indentation, without
// line endings.
func renderLines(ps []piece, indent string, key func(string) string) []string {
	var out []string
	for _, p := range ps {
		switch p.kind {
		case pieceEntry:
			s := indent + key(p.key) + " = " + tomldoc.QuoteString(p.perm)
			if p.text != "" {
				s += "  " + p.text
			}
			out = append(out, s)
		case pieceComment, pieceRaw:
			out = append(out, indent+p.text)
		}
	}
	return out
}

// renderInline writes the entries of pieces as inline-table items and
// returns the comments separately (an inline table cannot hold them).
func renderInline(ps []piece, key func(string) string) (string, []string) {
	var items, comments []string
	for _, p := range ps {
		switch p.kind {
		case pieceEntry:
			items = append(items, key(p.key)+" = "+tomldoc.QuoteString(p.perm))
			if p.text != "" {
				comments = append(comments, p.text)
			}
		case pieceComment:
			comments = append(comments, p.text)
		case pieceRaw:
			items = append(items, p.text)
		}
	}
	return strings.Join(items, ", "), comments
}

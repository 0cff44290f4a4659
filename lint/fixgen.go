package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netpolicy/netpolicy/policy"
)

// This file plans the findings and fixes of the fixable rules (legacy.go)
// for a whole file. Fixes are byte edits on the original source; the text
// they write follows three rules:
//
//   - Never insert a [x.domains] header: it would capture the keys after
//     it. New entries are written in place as dotted keys
//     (domains."a.example" = "allow"), appended to an existing [x.domains]
//     body, or merged into an existing inline table.
//   - Comments written inside or after a rewritten array move with their
//     entries: own-line comments above the entry, a comment on an element's
//     line after the entry. Where the target is an inline table (which
//     cannot hold comments), they go on their own lines above its line.
//   - Everything not rewritten keeps its bytes; new lines take the line
//     ending of the line they replace or follow.

// finding is one planned diagnostic of a fixable rule.
type finding struct {
	span policy.Span
	msg  string
	fix  *Fix
	// blocker says why fix is nil, when migrate must refuse over it.
	blocker string
}

// plan is the findings of the fixable rules for one file, by rule ID.
type plan struct {
	findings map[string][]finding
}

// makePlan plans the findings of the fixable rules of f; the passes of one
// Check share it (Pass.plan).
func makePlan(f *policy.File) *plan {
	b := &planner{f: f, src: f.Src, doc: f.Doc, p: &plan{findings: map[string][]finding{}}}
	b.run()
	return b.p
}

// invalidGroup starts the group of an invalid pattern.
const invalidGroup = "\x00invalid:"

// ruleGroup is what makes two rules the same (NP025) or conflicting: the
// normalised fixed pattern. An invalid pattern is its own group, keyed by
// its exact fixed text: the proxy skips it, so it is no rule to compare,
// but it still must not be written twice.
func ruleGroup(raw, fixed string) string {
	if _, err := policy.ParsePattern(raw); err != nil {
		return invalidGroup + fixed
	}
	return policy.NormalizeHost(fixed)
}

// planner plans the findings and fixes of the fixable rules of one file
// into p.
type planner struct {
	f   *policy.File
	src []byte
	doc *policy.Doc
	p   *plan
}

func (b *planner) run() {
	if b.doc == nil {
		return
	}
	for _, n := range networkTables(b.f) {
		b.table(n)
	}
	if b.f.Kind != policy.KindRequirements {
		b.obsolete()
	}
}

func (b *planner) report(rule string, sp policy.Span, fix *Fix, blocker, format string, args ...any) {
	b.p.findings[rule] = append(b.p.findings[rule], finding{span: sp, msg: fmt.Sprintf(format, args...), fix: fix, blocker: blocker})
}

// table plans the fixes of one network table.
func (b *planner) table(n *policy.Network) {
	// A table written only as dotted keys disappears when every key is
	// removed; the first key's fix then leaves an empty domains table so
	// the table (and, for requirements, the file's kind) survives.
	var keepAlive *policy.Entry
	if t := n.Table; t.Form == policy.FormDotted && len(t.Entries) > 0 {
		keepAlive = t.Entries[0]
		for _, e := range t.Entries {
			if s := policy.LookupKey(e.Key, isManaged(n)); s == nil || !s.Legacy && !s.Obsolete {
				keepAlive = nil
				break
			}
		}
	}
	dm := b.domainMap(n)
	domEmits := b.domainLists(n, dm, keepAlive)
	sockEmits := b.socketList(n, keepAlive)
	if domEmits || sockEmits {
		keepAlive = nil // the rewritten lists keep the table
	}
	b.obsoleteKeys(n, keepAlive)
	b.mitmTable(n)
}

// obsoleteKeys reports NP014 with a fix removing the key. Keys written in
// one inline table share one fix: removing neighbours separately would
// make their separators overlap.
func (b *planner) obsoleteKeys(n *policy.Network, keepAlive *policy.Entry) {
	var keys []*policy.Entry
	inline := map[*policy.Table][]*policy.Entry{}
	for _, e := range n.Table.Entries {
		if spec := policy.LookupKey(e.Key, isManaged(n)); spec != nil && spec.Obsolete {
			keys = append(keys, e)
			if e.InInline {
				c := b.containerInline(e)
				inline[c] = append(inline[c], e)
			}
		}
	}
	inlineFix := map[*policy.Table]*Fix{}
	for c, es := range inline {
		if c != nil {
			fb := &fixBuilder{}
			b.deleteInline(fb, c, es)
			inlineFix[c] = fb.fix("remove the obsolete keys")
		}
	}
	for _, e := range keys {
		var fix *Fix
		switch {
		case e.InInline:
			fix = inlineFix[b.containerInline(e)]
		case e == keepAlive:
			fb := &fixBuilder{}
			fb.replace(e.Expr.Line.Start.Offset, b.bodyEnd(e.Expr.Line), b.indentOf(e.Expr)+b.prefixOf(e)+"domains = {}")
			fix = fb.fix("remove " + e.Key)
		default:
			fix = b.removeEntry(e, "remove "+e.Key)
		}
		why := "has no effect any more"
		if e.Key != "danger_full_access_denylist_only" {
			why = "has no effect: the admin API no longer exists"
		}
		b.report("NP014", e.KeySpan, fix, "", "obsolete key %s in %s %s; remove it", e.Key, tableLabel(n), why)
	}
}

// mapKey is one entry of a canonical domains table and what its fixes do.
type mapKey struct {
	e        *policy.Entry
	perm     policy.Permission // PermInvalid when the value is not "allow"/"deny"
	final    string            // the key after its NP022/NP023 fix
	group    string            // normalised final key
	port     bool
	nonASCII bool
	punyErr  error
	dupOf    *mapKey // an earlier entry with the same group and permission
	fix      *Fix
}

// domainMap is the analysed canonical domains table of a network table.
type domainMap struct {
	entry *policy.Entry
	keys  []*mapKey
	// eff is the permission of each group with deny winning; first the
	// first valid entry of each group.
	eff   map[string]policy.Permission
	first map[string]*mapKey
	// keyOf finds an entry by its key as written.
	keyOf map[string]*mapKey
}

// domainMap plans NP022, NP023 and NP025 on the canonical domains table:
// one fix per key (rename or removal) that every finding on the key shares.
func (b *planner) domainMap(n *policy.Network) *domainMap {
	dm := &domainMap{entry: n.DomainsEntry, eff: map[string]policy.Permission{}, first: map[string]*mapKey{}, keyOf: map[string]*mapKey{}}
	if dm.entry == nil || dm.entry.Value.Kind != policy.KindTable {
		return dm
	}
	type gp struct {
		g string
		p policy.Permission
	}
	seen := map[gp]*mapKey{}
	for _, r := range dm.entry.Value.Table.Entries {
		k := &mapKey{e: r, final: r.Key}
		dm.keys = append(dm.keys, k)
		dm.keyOf[r.Key] = k
		if r.Value.Kind == policy.KindTable {
			continue // a dotted key where a pattern was meant: NP002
		}
		if r.Value.Kind == policy.KindString {
			k.perm, _ = policy.ParseDomainPermission(r.Value.Str)
		}
		k.port, k.nonASCII = policy.HasPort(r.Key), !policy.IsASCII(r.Key)
		k.final, k.punyErr = policy.FixedPattern(r.Key)
		k.group = ruleGroup(r.Key, k.final)
		if k.perm == policy.PermInvalid {
			continue
		}
		if prev, ok := seen[gp{k.group, k.perm}]; ok {
			k.dupOf = prev
			continue
		}
		seen[gp{k.group, k.perm}] = k
		if _, ok := dm.first[k.group]; !ok {
			dm.first[k.group] = k
		}
		if cur, ok := dm.eff[k.group]; !ok || cur == policy.Allow {
			dm.eff[k.group] = k.perm
		}
	}
	// A rename must not produce a key that another kept entry has (TOML
	// forbids duplicate keys): such renames are not offered.
	for changed := true; changed; {
		changed = false
		count := map[string]int{}
		for _, k := range dm.keys {
			if k.dupOf == nil {
				count[k.final]++
			}
		}
		for _, k := range dm.keys {
			if k.dupOf == nil && k.final != k.e.Key && count[k.final] > 1 {
				k.final, changed = k.e.Key, true
			}
		}
	}
	for _, k := range dm.keys {
		switch {
		case k.dupOf != nil:
			k.fix = b.removeEntry(k.e, fmt.Sprintf("remove duplicate %s", policy.QuoteString(k.e.Key)))
		case k.final != k.e.Key:
			fb := &fixBuilder{}
			fb.replace(k.e.KeySpan.Start.Offset, k.e.KeySpan.End.Offset, policy.QuoteKey(k.final))
			k.fix = fb.fix(fmt.Sprintf("write %s as %s", policy.QuoteString(k.e.Key), policy.QuoteString(k.final)))
		}
	}
	for _, k := range dm.keys {
		sp := k.e.KeySpan
		if k.port {
			b.report("NP022", sp, k.fix, "", "%s", portMessage(k.e.Key, k.final, k.fix != nil))
		}
		if k.nonASCII {
			fix := k.fix
			if k.punyErr != nil && k.dupOf == nil {
				fix = nil
			}
			b.report("NP023", sp, fix, "", "%s", asciiMessage(k.e.Key, k.final, k.punyErr))
		}
		if k.dupOf != nil {
			b.report("NP025", sp, k.fix, "", "duplicate rule: %s repeats %s (line %d) with the same permission %q",
				policy.QuoteString(k.e.Key), policy.QuoteString(k.dupOf.e.Key), k.dupOf.e.KeySpan.Start.Line, k.perm.String())
		}
	}
	return dm
}

func portMessage(raw, fixed string, fixable bool) string {
	msg := fmt.Sprintf("port in pattern %s is ignored: the rule matches the host on every port", policy.QuoteString(raw))
	if fixable && !policy.HasPort(fixed) {
		msg += fmt.Sprintf("; write %s", policy.QuoteString(fixed))
	}
	return msg
}

func asciiMessage(raw, fixed string, err error) string {
	if err != nil {
		return fmt.Sprintf("non-ASCII pattern %s never matches: write it in punycode (%v)", policy.QuoteString(raw), err)
	}
	return fmt.Sprintf("non-ASCII pattern %s never matches: write its punycode form %s", policy.QuoteString(raw), policy.QuoteString(fixed))
}

// legacyRule is the rule for a legacy key of n: NP010 in a user table,
// NP011 in a managed block that also has the canonical table, else NP012.
func legacyRule(n *policy.Network, key, mapName string, mixed bool) (rule, msg string) {
	switch {
	case !isManaged(n):
		return "NP010", fmt.Sprintf("%s is a legacy list, rejected in %s; write the %s table", key, tableLabel(n), mapName)
	case mixed && mapName == "domains":
		return "NP011", "experimental_network.domains cannot be combined with legacy allowed_domains or denied_domains"
	case mixed:
		return "NP011", "experimental_network.unix_sockets cannot be combined with legacy allow_unix_sockets"
	}
	return "NP012", fmt.Sprintf("%s is a deprecated legacy list; write the %s table", key, mapName)
}

// listElem is one string of a legacy list with the comments that travel
// with it, and what the rewrite makes of it.
type listElem struct {
	v     *policy.Value
	above []string // own-line comments before it
	trail []string // comments after it on its line
	emit  bool
	key   string
	perm  policy.Permission
}

// legacyList is one legacy key with its elements.
type legacyList struct {
	e     *policy.Entry
	elems []*listElem
	after []string // own-line comments after the last element
}

// readList splits a legacy array into elements and comments; ok is false
// when it is not an array of strings.
func (b *planner) readList(e *policy.Entry) (*legacyList, bool) {
	if e.Value.Kind != policy.KindArray {
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
		if it.Value.Kind != policy.KindString {
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
func (b *planner) domainLists(n *policy.Network, dm *domainMap, keepAlive *policy.Entry) bool {
	var entries []*policy.Entry
	for _, e := range []*policy.Entry{n.AllowedDomainsEntry, n.DeniedDomainsEntry} {
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
		el                  *listElem
		list                *legacyList
		perm                policy.Permission // of its list
		final               policy.Permission // deny when also denied
		group               string
		port, nonASCII, dup bool
		punyErr             error
		dupLine             int
		dupRaw              string
	}
	var items []*item
	denied := map[string]bool{}
	for _, l := range lists {
		perm := policy.Allow
		if l.e.Key == "denied_domains" {
			perm = policy.Deny
		}
		for _, el := range l.elems {
			it := &item{el: el, list: l, perm: perm}
			it.el.key, it.punyErr = policy.FixedPattern(el.v.Str)
			it.port, it.nonASCII = policy.HasPort(el.v.Str), !policy.IsASCII(el.v.Str)
			it.group = ruleGroup(el.v.Str, it.el.key)
			if perm == policy.Deny {
				denied[it.el.key] = true
			}
			items = append(items, it)
		}
	}
	// Allowed before denied, whatever the document order.
	sort.SliceStable(items, func(i, j int) bool { return items[i].perm < items[j].perm })

	type gp struct {
		g string
		p policy.Permission
	}
	seen := map[gp]policy.Span{}
	seenRaw := map[gp]string{}
	for _, k := range dm.keys {
		if k.perm != policy.PermInvalid && k.dupOf == nil {
			seen[gp{k.group, k.perm}] = k.e.KeySpan
			seenRaw[gp{k.group, k.perm}] = k.e.Key
		}
	}
	listEff := map[string]policy.Permission{}
	for _, it := range items {
		perm := it.perm
		if denied[it.el.key] {
			perm = policy.Deny
		}
		it.final = perm
		if cur, ok := listEff[it.group]; !ok || cur == policy.Allow {
			listEff[it.group] = perm
		}
		if perm != it.perm {
			continue // also denied: written once, as deny, where it is denied
		}
		k := gp{it.group, perm}
		if sp, ok := seen[k]; ok {
			it.dup, it.dupLine, it.dupRaw = true, sp.Start.Line, seenRaw[k]
			continue
		}
		if _, inMap := dm.eff[it.group]; inMap {
			continue // the canonical table has this host already (or conflicts, below)
		}
		seen[k], seenRaw[k] = it.el.v.Span, it.el.v.Str
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
					tableLabel(n), policy.QuoteString(d.e.Key), dp.String(), d.e.KeySpan.Start.Line, lp.String(), it.list.e.Key, it.el.v.Span.Start.Line))
				continue
			}
			if k, ok := dm.keyOf[it.el.key]; ok && k.perm == policy.PermInvalid {
				blockers = append(blockers, fmt.Sprintf("%s: %s is in domains (line %d) without a valid permission and in %s (line %d)",
					tableLabel(n), policy.QuoteString(k.e.Key), k.e.KeySpan.Start.Line, it.list.e.Key, it.el.v.Span.Start.Line))
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
		sp, raw := it.el.v.Span, it.el.v.Str
		if it.port {
			b.report("NP022", sp, fix, "", "%s", portMessage(raw, it.el.key, fix != nil))
		}
		if it.nonASCII {
			f := fix
			if it.punyErr != nil {
				f = nil
			}
			b.report("NP023", sp, f, "", "%s", asciiMessage(raw, it.el.key, it.punyErr))
		}
		if it.dup && !strings.HasPrefix(it.group, invalidGroup) {
			b.report("NP025", sp, fix, "", "duplicate rule: %s repeats %s (line %d) with the same permission %q",
				policy.QuoteString(raw), policy.QuoteString(it.dupRaw), it.dupLine, it.perm.String())
		}
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
func (b *planner) socketList(n *policy.Network, keepAlive *policy.Entry) bool {
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
	have := map[string]*policy.Entry{}
	if canon != nil && canon.Value.Kind == policy.KindTable {
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
			if r.Value.Kind == policy.KindString {
				perm, _ = policy.ParseSocketPermission(r.Value.Str)
			}
			if perm != policy.Allow {
				blockers = append(blockers, fmt.Sprintf("%s: %s is %s in unix_sockets (line %d) but \"allow\" in allow_unix_sockets (line %d)",
					tableLabel(n), policy.QuoteString(p), socketPermText(r), r.KeySpan.Start.Line, el.v.Span.Start.Line))
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

func socketPermText(r *policy.Entry) string {
	if r.Value.Kind == policy.KindString {
		return policy.QuoteString(r.Value.Str)
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
func (b *planner) placeLists(n *policy.Network, mapName string, canon *policy.Entry, canonFixed bool, lists []*legacyList, keepAlive *policy.Entry, msg string) (*Fix, string) {
	fb := &fixBuilder{}
	anyEmit := false
	for _, l := range lists {
		anyEmit = anyEmit || l.emits()
	}
	var form policy.TableForm = policy.FormDotted
	if canon != nil {
		if canon.Value.Kind != policy.KindTable {
			return nil, fmt.Sprintf("%s.%s is not a table", n.Path, mapName)
		}
		form = canon.Value.Table.Form
	}
	inlineDel := map[*policy.Table][]*policy.Entry{}
	drop := func(l *legacyList) {
		if l.e.InInline {
			c := b.containerInline(l.e)
			inlineDel[c] = append(inlineDel[c], l.e)
			return
		}
		fb.replace(l.e.Expr.Line.Start.Offset, l.e.Expr.Line.End.Offset, "")
	}
	// An inline table cannot hold the comments that travel with the list
	// entries. When there are some, and no other fix edits the table, the
	// table is written as dotted keys (its entries' text kept) and the
	// lists are rewritten in place, comments and all.
	if form == policy.FormInline && !canon.InInline && !canonFixed && carryComments(lists) {
		var items []policy.Span
		inlineLeaves(canon.Value.Table, &items)
		if len(items) > 0 {
			b.inlineToDotted(fb, canon, items)
			form = policy.FormDotted
		}
	}
	switch form {
	case policy.FormDotted:
		// In place: each list becomes dotted keys where it stands, with
		// the prefix it was written with (experimental_network.domains."a").
		for _, l := range lists {
			prefix := b.prefixOf(l.e)
			key := func(k string) string { return prefix + mapName + "." + policy.QuoteKey(k) }
			if l.e.InInline {
				ps := l.pieces("")
				code, comments := renderInline(ps, key)
				b.commentsAbove(fb, l.e.Expr, comments)
				if code == "" {
					drop(l)
				} else {
					fb.replace(l.e.KV.Start.Offset, l.e.KV.End.Offset, code)
				}
				continue
			}
			ps := l.pieces(b.exprComment(l.e.Expr))
			if l.e == keepAlive && !anyEmit {
				ps = append(ps, piece{kind: pieceRaw, text: prefix + mapName + " = {}"})
			}
			lines := renderLines(ps, b.indentOf(l.e.Expr), key)
			if len(lines) == 0 {
				drop(l)
				continue
			}
			fb.replace(l.e.Expr.Line.Start.Offset, b.bodyEnd(l.e.Expr.Line), strings.Join(lines, b.eolOf(l.e.Expr.Line)))
		}
	case policy.FormInline:
		// Merge into the inline table; comments go above its line.
		var ps []piece
		for _, l := range lists {
			ex := ""
			if !l.e.InInline {
				ex = b.exprComment(l.e.Expr)
			}
			ps = append(ps, l.pieces(ex)...)
			drop(l)
		}
		code, comments := renderInline(ps, policy.QuoteKey)
		b.commentsAbove(fb, canon.Expr, comments)
		if code != "" {
			var items []policy.Span
			inlineLeaves(canon.Value.Table, &items)
			if len(items) == 0 {
				fb.replace(canon.Value.Span.Start.Offset, canon.Value.Span.End.Offset, "{ "+code+" }")
			} else {
				fb.insert(items[len(items)-1].End.Offset, ", "+code)
			}
		}
	case policy.FormHeader:
		// Append to the [x.mapName] body, after its last key.
		t := canon.Value.Table
		anchor := t.Header
		for _, e := range b.doc.Exprs {
			if e.Kind == policy.ExprKeyValue && e.Table == t {
				anchor = e
			}
		}
		var ps []piece
		for _, l := range lists {
			if l.e.InInline {
				return nil, fmt.Sprintf("cannot merge %s into [%s.%s]", l.e.Key, n.Path, mapName)
			}
			ps = append(ps, l.pieces(b.exprComment(l.e.Expr))...)
			drop(l)
		}
		b.linesAfter(fb, anchor.Line, renderLines(ps, b.indentOf(anchor), policy.QuoteKey))
	default:
		return nil, fmt.Sprintf("cannot merge into %s.%s: it is defined only by deeper table headers", n.Path, mapName)
	}
	for c, es := range inlineDel {
		if c == nil {
			return nil, "cannot find the inline table holding " + es[0].Key
		}
		b.deleteInline(fb, c, es)
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
func (b *planner) inlineToDotted(fb *fixBuilder, canon *policy.Entry, items []policy.Span) {
	prefix := b.prefixOf(canon) + canon.KeySpan.Text(b.src) + "."
	indent := b.indentOf(canon.Expr)
	var lines []string
	for _, it := range items {
		lines = append(lines, indent+prefix+it.Text(b.src))
	}
	if c := b.exprComment(canon.Expr); c != "" && len(lines) == 1 {
		lines[0] += "  " + c
	} else if c != "" {
		lines = append([]string{indent + c}, lines...)
	}
	fb.replace(canon.Expr.Line.Start.Offset, b.bodyEnd(canon.Expr.Line), strings.Join(lines, b.eolOf(canon.Expr.Line)))
}

// renderLines writes pieces as lines with the given indentation, without
// line endings.
func renderLines(ps []piece, indent string, key func(string) string) []string {
	var out []string
	for _, p := range ps {
		switch p.kind {
		case pieceEntry:
			s := indent + key(p.key) + " = " + policy.QuoteString(p.perm)
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
			items = append(items, key(p.key)+" = "+policy.QuoteString(p.perm))
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

// removeEntry is the fix that deletes a key/value: its line, or its item
// of an inline table. Nil for a table defined by a header.
func (b *planner) removeEntry(e *policy.Entry, msg string) *Fix {
	if e.KV.End.Offset <= e.KV.Start.Offset {
		return nil
	}
	fb := &fixBuilder{}
	if e.InInline {
		c := b.containerInline(e)
		if c == nil {
			return nil
		}
		b.deleteInline(fb, c, []*policy.Entry{e})
	} else {
		fb.replace(e.Expr.Line.Start.Offset, e.Expr.Line.End.Offset, "")
	}
	return fb.fix(msg)
}

// containerInline returns the inline table whose braces hold entry e.
func (b *planner) containerInline(e *policy.Entry) *policy.Table {
	t := e.Parent
	for t != nil && t.Form == policy.FormDotted && len(t.Path) > 0 {
		t = b.tableAt(t.Path[:len(t.Path)-1])
	}
	if t == nil || t.Form != policy.FormInline {
		return nil
	}
	return t
}

func (b *planner) tableAt(path []string) *policy.Table {
	t := b.doc.Root
	for _, p := range path {
		if t = t.Sub(p); t == nil {
			return nil
		}
	}
	return t
}

// inlineLeaves collects the key/value spans written directly in inline
// table t (dotted keys included, nested inline tables as one item).
func inlineLeaves(t *policy.Table, out *[]policy.Span) {
	for _, e := range t.Entries {
		if e.KV.End.Offset > e.KV.Start.Offset {
			*out = append(*out, e.KV)
			continue
		}
		if e.Value.Kind == policy.KindTable && e.Value.Table.Form == policy.FormDotted {
			inlineLeaves(e.Value.Table, out)
		}
	}
	sort.Slice(*out, func(i, j int) bool { return (*out)[i].Start.Offset < (*out)[j].Start.Offset })
}

// deleteInline removes entries of inline table c with their separators: a
// run of removed items takes the comma before it, or, at the start, the
// comma after it.
func (b *planner) deleteInline(fb *fixBuilder, c *policy.Table, es []*policy.Entry) {
	var items []policy.Span
	inlineLeaves(c, &items)
	del := make([]bool, len(items))
	for _, e := range es {
		for i, it := range items {
			if it.Start.Offset == e.KV.Start.Offset {
				del[i] = true
			}
		}
	}
	for i := 0; i < len(items); {
		if !del[i] {
			i++
			continue
		}
		j := i
		for j+1 < len(items) && del[j+1] {
			j++
		}
		switch {
		case i > 0:
			fb.replace(items[i-1].End.Offset, items[j].End.Offset, "")
		case j+1 < len(items):
			fb.replace(items[0].Start.Offset, items[j+1].Start.Offset, "")
		default:
			fb.replace(items[0].Start.Offset, items[j].End.Offset, "")
		}
		i = j + 1
	}
}

// prefixOf is the dotted-key prefix e was written with, as written
// ("experimental_network." for experimental_network.allowed_domains).
func (b *planner) prefixOf(e *policy.Entry) string {
	if e.KV.End.Offset <= e.KV.Start.Offset {
		return ""
	}
	return string(b.src[e.KV.Start.Offset:e.KeySpan.Start.Offset])
}

// indentOf is the white space before an expression on its line.
func (b *planner) indentOf(e *policy.Expr) string {
	s := b.src[e.Line.Start.Offset:e.Span.Start.Offset]
	for _, c := range s {
		if c != ' ' && c != '\t' {
			return ""
		}
	}
	return string(s)
}

func (b *planner) exprComment(e *policy.Expr) string {
	if e.Comment == nil {
		return ""
	}
	return e.Comment.Text(b.src)
}

// bodyEnd is the end of a line without its line ending.
func (b *planner) bodyEnd(line policy.Span) int {
	end := line.End.Offset
	if end > line.Start.Offset && b.src[end-1] == '\n' {
		end--
		if end > line.Start.Offset && b.src[end-1] == '\r' {
			end--
		}
	}
	return end
}

// eolOf is the line ending of line, or the document's for a last line
// without one.
func (b *planner) eolOf(line policy.Span) string {
	end := line.End.Offset
	switch {
	case end >= 2 && b.src[end-1] == '\n' && b.src[end-2] == '\r':
		return "\r\n"
	case end >= 1 && b.src[end-1] == '\n':
		return "\n"
	case b.doc.CRLF:
		return "\r\n"
	}
	return "\n"
}

func (b *planner) hasEOL(line policy.Span) bool {
	return line.End.Offset > line.Start.Offset && b.src[line.End.Offset-1] == '\n'
}

// linesAfter inserts lines after line (after its line ending; a line
// without one, at the end of the file, gets one first).
func (b *planner) linesAfter(fb *fixBuilder, line policy.Span, lines []string) {
	if len(lines) == 0 {
		return
	}
	eol := b.eolOf(line)
	if b.hasEOL(line) {
		fb.insert(line.End.Offset, strings.Join(lines, eol)+eol)
	} else {
		fb.insert(line.End.Offset, eol+strings.Join(lines, eol))
	}
}

// commentsAbove puts comments on their own lines above expression e.
func (b *planner) commentsAbove(fb *fixBuilder, e *policy.Expr, comments []string) {
	if len(comments) == 0 {
		return
	}
	indent, eol := b.indentOf(e), b.eolOf(e.Line)
	var sb strings.Builder
	for _, c := range comments {
		sb.WriteString(indent + c + eol)
	}
	fb.insert(e.Line.Start.Offset, sb.String())
}

// fixBuilder collects the edits of one fix. Insertions at one offset are
// joined in the order they were made.
type fixBuilder struct {
	edits []Edit
	ins   map[int]string
}

func (fb *fixBuilder) replace(start, end int, text string) {
	fb.edits = append(fb.edits, Edit{Start: start, End: end, New: text})
}

func (fb *fixBuilder) insert(at int, text string) {
	if fb.ins == nil {
		fb.ins = map[int]string{}
	}
	fb.ins[at] += text
}

// fix returns the edits sorted, or nil when there are none or two of them
// overlap (a bug in the planner, never papered over).
func (fb *fixBuilder) fix(msg string) *Fix {
	edits := append([]Edit(nil), fb.edits...)
	for at, text := range fb.ins {
		edits = append(edits, Edit{Start: at, End: at, New: text})
	}
	if len(edits) == 0 {
		return nil
	}
	SortEdits(edits)
	for i := 1; i < len(edits); i++ {
		if Overlap(edits[i-1], edits[i]) {
			return nil
		}
	}
	return &Fix{Message: msg, Edits: edits}
}

// SortEdits sorts edits by position; an insertion comes before a
// replacement starting at the same offset.
func SortEdits(edits []Edit) {
	sort.SliceStable(edits, func(i, j int) bool {
		if edits[i].Start != edits[j].Start {
			return edits[i].Start < edits[j].Start
		}
		return edits[i].End < edits[j].End
	})
}

// ApplyEdits applies sorted, non-overlapping edits (byte offsets of src) to
// src and returns the new document.
func ApplyEdits(src []byte, edits []Edit) []byte {
	out := make([]byte, 0, len(src))
	pos := 0
	for _, e := range edits {
		out = append(out, src[pos:e.Start]...)
		out = append(out, e.New...)
		pos = e.End
	}
	return append(out, src[pos:]...)
}

// Overlap reports whether two edits touch the same bytes, or insert at the
// same offset (their order would be a guess).
func Overlap(a, b Edit) bool {
	if a.Start == a.End && b.Start == b.End {
		return a.Start == b.Start
	}
	return a.Start < b.End && b.Start < a.End
}

package lint

import (
	"fmt"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
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
	span tomldoc.Span
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
	b := newPlanner(f)
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
	doc *tomldoc.Doc
	p   *plan
}

func newPlanner(f *policy.File) *planner {
	return &planner{f: f, src: f.Src, doc: f.Doc, p: &plan{findings: map[string][]finding{}}}
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

func (b *planner) report(rule string, sp tomldoc.Span, fix *Fix, blocker, format string, args ...any) {
	b.p.findings[rule] = append(b.p.findings[rule], finding{span: sp, msg: fmt.Sprintf(format, args...), fix: fix, blocker: blocker})
}

// table plans the fixes of one network table.
func (b *planner) table(n *policy.Network) {
	// A table written only as dotted keys disappears when every key is
	// removed; the first key's fix then leaves an empty domains table so
	// the table (and, for requirements, the file's kind) survives.
	var keepAlive *tomldoc.Entry
	if t := n.Table; t.Form == tomldoc.FormDotted && len(t.Entries) > 0 {
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
func (b *planner) obsoleteKeys(n *policy.Network, keepAlive *tomldoc.Entry) {
	var keys []*tomldoc.Entry
	inline := map[*tomldoc.Table][]*tomldoc.Entry{}
	for _, e := range n.Table.Entries {
		if spec := policy.LookupKey(e.Key, isManaged(n)); spec != nil && spec.Obsolete {
			keys = append(keys, e)
			if e.InInline {
				c := b.doc.InlineHolder(e.Parent)
				inline[c] = append(inline[c], e)
			}
		}
	}
	inlineFix := map[*tomldoc.Table]*Fix{}
	inlineBlocker := map[*tomldoc.Table]string{}
	for c, es := range inline {
		if c != nil {
			fb := &fixBuilder{}
			fb.cut(c.InlineCuts(es))
			inlineFix[c] = fb.fix("remove the obsolete keys")
			inlineBlocker[c] = overlapBlocker(fb, "the removal of the obsolete keys")
		}
	}
	for _, e := range keys {
		var fix *Fix
		var blocker string
		switch {
		case e.InInline:
			c := b.doc.InlineHolder(e.Parent)
			fix, blocker = inlineFix[c], inlineBlocker[c]
		case e == keepAlive:
			fb := &fixBuilder{}
			fb.replace(e.Expr.Line.Start.Offset, b.doc.BodyEnd(e.Expr.Line), b.doc.Indent(e.Expr)+b.doc.Prefix(e)+"domains = {}")
			fix, blocker = fb.fix("remove "+e.Key), overlapBlocker(fb, "the removal of "+e.Key)
		default:
			fix, blocker = b.removeEntry(e, "remove "+e.Key)
		}
		why := "has no effect any more"
		if e.Key != "danger_full_access_denylist_only" {
			why = "has no effect: the admin API no longer exists"
		}
		b.report("NP014", e.KeySpan, fix, blocker, "obsolete key %s in %s %s; remove it", e.Key, tableLabel(n), why)
	}
}

// spelling is what the planner reads from one pattern as written, a key of
// a domains table or a string of a legacy list alike: its fixed form, the
// group it falls in, and which spelling findings (NP022, NP023) it gets.
type spelling struct {
	raw      string
	span     tomldoc.Span
	final    string // the pattern after its NP022/NP023 fix
	group    string // what makes two patterns the same rule (ruleGroup)
	port     bool
	nonASCII bool
	punyErr  error
}

func spell(raw string, span tomldoc.Span) spelling {
	s := spelling{raw: raw, span: span, port: policy.HasPort(raw), nonASCII: !policy.IsASCII(raw)}
	s.final, s.punyErr = policy.FixedPattern(raw)
	s.group = ruleGroup(raw, s.final)
	return s
}

// repeat is the earlier pattern a duplicate (NP025) repeats.
type repeat struct {
	raw  string
	line int
	perm policy.Permission
}

// reportSpelling reports the spelling findings of one pattern: NP022 and
// NP023 when it has them, NP025 when dup is set. fix is the fix that
// corrects it (blocker why it is nil); asciiFix false means the NP023
// finding offers no fix, as the pattern has no punycode form.
func (b *planner) reportSpelling(s spelling, fix *Fix, blocker string, asciiFix bool, dup *repeat) {
	if s.port {
		b.report("NP022", s.span, fix, blocker, "%s", portMessage(s.raw, s.final, fix != nil))
	}
	if s.nonASCII {
		f, why := fix, blocker
		if !asciiFix {
			f, why = nil, ""
		}
		b.report("NP023", s.span, f, why, "%s", asciiMessage(s.raw, s.final, s.punyErr))
	}
	if dup != nil {
		b.report("NP025", s.span, fix, blocker, "duplicate rule: %s repeats %s (line %d) with the same permission %q",
			tomldoc.QuoteString(s.raw), tomldoc.QuoteString(dup.raw), dup.line, dup.perm.String())
	}
}

// mapKey is one entry of a canonical domains table and what its fixes do.
type mapKey struct {
	spelling
	e       *tomldoc.Entry
	perm    policy.Permission // PermInvalid when the value is not "allow"/"deny"
	dupOf   *mapKey           // an earlier entry with the same group and permission
	fix     *Fix
	blocker string // why fix is nil, when its edits overlapped
}

// domainMap is the analysed canonical domains table of a network table.
type domainMap struct {
	entry *tomldoc.Entry
	keys  []*mapKey
	// eff is the permission of each group (policy.FoldBy: deny wins);
	// first the first valid entry of each group.
	eff   map[string]policy.Permission
	first map[string]*mapKey
	// keyOf finds an entry by its key as written.
	keyOf map[string]*mapKey
}

// domainMap plans NP022, NP023 and NP025 on the canonical domains table:
// one fix per key (rename or removal) that every finding on the key shares.
func (b *planner) domainMap(n *policy.Network) *domainMap {
	dm := &domainMap{entry: n.DomainsEntry, eff: map[string]policy.Permission{}, first: map[string]*mapKey{}, keyOf: map[string]*mapKey{}}
	if dm.entry == nil || dm.entry.Value.Kind != tomldoc.KindTable {
		return dm
	}
	type gp struct {
		g string
		p policy.Permission
	}
	seen := map[gp]*mapKey{}
	var valid []*mapKey // the entries with a permission, in table order
	for _, r := range dm.entry.Value.Table.Entries {
		k := &mapKey{e: r, spelling: spelling{raw: r.Key, span: r.KeySpan, final: r.Key}}
		dm.keys = append(dm.keys, k)
		dm.keyOf[r.Key] = k
		if r.Value.Kind == tomldoc.KindTable {
			continue // a dotted key where a pattern was meant: NP002
		}
		if r.Value.Kind == tomldoc.KindString {
			k.perm, _ = policy.ParseDomainPermission(r.Value.Str)
		}
		k.spelling = spell(r.Key, r.KeySpan)
		if k.perm == policy.PermInvalid {
			continue
		}
		valid = append(valid, k)
		if prev, ok := seen[gp{k.group, k.perm}]; ok {
			k.dupOf = prev
			continue
		}
		seen[gp{k.group, k.perm}] = k
	}
	for _, f := range policy.FoldBy(valid, func(k *mapKey) policy.Permission { return k.perm }, func(k *mapKey) string { return k.group }) {
		dm.eff[f.Win.group] = f.Win.perm
		dm.first[f.Win.group] = f.First
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
			k.fix, k.blocker = b.removeEntry(k.e, fmt.Sprintf("remove duplicate %s", tomldoc.QuoteString(k.e.Key)))
		case k.final != k.e.Key:
			fb := &fixBuilder{}
			fb.replace(k.e.KeySpan.Start.Offset, k.e.KeySpan.End.Offset, tomldoc.QuoteKey(k.final))
			k.fix = fb.fix(fmt.Sprintf("write %s as %s", tomldoc.QuoteString(k.e.Key), tomldoc.QuoteString(k.final)))
			k.blocker = overlapBlocker(fb, "the respelling of "+tomldoc.QuoteString(k.e.Key))
		}
	}
	for _, k := range dm.keys {
		var dup *repeat
		if k.dupOf != nil {
			dup = &repeat{raw: k.dupOf.e.Key, line: k.dupOf.e.KeySpan.Start.Line, perm: k.perm}
		}
		b.reportSpelling(k.spelling, k.fix, k.blocker, k.punyErr == nil || k.dupOf != nil, dup)
	}
	return dm
}

func portMessage(raw, fixed string, fixable bool) string {
	msg := fmt.Sprintf("port in pattern %s is ignored: the rule matches the host on every port", tomldoc.QuoteString(raw))
	if fixable && !policy.HasPort(fixed) {
		msg += fmt.Sprintf("; write %s", tomldoc.QuoteString(fixed))
	}
	return msg
}

func asciiMessage(raw, fixed string, err error) string {
	if err != nil {
		return fmt.Sprintf("non-ASCII pattern %s never matches: write it in punycode (%v)", tomldoc.QuoteString(raw), err)
	}
	return fmt.Sprintf("non-ASCII pattern %s never matches: write its punycode form %s", tomldoc.QuoteString(raw), tomldoc.QuoteString(fixed))
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

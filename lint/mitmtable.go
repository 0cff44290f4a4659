package lint

import (
	"bytes"
	"strconv"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// obsoleteMITMTable reports whether e is the mitm key of a user network
// table written as the old [network_proxy.mitm] table (which NP013 moves
// to [network.mitm]): a table, where the key is now a bool.
func obsoleteMITMTable(n *policy.Network, e *tomldoc.Entry) bool {
	return !isManaged(n) && e.Key == "mitm" && e.Value.Kind == tomldoc.KindTable
}

// mitmTable plans the last step of migrating [network_proxy.mitm]: once
// NP013 has moved it under the network table, its keys other than enabled
// (CA paths, body inspection) are NP014 removals, and the table itself is
// NP013, fixed into mitm = <enabled> at the end of the network table's
// section. The conversion waits until the other keys are gone (migrate's
// next round), so that no two fixes overlap. An inline table (mitm = {
// enabled = true, … }) is rewritten in one edit instead (mitmInline).
func (b *planner) mitmTable(n *policy.Network) {
	e := n.Table.Get("mitm")
	if e == nil || !obsoleteMITMTable(n, e) {
		return
	}
	t := e.Value.Table
	label := tableLabel(n)
	enabled := false
	en := t.Get("enabled")
	if en != nil && en.Value.Kind == tomldoc.KindBool {
		enabled = en.Value.Bool
	}
	// An inline table is rewritten whole, mitm = { enabled = true, … }
	// → mitm = true: one edit that takes the other keys with it, shared by
	// every finding of the table.
	var inlineFix *Fix
	inlineBlocker := ""
	if t.Form == tomldoc.FormInline {
		inlineFix, inlineBlocker = b.mitmInline(e, en, enabled)
	}
	others := 0
	for _, k := range t.Entries {
		if k.Key == "enabled" {
			continue
		}
		others++
		fix, blocker := inlineFix, inlineBlocker
		if t.Form != tomldoc.FormInline {
			fix, blocker = b.removeEntry(k, "remove mitm."+k.Key)
		}
		b.report("NP014", k.KeySpan, fix, blocker, "obsolete key mitm.%s in %s has no effect: interception has no settings but mitm = true; remove it", tomldoc.QuoteKey(k.Key), label)
	}
	if t.Form == tomldoc.FormInline {
		msg := "the obsolete table mitm in " + label + " becomes mitm = " + strconv.FormatBool(enabled)
		if inlineBlocker != "" {
			msg += " (cannot be rewritten automatically: " + inlineBlocker + ")"
		}
		b.report("NP013", e.KeySpan, inlineFix, inlineBlocker, "%s", msg)
		return
	}
	blocker := ""
	fb := &fixBuilder{}
	switch {
	case en != nil && en.Value.Kind != tomldoc.KindBool:
		blocker = "mitm.enabled is not a bool"
	case others > 0:
		blocker = "its other keys go first"
	case t.Form == tomldoc.FormHeader:
		blocker = b.mitmFromHeader(fb, n, t, en, enabled)
	case t.Form == tomldoc.FormDotted && en != nil:
		// mitm.enabled = true → mitm = true, in place.
		fb.replace(en.Expr.Line.Start.Offset, b.doc.BodyEnd(en.Expr.Line), b.doc.Indent(en.Expr)+b.doc.Prefix(e)+"mitm = "+strconv.FormatBool(enabled))
	default:
		blocker = "cannot read the table"
	}
	var fix *Fix
	if blocker == "" {
		if fix = fb.fix("write mitm = " + strconv.FormatBool(enabled)); fix == nil {
			blocker = "the rewrite would overlap itself"
		}
	}
	msg := "the obsolete table mitm in " + label + " becomes mitm = " + strconv.FormatBool(enabled)
	if blocker != "" && others == 0 {
		msg += " (cannot be rewritten automatically: " + blocker + ")"
	}
	if others > 0 {
		blocker = "" // a later round rewrites it; not a refusal
	}
	b.report("NP013", e.KeySpan, fix, blocker, "%s", msg)
}

// mitmInline is the fix of an inline mitm table: its value becomes
// <enabled>. A table holding comments (TOML 1.1 inline tables may span
// lines) is left to be rewritten by hand, as migrate keeps every comment.
func (b *planner) mitmInline(e, en *tomldoc.Entry, enabled bool) (*Fix, string) {
	if en != nil && en.Value.Kind != tomldoc.KindBool {
		return nil, "mitm.enabled is not a bool"
	}
	sp := e.Value.Span
	if bytes.IndexByte(b.doc.Src[sp.Start.Offset:sp.End.Offset], '#') >= 0 {
		return nil, "the inline table holds comments"
	}
	fb := &fixBuilder{}
	fb.replace(sp.Start.Offset, sp.End.Offset, strconv.FormatBool(enabled))
	return fb.fix("write mitm = " + strconv.FormatBool(enabled)), ""
}

// mitmFromHeader removes the [..mitm] header and its enabled line, and
// writes mitm = <enabled> after the last key of the network table's own
// section.
func (b *planner) mitmFromHeader(fb *fixBuilder, n *policy.Network, t *tomldoc.Table, en *tomldoc.Entry, enabled bool) string {
	if n.Table.Header == nil || t.Header == nil {
		return "the network table has no [header] of its own"
	}
	anchor := b.doc.LastKey(n.Table)
	fb.replace(t.Header.Line.Start.Offset, t.Header.Line.End.Offset, "")
	if en != nil {
		fb.replace(en.Expr.Line.Start.Offset, en.Expr.Line.End.Offset, "")
	}
	fb.put(b.doc.LinesAfter(anchor.Line, []string{"mitm = " + strconv.FormatBool(enabled)}))
	return ""
}

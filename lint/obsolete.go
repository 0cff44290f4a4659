package lint

import (
	"bytes"
	"fmt"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// obsolete plans NP013 for the obsolete table shapes of a config file:
// [network_proxy] (with its lists in [network_proxy.policy]) and the
// pre-profile [permissions.network]. The fix only moves them to [network]
// (renaming headers and dotted-key prefixes, moving the policy keys); the
// moved table is then an ordinary [network] whose legacy lists and
// obsolete keys the next round of fixes rewrites.
func (b *planner) obsolete() {
	root := b.doc.Root
	np := root.Get("network_proxy")
	if np != nil && np.Value.Kind != tomldoc.KindTable {
		np = nil
	}
	var pn *tomldoc.Entry
	if perms := root.Sub("permissions"); perms != nil {
		if e := perms.Get("network"); e != nil && e.Value.Kind == tomldoc.KindTable && policy.ObsoletePermissionsNetwork(e.Value.Table) {
			pn = e
		}
	}
	shared := ""
	switch {
	case root.Get("network") != nil:
		shared = "[network] already exists: merge the settings into it by hand"
	case np != nil && pn != nil:
		shared = "both [network_proxy] and [permissions.network] would become [network]: merge them by hand"
	}
	one := func(e *tomldoc.Entry, name, what string, move func(*fixBuilder) string) {
		blocker := shared
		fb := &fixBuilder{}
		if blocker == "" {
			blocker = move(fb)
		}
		var fix *Fix
		if blocker == "" {
			if fix = fb.fix("move " + name + " to [network]"); fix == nil {
				blocker = "the move of " + name + " would overlap itself"
			}
		}
		msg := fmt.Sprintf("%s is %s; its settings belong in [network]", name, what)
		if blocker != "" {
			msg += " (cannot be moved automatically: " + blocker + ")"
		}
		b.report("NP013", e.KeySpan, fix, blocker, "%s", msg)
	}
	if np != nil {
		one(np, "[network_proxy]", "an obsolete table", func(fb *fixBuilder) string { return b.moveNetworkProxy(fb, np.Value.Table) })
	}
	if pn != nil {
		one(pn, "[permissions.network]", "the obsolete pre-profile shape", func(fb *fixBuilder) string { return b.movePermissionsNetwork(fb, pn.Value.Table) })
	}
}

// toNetwork replaces the key parts [0, to] of expression e with network.
func (b *planner) toNetwork(fb *fixBuilder, e *tomldoc.Expr, to int) bool {
	parts := e.KeyParts
	if len(parts) <= to {
		return false
	}
	fb.replace(parts[0].Start.Offset, parts[to].End.Offset, "network")
	return true
}

// moveNetworkProxy renames network_proxy to network everywhere it is named
// and puts the keys of network_proxy.policy directly into it.
func (b *planner) moveNetworkProxy(fb *fixBuilder, t *tomldoc.Table) string {
	if t.Form == tomldoc.FormInline {
		return "it is written as an inline table"
	}
	var pt *tomldoc.Table
	if e := t.Get("policy"); e != nil {
		if e.Value.Kind != tomldoc.KindTable || e.Value.Table.Form == tomldoc.FormInline {
			return "network_proxy.policy is not a table of its own"
		}
		pt = e.Value.Table
	}
	var policyHeader *tomldoc.Expr
	rootDotted := false
	for _, e := range b.doc.Exprs {
		if len(e.Key) == 0 {
			continue
		}
		switch e.Kind {
		case tomldoc.ExprTable, tomldoc.ExprArrayTable:
			if e.Key[0] != "network_proxy" {
				continue
			}
			ok := true
			switch {
			case len(e.Key) == 2 && e.Key[1] == "policy" && e.Kind == tomldoc.ExprTable:
				policyHeader = e
			case len(e.Key) >= 2 && e.Key[1] == "policy":
				ok = b.toNetwork(fb, e, 1)
			default:
				ok = b.toNetwork(fb, e, 0)
			}
			if !ok {
				return "cannot read the header " + e.Span.Text(b.src)
			}
		case tomldoc.ExprKeyValue:
			ok := true
			switch {
			case e.Table == b.doc.Root && e.Key[0] == "network_proxy":
				rootDotted = true
				switch {
				case len(e.Key) == 1, len(e.Key) == 2 && e.Key[1] == "policy":
					return "it is written as an inline table"
				case e.Key[1] == "policy":
					ok = b.toNetwork(fb, e, 1)
				default:
					ok = b.toNetwork(fb, e, 0)
				}
			case e.Table == t && e.Key[0] == "policy":
				// policy.allowed_domains = … under [network_proxy]: drop
				// the "policy." part.
				parts := e.KeyParts
				if len(parts) < 2 {
					return "network_proxy.policy is written as an inline table"
				}
				fb.replace(parts[0].Start.Offset, parts[1].Start.Offset, "")
			}
			if !ok {
				return "cannot read the key " + e.KeySpan.Text(b.src)
			}
		}
	}
	if policyHeader == nil {
		return ""
	}
	switch {
	case t.Header == nil && !rootDotted:
		// Only [network_proxy.policy] (and deeper headers): it becomes
		// [network] itself.
		if !b.toNetwork(fb, policyHeader, 1) {
			return "cannot read the header " + policyHeader.Span.Text(b.src)
		}
		return ""
	case t.Header == nil:
		return "[network_proxy] is written as dotted keys next to a [network_proxy.policy] header"
	}
	for _, e := range pt.Entries {
		if e.Key != "policy" && t.Get(e.Key) != nil {
			return fmt.Sprintf("both [network_proxy] and [network_proxy.policy] set %s", tomldoc.QuoteKey(e.Key))
		}
	}
	b.movePolicyBody(fb, t, policyHeader)
	return ""
}

// movePolicyBody moves the keys under the [network_proxy.policy] header to
// the end of the [network_proxy] section. When the policy section directly
// follows, only its header line goes (a comment on it stays, on its own
// line).
func (b *planner) movePolicyBody(fb *fixBuilder, t *tomldoc.Table, ph *tomldoc.Expr) {
	indent := b.doc.Indent(ph)
	headerComment := ""
	if ph.Comment != nil {
		headerComment = indent + ph.Comment.Text(b.src)
	}
	if b.nextHeader(t.Header) == ph {
		if headerComment != "" {
			fb.replace(ph.Line.Start.Offset, b.doc.BodyEnd(ph.Line), headerComment)
		} else {
			fb.replace(ph.Line.Start.Offset, ph.Line.End.Offset, "")
		}
		return
	}
	end := b.doc.LastKey(ph.Table).Line.End.Offset
	body := string(b.src[ph.Line.End.Offset:end])
	eol := b.doc.EOL(ph.Line)
	if headerComment != "" {
		body = headerComment + eol + body
	}
	// Take one blank line before the section along when a blank line (or
	// the end of the file) follows it, so no double gap is left.
	start := ph.Line.Start.Offset
	if rest := b.src[end:]; len(rest) == 0 || rest[0] == '\n' || rest[0] == '\r' {
		if i := start - 1; i > 0 && b.src[i] == '\n' {
			prev := bytes.LastIndexByte(b.src[:i], '\n') + 1
			if len(bytes.TrimSpace(b.src[prev:i])) == 0 {
				start = prev
			}
		}
	}
	fb.replace(start, end, "")
	if body == "" {
		return
	}
	anchor := b.doc.LastKey(t)
	// body is whole lines; the last may lack its line ending at the end of
	// the file.
	if body[len(body)-1] != '\n' {
		body += eol
	}
	if b.doc.HasEOL(anchor.Line) {
		fb.insert(anchor.Line.End.Offset, body)
	} else {
		fb.insert(anchor.Line.End.Offset, eol+body[:len(body)-len(eol)])
	}
}

// nextHeader is the first [header] or [[header]] after header h, or nil.
func (b *planner) nextHeader(h *tomldoc.Expr) *tomldoc.Expr {
	after := false
	for _, x := range b.doc.Exprs {
		switch {
		case x == h:
			after = true
		case after && (x.Kind == tomldoc.ExprTable || x.Kind == tomldoc.ExprArrayTable):
			return x
		}
	}
	return nil
}

// movePermissionsNetwork renames permissions.network to network in every
// header and root dotted key that names it.
func (b *planner) movePermissionsNetwork(fb *fixBuilder, t *tomldoc.Table) string {
	perms := b.doc.Root.Sub("permissions")
	if perms.Form == tomldoc.FormInline || t.Form == tomldoc.FormInline {
		return "it is written as an inline table"
	}
	for _, e := range b.doc.Exprs {
		if len(e.Key) == 0 {
			continue
		}
		named := len(e.Key) >= 2 && e.Key[0] == "permissions" && e.Key[1] == "network"
		switch e.Kind {
		case tomldoc.ExprTable, tomldoc.ExprArrayTable:
			if named && !b.toNetwork(fb, e, 1) {
				return "cannot read the header " + e.Span.Text(b.src)
			}
		case tomldoc.ExprKeyValue:
			switch {
			case e.Table == b.doc.Root && named:
				if len(e.Key) == 2 {
					return "it is written as an inline table"
				}
				if !b.toNetwork(fb, e, 1) {
					return "cannot read the key " + e.KeySpan.Text(b.src)
				}
			case e.Table == perms && e.Key[0] == "network":
				return "it is written as dotted keys under [permissions]"
			}
		}
	}
	return ""
}

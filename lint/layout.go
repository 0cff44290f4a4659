package lint

import (
	"sort"
	"strings"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
)

// This file holds the line-layout helpers of the planner: where an entry,
// a line or a body ends, its indent and comments, and how entries are
// removed from a table or an inline table.

// removeEntry is the fix that deletes a key/value: its line, or its item
// of an inline table. Nil for a table defined by a header; nil with a
// blocker when its edits overlap.
func (b *planner) removeEntry(e *tomldoc.Entry, msg string) (fix *Fix, blocker string) {
	if e.KV.End.Offset <= e.KV.Start.Offset {
		return nil, ""
	}
	fb := &fixBuilder{}
	if e.InInline {
		c := b.containerInline(e)
		if c == nil {
			return nil, ""
		}
		b.deleteInline(fb, c, []*tomldoc.Entry{e})
	} else {
		fb.replace(e.Expr.Line.Start.Offset, e.Expr.Line.End.Offset, "")
	}
	return fb.fix(msg), overlapBlocker(fb, "the removal of "+e.Key)
}

// overlapBlocker is the NoFix reason of a fix whose edits overlapped, or
// "" when they did not.
func overlapBlocker(fb *fixBuilder, what string) string {
	if fb.overlap {
		return what + " would overlap itself"
	}
	return ""
}

// containerInline returns the inline table whose braces hold entry e.
func (b *planner) containerInline(e *tomldoc.Entry) *tomldoc.Table {
	t := e.Parent
	for t != nil && t.Form == tomldoc.FormDotted && len(t.Path) > 0 {
		t = b.tableAt(t.Path[:len(t.Path)-1])
	}
	if t == nil || t.Form != tomldoc.FormInline {
		return nil
	}
	return t
}

func (b *planner) tableAt(path []string) *tomldoc.Table {
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
func inlineLeaves(t *tomldoc.Table, out *[]tomldoc.Span) {
	for _, e := range t.Entries {
		if e.KV.End.Offset > e.KV.Start.Offset {
			*out = append(*out, e.KV)
			continue
		}
		if e.Value.Kind == tomldoc.KindTable && e.Value.Table.Form == tomldoc.FormDotted {
			inlineLeaves(e.Value.Table, out)
		}
	}
	sort.Slice(*out, func(i, j int) bool { return (*out)[i].Start.Offset < (*out)[j].Start.Offset })
}

// deleteInline removes entries of inline table c with their separators: a
// run of removed items takes the comma before it, or, at the start, the
// comma after it.
func (b *planner) deleteInline(fb *fixBuilder, c *tomldoc.Table, es []*tomldoc.Entry) {
	var items []tomldoc.Span
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
func (b *planner) prefixOf(e *tomldoc.Entry) string {
	if e.KV.End.Offset <= e.KV.Start.Offset {
		return ""
	}
	return string(b.src[e.KV.Start.Offset:e.KeySpan.Start.Offset])
}

// indentOf is the white space before an expression on its line.
func (b *planner) indentOf(e *tomldoc.Expr) string {
	s := b.src[e.Line.Start.Offset:e.Span.Start.Offset]
	for _, c := range s {
		if c != ' ' && c != '\t' {
			return ""
		}
	}
	return string(s)
}

func (b *planner) exprComment(e *tomldoc.Expr) string {
	if e.Comment == nil {
		return ""
	}
	return e.Comment.Text(b.src)
}

// bodyEnd is the end of a line without its line ending.
func (b *planner) bodyEnd(line tomldoc.Span) int {
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
func (b *planner) eolOf(line tomldoc.Span) string {
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

func (b *planner) hasEOL(line tomldoc.Span) bool {
	return line.End.Offset > line.Start.Offset && b.src[line.End.Offset-1] == '\n'
}

// lastKey is where a new key of header table t goes: after the last
// key/value written in its section, else after its header.
func (b *planner) lastKey(t *tomldoc.Table) *tomldoc.Expr {
	anchor := t.Header
	for _, e := range b.doc.Exprs {
		if e.Kind == tomldoc.ExprKeyValue && e.Table == t {
			anchor = e
		}
	}
	return anchor
}

// linesAfter inserts lines after line (after its line ending; a line
// without one, at the end of the file, gets one first).
func (b *planner) linesAfter(fb *fixBuilder, line tomldoc.Span, lines []string) {
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
func (b *planner) commentsAbove(fb *fixBuilder, e *tomldoc.Expr, comments []string) {
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

package tomldoc

import (
	"bytes"
	"sort"
	"strings"
)

// This file holds the line layout of a document, as an editor needs it to
// change one key without disturbing the text around it: where a line's
// body ends and which line ending it uses, the indent and trailing comment
// of an expression, where a table's keys end, and which bytes to cut to
// remove items from an inline table. Every answer is in terms of the
// original bytes (Doc.Src); the edits themselves are the caller's.

// TableAt returns the table at path, following sub-tables from the root,
// or nil when there is none (or something on the way is not a table).
func (d *Doc) TableAt(path []string) *Table {
	t := d.Root
	for _, p := range path {
		if t = t.Sub(p); t == nil {
			return nil
		}
	}
	return t
}

// InlineHolder returns the inline table whose braces hold t: t itself when
// it is an inline table, else the nearest inline table above the dotted
// tables t is nested in (x = { a.b = 1 } holds a), or nil when t is not
// written inside braces.
func (d *Doc) InlineHolder(t *Table) *Table {
	for t != nil && t.Form == FormDotted && len(t.Path) > 0 {
		t = d.TableAt(t.Path[:len(t.Path)-1])
	}
	if t == nil || t.Form != FormInline {
		return nil
	}
	return t
}

// InlineItems returns the spans of the key/value items written directly in
// inline table t, in document order: dotted keys (a.b = 1) each count as an
// item, a nested inline table as one.
func (t *Table) InlineItems() []Span {
	var out []Span
	t.inlineItems(&out)
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Offset < out[j].Start.Offset })
	return out
}

func (t *Table) inlineItems(out *[]Span) {
	for _, e := range t.Entries {
		if e.KV.End.Offset > e.KV.Start.Offset {
			*out = append(*out, e.KV)
			continue
		}
		if e.Value.Kind == KindTable && e.Value.Table.Form == FormDotted {
			e.Value.Table.inlineItems(out)
		}
	}
}

// InlineCuts returns the ranges to delete to remove entries es from inline
// table t together with their separators: a run of removed items takes the
// comma before it, or, at the start of the table, the comma after it.
// Entries of es that are not items of t are ignored.
func (t *Table) InlineCuts(es []*Entry) []Span {
	items := t.InlineItems()
	del := make([]bool, len(items))
	for _, e := range es {
		for i, it := range items {
			if it.Start.Offset == e.KV.Start.Offset {
				del[i] = true
			}
		}
	}
	var cuts []Span
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
			cuts = append(cuts, Span{items[i-1].End, items[j].End})
		case j+1 < len(items):
			cuts = append(cuts, Span{items[0].Start, items[j+1].Start})
		default:
			cuts = append(cuts, Span{items[0].Start, items[j].End})
		}
		i = j + 1
	}
	return cuts
}

// Prefix is the dotted-key prefix e was written with, as written
// ("experimental_network." for experimental_network.allowed_domains = …);
// "" for a table defined by a header.
func (d *Doc) Prefix(e *Entry) string {
	if e.KV.End.Offset <= e.KV.Start.Offset {
		return ""
	}
	return string(d.Src[e.KV.Start.Offset:e.KeySpan.Start.Offset])
}

// Indent is the white space before expression e on its line ("" when
// anything else comes before it).
func (d *Doc) Indent(e *Expr) string {
	s := d.Src[e.Line.Start.Offset:e.Span.Start.Offset]
	for _, c := range s {
		if c != ' ' && c != '\t' {
			return ""
		}
	}
	return string(s)
}

// TrailingComment is the text of the comment after e on its line, from '#'
// to the end of the line, or "".
func (d *Doc) TrailingComment(e *Expr) string {
	if e.Comment == nil {
		return ""
	}
	return e.Comment.Text(d.Src)
}

// BodyEnd is the offset where line ends without its line ending.
func (d *Doc) BodyEnd(line Span) int {
	end := line.End.Offset
	if end > line.Start.Offset && d.Src[end-1] == '\n' {
		end--
		if end > line.Start.Offset && d.Src[end-1] == '\r' {
			end--
		}
	}
	return end
}

// EOL is the line ending of line, or, for a last line without one, the
// document's ("\r\n" when its first line ends so, else "\n").
func (d *Doc) EOL(line Span) string {
	end := line.End.Offset
	switch {
	case end >= 2 && d.Src[end-1] == '\n' && d.Src[end-2] == '\r':
		return "\r\n"
	case end >= 1 && d.Src[end-1] == '\n':
		return "\n"
	case d.CRLF:
		return "\r\n"
	}
	return "\n"
}

// HasEOL reports whether line ends in a line ending (only the last line of
// a file may not).
func (d *Doc) HasEOL(line Span) bool {
	return line.End.Offset > line.Start.Offset && d.Src[line.End.Offset-1] == '\n'
}

// LastKey is the expression a new key of header table t goes after: the
// last key/value written in t's section, else t's header.
func (d *Doc) LastKey(t *Table) *Expr {
	anchor := t.Header
	for _, e := range d.Exprs {
		if e.Kind == ExprKeyValue && e.Table == t {
			anchor = e
		}
	}
	return anchor
}

// LinesAfter is the insertion that puts lines after line: at its end, each
// line ended with line's own line ending; a last line of the file without
// one gets one first. text is "" when lines is empty.
func (d *Doc) LinesAfter(line Span, lines []string) (at int, text string) {
	if len(lines) == 0 {
		return line.End.Offset, ""
	}
	eol := d.EOL(line)
	if d.HasEOL(line) {
		return line.End.Offset, strings.Join(lines, eol) + eol
	}
	return line.End.Offset, eol + strings.Join(lines, eol)
}

// LinesAbove is the insertion that puts lines (comments, say) on lines of
// their own above expression e, with e's indent and line ending. text is ""
// when lines is empty.
func (d *Doc) LinesAbove(e *Expr, lines []string) (at int, text string) {
	indent, eol := d.Indent(e), d.EOL(e.Line)
	var sb strings.Builder
	for _, c := range lines {
		sb.WriteString(indent + c + eol)
	}
	return e.Line.Start.Offset, sb.String()
}

// AppendLines is the text that adds lines at the end of the document after
// a blank line, in the document's line ending; leading empty lines of
// lines are dropped, and a missing final newline stays missing. A blank
// document (white space only) is replaced whole: whole is then true and
// text is the lines alone with a final newline. Otherwise text goes at the
// end of Src.
func (d *Doc) AppendLines(lines []string) (text string, whole bool) {
	eol := "\n"
	if d.CRLF {
		eol = "\r\n"
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	body := strings.Join(lines, eol)
	src, n := d.Src, len(d.Src)
	switch {
	case len(bytes.TrimSpace(src)) == 0:
		return body + eol, true
	case src[n-1] != '\n':
		return eol + eol + body, false
	case n >= 2 && src[n-2] == '\n' || n >= 3 && src[n-2] == '\r' && src[n-3] == '\n':
		return body + eol, false
	}
	return eol + body + eol, false
}

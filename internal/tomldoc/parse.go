package tomldoc

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// ParseDoc parses src. A document that is not valid TOML gives a
// *SyntaxError with the parser's position; the returned Doc is then nil.
//
// go-toml's unstable parser checks syntax only. The TOML rules about keys
// and tables (no key twice, no table defined twice, dotted keys and headers
// that may not reopen each other's tables, immutable inline tables and
// static arrays) are checked here while the tree is built, with hash
// lookups: go-toml's own decoder checks them with a linear scan per key,
// which made a 10,000-entry table take a third of a second. A fuzz test
// holds this check to the decoder's verdict.
func ParseDoc(src []byte) (*Doc, error) {
	d := newDoc(src)
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		// TOML has no byte-order mark; say so rather than quote its first byte.
		return nil, &SyntaxError{Pos: d.Pos(0), Message: "the file starts with a UTF-8 byte-order mark, which TOML does not allow; save it as UTF-8 without BOM"}
	}
	var p unstable.Parser
	p.KeepComments = true
	p.Reset(src)
	b := &builder{d: d, p: &p, cur: nil}
	d.Root = &Table{Form: FormRoot, byKey: map[string]*Entry{}}
	b.cur = d.Root
	for p.NextExpression() {
		if err := b.expr(p.Expression()); err != nil {
			return nil, err
		}
	}
	if err := p.Error(); err != nil {
		// The decoder words syntax errors with a line and column; ask it
		// (only on this error path, where its cost does not matter).
		if derr := toml.Unmarshal(src, new(map[string]any)); derr != nil {
			err = derr
		}
		return nil, d.syntaxError(err)
	}
	return d, nil
}

func (d *Doc) syntaxError(err error) *SyntaxError {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		off := d.LineStart(row)
		// The decoder's column counts bytes; never point inside a character.
		off = min(off+col-1, len(d.Src))
		for off > 0 && off < len(d.Src) && !utf8.RuneStart(d.Src[off]) {
			off--
		}
		msg := de.Error()
		if k := de.Key(); len(k) > 0 {
			msg = fmt.Sprintf("%s (key %s)", msg, JoinKey(k))
		}
		return &SyntaxError{Pos: d.Pos(off), Message: msg}
	}
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		return &SyntaxError{Pos: d.Pos(0), Message: pe.Message}
	}
	return &SyntaxError{Pos: d.Pos(0), Message: err.Error()}
}

type builder struct {
	d   *Doc
	p   *unstable.Parser
	cur *Table
}

func (b *builder) rng(r unstable.Range) Span {
	return b.d.Span(int(r.Offset), int(r.Offset+r.Length))
}

// lineOf returns the full line span around [start, end): from the start of
// start's line to past the end-of-line following end.
func (b *builder) lineOf(start, end int) Span {
	src := b.d.Src
	ls := bytes.LastIndexByte(src[:start], '\n') + 1
	le := len(src)
	if i := bytes.IndexByte(src[end:], '\n'); i >= 0 {
		le = end + i + 1
	}
	return b.d.Span(ls, le)
}

func (b *builder) expr(n *unstable.Node) error {
	switch n.Kind {
	case unstable.Comment:
		sp := b.rng(n.Raw)
		b.d.Comments = append(b.d.Comments, sp)
		b.d.Exprs = append(b.d.Exprs, &Expr{Kind: ExprComment, Span: sp, Line: b.lineOf(sp.Start.Offset, sp.End.Offset), Table: b.cur})
		return nil
	case unstable.KeyValue:
		return b.keyValue(n)
	case unstable.Table, unstable.ArrayTable:
		return b.header(n)
	}
	return nil
}

// keyParts collects the decoded parts and spans of a (dotted) key.
func (b *builder) keyParts(it unstable.Iterator) ([]string, []Span) {
	var parts []string
	var spans []Span
	for it.Next() {
		k := it.Node()
		parts = append(parts, string(k.Data))
		spans = append(spans, b.rng(k.Raw))
	}
	return parts, spans
}

func (b *builder) trailingComment(n *unstable.Node, e *Expr) {
	// A trailing comment on the same line is attached as the next sibling.
	if c := n.Next(); c != nil && c.Kind == unstable.Comment {
		sp := b.rng(c.Raw)
		e.Comment = &sp
		b.d.Comments = append(b.d.Comments, sp)
		e.Line = b.lineOf(e.Span.Start.Offset, sp.End.Offset)
	}
}

func (b *builder) header(n *unstable.Node) error {
	parts, spans := b.keyParts(n.Key())
	start := bytes.LastIndexByte(b.d.Src[:spans[0].Start.Offset], '[')
	if n.Kind == unstable.ArrayTable {
		start--
	}
	end := spans[len(spans)-1].End.Offset
	if i := bytes.IndexByte(b.d.Src[end:], ']'); i >= 0 {
		end += i + 1
		if n.Kind == unstable.ArrayTable {
			end++
		}
	}
	e := &Expr{Kind: ExprTable, Key: parts, KeyParts: spans, Span: b.d.Span(start, end),
		KeySpan: Span{spans[0].Start, spans[len(spans)-1].End}}
	if n.Kind == unstable.ArrayTable {
		e.Kind = ExprArrayTable
	}
	e.Line = b.lineOf(start, end)
	b.trailingComment(n, e)
	b.d.Exprs = append(b.d.Exprs, e)

	t := b.d.Root
	for i, k := range parts {
		last := i == len(parts)-1
		fail := func(format string) error {
			return &SyntaxError{Pos: spans[i].Start, Message: fmt.Sprintf(format, JoinKey(parts[:i+1]))}
		}
		ent := t.Get(k)
		switch {
		case ent == nil:
			nt := &Table{Path: append(append([]string(nil), t.Path...), k), Form: FormImplicit, byKey: map[string]*Entry{}}
			v := &Value{Kind: KindTable, Table: nt, Span: e.Span}
			nt.Value = v
			ent = &Entry{Key: k, KeySpan: spans[i], Value: v, Parent: t, Expr: e}
			if last && n.Kind == unstable.ArrayTable {
				arr := &Value{Kind: KindArray, Span: e.Span}
				ent.Value = arr
				nt.Form = FormArrayElem
				nt.Header = e
				item := &Value{Kind: KindTable, Table: nt, Span: e.Span}
				nt.Value = item
				arr.Elems = append(arr.Elems, item)
				arr.Items = append(arr.Items, ArrayItem{Value: item})
			}
			t.add(ent)
			t = nt
		case isArrayOfTables(ent.Value):
			if last && n.Kind == unstable.ArrayTable {
				nt := &Table{Path: append(append([]string(nil), t.Path...), k), Form: FormArrayElem, byKey: map[string]*Entry{}, Header: e}
				item := &Value{Kind: KindTable, Table: nt, Span: e.Span}
				nt.Value = item
				ent.Value.Elems = append(ent.Value.Elems, item)
				ent.Value.Items = append(ent.Value.Items, ArrayItem{Value: item})
				t = nt
			} else if last {
				return fail("table %s is already defined as an array of tables")
			} else {
				t = ent.Value.Elems[len(ent.Value.Elems)-1].Table
			}
		case ent.Value.Kind == KindTable && ent.Value.Table.Form != FormInline:
			t = ent.Value.Table
			if last && (n.Kind == unstable.ArrayTable || t.Form != FormImplicit) {
				return fail("table %s is already defined")
			}
		case ent.Value.Kind == KindTable:
			return fail("inline table %s cannot be extended")
		default:
			return fail("key %s is already defined and is not a table")
		}
		if last && n.Kind == unstable.Table {
			if t.Form == FormImplicit {
				t.Form = FormHeader
				t.Value.Span = e.Span
				ent.Expr = e
				ent.KeySpan = spans[i]
			}
			t.Header = e
		}
	}
	e.Table = t
	b.cur = t
	return nil
}

// isArrayOfTables reports whether v was made by [[header]]s (a static array
// of inline tables is not one and cannot be extended).
func isArrayOfTables(v *Value) bool {
	return v.Kind == KindArray && len(v.Elems) > 0 && v.Elems[0].Kind == KindTable && v.Elems[0].Table.Form == FormArrayElem
}

func (t *Table) add(e *Entry) {
	t.Entries = append(t.Entries, e)
	t.byKey[e.Key] = e
}

func (b *builder) keyValue(n *unstable.Node) error {
	parts, spans := b.keyParts(n.Key())
	kv := b.rng(n.Raw)
	e := &Expr{Kind: ExprKeyValue, Key: parts, KeyParts: spans, Span: kv, KeySpan: Span{spans[0].Start, spans[len(spans)-1].End}, Table: b.cur}
	e.Line = b.lineOf(kv.Start.Offset, kv.End.Offset)
	b.trailingComment(n, e)
	b.d.Exprs = append(b.d.Exprs, e)
	return b.assign(b.cur, parts, spans, n.Value(), e, kv, false)
}

// assign stores value v under the dotted key parts in table t.
func (b *builder) assign(t *Table, parts []string, spans []Span, vn *unstable.Node, e *Expr, kv Span, inline bool) error {
	for i, k := range parts[:len(parts)-1] {
		ent := t.Get(k)
		if ent == nil {
			nt := &Table{Path: append(append([]string(nil), t.Path...), k), Form: FormDotted, byKey: map[string]*Entry{}}
			v := &Value{Kind: KindTable, Table: nt, Span: spans[i]}
			nt.Value = v
			ent = &Entry{Key: k, KeySpan: spans[i], Value: v, Parent: t, Expr: e, InInline: inline}
			t.add(ent)
		}
		// Dotted keys may only extend tables that dotted keys created.
		if ent.Value.Kind != KindTable || ent.Value.Table.Form != FormDotted {
			return &SyntaxError{Pos: spans[i].Start, Message: fmt.Sprintf("key %s is already defined; dotted keys cannot add to it", JoinKey(parts[:i+1]))}
		}
		t = ent.Value.Table
	}
	k := parts[len(parts)-1]
	if t.Get(k) != nil {
		last := spans[len(spans)-1]
		return &SyntaxError{Pos: last.Start, Message: fmt.Sprintf("key %s is defined twice", JoinKey(append(append([]string(nil), t.Path...), k)))}
	}
	val, err := b.value(vn, append(append([]string(nil), t.Path...), k), e)
	if err != nil {
		return err
	}
	t.add(&Entry{Key: k, KeySpan: spans[len(spans)-1], Value: val, Parent: t, Expr: e, KV: kv, InInline: inline})
	return nil
}

func (b *builder) value(n *unstable.Node, path []string, e *Expr) (*Value, error) {
	src := b.d.Src
	switch n.Kind {
	case unstable.String:
		return &Value{Kind: KindString, Str: string(n.Data), Span: b.rng(n.Raw)}, nil
	case unstable.Bool:
		return &Value{Kind: KindBool, Bool: string(n.Data) == "true", Str: string(n.Data), Span: b.rng(n.Raw)}, nil
	case unstable.Integer:
		v := &Value{Kind: KindInteger, Str: string(n.Data), Span: b.rng(n.Raw)}
		s := strings.ReplaceAll(string(n.Data), "_", "")
		base := 10
		switch {
		case strings.HasPrefix(s, "0x"):
			base, s = 16, s[2:]
		case strings.HasPrefix(s, "0o"):
			base, s = 8, s[2:]
		case strings.HasPrefix(s, "0b"):
			base, s = 2, s[2:]
		}
		var err error
		if v.Int, err = strconv.ParseInt(s, base, 64); err != nil {
			return nil, b.scalarError(v)
		}
		return v, nil
	case unstable.Float:
		v := &Value{Kind: KindFloat, Str: string(n.Data), Span: b.rng(n.Raw)}
		f := strings.ReplaceAll(string(n.Data), "_", "")
		var err error
		if v.Float, err = strconv.ParseFloat(f, 64); err != nil && strings.TrimLeft(f, "+-") != "nan" {
			return nil, b.scalarError(v)
		}
		return v, nil
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		v := &Value{Kind: KindDateTime, Str: string(n.Data), Span: b.rng(n.Raw)}
		// Only the decoder checks that a date or time is a real one.
		if err := toml.Unmarshal([]byte("v = "+v.Str), new(map[string]any)); err != nil {
			return nil, &SyntaxError{Pos: v.Span.Start, Message: err.Error()}
		}
		return v, nil
	case unstable.Array:
		v := &Value{Kind: KindArray}
		last := -1
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				for _, sp := range b.commentRun(c) {
					v.Items = append(v.Items, ArrayItem{Comment: sp})
					last = max(last, sp.End.Offset)
				}
				continue
			}
			ev, err := b.value(c, path, e)
			if err != nil {
				return nil, err
			}
			v.Items = append(v.Items, ArrayItem{Value: ev})
			v.Elems = append(v.Elems, ev)
			last = max(last, ev.Span.End.Offset)
		}
		sort.SliceStable(v.Items, func(i, j int) bool { return v.Items[i].start() < v.Items[j].start() })
		start := b.openBefore(v, e, '[')
		end := closeAfter(src, max(last, start+1), ']')
		v.Span = b.d.Span(start, end)
		return v, nil
	case unstable.InlineTable:
		start := int(n.Raw.Offset)
		t := &Table{Path: path, Form: FormInline, byKey: map[string]*Entry{}}
		v := &Value{Kind: KindTable, Table: t}
		t.Value = v
		last := start + 1
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				for _, sp := range b.commentRun(c) {
					last = max(last, sp.End.Offset)
				}
				continue
			}
			parts, spans := b.keyParts(c.Key())
			kv := b.rng(c.Raw)
			if err := b.assign(t, parts, spans, c.Value(), e, kv, true); err != nil {
				return nil, err
			}
			last = max(last, kv.End.Offset)
		}
		v.Span = b.d.Span(start, closeAfter(src, last, '}'))
		return v, nil
	}
	return nil, &SyntaxError{Pos: b.d.Pos(int(n.Raw.Offset)), Message: "unsupported value"}
}

// commentRun records a run of comments inside an array or inline table: the
// parser hangs the second and later comments of a run off the first one.
func (b *builder) commentRun(c *unstable.Node) []Span {
	spans := []Span{b.rng(c.Raw)}
	for cc := c.Child(); cc != nil; cc = cc.Next() {
		spans = append(spans, b.rng(cc.Raw))
	}
	b.d.Comments = append(b.d.Comments, spans...)
	return spans
}

// scalarError explains a number the parser accepted but that does not fit,
// in the decoder's words where it has some.
func (b *builder) scalarError(v *Value) error {
	msg := fmt.Sprintf("%s %s is out of range", v.Kind, v.Str)
	if err := toml.Unmarshal([]byte("v = "+v.Str), new(map[string]any)); err != nil {
		msg = err.Error()
	}
	return &SyntaxError{Pos: v.Span.Start, Message: msg}
}

func (it ArrayItem) start() int {
	if it.Value != nil {
		return it.Value.Span.Start.Offset
	}
	return it.Comment.Start.Offset
}

// openBefore finds the '[' that opens array v: the first '[' before its
// first item that is not inside a comment. With no items, it scans back from
// the expression's end.
func (b *builder) openBefore(v *Value, e *Expr, open byte) int {
	src := b.d.Src
	limit := e.Span.End.Offset
	if len(v.Items) > 0 {
		limit = v.Items[0].start()
	}
	// Scan forward from the expression start, skipping strings and
	// comments, remembering the last unquoted open bracket before limit.
	// Nested empty arrays are rare; this picks the innermost opener that
	// directly precedes the first item.
	pos := -1
	for i := e.Span.Start.Offset; i < limit; i++ {
		switch c := src[i]; {
		case c == '"' || c == '\'':
			i = skipString(src, i) - 1
		case c == '#':
			for i < limit && src[i] != '\n' {
				i++
			}
		case c == open:
			pos = i
		}
	}
	if pos < 0 {
		return e.Span.Start.Offset
	}
	return pos
}

// closeAfter returns the offset just past the first unquoted close bracket
// at or after from, skipping comments.
func closeAfter(src []byte, from int, close byte) int {
	for i := from; i < len(src); i++ {
		switch c := src[i]; {
		case c == '"' || c == '\'':
			i = skipString(src, i) - 1
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == close:
			return i + 1
		}
	}
	return len(src)
}

// skipString returns the offset just past the TOML string starting at i.
func skipString(src []byte, i int) int {
	q := src[i]
	if i+2 < len(src) && src[i+1] == q && src[i+2] == q {
		delim := []byte{q, q, q}
		j := bytes.Index(src[i+3:], delim)
		if j < 0 {
			return len(src)
		}
		end := i + 3 + j + 3
		for end < len(src) && src[end] == q { // up to two extra quotes belong to the content
			end++
		}
		return end
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			if q == '"' {
				j++
			}
		case q:
			return j + 1
		case '\n':
			return j
		}
	}
	return len(src)
}

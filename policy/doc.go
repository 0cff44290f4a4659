// Package policy is netpolicy's one model of network-permission policy: it
// loads requirements.toml and config.toml into typed values that keep the
// byte range and line:column of every key and value, normalises and matches
// host patterns, classifies addresses, compiles an effective policy into an
// immutable matcher and takes the decisions the proxy and `check` report.
//
// lint, migrate, merge and proxy never parse TOML or match patterns on their
// own; everything about hosts, patterns, addresses and rule maps lives here.
package policy

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

// Pos is a position in a file: byte offset, 1-based line, and 1-based column
// counted in Unicode characters.
type Pos struct {
	Offset int
	Line   int
	Column int
}

// Span is a half-open range [Start, End) of a file.
type Span struct {
	Start, End Pos
}

// Text returns the bytes the span covers in src.
func (s Span) Text(src []byte) string { return string(src[s.Start.Offset:s.End.Offset]) }

// ValueKind is the TOML type of a value.
type ValueKind uint8

const (
	KindString ValueKind = iota + 1
	KindBool
	KindInteger
	KindFloat
	KindDateTime
	KindArray
	KindTable
)

func (k ValueKind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindBool:
		return "boolean"
	case KindInteger:
		return "integer"
	case KindFloat:
		return "float"
	case KindDateTime:
		return "datetime"
	case KindArray:
		return "array"
	case KindTable:
		return "table"
	}
	return "unknown"
}

// Value is one TOML value with its position. For arrays Span runs from '['
// to just past ']', for inline tables from '{' to just past '}'; for tables
// defined by a [header] or by dotted keys, Span is the first place that
// defined them.
type Value struct {
	Kind  ValueKind
	Str   string // KindString: decoded; other scalars: the raw text
	Bool  bool
	Int   int64
	Float float64
	Span  Span

	// Items are the elements and comments of an array in document order.
	Items []ArrayItem
	// Elems are the array's values (Items without the comments).
	Elems []*Value
	// Table is set for KindTable.
	Table *Table
}

// ArrayItem is an array element or a comment between elements.
type ArrayItem struct {
	Value   *Value // nil for a comment
	Comment Span   // set when Value is nil: the comment from '#' to line end (no EOL)
}

// TableForm says how a table came into being.
type TableForm uint8

const (
	// FormRoot is the document itself.
	FormRoot TableForm = iota
	// FormHeader is a table opened by a [header].
	FormHeader
	// FormImplicit is a table named only as the prefix of a deeper header
	// ([a.b] creates a implicitly).
	FormImplicit
	// FormDotted is a table created by dotted keys (a.b = 1 creates a).
	FormDotted
	// FormInline is an inline table { … }.
	FormInline
	// FormArrayElem is one [[array table]] element.
	FormArrayElem
)

// Table is a TOML table with its entries in document order.
type Table struct {
	Path    []string
	Form    TableForm
	Entries []*Entry
	byKey   map[string]*Entry

	// Header is the expression of the [header] that opened the table
	// (FormHeader, FormArrayElem).
	Header *Expr
	// Value is the value node that holds this table.
	Value *Value
}

// Get returns the entry with the given key, or nil.
func (t *Table) Get(key string) *Entry {
	if t == nil {
		return nil
	}
	return t.byKey[key]
}

// Name is the dotted path of the table, quoted where needed.
func (t *Table) Name() string { return JoinKey(t.Path) }

// Sub returns the sub-table under key, or nil when absent or not a table.
func (t *Table) Sub(key string) *Table {
	e := t.Get(key)
	if e == nil || e.Value.Kind != KindTable {
		return nil
	}
	return e.Value.Table
}

// Entry is one key of a table and its value.
type Entry struct {
	Key string
	// KeySpan is this key part as written (for `a.b.c = 1`, the span of the
	// part naming this entry; for a header-defined table, the part in the
	// first header that named it).
	KeySpan Span
	Value   *Value
	Parent  *Table
	// Expr is the top-level expression (line) that defined the entry: the
	// key/value line, or the header for a header-defined table. For entries
	// inside inline tables, the top-level line holding the inline table.
	Expr *Expr
	// KV is the key/value span for entries written as `key = value` (top
	// level or inside an inline table): from the first key part to the end
	// of the value. Zero for header-defined tables.
	KV Span
	// InInline is true when the entry is written inside an inline table.
	InInline bool
}

// Path is the full key path of the entry.
func (e *Entry) Path() []string {
	p := append([]string(nil), e.Parent.Path...)
	return append(p, e.Key)
}

// ExprKind is the kind of a top-level expression.
type ExprKind uint8

const (
	ExprKeyValue ExprKind = iota + 1
	ExprTable
	ExprArrayTable
	ExprComment
)

// Expr is one top-level line item of the document.
type Expr struct {
	Kind ExprKind
	// Span is the expression itself: key through value, or '[' through ']',
	// or the comment.
	Span Span
	// KeySpan is the span of the whole (possibly dotted) key or header name.
	KeySpan Span
	// Key is the decoded key parts (kv: relative to Table; header: absolute).
	Key []string
	// KeyParts are the spans of the parts of Key as written, in order.
	KeyParts []Span
	// Line is the full line range: from the start of the line holding Span
	// to just past its end-of-line (or EOF), trailing comment included.
	Line Span
	// Comment is the trailing comment on the same line, if any.
	Comment *Span
	// Table is, for a header, the table it opens; for a key/value, the table
	// the key/value is written under (the current header, or the root).
	Table *Table
}

// FileKind tells requirements from config.
type FileKind uint8

const (
	KindAuto FileKind = iota
	KindRequirements
	KindConfig
)

func (k FileKind) String() string {
	switch k {
	case KindRequirements:
		return "requirements"
	case KindConfig:
		return "config"
	}
	return "auto"
}

// ParseFileKind reads a --kind value.
func ParseFileKind(s string) (FileKind, bool) {
	switch s {
	case "auto", "":
		return KindAuto, true
	case "requirements":
		return KindRequirements, true
	case "config":
		return KindConfig, true
	}
	return KindAuto, false
}

// SyntaxError is an unparsable document (lint NP001).
type SyntaxError struct {
	Pos     Pos
	Message string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Column, e.Message)
}

// Doc is a parsed TOML document: the tree of tables, the top-level
// expressions in order, every comment, and the raw bytes.
type Doc struct {
	Src      []byte
	Root     *Table
	Exprs    []*Expr
	Comments []Span
	// CRLF is true when the document's first line ends in "\r\n".
	CRLF bool

	lineStarts []int
	// lineASCII[i] is true when line i+1 holds only ASCII, so a column is a
	// byte distance there; counting runes on every call would make a long
	// one-line inline table quadratic.
	lineASCII []bool
}

// Pos converts a byte offset of Src to a position.
func (d *Doc) Pos(off int) Pos {
	if off < 0 {
		off = 0
	}
	if off > len(d.Src) {
		off = len(d.Src)
	}
	i := sort.Search(len(d.lineStarts), func(i int) bool { return d.lineStarts[i] > off }) - 1
	ls := d.lineStarts[i]
	if d.lineASCII[i] {
		return Pos{Offset: off, Line: i + 1, Column: off - ls + 1}
	}
	return Pos{Offset: off, Line: i + 1, Column: utf8.RuneCount(d.Src[ls:off]) + 1}
}

// Span converts a byte range of Src to a span.
func (d *Doc) Span(start, end int) Span { return Span{d.Pos(start), d.Pos(end)} }

// LineStart returns the offset of the start of the given 1-based line.
func (d *Doc) LineStart(line int) int {
	if line < 1 {
		return 0
	}
	if line > len(d.lineStarts) {
		return len(d.Src)
	}
	return d.lineStarts[line-1]
}

func newDoc(src []byte) *Doc {
	d := &Doc{Src: src, lineStarts: []int{0}, lineASCII: []bool{true}}
	for i, c := range src {
		switch {
		case c == '\n':
			d.lineStarts = append(d.lineStarts, i+1)
			d.lineASCII = append(d.lineASCII, true)
		case c >= utf8.RuneSelf:
			d.lineASCII[len(d.lineASCII)-1] = false
		}
	}
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		d.CRLF = true
	}
	return d
}

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

// QuoteKey writes a key part as TOML: bare when it can be, else a basic
// string with TOML escapes.
func QuoteKey(k string) string {
	if k != "" && isBareKey(k) {
		return k
	}
	return QuoteString(k)
}

// QuoteString writes s as a TOML basic string with TOML's escapes.
func QuoteString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\b':
			sb.WriteString(`\b`)
		case '\t':
			sb.WriteString(`\t`)
		case '\n':
			sb.WriteString(`\n`)
		case '\f':
			sb.WriteString(`\f`)
		case '\r':
			sb.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&sb, `\u%04X`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

func isBareKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// JoinKey joins key parts into a dotted key, quoting parts that need it.
func JoinKey(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = QuoteKey(p)
	}
	return strings.Join(q, ".")
}

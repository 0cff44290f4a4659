// Package tomldoc is the positioned TOML document netpolicy's policy files
// are read from and edited in: a parse tree that keeps the byte range and
// line:column of every key, value, header and comment (Doc, Table, Entry,
// Value, Expr, Span), TOML quoting (QuoteKey, QuoteString, JoinKey), and the
// line-layout facts an editor needs to change a file without disturbing the
// rest of it (a line's indent and line ending, where a table's keys end,
// which items of an inline table to cut).
//
// tomldoc knows TOML, not policy: what the keys mean is package policy's
// business, which parses each file once (policy.Load) and hands the Doc to
// lint and migrate.
package tomldoc

import (
	"bytes"
	"fmt"
	"sort"
	"unicode/utf8"
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

// The TOML value types. The zero ValueKind is no value.
const (
	KindString   ValueKind = iota + 1 // a basic, literal or multi-line string
	KindBool                          // true or false
	KindInteger                       // a decimal, hex, octal or binary integer
	KindFloat                         // a float, inf or nan
	KindDateTime                      // an offset or local date-time, date or time
	KindArray                         // an array, or an array of tables
	KindTable                         // a [header], dotted, implicit or inline table
)

// String is the TOML name of the type ("string", "boolean", …), as lint
// messages word it.
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

// StringElems returns the string elements of an array entry (nil when e is
// nil or not an array): the strings of a list such as allowed_domains.
func StringElems(e *Entry) []*Value {
	if e == nil || e.Value.Kind != KindArray {
		return nil
	}
	var out []*Value
	for _, v := range e.Value.Elems {
		if v.Kind == KindString {
			out = append(out, v)
		}
	}
	return out
}

// ExprKind is the kind of a top-level expression.
type ExprKind uint8

// The top-level expressions of a document.
const (
	ExprKeyValue   ExprKind = iota + 1 // key = value
	ExprTable                          // [header]
	ExprArrayTable                     // [[header]]
	ExprComment                        // a comment on a line of its own
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

// SyntaxError is an unparsable document (lint NP001): where the parser
// stopped and why, in go-toml's words where it has some.
type SyntaxError struct {
	Pos     Pos
	Message string
}

// Error is "line:column: message".
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

// PosIn is the position of byte offset off of src, as Doc.Pos counts it,
// for text that has no Doc (a file that did not parse). It scans src; a
// Doc answers from its line index.
func PosIn(src []byte, off int) Pos {
	ls := bytes.LastIndexByte(src[:off], '\n') + 1
	return Pos{Offset: off, Line: bytes.Count(src[:off], []byte("\n")) + 1, Column: utf8.RuneCount(src[ls:off]) + 1}
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

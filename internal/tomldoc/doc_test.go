package tomldoc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t *testing.T, src string) *Doc {
	t.Helper()
	d, err := ParseDoc([]byte(src))
	if err != nil {
		t.Fatalf("ParseDoc: %v\n%s", err, src)
	}
	return d
}

func TestPositions(t *testing.T) {
	src := "# héllo\n[network]\nenabled = \"yes\" # trailing\n[network.domains]\n\"bücher.example\" = \"allow\"\n"
	d := mustParse(t, src)
	e := d.Root.Sub("network").Get("enabled")
	if e == nil {
		t.Fatal("no enabled entry")
	}
	if got := e.KeySpan; got.Start.Line != 3 || got.Start.Column != 1 || got.End.Column != 8 {
		t.Errorf("key span %+v", got)
	}
	if got := e.Value.Span; got.Start.Column != 11 || got.End.Column != 16 || got.Text(d.Src) != `"yes"` {
		t.Errorf("value span %+v %q", got, got.Text(d.Src))
	}
	if got := e.KV.Text(d.Src); got != `enabled = "yes"` {
		t.Errorf("key/value span %q", got)
	}
	if e.Expr.Comment == nil || e.Expr.Comment.Text(d.Src) != "# trailing" {
		t.Errorf("trailing comment %+v", e.Expr.Comment)
	}
	if got := e.Expr.Line.Text(d.Src); got != "enabled = \"yes\" # trailing\n" {
		t.Errorf("line %q", got)
	}
	b := d.Root.Sub("network").Sub("domains").Get("bücher.example")
	// Columns count characters: the closing quote of "bücher.example" is
	// character 16, so the key ends at column 17.
	if b.KeySpan.End.Column != 17 || b.KeySpan.End.Offset != strings.Index(src, `" = "allow"`)+1 {
		t.Errorf("unicode key span %+v", b.KeySpan)
	}
	if got, want := d.Pos(len(src)), (Pos{Offset: len(src), Line: 6, Column: 1}); got != want {
		t.Errorf("Pos(EOF) = %+v, want %+v", got, want)
	}
	if got := d.Pos(-5); got != (Pos{Line: 1, Column: 1}) {
		t.Errorf("Pos(-5) = %+v, want the start", got)
	}
	if got := d.Pos(len(src) + 10); got.Offset != len(src) {
		t.Errorf("Pos past EOF = %+v, want EOF", got)
	}
	for line, want := range map[int]int{0: 0, 1: 0, 2: 9, 3: 19, 6: len(src), 99: len(src)} {
		if got := d.LineStart(line); got != want {
			t.Errorf("LineStart(%d) = %d, want %d", line, got, want)
		}
	}
}

func TestKeyParts(t *testing.T) {
	d := mustParse(t, "[ experimental_network . domains ]\nexperimental = 1\n'a'.\"b.c\" = 2\n")
	var got []string
	for _, e := range d.Exprs {
		for _, sp := range e.KeyParts {
			got = append(got, sp.Text(d.Src))
		}
	}
	if diff := cmp.Diff([]string{"experimental_network", "domains", "experimental", "'a'", `"b.c"`}, got); diff != "" {
		t.Errorf("key parts (-want +got):\n%s", diff)
	}
	h := d.Exprs[0]
	if h.Kind != ExprTable || h.Span.Text(d.Src) != "[ experimental_network . domains ]" ||
		h.KeySpan.Text(d.Src) != "experimental_network . domains" {
		t.Errorf("header %v: span %q, key span %q", h.Kind, h.Span.Text(d.Src), h.KeySpan.Text(d.Src))
	}
	kv := d.Exprs[2]
	if diff := cmp.Diff([]string{"a", "b.c"}, kv.Key); diff != "" || kv.Table != h.Table {
		t.Errorf("dotted key (-want +got):\n%s; table %v", diff, kv.Table.Path)
	}
	e := d.Root.Sub("experimental_network").Sub("domains").Sub("a").Get("b.c")
	if e == nil || e.Value.Int != 2 || e.Parent.Form != FormDotted {
		t.Fatalf("a.\"b.c\" not found under a dotted table: %+v", e)
	}
	if diff := cmp.Diff([]string{"experimental_network", "domains", "a", "b.c"}, e.Path()); diff != "" {
		t.Errorf("Path (-want +got):\n%s", diff)
	}
	if got := e.Parent.Name(); got != "experimental_network.domains.a" {
		t.Errorf("Name = %s", got)
	}
}

func TestArrayItemsAndComments(t *testing.T) {
	src := "[network]\nallowed_domains = [\n  # first\n  \"a.example\", # a\n  # b1\n  # b2\n  \"b.example\",\n] # after\n"
	d := mustParse(t, src)
	e := d.Root.Sub("network").Get("allowed_domains")
	var got []string
	for _, it := range e.Value.Items {
		if it.Value != nil {
			got = append(got, "v:"+it.Value.Str)
		} else {
			got = append(got, "c:"+it.Comment.Text(d.Src))
		}
	}
	want := []string{"c:# first", "v:a.example", "c:# a", "c:# b1", "c:# b2", "v:b.example"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if len(e.Value.Elems) != 2 || e.Value.Kind != KindArray {
		t.Errorf("elems %d, kind %v", len(e.Value.Elems), e.Value.Kind)
	}
	if s := e.Value.Span.Text(d.Src); !strings.HasPrefix(s, "[\n") || !strings.HasSuffix(s, ",\n]") {
		t.Errorf("array span %q", s)
	}
	if e.Expr.Comment == nil || e.Expr.Comment.Text(d.Src) != "# after" {
		t.Errorf("comment after the array: %+v", e.Expr.Comment)
	}
	var all []string
	for _, c := range d.Comments {
		all = append(all, c.Text(d.Src))
	}
	if diff := cmp.Diff([]string{"# after", "# first", "# a", "# b1", "# b2"}, all); diff != "" {
		t.Errorf("Doc.Comments (-want +got):\n%s", diff)
	}
}

// TestBracketsInStringsAndComments: an array's and an inline table's spans
// find their real brackets past brackets inside strings and comments.
func TestBracketsInStringsAndComments(t *testing.T) {
	src := "a = [ # [not this\n  \"]x[\", '''[y]''',\n] # ]\nt = { k = \"}\", l = [ ] }\n"
	d := mustParse(t, src)
	if got := d.Root.Get("a").Value.Span.Text(d.Src); got != "[ # [not this\n  \"]x[\", '''[y]''',\n]" {
		t.Errorf("array span %q", got)
	}
	tv := d.Root.Get("t").Value
	if got := tv.Span.Text(d.Src); got != `{ k = "}", l = [ ] }` {
		t.Errorf("inline table span %q", got)
	}
	if tv.Table.Form != FormInline || !tv.Table.Get("k").InInline {
		t.Errorf("inline table form %v", tv.Table.Form)
	}
	if got := tv.Table.Get("l").Value.Span.Text(d.Src); got != "[ ]" {
		t.Errorf("empty array span %q", got)
	}
}

func TestTableForms(t *testing.T) {
	d := mustParse(t, "x.y = 1\n[a.b]\n[[c]]\n[[c]]\nk = 'v'\n[d]\ni = { j = 1 }\n")
	for _, c := range []struct {
		path []string
		form TableForm
	}{
		{[]string{"x"}, FormDotted},
		{[]string{"a"}, FormImplicit},
		{[]string{"a", "b"}, FormHeader},
		{[]string{"d"}, FormHeader},
		{[]string{"d", "i"}, FormInline},
	} {
		tb := d.Root
		for _, p := range c.path {
			tb = tb.Sub(p)
		}
		if tb == nil || tb.Form != c.form {
			t.Errorf("%v: table %+v, want form %d", c.path, tb, c.form)
		}
	}
	if d.Root.Form != FormRoot || d.Root.Sub("c") != nil {
		t.Errorf("root form %d; an array of tables is not a Sub", d.Root.Form)
	}
	arr := d.Root.Get("c").Value
	if arr.Kind != KindArray || len(arr.Elems) != 2 || arr.Elems[1].Table.Form != FormArrayElem ||
		arr.Elems[1].Table.Get("k").Value.Str != "v" || arr.Elems[1].Table.Header.Kind != ExprArrayTable {
		t.Errorf("array of tables %+v", arr)
	}
	if got := arr.Elems[1].Table.Header.Line.Start.Line; got != 4 {
		t.Errorf("second [[c]] on line %d, want 4", got)
	}
	if d.Root.Get("nope") != nil || (*Table)(nil).Get("x") != nil || d.Root.Sub("x").Sub("y") != nil {
		t.Error("Get and Sub of missing keys and non-tables must be nil")
	}
}

func TestScalars(t *testing.T) {
	d := mustParse(t, "s = \"a\\tb\"\nb = true\ni = 0x1_F\nf = 1.5e3\ndt = 1979-05-27T07:32:00Z\n")
	r := d.Root
	if v := r.Get("s").Value; v.Kind != KindString || v.Str != "a\tb" {
		t.Errorf("s = %+v", v)
	}
	if v := r.Get("b").Value; v.Kind != KindBool || !v.Bool || v.Str != "true" {
		t.Errorf("b = %+v", v)
	}
	if v := r.Get("i").Value; v.Kind != KindInteger || v.Int != 31 {
		t.Errorf("i = %+v", v)
	}
	if v := r.Get("f").Value; v.Kind != KindFloat || v.Float != 1500 {
		t.Errorf("f = %+v", v)
	}
	if v := r.Get("dt").Value; v.Kind != KindDateTime || v.Str != "1979-05-27T07:32:00Z" {
		t.Errorf("dt = %+v", v)
	}
	if KindBool.String() != "boolean" || KindTable.String() != "table" || ValueKind(0).String() != "unknown" {
		t.Error("ValueKind names")
	}
}

func TestLineEndings(t *testing.T) {
	d := mustParse(t, "a = 1\r\nb = 2 # c\r\nc = 3")
	if !d.CRLF {
		t.Error("CRLF not detected")
	}
	if got := d.Root.Get("b").Expr.Line.Text(d.Src); got != "b = 2 # c\r\n" {
		t.Errorf("CRLF line %q", got)
	}
	if got := d.Root.Get("c").Expr.Line.Text(d.Src); got != "c = 3" {
		t.Errorf("last line without EOL %q", got)
	}
	if mustParse(t, "a = 1\nb = 2\r\n").CRLF {
		t.Error("CRLF is the first line's ending")
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, c := range []struct {
		name, src string
		line, col int
		msg       string
	}{
		{"V052a-bare-value", "[network]\ndomains = { \"a.example\" = allow }\n", 2, 27, "unexpected character"},
		{"V052b-duplicate-key", "[network]\nenabled = true\nenabled = false\n", 3, 1, "key network.enabled is defined twice"},
		{"unterminated", "[network\n", 1, 0, ""},
		{"byte-order mark", "\xef\xbb\xbf[network]\nenabled = true\n", 1, 1, "byte-order mark"},
		{"table twice", "[a]\n[a]\n", 2, 2, "table a is already defined"},
		{"dotted into header", "[a.b]\n[a]\nb.c = 1\n", 3, 1, "dotted keys cannot add to it"},
		{"extend inline", "a = { b = 1 }\n[a.c]\n", 2, 2, "inline table a cannot be extended"},
		{"int range", "i = 9223372036854775808\n", 1, 5, ""},
		{"bad date", "d = 2021-13-45\n", 1, 5, ""},
		{"unicode column", "k = \"é\" x\n", 1, 9, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseDoc([]byte(c.src))
			se, ok := err.(*SyntaxError)
			if !ok || d != nil {
				t.Fatalf("want a *SyntaxError and no Doc, got %T %v", err, err)
			}
			p := se.Pos
			if p.Line != c.line || (c.col != 0 && p.Column != c.col) || p.Column < 1 || p.Offset > len(c.src) {
				t.Errorf("position %+v, want line %d column %d", p, c.line, c.col)
			}
			if !strings.Contains(se.Message, c.msg) {
				t.Errorf("message %q, want it to say %q", se.Message, c.msg)
			}
			if want := fmt.Sprintf("%d:%d: %s", p.Line, p.Column, se.Message); se.Error() != want {
				t.Errorf("Error() = %q, want %q", se.Error(), want)
			}
		})
	}
}

func TestStringElems(t *testing.T) {
	d := mustParse(t, "l = [\"a\", 1, # c\n 'b', [\"nested\"]]\ns = \"x\"\n")
	var got []string
	for _, v := range StringElems(d.Root.Get("l")) {
		got = append(got, v.Str)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("StringElems (-want +got):\n%s", diff)
	}
	if StringElems(d.Root.Get("s")) != nil || StringElems(nil) != nil {
		t.Error("StringElems of a string or of no entry must be nil")
	}
}

// TestPosIn holds PosIn, for text without a Doc, to Doc.Pos at every
// offset of a document with multi-byte characters and CRLF lines.
func TestPosIn(t *testing.T) {
	src := []byte("# héllo\r\n[network]\n\"bücher\" = 'ü' # ü\n\nk = 1")
	d := mustParse(t, string(src))
	for off := 0; off <= len(src); off++ {
		if got, want := PosIn(src, off), d.Pos(off); got != want {
			t.Errorf("PosIn(%d) = %+v, Doc.Pos = %+v", off, got, want)
		}
	}
}

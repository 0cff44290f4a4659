package tomldoc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
)

// cutAll applies the cuts (sorted, disjoint) to src.
func cutAll(src []byte, cuts []Span) string {
	var sb strings.Builder
	pos := 0
	for _, c := range cuts {
		sb.Write(src[pos:c.Start.Offset])
		pos = c.End.Offset
	}
	sb.Write(src[pos:])
	return sb.String()
}

func TestInlineHolderAndItems(t *testing.T) {
	d := mustParse(t, "[network]\ndomains = { \"a\" = \"allow\", x.y = 1, x.z = 2, n = { m = 1 } }\nd.e = 1\n")
	dom := d.TableAt([]string{"network", "domains"})
	if dom == nil || dom.Form != FormInline {
		t.Fatalf("TableAt(network.domains) = %+v", dom)
	}
	if d.TableAt([]string{"network", "nope"}) != nil || d.TableAt(nil) != d.Root {
		t.Error("TableAt of a missing path must be nil, of the empty path the root")
	}
	x := dom.Sub("x")
	for _, c := range []struct {
		name string
		t    *Table
		want *Table
	}{
		{"inline itself", dom, dom},
		{"dotted inside braces", x, dom},
		{"nested inline", dom.Sub("n"), dom.Sub("n")},
		{"header table", d.TableAt([]string{"network"}), nil},
		{"dotted outside braces", d.TableAt([]string{"network", "d"}), nil},
		{"root", d.Root, nil},
	} {
		if got := d.InlineHolder(c.t); got != c.want {
			t.Errorf("%s: InlineHolder = %v, want %v", c.name, got, c.want)
		}
	}
	var items []string
	for _, sp := range dom.InlineItems() {
		items = append(items, sp.Text(d.Src))
	}
	if diff := cmp.Diff([]string{`"a" = "allow"`, "x.y = 1", "x.z = 2", "n = { m = 1 }"}, items); diff != "" {
		t.Errorf("InlineItems (-want +got):\n%s", diff)
	}
}

func TestInlineCuts(t *testing.T) {
	src := "t = { a = 1, b = 2, c.d = 3, e = 4 }\n"
	d := mustParse(t, src)
	tb := d.Root.Sub("t")
	get := func(keys ...string) []*Entry {
		var es []*Entry
		for _, k := range keys {
			e := tb.Get(k)
			if k == "c.d" {
				e = tb.Sub("c").Get("d")
			}
			es = append(es, e)
		}
		return es
	}
	for _, c := range []struct {
		remove []string
		want   string
	}{
		{[]string{"a"}, "t = { b = 2, c.d = 3, e = 4 }\n"},
		{[]string{"b"}, "t = { a = 1, c.d = 3, e = 4 }\n"},
		{[]string{"e"}, "t = { a = 1, b = 2, c.d = 3 }\n"},
		{[]string{"a", "b"}, "t = { c.d = 3, e = 4 }\n"},
		{[]string{"b", "c.d"}, "t = { a = 1, e = 4 }\n"},
		{[]string{"a", "e"}, "t = { b = 2, c.d = 3 }\n"},
		{[]string{"a", "b", "c.d", "e"}, "t = {  }\n"},
		{nil, src},
	} {
		got := cutAll(d.Src, tb.InlineCuts(get(c.remove...)))
		if got != c.want {
			t.Errorf("remove %v: got %q, want %q", c.remove, got, c.want)
		}
		if err := toml.Unmarshal([]byte(got), new(map[string]any)); err != nil {
			t.Errorf("remove %v: result is not TOML: %v", c.remove, err)
		}
	}
}

func TestLineLayout(t *testing.T) {
	src := "[network]\n  enabled = true # on\n\tmode = \"full\"\nnetwork_proxy.enabled = true\n[network.domains]\n[other]\nk = 1"
	d := mustParse(t, src)
	n := d.TableAt([]string{"network"})
	en := n.Get("enabled")
	mode := n.Get("mode")
	if got := d.Indent(en.Expr); got != "  " {
		t.Errorf("Indent = %q", got)
	}
	if got := d.Indent(mode.Expr); got != "\t" {
		t.Errorf("Indent = %q", got)
	}
	if got := d.TrailingComment(en.Expr); got != "# on" {
		t.Errorf("TrailingComment = %q", got)
	}
	if got := d.TrailingComment(mode.Expr); got != "" {
		t.Errorf("TrailingComment without a comment = %q", got)
	}
	np := n.Sub("network_proxy").Get("enabled")
	if got := d.Prefix(np); got != "network_proxy." {
		t.Errorf("Prefix = %q", got)
	}
	if got := d.Prefix(en); got != "" {
		t.Errorf("Prefix of an undotted key = %q", got)
	}
	if got := d.Prefix(d.Root.Get("network")); got != "" {
		t.Errorf("Prefix of a header table = %q", got)
	}
	line := en.Expr.Line
	if got := string(d.Src[line.Start.Offset:d.BodyEnd(line)]); got != "  enabled = true # on" {
		t.Errorf("BodyEnd: body %q", got)
	}
	if !d.HasEOL(line) || d.EOL(line) != "\n" {
		t.Errorf("HasEOL %v, EOL %q", d.HasEOL(line), d.EOL(line))
	}
	k := d.TableAt([]string{"other"}).Get("k")
	if d.HasEOL(k.Expr.Line) || d.BodyEnd(k.Expr.Line) != len(src) || d.EOL(k.Expr.Line) != "\n" {
		t.Errorf("last line without EOL: HasEOL %v, BodyEnd %d, EOL %q", d.HasEOL(k.Expr.Line), d.BodyEnd(k.Expr.Line), d.EOL(k.Expr.Line))
	}
	if got := d.LastKey(n); got != np.Expr {
		t.Errorf("LastKey([network]) = %q", got.Span.Text(d.Src))
	}
	if dom := d.TableAt([]string{"network", "domains"}); d.LastKey(dom) != dom.Header {
		t.Error("LastKey of an empty section must be its header")
	}

	at, text := d.LinesAfter(mode.Expr.Line, []string{"a = 1", "b = 2"})
	if at != mode.Expr.Line.End.Offset || text != "a = 1\nb = 2\n" {
		t.Errorf("LinesAfter = %d %q", at, text)
	}
	at, text = d.LinesAfter(k.Expr.Line, []string{"z = 0"})
	if at != len(src) || text != "\nz = 0" {
		t.Errorf("LinesAfter the last line = %d %q", at, text)
	}
	if _, text := d.LinesAfter(line, nil); text != "" {
		t.Errorf("LinesAfter no lines = %q", text)
	}
	at, text = d.LinesAbove(en.Expr, []string{"# one", "# two"})
	if at != line.Start.Offset || text != "  # one\n  # two\n" {
		t.Errorf("LinesAbove = %d %q", at, text)
	}
	if _, text := d.LinesAbove(en.Expr, nil); text != "" {
		t.Errorf("LinesAbove no lines = %q", text)
	}
}

func TestLineLayoutCRLF(t *testing.T) {
	d := mustParse(t, "[a]\r\nk = 1 # c\r\nl = 2")
	k := d.Root.Sub("a").Get("k")
	if got := string(d.Src[k.Expr.Line.Start.Offset:d.BodyEnd(k.Expr.Line)]); got != "k = 1 # c" {
		t.Errorf("BodyEnd strips \\r\\n: %q", got)
	}
	if d.EOL(k.Expr.Line) != "\r\n" {
		t.Errorf("EOL = %q", d.EOL(k.Expr.Line))
	}
	l := d.Root.Sub("a").Get("l")
	// The last line has no ending of its own: the document's is used.
	if _, text := d.LinesAfter(l.Expr.Line, []string{"m = 3", "n = 4"}); text != "\r\nm = 3\r\nn = 4" {
		t.Errorf("LinesAfter the last CRLF line = %q", text)
	}
	if _, text := d.LinesAbove(k.Expr, []string{"# x"}); text != "# x\r\n" {
		t.Errorf("LinesAbove = %q", text)
	}
}

func TestAppendLines(t *testing.T) {
	lines := []string{"", "[network.domains]", `"a.example" = "allow"`}
	for _, c := range []struct {
		name, src string
		text      string
		whole     bool
	}{
		{"empty", "", "[network.domains]\n\"a.example\" = \"allow\"\n", true},
		{"blank", " \n\n", "[network.domains]\n\"a.example\" = \"allow\"\n", true},
		{"final newline", "k = 1\n", "\n[network.domains]\n\"a.example\" = \"allow\"\n", false},
		{"blank line at the end", "k = 1\n\n", "[network.domains]\n\"a.example\" = \"allow\"\n", false},
		{"no final newline", "k = 1", "\n\n[network.domains]\n\"a.example\" = \"allow\"", false},
		{"CRLF", "k = 1\r\n", "\r\n[network.domains]\r\n\"a.example\" = \"allow\"\r\n", false},
		{"CRLF blank line at the end", "k = 1\r\n\r\n", "[network.domains]\r\n\"a.example\" = \"allow\"\r\n", false},
	} {
		d := mustParse(t, c.src)
		text, whole := d.AppendLines(lines)
		if text != c.text || whole != c.whole {
			t.Errorf("%s: AppendLines = %q, %v; want %q, %v", c.name, text, whole, c.text, c.whole)
		}
		out := c.src + text
		if whole {
			out = text
		}
		if err := toml.Unmarshal([]byte(out), new(map[string]any)); err != nil {
			t.Errorf("%s: result is not TOML: %v\n%s", c.name, err, out)
		}
	}
}

package schematest

import (
	"strings"
	"testing"
)

// TestCompileAndValidate: a schema compiles at its root and at a fragment,
// formats are asserted only when asked, and Validate tells valid from
// invalid documents.
func TestCompileAndValidate(t *testing.T) {
	doc := []byte(`{
		"type": "object",
		"properties": {"when": {"type": "string", "format": "date"}},
		"required": ["when"],
		"definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}}
	}`)
	const url = "file:///test.schema.json"
	strict := Compile(t, doc, url, "", true)
	loose := Compile(t, doc, url, "", false)
	port := Compile(t, doc, url, "#/definitions/port", false)
	for _, c := range []struct {
		name string
		err  error
		want string // "" when valid, else a part of the error
	}{
		{"date", Validate(t, strict, []byte(`{"when": "2026-12-03"}`)), ""},
		{"bad date asserted", Validate(t, strict, []byte(`{"when": "yesterday"}`)), "date"},
		{"bad date annotated", Validate(t, loose, []byte(`{"when": "yesterday"}`)), ""},
		{"missing", Validate(t, loose, []byte(`{}`)), "when"},
		{"port", Validate(t, port, []byte(`8080`)), ""},
		{"port 0", Validate(t, port, []byte(`0`)), "minimum"},
	} {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("%s: %v", c.name, c.err)
		case c.want != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.want)):
			t.Errorf("%s: error %v, want one naming %q", c.name, c.err, c.want)
		}
	}
}

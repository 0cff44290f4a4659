// Package schematest compiles and applies JSON Schemas in tests with a
// complete implementation (github.com/santhosh-tekuri/jsonschema), from
// documents the test already holds: nothing is ever fetched.
package schematest

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Compile compiles the schema document doc, known by url, and returns the
// schema at url+ref (ref "" for the root, or e.g. "#/definitions/X").
// With formats, "format" keywords are asserted, not only annotations.
func Compile(t testing.TB, doc []byte, url, ref string, formats bool) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("schema %s: %v", url, err)
	}
	c := jsonschema.NewCompiler()
	if formats {
		c.AssertFormat()
	}
	if err := c.AddResource(url, v); err != nil {
		t.Fatalf("schema %s: %v", url, err)
	}
	s, err := c.Compile(url + ref)
	if err != nil {
		t.Fatalf("schema %s%s: %v", url, ref, err)
	}
	return s
}

// Validate validates the JSON document b against s: nil when it is
// valid. A b that is not JSON fails the test.
func Validate(t testing.TB, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return s.Validate(v)
}

package lint_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/netpolicy/netpolicy/internal/schematest"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

// sarifSchema compiles the committed subset of the SARIF 2.1.0 schema
// (nothing is fetched at test time).
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := os.ReadFile("testdata/sarif-2.1.0-subset.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return schematest.Compile(t, doc, "file:///sarif-2.1.0-subset.schema.json", "", true)
}

// TestSARIFSchema validates SARIF output (findings with and without fixes,
// every severity, an unreadable file, a clean run) against the schema, and
// checks the schema catches a broken log.
func TestSARIFSchema(t *testing.T) {
	s := sarifSchema(t)
	legacy := policy.Load("/abs/dir/config.toml", []byte("[network]\nallowed_domains = [\"é.example\"]\n"), policy.KindConfig)
	runs := map[string][]lint.Diagnostic{
		"clean":      nil,
		"findings":   sample(t),
		"fixes":      lint.Check(legacy),
		"unreadable": append(sample(t), lint.Unreadable("gone.toml", os.ErrNotExist)),
	}
	for name, ds := range runs {
		var buf bytes.Buffer
		if err := lint.WriteSARIF(&buf, ds, "v1.0.0 (rev 0123456789ab)"); err != nil {
			t.Fatal(err)
		}
		if err := schematest.Validate(t, s, buf.Bytes()); err != nil {
			t.Errorf("%s: SARIF output is not valid SARIF 2.1.0:\n%v\n%s", name, err, buf.Bytes())
		}
	}
	for _, bad := range []string{
		`{"version":"2.0.0","runs":[]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{}}}]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"level":"fatal"}]}]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"invocations":[{}]}]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"},"region":{"startLine":0}}}]}]}]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"ruleID":"NP001"}]}]}`,
	} {
		if schematest.Validate(t, s, []byte(bad)) == nil {
			t.Errorf("the schema accepts a broken log: %s", bad)
		}
	}
}

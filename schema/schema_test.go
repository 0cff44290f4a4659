package schema_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/netpolicy/netpolicy/internal/schematest"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/schema"
)

var update = flag.Bool("update", false, "rewrite the committed schema files")

// TestCommittedSchemas: the files under schema/ are what the current key
// table generates. After changing policy.NetworkKeys run
//
//	go test ./schema -run TestCommittedSchemas -update
func TestCommittedSchemas(t *testing.T) {
	for _, k := range schema.Kinds {
		got, err := schema.Generate(k)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(k.File(), got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(k.File())
		if err != nil {
			t.Fatalf("%v (generate it: go test ./schema -run TestCommittedSchemas -update)", err)
		}
		if d := cmp.Diff(string(want), string(got)); d != "" {
			t.Errorf("schema/%s is stale; run go test ./schema -run TestCommittedSchemas -update\n(-committed +generated):\n%s", k.File(), d)
		}
	}
	if _, err := schema.Generate("nope"); err == nil {
		t.Error("an unknown kind must be an error")
	}
}

// compile compiles a generated schema with a complete implementation.
func compile(t *testing.T, k schema.Kind) *jsonschema.Schema {
	t.Helper()
	b, err := schema.Generate(k)
	if err != nil {
		t.Fatal(err)
	}
	return schematest.Compile(t, b, schema.BaseURL+k.File(), "", false)
}

// tomlInstance decodes TOML into the JSON value a schema validates.
func tomlInstance(t *testing.T, src []byte) (any, error) {
	t.Helper()
	var m map[string]any
	if err := toml.Unmarshal(src, &m); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// schemaRules are the lint rules the schemas encode: a known key's type
// (NP002), unknown keys of a network table (NP003), permission values
// (NP031).
var schemaRules = map[string]bool{"NP002": true, "NP003": true, "NP031": true}

// TestExamplesAndFixtures validates every example and lint and migrate
// fixture against the schema of its kind, and checks the schema agrees with
// the linter: a file with a finding of the rules the schema encodes must
// fail validation, and a file without one (and no NP041, whose port range
// the schema also encodes) must pass.
func TestExamplesAndFixtures(t *testing.T) {
	schemas := map[policy.FileKind]*jsonschema.Schema{
		policy.KindConfig:       compile(t, schema.Config),
		policy.KindRequirements: compile(t, schema.Requirements),
	}
	var paths []string
	for _, root := range []string{"../testdata/examples", "../testdata/lint", "../testdata/migrate"} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".toml") || strings.HasSuffix(p, ".input") || strings.HasSuffix(p, ".golden")) {
				paths = append(paths, p)
			}
			return nil
		})
	}
	var valid, invalid int
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimSuffix(p, ".input"), ".golden")
		if !strings.HasSuffix(name, ".toml") {
			name += ".toml"
		}
		f := policy.Load(name, src, policy.KindAuto)
		if f.SyntaxErr != nil {
			continue // not TOML at all: nothing to validate
		}
		inst, err := tomlInstance(t, src)
		if err != nil {
			continue // a duplicate key and the like: NP001
		}
		enc, other := false, false
		for _, d := range lint.Check(f) {
			enc = enc || schemaRules[d.Rule.ID]
			// NP041: port ranges the schema does not encode; NP013: an
			// obsolete shape (the old [network.mitm] table), which the
			// schema rightly rejects.
			other = other || d.Rule.ID == "NP041" || d.Rule.ID == "NP013"
		}
		err = schemas[f.Kind].Validate(inst)
		switch {
		case enc && err == nil:
			t.Errorf("%s: the linter reports a type, key or value error the %s schema accepts", p, f.Kind)
		case !enc && !other && err != nil:
			t.Errorf("%s: the %s schema rejects a file the linter accepts:\n%v", p, f.Kind, err)
		case err == nil:
			valid++
		default:
			invalid++
		}
	}
	if valid < 20 || invalid < 3 {
		t.Errorf("%d files valid and %d invalid: the fixtures were not found or not checked", valid, invalid)
	}
	t.Logf("%d files valid, %d invalid", valid, invalid)
}

func TestProjectSchema(t *testing.T) {
	s := compile(t, schema.Project)
	for _, tc := range []struct {
		src   string
		valid bool
	}{
		{"[lint]\nselect = [\"NP0\", \"ALL\"]\nignore = [\"NP025\"]\nexclude = [\"vendor/\"]\nfail-on = \"error\"\n[lint.per-file-ignores]\n\"legacy/\" = [\"NP01\"]\n", true},
		{"", true},
		{"[lint]\nselct = [\"NP0\"]\n", false},
		{"[lint]\nselect = [\"E501\"]\n", false},
		{"[lint]\nfail-on = \"never\"\n", false},
		{"[format]\n", false},
	} {
		inst, err := tomlInstance(t, []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(inst); (err == nil) != tc.valid {
			t.Errorf("%q: valid = %v, want %v (%v)", tc.src, err == nil, tc.valid, err)
		}
	}
}

package lint_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

var update = flag.Bool("update", false, "rewrite golden files (testdata/lint/*.golden, the README rules table)")

const fixtureDir = "../testdata/lint"

// fixture is one golden case of testdata/lint: a *.toml file linted alone,
// or a directory whose *.toml files are linted in one call (for
// requirements files and the cross-file rules).
type fixture struct {
	name  string   // file name without .toml, or the directory name
	paths []string // relative to fixtureDir, slash-separated
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []fixture
	for _, e := range entries {
		switch {
		case e.IsDir():
			sub, err := filepath.Glob(filepath.Join(fixtureDir, e.Name(), "*.toml"))
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(sub)
			fx := fixture{name: e.Name()}
			for _, p := range sub {
				fx.paths = append(fx.paths, e.Name()+"/"+filepath.Base(p))
			}
			out = append(out, fx)
		case strings.HasSuffix(e.Name(), ".toml"):
			out = append(out, fixture{name: strings.TrimSuffix(e.Name(), ".toml"), paths: []string{e.Name()}})
		}
	}
	return out
}

func (fx fixture) check(t *testing.T) []lint.Diagnostic {
	t.Helper()
	var files []*policy.File
	for _, p := range fx.paths {
		src, err := os.ReadFile(filepath.Join(fixtureDir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, policy.Load(p, src, policy.KindAuto))
	}
	return lint.Check(files...)
}

// TestGolden lints every fixture and compares the text output with
// <name>.golden; -update rewrites the goldens.
func TestGolden(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := lint.WriteText(&buf, fx.check(t), false); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(fixtureDir, fx.name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./lint -run TestGolden -update to create it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestFixtureNames checks what the fixture names promise, independently of
// the goldens: npXXX_bad* reports NPXXX, npXXX_ok* reports nothing.
func TestFixtureNames(t *testing.T) {
	for _, fx := range fixtures(t) {
		id, rest, ok := strings.Cut(fx.name, "_")
		if !ok || !strings.HasPrefix(id, "np") {
			continue
		}
		id = strings.ToUpper(id)
		t.Run(fx.name, func(t *testing.T) {
			if lint.Lookup(id) == nil {
				t.Fatalf("the fixture names rule %s, which does not exist", id)
			}
			ds := fx.check(t)
			switch {
			case strings.HasSuffix(rest, "bad"):
				if !contains(ruleIDs(ds), id) {
					t.Errorf("want %s, got %v%s", id, ruleIDs(ds), dump(ds))
				}
			case strings.HasSuffix(rest, "ok"):
				if len(ds) > 0 {
					t.Errorf("want no findings, got%s", dump(ds))
				}
			}
		})
	}
}

// TestEveryRuleHasFixtures keeps the promise that every rule has a golden
// fixture that triggers it and one that does not.
func TestEveryRuleHasFixtures(t *testing.T) {
	have := map[string]bool{}
	for _, fx := range fixtures(t) {
		id, rest, ok := strings.Cut(fx.name, "_")
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(rest, "bad"):
			have[strings.ToUpper(id)+" bad"] = true
		case strings.HasSuffix(rest, "ok"):
			have[strings.ToUpper(id)+" ok"] = true
		}
	}
	for _, r := range lint.Rules() {
		if r.ID == "NP000" {
			continue // an unreadable file cannot be a fixture; cmd/netpolicy's scripts cover it
		}
		for _, kind := range []string{"bad", "ok"} {
			if !have[r.ID+" "+kind] {
				t.Errorf("%s has no %s fixture in %s", r.ID, kind, fixtureDir)
			}
		}
	}
}

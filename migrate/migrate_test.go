package migrate

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/migrate")

const goldenDir = "../testdata/migrate"

// goldenCase is one testdata/migrate/NAME.input with its expectations:
// NAME.golden (the migrated file) and NAME.diff (what migrate prints), or
// NAME.error when migrate must refuse.
type goldenCase struct {
	name, base string
	src        []byte
}

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	inputs, err := filepath.Glob(filepath.Join(goldenDir, "*.input"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in %s (%v)", goldenDir, err)
	}
	var cases []goldenCase
	for _, in := range inputs {
		src, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(in, ".input")
		cases = append(cases, goldenCase{name: filepath.Base(base), base: base, src: src})
	}
	return cases
}

// load reads a golden input as migrate would read NAME.toml (kind detected
// from the content; requirements inputs hold [experimental_network]).
func load(name string, src []byte) *policy.File {
	return policy.Load(name+".toml", src, policy.KindAuto)
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./migrate -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the result:\n%s", filepath.Base(path), Diff(filepath.Base(path), want, got))
	}
}

// TestGolden migrates every input and checks the result and its diff
// against the goldens; then that the result is stable (migrating it again
// changes nothing), lints with no fixable finding left, and has the same
// effective rules as the input. A refused input must match NAME.error.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := load(c.name, c.src)
			out, _, err := Apply(f)
			if err != nil {
				checkGolden(t, c.base+".error", []byte(err.Error()+"\n"))
				if _, serr := os.Stat(c.base + ".golden"); serr == nil {
					t.Errorf("migrate refused (%v) but %s.golden exists", err, c.name)
				}
				return
			}
			if _, serr := os.Stat(c.base + ".error"); serr == nil && !*update {
				t.Errorf("migrate succeeded but %s.error says it must refuse", c.name)
			}
			checkGolden(t, c.base+".golden", out)
			checkGolden(t, c.base+".diff", []byte(Diff(c.name+".toml", c.src, out)))

			g := load(c.name, out)
			if g.Kind != f.Kind {
				t.Errorf("the result reads as %v, the input as %v", g.Kind, f.Kind)
			}
			again, _, err := Apply(g)
			if err != nil {
				t.Fatalf("migrating the golden again: %v", err)
			}
			if !bytes.Equal(again, out) {
				t.Errorf("migrating the golden again changes it:\n%s", Diff(c.name, out, again))
			}
			for _, d := range lint.Check(g) {
				if d.Fixable() {
					t.Errorf("golden still has a fixable finding: %d:%d %s %s", d.Pos.Line, d.Pos.Column, d.Rule.ID, d.Message)
				}
			}
			if err := sameRules(f, g); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestDiffApplies applies each produced diff to its input with git apply
// and with patch -p1, and expects the golden.
func TestDiffApplies(t *testing.T) {
	tools := map[string][]string{
		"git":   {"git", "apply", "--whitespace=nowarn", "change.diff"},
		"patch": {"patch", "-p1", "--quiet", "--no-backup-if-mismatch", "-i", "change.diff"},
	}
	ran := false
	for tool, argv := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		ran = true
		for _, c := range goldenCases(t) {
			golden, err := os.ReadFile(c.base + ".golden")
			if err != nil {
				continue // a refusal
			}
			t.Run(tool+"/"+c.name, func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, c.name+".toml")
				if err := os.WriteFile(file, c.src, 0o644); err != nil {
					t.Fatal(err)
				}
				diff := Diff(c.name+".toml", c.src, golden)
				if diff == "" {
					return
				}
				if err := os.WriteFile(filepath.Join(dir, "change.diff"), []byte(diff), 0o644); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s\ndiff:\n%s", strings.Join(argv, " "), err, out, diff)
				}
				got, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, golden) {
					t.Errorf("%s gave a file that is not the golden:\n%s", tool, Diff(c.name, golden, got))
				}
			})
		}
	}
	if !ran {
		t.Skip("neither git nor patch is installed")
	}
}

package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/schema"
)

// updating reports whether the test binary runs with -update (the flag is
// shared with the other golden tests of this package).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestGeneratedDocs checks that the committed man page and the generated
// part of docs/cli.md are what the current commands and flags produce.
// After changing a command, a flag or its help text, run
//
//	go test ./cmd/netpolicy -run TestGeneratedDocs -update
func TestGeneratedDocs(t *testing.T) {
	app := newApp(&env{getenv: func(string) string { return "" }})
	man, err := manPage(app)
	if err != nil {
		t.Fatal(err)
	}
	const manPath = "../../docs/netpolicy.1"
	checkGenerated(t, manPath, man)

	const cliPath = "../../docs/cli.md"
	doc, err := os.ReadFile(cliPath)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), cliRefBegin)
	_, after, ok2 := strings.Cut(rest, cliRefEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the markers %q and %q", cliPath, cliRefBegin, cliRefEnd)
	}
	checkGenerated(t, cliPath, before+cliRefBegin+"\n\n"+cliReference(app)+cliRefEnd+after)
}

func checkGenerated(t *testing.T, path, want string) {
	t.Helper()
	if updating() {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./cmd/netpolicy -run TestGeneratedDocs -update)", err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("%s is not what the current commands generate; run\n\tgo test ./cmd/netpolicy -run TestGeneratedDocs -update\n(-generated +committed):\n%s", path, diff)
	}
}

// TestProjectSchemaKeys keeps the keys .netpolicy.toml decodes and the keys
// its schema documents in step.
func TestProjectSchemaKeys(t *testing.T) {
	got := projectFileKeys()
	if d := cmp.Diff(schema.ProjectKeys, got); d != "" {
		t.Errorf("[lint] keys: schema.ProjectKeys (-) and projectFile (+) differ:\n%s", d)
	}
	for _, k := range schema.Kinds {
		want, err := schema.Generate(k)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if code := run(context.Background(), []string{"schema", string(k)}, strings.NewReader(""), &out, &out); code != 0 || out.String() != string(want) {
			t.Errorf("netpolicy schema %s: exit %d, output differs from schema.Generate", k, code)
		}
	}
}

// TestDocLinks checks that every relative link of the README and docs/
// names a file of the repository (users have no other tree to follow links
// into), and that nothing points at the internal spec.
func TestDocLinks(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md", "../../CHANGELOG.md")
	linkRe := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "shared/spec") {
			t.Errorf("%s points at shared/spec, which users of the repository do not have", page)
		}
		for _, m := range linkRe.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			if _, err := os.Stat(filepath.Join(filepath.Dir(page), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", page, m[1])
			}
		}
	}
}

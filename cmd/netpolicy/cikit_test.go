package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ciRepo writes a small repository with one clean and one legacy policy
// file and another tool's TOML, and makes it the working directory.
func ciRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"config.toml":                    "[network]\ndomains = { \"a.example\" = \"allow\" }\n",
		"team/requirements.toml":         "[experimental_network]\nallowed_domains = [\"b.example\"]\n",
		"Cargo.toml":                     "[package]\nname = \"x\"\n",
		"vendor/requirements.extra.toml": "[experimental_network]\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

// runCLI runs the in-process CLI on a command line.
func runCLI(args []string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// shellWords splits a command line the way these simple scripts need:
// words separated by blanks, double quotes removed, a trailing
// "> FILE" redirection dropped.
func shellWords(line string) []string {
	if i := strings.Index(line, " > "); i >= 0 {
		line = line[:i]
	}
	var out []string
	for _, w := range strings.Fields(line) {
		out = append(out, strings.Trim(w, `"`))
	}
	return out
}

// TestActionCommands runs the netpolicy command lines of action.yml, with
// the inputs' defaults, against the current CLI: the action must never call
// a flag or command that does not exist.
func TestActionCommands(t *testing.T) {
	data, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct{ Default string }
		Runs   struct {
			Using string
			Steps []struct {
				ID   string
				Uses string
				Run  string
				Env  map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if action.Runs.Using != "composite" {
		t.Errorf("runs.using = %q, want composite", action.Runs.Using)
	}
	module := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(gomod), "\n", 2)[0], "module"))
	inputRe := regexp.MustCompile(`\$\{\{\s*inputs\.([a-z-]+)\s*\}\}`)
	ciRepo(t)
	var ran, uploads int
	for _, st := range action.Runs.Steps {
		if strings.HasPrefix(st.Uses, "github/codeql-action/upload-sarif@") {
			uploads++
		}
		env := map[string]string{"GITHUB_OUTPUT": os.DevNull}
		for k, v := range st.Env {
			env[k] = inputRe.ReplaceAllStringFunc(v, func(m string) string {
				name := inputRe.FindStringSubmatch(m)[1]
				in, ok := action.Inputs[name]
				if !ok {
					t.Errorf("step %q uses undefined input %q", st.ID, name)
				}
				return in.Default
			})
		}
		for _, line := range strings.Split(st.Run, "\n") {
			for _, cmd := range strings.Split(line, "&&") {
				cmd = os.Expand(strings.TrimSpace(cmd), func(k string) string { return env[k] })
				words := shellWords(cmd)
				switch {
				case len(words) > 2 && words[0] == "go" && words[1] == "install":
					if want := module + "/cmd/netpolicy@"; !strings.HasPrefix(words[2], want) {
						t.Errorf("installs %q, want %s…", words[2], want)
					}
				case len(words) > 0 && words[0] == "netpolicy":
					ran++
					code, stdout, stderr := runCLI(words[1:])
					if code != exitOK && code != exitFindings {
						t.Errorf("action runs %q: exit %d\n%s", cmd, code, stderr)
					}
					if strings.Contains(cmd, "--format sarif") {
						var log struct{ Version string }
						if err := json.Unmarshal([]byte(stdout), &log); err != nil || log.Version != "2.1.0" {
							t.Errorf("%q does not write SARIF 2.1.0: %v", cmd, err)
						}
					}
				}
			}
		}
	}
	if ran < 3 || uploads != 1 {
		t.Errorf("ran %d netpolicy commands and found %d SARIF uploads; want the version check, the SARIF and the annotation runs, and one upload", ran, uploads)
	}
}

// TestPreCommitHooks runs each hook of .pre-commit-hooks.yaml the way
// pre-commit does (entry, args, then the staged files its files pattern
// selects) against the current CLI.
func TestPreCommitHooks(t *testing.T) {
	data, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID, Entry, Language, Files string
		Args                       []string
	}
	if err := yaml.Unmarshal(data, &hooks); err != nil {
		t.Fatalf(".pre-commit-hooks.yaml: %v", err)
	}
	staged := []string{"config.toml", "team/requirements.toml", "Cargo.toml", "README.md", "vendor/requirements.extra.toml"}
	wantMatched := []string{"config.toml", "team/requirements.toml", "vendor/requirements.extra.toml"}
	ids := map[string]bool{}
	for _, h := range hooks {
		ids[h.ID] = true
		if h.Language != "golang" {
			t.Errorf("hook %s: language %q, want golang (pre-commit builds the module)", h.ID, h.Language)
		}
		re, err := regexp.Compile(h.Files)
		if err != nil {
			t.Fatalf("hook %s: files: %v", h.ID, err)
		}
		var files []string
		for _, f := range staged {
			if re.MatchString(f) {
				files = append(files, f)
			}
		}
		if strings.Join(files, " ") != strings.Join(wantMatched, " ") {
			t.Errorf("hook %s selects %v, want %v", h.ID, files, wantMatched)
		}
		ciRepo(t)
		words := strings.Fields(h.Entry)
		if words[0] != "netpolicy" {
			t.Fatalf("hook %s runs %q, not netpolicy", h.ID, words[0])
		}
		args := append(append(words[1:], h.Args...), files...)
		code, _, stderr := runCLI(args)
		if code != exitOK && code != exitFindings {
			t.Errorf("hook %s: netpolicy %s: exit %d\n%s", h.ID, strings.Join(args, " "), code, stderr)
		}
	}
	for _, id := range []string{"netpolicy-lint", "netpolicy-migrate-check"} {
		if !ids[id] {
			t.Errorf("no hook %s", id)
		}
	}
}

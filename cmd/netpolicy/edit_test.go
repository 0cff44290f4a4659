package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateEdit = flag.Bool("update", false, "rewrite the golden files of testdata/edit")

const editDir = "../../testdata/edit"

// TestEditGoldens runs every testdata/edit case: NAME.cmd holds the
// arguments (`allow api.example.com`), NAME.input the config file before
// (absent: no file), NAME.requirements an optional managed file;
// NAME.golden is the file after (absent when it must not exist) and
// NAME.out the exit code and stderr. Every case also checks idempotence:
// the same command on the result changes nothing and exits the same way
// (or 0 after a write).
func TestEditGoldens(t *testing.T) {
	cmds, err := filepath.Glob(filepath.Join(editDir, "*.cmd"))
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no cases in %s (%v)", editDir, err)
	}
	for _, cmdPath := range cmds {
		base := strings.TrimSuffix(cmdPath, ".cmd")
		t.Run(filepath.Base(base), func(t *testing.T) {
			line, err := os.ReadFile(cmdPath)
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Fields(string(line))
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.toml")
			input, inErr := os.ReadFile(base + ".input")
			if inErr == nil {
				if err := os.WriteFile(cfg, input, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			extra := []string{"--config", cfg, "--requirements="}
			if _, err := os.Stat(base + ".requirements"); err == nil {
				extra[2] = "--requirements=" + base + ".requirements"
			}
			code, stderr := runEditCmd(args, extra, dir)
			out := fmt.Sprintf("exit %d\n%s", code, stderr)
			got, gotErr := os.ReadFile(cfg)
			if *updateEdit {
				writeOrRemove(t, base+".out", []byte(out), true)
				writeOrRemove(t, base+".golden", got, gotErr == nil)
				return
			}
			compareFile(t, base+".out", []byte(out))
			if gotErr != nil {
				if _, err := os.Stat(base + ".golden"); err == nil {
					t.Fatalf("no file written, want %s.golden", base)
				}
			} else {
				compareFile(t, base+".golden", got)
			}
			if code == exitUsage {
				// Refused: the file is untouched, byte for byte and mode.
				if inErr == nil && !bytes.Equal(got, input) {
					t.Fatalf("refused edit changed the file")
				}
				return
			}
			if code == exitOK && inErr == nil && !bytes.Equal(got, input) {
				st, err := os.Stat(cfg)
				if err != nil || st.Mode().Perm() != 0o640 {
					t.Fatalf("mode after write: %v %v, want 0640", st.Mode(), err)
				}
			}
			// Idempotence: again on the result writes nothing.
			code2, stderr2 := runEditCmd(args, extra, dir)
			again, _ := os.ReadFile(cfg)
			if !bytes.Equal(again, got) {
				t.Fatalf("second run changed the file:\n%s", again)
			}
			if code2 != code {
				t.Fatalf("second run exit %d, first %d\n%s", code2, code, stderr2)
			}
			if gotErr == nil && strings.Contains(stderr, " in ") && !strings.Contains(stderr2, "already") && !strings.Contains(stderr2, "nothing to unset") {
				t.Fatalf("second run did not say nothing was needed:\n%s", stderr2)
			}
		})
	}
}

// runEditCmd runs netpolicy in-process; the temporary directory in its
// stderr is written as $DIR so goldens are stable.
func runEditCmd(args, extra []string, dir string) (int, string) {
	code, stdout, stderr := runCLI(append(append([]string(nil), args...), extra...))
	s := stdout + stderr
	rel := strings.TrimPrefix(dir, "/")
	s = strings.ReplaceAll(s, "a/"+rel, "a/$DIR") // diff labels
	s = strings.ReplaceAll(s, "b/"+rel, "b/$DIR")
	return code, strings.ReplaceAll(s, dir, "$DIR")
}

func writeOrRemove(t *testing.T, path string, data []byte, keep bool) {
	t.Helper()
	if !keep {
		os.Remove(path)
		return
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func compareFile(t *testing.T, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got ---\n%s\n--- want ---\n%s", filepath.Base(path), got, want)
	}
}

// TestEditDefaultConfig: with neither --config nor NETPOLICY_CONFIG, the
// edit goes to $CODEX_HOME/config.toml, created with its directory.
func TestEditDefaultConfig(t *testing.T) {
	home := filepath.Join(t.TempDir(), "codex")
	t.Setenv("CODEX_HOME", home)
	t.Setenv("NETPOLICY_CONFIG", "")
	old := lookupEnv
	lookupEnv = func(k string) (string, bool) {
		if k == "NETPOLICY_CONFIG" {
			return "", false
		}
		return os.LookupEnv(k)
	}
	t.Cleanup(func() { lookupEnv = old })
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"allow", "--requirements=", "api.example.com"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(home, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "[network]\nenabled = true\n\n[network.domains]\n\"api.example.com\" = \"allow\"\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !strings.Contains(stderr.String(), `allowed "api.example.com" in `+filepath.Join(home, "config.toml")) {
		t.Fatalf("stderr %q", stderr.String())
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestLintTerminalShowsSource: on a terminal the text format shows the source
// line and a caret (in a pipe it is one line per finding, see lint_full.txtar).
func TestLintTerminalShowsSource(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("[network]\nalow = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"lint", "--color", "never", path}, strings.NewReader(""), tty, &stderr)
	tty.Close()
	out, _ := io.ReadAll(ptmx) // EIO once the slave is closed and drained
	if code != exitFindings {
		t.Fatalf("exit %d, want 1; stderr: %s", code, stderr.String())
	}
	got := strings.ReplaceAll(string(out), "\r\n", "\n")
	want := path + ":2:1: warning NP003 unknown key \"alow\" in [network]\n  |\n2 | alow = true\n  | ^^^^\n"
	if !strings.Contains(got, want) {
		t.Errorf("terminal output:\n%s\nwant it to contain:\n%s", got, want)
	}
}

// TestCheckTerminalReport: on a terminal, check says on stderr which files
// and profile answered (in a pipe only with --verbose, see
// session_report.txtar).
func TestCheckTerminalReport(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("[network]\nenabled = true\ndomains = { \"a.example\" = \"allow\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NETPOLICY_REQUIREMENTS", "")
	var stdout bytes.Buffer
	code := run(context.Background(), []string{"check", "--no-resolve", "--config", path, "a.example"}, strings.NewReader(""), &stdout, tty)
	tty.Close()
	out, _ := io.ReadAll(ptmx)
	if code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, out)
	}
	got := strings.ReplaceAll(string(out), "\r\n", "\n")
	for _, want := range []string{
		"netpolicy check: requirements: none (NETPOLICY_REQUIREMENTS is empty)\n",
		"netpolicy check: config: " + path + " (--config)\n",
		"netpolicy check: profile: none selected (no --profile, no default_permissions): [network] applies\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal stderr lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(stdout.String(), "a.example:80: allow ") {
		t.Errorf("stdout = %q", stdout.String())
	}
}

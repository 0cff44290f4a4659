package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	defer func(v string, f func() (*debug.BuildInfo, bool)) { version, readBuildInfo = v, f }(version, readBuildInfo)
	info := func(mod string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Path: "github.com/netpolicy/netpolicy", Version: mod}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"}
	when := debug.BuildSetting{Key: "vcs.time", Value: "2026-12-03T08:00:00Z"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	for _, tc := range []struct {
		ldflags string
		info    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"", info("v1.2.0"), "v1.2.0"}, // go install …@v1.2.0
		{"", info("(devel)", rev, when), "devel (rev 1a2b3c4d5e6f, 2026-12-03T08:00:00Z)"}, // built from a clone
		{"", info("(devel)", rev, when, dirty), "devel (rev 1a2b3c4d5e6f, 2026-12-03T08:00:00Z, modified)"},
		{"1.3.0-rc1", info("(devel)", rev), "1.3.0-rc1 (rev 1a2b3c4d5e6f)"}, // -ldflags -X main.version
		{"", func() (*debug.BuildInfo, bool) { return nil, false }, "devel"},
	} {
		version, readBuildInfo = tc.ldflags, tc.info
		if got := versionString(); got != tc.want {
			t.Errorf("versionString() = %q, want %q", got, tc.want)
		}
	}
}

func TestUsageMessage(t *testing.T) {
	app := newApp(&env{getenv: func(string) string { return "" }})
	lint := app.Command("lint")
	for _, tc := range []struct{ in, want string }{
		{"flag provided but not defined: -formt", "unknown flag --formt; did you mean --format?"},
		{"flag provided but not defined: -zzzzzz", "unknown flag --zzzzzz"},
		{"flag needs an argument: -format", "flag needs an argument: --format"},
		{"flag needs an argument: -v", "flag needs an argument: -v"},
		{`invalid value "x" for flag -fail-on: bad`, `invalid value "x" for flag --fail-on: bad`},
	} {
		if got := usageMessage(lint.VisibleFlags(), errors.New(tc.in)); got != tc.want {
			t.Errorf("usageMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"efective", "effective"}, {"lnt", "lint"}, {"migrat", "migrate"}, {"chekc", "check"},
		{"effect", "effective"}, {"xyz", ""}, {"deploy", ""},
	} {
		if got := closest(tc.in, []string{"lint", "migrate", "effective", "check", "serve", "rules"}); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCompletionScripts checks the scripts are valid for their shells (when
// the shell is installed).
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"completion", sh}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", sh, code, errb.String())
		}
		if !strings.Contains(out.String(), "netpolicy") {
			t.Errorf("completion %s does not name netpolicy:\n%s", sh, out.String())
		}
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("%s not installed: syntax not checked", sh)
			continue
		}
		flag := "-n"
		if sh == "fish" {
			flag = "--no-execute"
		}
		cmd := exec.Command(sh, flag)
		cmd.Stdin = strings.NewReader(out.String())
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s %s on the completion script: %v\n%s", sh, flag, err, b)
		}
	}
	// The completion protocol itself is exercised in cli_kit.txtar: urfave/cli
	// reads os.Args for it, which only a real process has.
}

package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCmds are extra testscript commands; test files of each command may
// add theirs in init.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"netpolicy": func() {
			e := newEnv(os.Stdin, os.Stdout, os.Stderr)
			if spec := os.Getenv(testResolverEnv); spec != "" {
				r, err := parseTestResolver(spec)
				if err != nil {
					fmt.Fprintf(os.Stderr, "netpolicy: %s: %v\n", testResolverEnv, err)
					os.Exit(exitUsage)
				}
				e.resolver = r
			}
			os.Exit(runApp(context.Background(), e, os.Args[1:]))
		},
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script: the real
// binary (this test binary re-executed as netpolicy), files inline, exit
// codes and output asserted.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		Cmds:                scriptCmds,
		RequireExplicitExec: false,
		Setup: func(e *testscript.Env) error {
			e.Setenv("NO_COLOR", "1")
			e.Setenv("NETPOLICY_REQUIREMENTS", "")
			e.Setenv("NETPOLICY_CONFIG", "")
			e.Setenv("CODEX_HOME", e.WorkDir+"/.codex-home-unused")
			return nil
		},
	})
}

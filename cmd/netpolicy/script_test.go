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

// scriptPrograms are extra programs the scripts (and the commands they
// run, such as exec's CMD) find in PATH, as the netpolicy binary is.
var scriptPrograms = map[string]func(){}

// scriptConds are extra [conditions] for the scripts.
var scriptConds = map[string]func() (bool, error){}

func TestMain(m *testing.M) {
	programs := map[string]func(){
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
	}
	for name, f := range scriptPrograms {
		programs[name] = f
	}
	testscript.Main(m, programs)
}

// TestScripts runs the end-to-end CLI scripts in testdata/script: the real
// binary (this test binary re-executed as netpolicy), files inline, exit
// codes and output asserted.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		Cmds:                scriptCmds,
		RequireExplicitExec: false,
		Condition: func(cond string) (bool, error) {
			if f := scriptConds[cond]; f != nil {
				return f()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(e *testscript.Env) error {
			e.Setenv("NO_COLOR", "1")
			e.Setenv("NETPOLICY_REQUIREMENTS", "")
			e.Setenv("NETPOLICY_CONFIG", "")
			e.Setenv("CODEX_HOME", e.WorkDir+"/.codex-home-unused")
			return nil
		},
	})
}

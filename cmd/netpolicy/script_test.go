package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCmds are extra testscript commands; test files of each command may
// add theirs in init.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

// negatable are the script commands that give `!` a meaning of their own
// (each says which in its comment). Every other command refuses `!`, so
// that a negated line can never pass as a positive one.
var negatable = map[string]bool{
	"np_exit": true, "dnsqueries": true, "mtimekept": true, "perm": true,
	"httpget": true, "connect": true, "socks": true, "httpsget": true,
}

// scriptCommands returns scriptCmds with `!` refused by the commands that
// do not define it.
func scriptCommands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	out := map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	for name, f := range scriptCmds {
		if negatable[name] {
			out[name] = f
			continue
		}
		out[name] = func(ts *testscript.TestScript, neg bool, args []string) {
			if neg {
				ts.Fatalf("%s does not support !", name)
			}
			f(ts, false, args)
		}
	}
	return out
}

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
			os.Exit(runProcess(e, os.Args[1:]))
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
		Cmds:                scriptCommands(),
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

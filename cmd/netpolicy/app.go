package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/sandbox"
)

// Exit codes, for every command (CLI.md).
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
)

// exitError carries an exit code out of a command's Action.
type exitError struct {
	code int
	msg  string // printed on stderr when non-empty
}

func (e *exitError) Error() string { return e.msg }

// exitCode makes an error that ends the program with code. A non-empty msg is
// printed on stderr.
func exitCode(code int, format string, args ...any) error {
	msg := ""
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &exitError{code: code, msg: msg}
}

// env is the process environment as the command sees it; tests replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// resolver answers the DNS lookups of check and serve's decisions. If
	// nil, the system resolver. The test harness injects one so that
	// scripts never reach a real DNS server.
	resolver policy.Resolver
}

// newEnv is the environment of the real process.
func newEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	return &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
}

// commands are the commands of netpolicy, in the order help and the manual
// page list them: a new command is added here.
func commands(e *env) []*cli.Command {
	return []*cli.Command{
		caCommand(e),
		checkCommand(e),
		completionCommand(e),
		manCommand(e),
		editCommand(e, verbAllow),
		editCommand(e, verbDeny),
		editCommand(e, verbUnset),
		effectiveCommand(e),
		execCommand(e),
		lintCommand(e),
		migrateCommand(e),
		rulesCommand(e),
		schemaCommand(e),
		serveCommand(e),
		suggestCommand(e),
	}
}

// runApp runs the command line args in the environment e and returns the
// exit code.
func runApp(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && args[0] == sandbox.InitCommand {
		// The init process of `netpolicy exec`'s namespaces: a re-exec of
		// this binary, never a command a person types.
		return sandbox.InitMain()
	}
	stderr := e.stderr
	app := newApp(e)
	notFound := ""
	app.CommandNotFound = func(c *cli.Context, name string) { notFound = name }
	if !completionRequest(args) {
		args = permuteArgs(app.Commands, args)
	}
	err := app.RunContext(ctx, append([]string{"netpolicy"}, args...))
	if notFound != "" {
		fmt.Fprintln(stderr, commandNotFound(app, notFound))
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "netpolicy: %v\n", err)
	return exitUsage
}

// newApp builds the command-line application with every registered command,
// for runApp and for the generated documentation (man page, docs/cli.md).
func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:                 "netpolicy",
		Usage:                "lint, migrate, explain and enforce network permission policy",
		Description:          appDescription,
		Version:              versionString(),
		Reader:               e.stdin,
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		EnableBashCompletion: true,                         // for `netpolicy completion` (clikit.go)
		ExitErrHandler:       func(*cli.Context, error) {}, // exit codes are decided below, never by os.Exit
	}
	app.OnUsageError = func(c *cli.Context, err error, isSub bool) error {
		return exitCode(exitUsage, "netpolicy: %s", usageMessage(app.VisibleFlags(), err))
	}
	for _, cmd := range commands(e) {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = func(c *cli.Context, err error, isSub bool) error {
				return exitCode(exitUsage, "netpolicy %s: %s", c.Command.Name, usageMessage(c.Command.VisibleFlags(), err))
			}
		}
		app.Commands = append(app.Commands, cmd)
	}
	return app
}

// commandTakesRest names the commands whose first positional argument
// starts a command line of its own (`netpolicy exec curl -v URL`).
var commandTakesRest = map[string]bool{"exec": true}

// permuteArgs moves a command's flags in front of its positional arguments:
// urfave/cli v2 stops parsing flags at the first positional, and CLI.md
// promises `lint a.toml --format json` works. `--` ends flag parsing; `-`
// (stdin) is a positional.
func permuteArgs(cmds []*cli.Command, args []string) []string {
	// Find the command name: the first argument that is not a flag.
	ci := -1
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			ci = i
			break
		}
	}
	if ci < 0 {
		return args
	}
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(args[ci]) {
			cmd = c
		}
	}
	if cmd == nil || len(cmd.Subcommands) > 0 {
		// A command with subcommands (ca) leaves its flags to them.
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv := false
		if d, ok := f.(cli.DocGenerationFlag); ok {
			tv = d.TakesValue()
		}
		for _, n := range f.Names() {
			takesValue[n] = tv
		}
	}
	rest := args[ci+1:]
	var flags, pos []string
	dangling := false // the last flag needs a value and has none
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			if commandTakesRest[cmd.Name] {
				// exec: the first positional is CMD, and everything
				// from it on is CMD's, flags included.
				pos = append(pos, rest[i:]...)
				break
			}
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue[name] && i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		} else if takesValue[name] {
			dangling = true
		}
	}
	out := append([]string{}, args[:ci+1]...)
	out = append(out, flags...)
	for _, f := range flags {
		if f == "-h" || f == "--help" || f == "-help" {
			// `lint a.toml --help` asks for lint's help, not a topic "a.toml".
			return out
		}
	}
	if dangling {
		// `lint a.toml --format` lacks the value: leave the flag last so the
		// parser says so, rather than taking "--" or a path as its value.
		return out
	}
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}

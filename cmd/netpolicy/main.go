// Command netpolicy lints, migrates, explains and enforces the network
// permission policy of requirements.toml and config.toml.
//
// Usage:
//
//	netpolicy lint [flags] PATH...
//	netpolicy migrate [flags] PATH...
//	netpolicy effective [source flags] [--format toml|json] [--explain]
//	netpolicy check [source flags] [--method M] TARGET...
//	netpolicy serve [source flags] [flags]
//	netpolicy exec [source flags] [flags] -- CMD [ARGS...]
//	netpolicy allow|deny|unset [source flags] [--dry-run] PATTERN...
//
// Run `netpolicy help COMMAND` for the flags of each command.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(runProcess(newEnv(os.Stdin, os.Stdout, os.Stderr), os.Args[1:]))
}

// runProcess runs the program as a process does: SIGINT and SIGTERM are
// taken from the very start (before serve can write its ready file), so a
// supervisor that signals at once gets a graceful stop, never the default
// action. The test binary's netpolicy program goes through here too.
func runProcess(e *env, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runApp(ctx, e, args)
}

// run is the whole program: it returns the exit code instead of exiting, so
// tests can call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runApp(ctx, newEnv(stdin, stdout, stderr), args)
}

package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/prompt"
	"github.com/netpolicy/netpolicy/sandbox"
)

// asker is the terminal exec asks its questions on (POLICY §8).
type asker struct {
	tty   *os.File
	relay *prompt.Relay
}

// startAsking sets up questions on the terminal when they can be asked:
// the policy asks on a miss, --no-ask and --report-only are not given,
// stdin is a terminal and /dev/tty opens. CMD then gets a pseudo-terminal
// of its own for stdin and for whichever of stdout and stderr are the
// terminal (a redirected stream stays as it is), and a new session with
// that terminal as its controlling terminal, so it can neither read the
// person's answers nor type them. It returns nil when nothing is asked.
func startAsking(c *cli.Context, e *env, s *server, spec *sandbox.Spec) *asker {
	if c.Bool("no-ask") || c.Bool("report-only") || s.eff.OnMiss.Value != policy.MissAsk || !isTTY(e.stdin) {
		return nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	relay, err := prompt.Open(tty)
	if err != nil {
		tty.Close()
		return nil
	}
	relay.Timeout = c.Duration("ask-timeout")
	src := s.src
	config := src.allowConfig(e)
	relay.Always = func(host string) error {
		return allowAlways(config, src.RequirementsPath, src.Profile, src.Mode, host)
	}
	s.proxy.Ask = relay.Ask
	pty := relay.Slave()
	spec.Stdin, spec.OwnTerminal = pty, true
	if isTTY(spec.Stdout) {
		spec.Stdout = pty
	}
	if isTTY(spec.Stderr) {
		spec.Stderr = pty
	}
	return &asker{tty: tty, relay: relay}
}

// close gives the terminal back as it was.
func (a *asker) close() {
	if a == nil {
		return
	}
	a.relay.Close()
	a.tty.Close()
}

// isTTY reports whether v is an *os.File on a terminal.
func isTTY(v any) bool {
	f, ok := v.(*os.File)
	if !ok || f == nil {
		return false
	}
	return prompt.IsTerminal(f)
}

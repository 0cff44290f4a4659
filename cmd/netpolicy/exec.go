package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/sandbox"
	"github.com/netpolicy/netpolicy/tlsca"
)

// execCommand is the `netpolicy exec` command.
func execCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command with the effective policy enforced on its network access",
		ArgsUsage: "-- CMD [ARGS...]",
		Description: "Exec starts the proxy serve runs, on free loopback ports and with the\n" +
			"policy read once (no reload: the command cannot widen its own policy by\n" +
			"editing the config), and runs CMD with HTTP_PROXY, HTTPS_PROXY,\n" +
			"ALL_PROXY=socks5h://… (and the lower-case forms), NO_PROXY and\n" +
			"NETPOLICY_PROXY=1 set. Everything after -- is CMD, untouched.\n\n" +
			"With --isolate auto (the default) or on, on Linux, CMD runs in new user,\n" +
			"network, mount and PID namespaces: only the namespace's own loopback is up,\n" +
			"the proxy variables point at listeners there that belong to the proxy\n" +
			"outside, the unix sockets of daemons (/run, /var/run, $XDG_RUNTIME_DIR,\n" +
			"/tmp/.X11-unix, sockets under /tmp and /var/tmp) are hidden except those the\n" +
			"policy allows, and every process CMD starts ends when netpolicy does. auto\n" +
			"runs without isolation after one warning where the kernel does not allow\n" +
			"it; on fails (exit 2).\n\n" +
			"CMD's stdin, stdout and stderr are the caller's. Signals sent to netpolicy\n" +
			"are passed on to CMD, except those the terminal already sent it. When\n" +
			"something was blocked, a summary on stderr lists each destination once,\n" +
			"and the netpolicy allow command for those a user rule could allow.\n\n" +
			"Exit status: CMD's (128 + the signal number when a signal killed it); 2,\n" +
			"with a message starting \"netpolicy:\", when CMD could not be run.",
		Flags:  execFlags(),
		Action: func(c *cli.Context) error { return runExec(c, e) },
	}
}

// execFlags are exec's flags: the source flags, exec's own, and the proxy
// features serve shares with exec (--report-only, --dns, --ca-dir,
// telemetry).
func execFlags() []cli.Flag {
	flags := append(sourceFlags(),
		&cli.StringFlag{Name: "isolate", Value: string(sandbox.Auto), Usage: "`MODE`: auto, on or off"},
		&cli.StringFlag{Name: "audit-log", Usage: "audit events to `PATH` (- is stdout; default none)"},
		&cli.StringFlag{Name: "summary-json", Usage: "write the summary of what was blocked as JSON to `FILE`"},
		&cli.BoolFlag{Name: "quiet", Usage: "no summary on stderr"},
		&cli.BoolFlag{Name: "no-socks", Usage: "no SOCKS5 listener (ALL_PROXY stays unset)"},
		&cli.BoolFlag{Name: "no-ask", Usage: "never ask on the terminal: a host the policy would ask about is blocked"},
		&cli.DurationFlag{Name: "ask-timeout", Value: 30 * time.Second, Usage: "how long (`DURATION`) a question waits before it is answered no"},
		reportOnlyFlag(),
		dnsFlag(),
		caDirFlag(),
	)
	return append(flags, telemetryFlags()...)
}

// execGrace is how long connections still open when CMD has ended may
// finish.
const execGrace = 500 * time.Millisecond

func runExec(c *cli.Context, e *env) error {
	argv := c.Args().Slice()
	if len(argv) == 0 {
		return exitCode(exitUsage, "netpolicy exec: no command: netpolicy exec [flags] -- CMD [ARGS...]")
	}
	mode, ok := sandbox.ParseMode(c.String("isolate"))
	if !ok {
		return exitCode(exitUsage, "netpolicy exec: invalid --isolate %q: want auto, on or off", c.String("isolate"))
	}
	s, err := buildServer(c, e, serverOpts{quiet: true, memoryCA: true})
	if err != nil {
		return err
	}
	defer s.close()
	blocked := newBlockSummary()
	s.proxy.Events = blocked.hookEvents(s.proxy.Events)
	socks := s.eff.SocksAddr.Value != "" && !c.Bool("no-socks")

	environ := os.Environ()
	if ca := s.proxy.InterceptCA(); ca != nil {
		// Interception is on: CMD must trust the CA (POLICY §7).
		dir, vars, err := writeRunCA(ca, e)
		if err != nil {
			return exitCode(exitUsage, "netpolicy exec: %v", err)
		}
		defer os.RemoveAll(dir)
		environ = setEnv(environ, vars)
	}
	spec := sandbox.Spec{
		Argv:   argv,
		Env:    environ,
		Stdin:  e.stdin,
		Stdout: e.stdout,
		Stderr: e.stderr,
		SOCKS:  socks,
		Hide:   hideFor(s.eff, e, c.String("ca-dir")),
	}
	ask := startAsking(c, e, s, &spec)
	defer ask.close()
	run, err := startRun(s, e, spec, mode)
	if err != nil {
		return err
	}
	st, err := run.Wait()
	s.stop(execGrace)
	ask.close() // the summary goes to the terminal as it was
	if err != nil {
		return execStartError(err)
	}
	rep := blocked.report(s.eff, suggestTarget{config: s.src.allowConfig(e), profile: s.src.Profile})
	rep.Isolated = run.Isolated
	rep.ExitCode = st.ExitCode()
	if p := c.String("summary-json"); p != "" {
		if err := writeJSONFile(p, rep); err != nil {
			fmt.Fprintf(e.stderr, "netpolicy: --summary-json: %v\n", err)
		}
	}
	if !c.Bool("quiet") {
		rep.writeText(e.stderr)
	}
	return exitCode(st.ExitCode(), "")
}

// startRun starts the proxy and CMD: isolated when mode allows and the
// kernel can, the proxy then serving the listeners made in the namespace;
// otherwise on listeners of its own on free loopback ports.
func startRun(s *server, e *env, spec sandbox.Spec, mode sandbox.Mode) (*sandbox.Run, error) {
	var run *sandbox.Run
	if mode != sandbox.Off {
		var err error
		run, err = sandbox.StartIsolated(spec)
		var ue *sandbox.UnavailableError
		switch {
		case errors.As(err, &ue) && mode == sandbox.Auto:
			fmt.Fprintf(e.stderr, "netpolicy: warning: %s; running without isolation\n", ue.Cause)
			run = nil
		case err != nil:
			return nil, execStartError(err)
		default:
			// The listeners inside the namespace are the proxy's own
			// (POLICY §5), like serve's.
			s.hl, s.sl = run.HTTP, run.SOCKS
			if err := s.refuseUpstreamLoop(); err != nil {
				run.Kill()
				return nil, err
			}
			s.listen.http, s.listen.socks = s.hl.Addr().String(), "off"
			if s.sl != nil {
				s.listen.socks = s.sl.Addr().String()
			}
		}
	}
	if run == nil {
		socksAddr := ""
		if spec.SOCKS {
			socksAddr = "127.0.0.1:0"
		}
		if err := s.bind("127.0.0.1:0", socksAddr); err != nil {
			return nil, err
		}
	}
	if err := s.bindMetrics(); err != nil {
		if run != nil {
			run.Kill()
		}
		return nil, err
	}
	s.start()
	s.startMetrics()
	if run != nil {
		return run, nil
	}
	socksAddr := ""
	if s.sl != nil {
		socksAddr = s.listen.socks
	}
	run, err := sandbox.Start(spec, s.listen.http, socksAddr)
	if err != nil {
		s.stop(0)
		return nil, execStartError(err)
	}
	return run, nil
}

func execStartError(err error) error {
	return exitCode(exitUsage, "netpolicy: %v", err)
}

// hideFor is what the mount namespace hides (POLICY §7): the directories
// where daemons listen, every socket under /tmp and /var/tmp, and the CA
// directory; the sockets the policy allows stay. With
// dangerously_allow_all_unix_sockets every socket is allowed, so only the
// CA directory is hidden.
func hideFor(eff *policy.Effective, e *env, caDir string) sandbox.Hide {
	var h sandbox.Hide
	if !eff.DangerouslyAllowAllUnixSockets.Value {
		h.Dirs = []string{"/run", "/var/run"}
		if x := e.getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
			h.Dirs = append(h.Dirs, x)
		}
		h.Dirs = append(h.Dirs, "/tmp/.X11-unix")
		h.ScanDirs = []string{"/tmp", "/var/tmp"}
		for _, r := range eff.Sockets {
			if r.Perm == policy.Allow {
				h.Keep = append(h.Keep, r.Path)
			}
		}
	}
	if d, err := tlsca.Dir(caDir, e.getenv); err == nil {
		h.Dirs = append(h.Dirs, d)
	}
	return h
}

// writeRunCA writes the certificate of ca and the bundle (the system roots,
// then ca) to a private temporary directory for CMD, and returns it with
// the variables that point clients at them. The key is never written; with
// --ca-dir the copies also let the CA directory itself stay hidden.
func writeRunCA(ca *tlsca.CA, e *env) (dir string, vars map[string]string, err error) {
	dir, err = os.MkdirTemp("", "netpolicy-exec-ca-")
	if err != nil {
		return "", nil, err
	}
	cert := filepath.Join(dir, tlsca.CertFile)
	bundle := filepath.Join(dir, tlsca.BundleFile)
	if err = os.WriteFile(cert, ca.CertPEM, 0o644); err == nil {
		err = os.WriteFile(bundle, ca.Bundle(e.getenv), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, caEnv(bundle, cert), nil
}

// setEnv returns environ with each of vars set, replacing any earlier
// value, in a stable order.
func setEnv(environ []string, vars map[string]string) []string {
	out := make([]string, 0, len(environ)+len(vars))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[name]; !ok {
			out = append(out, kv)
		}
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, n+"="+vars[n])
	}
	return out
}

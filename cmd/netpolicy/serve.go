package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/net/http/httpproxy"

	"github.com/netpolicy/netpolicy/internal/atomicfile"
	"github.com/netpolicy/netpolicy/internal/syncio"
	"github.com/netpolicy/netpolicy/lint"
	"github.com/netpolicy/netpolicy/merge"
	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
)

// serveCommand is the `netpolicy serve` command.
func serveCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run the HTTP and SOCKS5 egress proxy that enforces the effective policy",
		ArgsUsage: " ",
		Description: "Serve runs an HTTP proxy (absolute-form requests, CONNECT, WebSocket\n" +
			"upgrades, unix sockets through x-unix-socket) and a SOCKS5 proxy on the\n" +
			"effective policy for the session mode. Every request gets the decision\n" +
			"`netpolicy check` prints; the proxy connects only to addresses it checked.\n\n" +
			"Listeners come from the policy (proxy_url, socks_url, http_port,\n" +
			"socks_port) unless --http / --socks say otherwise; a non-loopback address\n" +
			"is clamped to 127.0.0.1 unless dangerously_allow_non_loopback_proxy is set\n" +
			"and no unix socket is allowed. --ready-file gets\n" +
			"{\"http\":\"ADDR\",\"socks\":\"ADDR\"} once both accept connections.\n\n" +
			"Audit events (one JSON object per line) go to --audit-log: stderr by\n" +
			"default, - for stdout. SIGHUP reopens the audit log and reloads the\n" +
			"policy; a change of either policy file reloads it too. A reload waits\n" +
			"until both files have kept their size, mtime and content for 200ms, so\n" +
			"a file being written is never read half-way. A reload that\n" +
			"fails keeps the previous policy. SIGINT or SIGTERM stops accepting, lets\n" +
			"open requests finish for up to --grace, and exits 0.\n\n" +
			"Sources with lint errors are refused: serve does not start (exit 2).",
		Flags: append(append(sourceFlags(),
			&cli.StringFlag{Name: "http", Usage: "HTTP proxy listener `ADDR` (host:port; port 0 picks a free port)"},
			&cli.StringFlag{Name: "socks", Usage: "SOCKS5 listener `ADDR` (host:port; port 0 picks a free port)"},
			&cli.BoolFlag{Name: "no-socks", Usage: "do not run the SOCKS5 listener"},
			&cli.StringFlag{Name: "ready-file", Usage: "write the listener addresses as JSON to `PATH` once they accept"},
			&cli.StringFlag{Name: "audit-log", Usage: "audit events to `PATH` (default stderr; - is stdout)"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "on SIGINT/SIGTERM, how long (`DURATION`) open requests may finish"},
			&cli.DurationFlag{Name: "read-header-timeout", Value: proxy.DefaultReadHeaderTimeout, Usage: "limit (`DURATION`) for reading a request's headers"},
			&cli.DurationFlag{Name: "dial-timeout", Value: proxy.DefaultDialTimeout, Usage: "limit (`DURATION`) for each upstream connection attempt"},
			&cli.DurationFlag{Name: "idle-timeout", Value: proxy.DefaultIdleTimeout, Usage: "close tunnels and connections idle for `DURATION` (also bounds stalled bodies and the wait for upstream response headers)"},
			&cli.DurationFlag{Name: "socks-handshake-timeout", Value: proxy.DefaultSocksHandshakeTimeout, Usage: "limit (`DURATION`) for a SOCKS5 client's greeting and request"},
			&cli.IntFlag{Name: "max-header-bytes", Value: proxy.DefaultMaxHeaderBytes, Usage: "answer 431 to a request whose line and headers exceed `N` bytes"},
			&cli.IntFlag{Name: "max-conns", Usage: "at most `N` client connections open at once, HTTP and SOCKS5 together; at the cap the oldest idle keep-alive connection makes room (default: fitted to the descriptor limit, 6 per connection, at most 4096)"},
			dnsFlag(),
			&cli.DurationFlag{Name: "watch-interval", Value: time.Second, Usage: "check the policy files for changes every `DURATION` (0: only SIGHUP reloads)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "write log lines on stderr as `FORMAT`: text (time, level, message) or json (one object per line)"},
			reportOnlyFlag(),
			caDirFlag(),
		), telemetryFlags()...),
		Action: func(c *cli.Context) error { return runServe(c, e) },
	}
}

// server is one proxy run: `netpolicy serve`, or the proxy `netpolicy exec`
// starts for its command. Both go through the same steps — buildServer
// (sources, merge, compile, audit), listen, start, then stop — so exec runs
// the very proxy serve does.
type server struct {
	e    *env
	name string // the command, for message prefixes
	src  policySources
	log  func(format string, args ...any)
	// logger is what log writes through (--log-format); reloads log
	// with attributes (files, change).
	logger *slog.Logger
	stderr *syncio.Writer
	eff    *policy.Effective // the policy the run started with
	cur    *policy.Effective // the policy serving now (after reloads)
	// watch follows the policy files; its first sample is what eff was
	// read from, so a change made at any time after that is seen.
	watch  *watcher
	proxy  *proxy.Server
	audit  *proxy.AuditFile // nil unless --audit-log names a file
	listen struct{ http, socks string }

	hl, sl   net.Listener // sl is nil when SOCKS5 is off
	wg       sync.WaitGroup
	serveErr chan error
	cleanup  []func() // run by close, last first
	tel      telemetryRun
	// enableCA loads or creates the CA of interception, as at start, for
	// a reload that turns interception on (setupCA).
	enableCA func() error
}

// serverOpts are what serve and exec do differently when building the proxy.
type serverOpts struct {
	// quiet sends no audit events to stderr without --audit-log, and no
	// log lines at all: exec's terminal belongs to its command.
	quiet bool
	// memoryCA: without --ca-dir, interception uses a CA made for this run
	// and held in memory (exec), not the CA directory's.
	memoryCA bool
}

func runServe(c *cli.Context, e *env) error {
	if c.Args().Len() > 0 {
		return exitCode(exitUsage, "netpolicy serve: unexpected argument %q", c.Args().First())
	}
	s, err := buildServer(c, e, serverOpts{})
	if err != nil {
		return err
	}
	defer s.close()
	httpAddr, socksAddr, err := s.listeners(c, s.eff)
	if err != nil {
		return err
	}
	if err := s.bind(httpAddr, socksAddr); err != nil {
		return err
	}
	if err := s.bindMetrics(); err != nil {
		return err
	}
	s.start()
	s.startMetrics()
	if m := s.metricsAddr(); m != "" {
		s.log("listening http=%s socks=%s metrics=%s", s.listen.http, s.listen.socks, m)
	} else {
		s.log("listening http=%s socks=%s", s.listen.http, s.listen.socks)
	}
	s.logConnCap(c.Int("max-conns"))
	s.logReportOnly()
	if !s.eff.Enabled.Value {
		s.log("the network proxy is disabled (enabled = false): every request is answered 503 network proxy is disabled")
	}
	// Take SIGHUP before anyone can learn that serve is up: a supervisor
	// that signals right after the ready file must not kill it (the
	// default action of SIGHUP).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if p := c.String("ready-file"); p != "" {
		if err := writeReadyFile(p, s.hl, s.sl, s.metricsAddr()); err != nil {
			s.proxy.Close()
			s.wg.Wait()
			return exitCode(exitUsage, "netpolicy serve: --ready-file: %v", err)
		}
	}

	code := s.loop(c.Context, s.eff, c.Duration("watch-interval"), hup, s.serveErr)
	s.stop(c.Duration("grace"))
	if code != exitOK {
		return exitCode(code, "")
	}
	s.log("stopped")
	return nil
}

// buildServer is the first step of a proxy run: it reads, lints, merges and
// compiles the policy sources of c's flags and builds the proxy with the
// flags' limits and audit log. Nothing listens yet. The caller must call
// close when done.
func buildServer(c *cli.Context, e *env, opts serverOpts) (_ *server, err error) {
	name := c.Command.Name
	for _, f := range []string{"max-conns", "max-header-bytes"} {
		if n := c.Int(f); n < 0 {
			return nil, exitCode(exitUsage, "netpolicy %s: --%s %d: must not be negative (0: the default)", name, f, n)
		}
	}
	src, err := sourcesFromFlags(c, e)
	if err != nil {
		return nil, err
	}
	stderr := &syncio.Writer{W: e.stderr}
	s := &server{e: e, name: name, src: src, stderr: stderr, serveErr: make(chan error, 2)}
	logger, err := newServeLogger(stderr, c.String("log-format"), name)
	if err != nil {
		return nil, exitCode(exitUsage, "netpolicy %s: %v", name, err)
	}
	var logOut io.Writer = stderr
	if opts.quiet {
		logger = slog.New(slog.DiscardHandler)
		logOut = io.Discard
	}
	s.logger = logger
	s.log = func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// The policy is read from the watcher's first sample: a file changed
	// after this (even before the ready file is written) differs from
	// what is loaded, and the loop reloads it.
	s.watch = newWatcher(nil, src.RequirementsPath, src.ConfigPath)
	l, err := src.loadFiles(s.watch.take())
	if err != nil {
		return nil, exitCode(exitUsage, "netpolicy %s: %s", name, withMigrateHint(err))
	}
	eff, diags := l.eff, l.diags
	s.eff, s.cur = eff, eff
	// Say which files and profile are in effect, and why.
	rep := src.report(l)
	logger.Info("policy sources", "requirements", rep.Requirements.String(), "config", rep.Config.String(),
		"profile", rep.Profile, "mode", rep.Mode)
	s.showWarnings(diags)
	compiled, err := policy.Compile(eff)
	if err != nil {
		return nil, exitCode(exitUsage, "netpolicy %s: %v", name, err)
	}

	// net/http's transport reports some upstream oddities through the
	// standard logger; give those lines the command's prefix and stderr too.
	restore := func(w io.Writer, flags int, prefix string) func() {
		return func() {
			log.SetOutput(w)
			log.SetFlags(flags)
			log.SetPrefix(prefix)
		}
	}(log.Writer(), log.Flags(), log.Prefix())
	s.cleanup = append(s.cleanup, restore)
	log.SetOutput(logOut)
	log.SetFlags(0)
	log.SetPrefix("netpolicy " + name + ": ")

	var audit io.Writer
	if !opts.quiet {
		audit = stderr
	}
	switch p := c.String("audit-log"); p {
	case "":
	case "-":
		audit = &syncio.Writer{W: e.stdout}
	default:
		f, err := proxy.OpenAuditFile(p)
		if err != nil {
			return nil, exitCode(exitUsage, "netpolicy %s: --audit-log: %v", name, err)
		}
		s.cleanup = append(s.cleanup, func() { f.Close() })
		s.audit, audit = f, f
	}

	// Raise the soft descriptor limit to the hard one before the
	// connection cap is fitted to it.
	if _, err := proxy.RaiseFileLimit(); err != nil {
		s.log("raising the descriptor limit: %v", err)
	}
	s.proxy = &proxy.Server{
		Audit:                 audit,
		Logf:                  s.log,
		ReadHeaderTimeout:     c.Duration("read-header-timeout"),
		DialTimeout:           c.Duration("dial-timeout"),
		IdleTimeout:           c.Duration("idle-timeout"),
		SocksHandshakeTimeout: c.Duration("socks-handshake-timeout"),
		MaxConns:              c.Int("max-conns"),
		MaxHeaderBytes:        c.Int("max-header-bytes"),
		Upstream:              upstreamFromEnv(e),
		ReportOnly:            c.Bool("report-only"),
	}
	if err := s.setupTelemetry(c); err != nil {
		return nil, err
	}
	if s.proxy.Resolver, err = newResolver(c, e, s.dnsObserver()); err != nil {
		return nil, exitCode(exitUsage, "netpolicy %s: %v", name, err)
	}
	if err := s.setupCA(c, compiled, opts.memoryCA); err != nil {
		return nil, err
	}
	s.proxy.SetPolicy(compiled)
	return s, nil
}

// logConnCap says at start how many client connections serve admits at
// once, and why that many (POLICY §5).
func (s *server) logConnCap(flag int) {
	n := s.proxy.ConnCap()
	if flag > 0 {
		s.log("connection cap %d (--max-conns)", n)
		return
	}
	if _, limit := proxy.FitConnCap(); limit > 0 {
		s.log("connection cap %d (fitted to the descriptor limit %d)", n, limit)
		return
	}
	s.log("connection cap %d", n)
}

// bind opens the listeners (socksAddr "" means SOCKS5 off).
func (s *server) bind(httpAddr, socksAddr string) error {
	hl, err := proxy.Listen(httpAddr)
	if err != nil {
		return exitCode(exitUsage, "netpolicy %s: HTTP listener: %v", s.name, err)
	}
	var sl net.Listener
	if socksAddr != "" {
		if sl, err = proxy.Listen(socksAddr); err != nil {
			hl.Close()
			return exitCode(exitUsage, "netpolicy %s: SOCKS5 listener: %v", s.name, err)
		}
	}
	s.hl, s.sl = hl, sl
	if err := s.refuseUpstreamLoop(); err != nil {
		s.hl, s.sl = nil, nil
		hl.Close()
		if sl != nil {
			sl.Close()
		}
		return err
	}
	s.listen.http, s.listen.socks = hl.Addr().String(), "off"
	if sl != nil {
		s.listen.socks = sl.Addr().String()
	}
	return nil
}

// refuseUpstreamLoop registers the bound listeners as the proxy's own and,
// when the policy lets requests go through an upstream proxy, refuses one
// that is this proxy itself (POLICY §5): every request would come back in.
func (s *server) refuseUpstreamLoop() error {
	for _, l := range []net.Listener{s.hl, s.sl} {
		if l != nil {
			if err := s.proxy.AddOwnListener(l.Addr().String()); err != nil {
				return exitCode(exitUsage, "netpolicy %s: %v", s.name, err)
			}
		}
	}
	if !s.eff.AllowUpstreamProxy.Value {
		return nil
	}
	for _, name := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		v := s.e.getenv(name)
		if v == "" {
			continue
		}
		raw := v
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue // the proxy function reports it on use
		}
		loops, err := s.proxy.UpstreamLoops(context.Background(), u)
		if err != nil {
			s.log("upstream proxy %s=%s: %v", name, v, err)
			continue
		}
		if loops {
			return exitCode(exitUsage, "netpolicy %s: upstream proxy %s=%s is this proxy's own listener: every request would loop back into it", s.name, name, v)
		}
	}
	return nil
}

// start serves the bound listeners in the background; a listener that
// fails is reported on s.serveErr.
func (s *server) start() {
	run := func(f func(net.Listener) error, l net.Listener) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(l); err != nil && !errors.Is(err, proxy.ErrServerClosed) {
				s.serveErr <- err
			}
		}()
	}
	run(s.proxy.Serve, s.hl)
	if s.sl != nil {
		run(s.proxy.ServeSOCKS, s.sl)
	}
}

// stop stops accepting, lets open requests finish for up to grace, then
// closes what is still open and waits for the listeners' goroutines.
func (s *server) stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.proxy.Shutdown(ctx); err != nil {
		s.log("grace period of %v over: closed the connections still open", grace)
	}
	s.wg.Wait()
	s.stopTelemetry(ctx)
}

// close releases what buildServer set up (the audit file, the standard
// logger's output).
func (s *server) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
	s.cleanup = nil
}

// loop waits for a stop signal, reloading on SIGHUP and on file changes. It
// returns the exit code.
func (s *server) loop(ctx context.Context, eff *policy.Effective, every time.Duration, hup <-chan os.Signal, serveErr <-chan error) int {
	// main cancels ctx on SIGINT/SIGTERM; listening here as well keeps the
	// same behaviour when run() is called some other way.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Every reload, on SIGHUP or on a change, waits until the files have
	// been stable for the settle time and reads what was seen then
	// (POLICY §5.2). While they are not, a timer polls again.
	w := s.watch
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var settleC <-chan time.Time
	hupPending := false
	for {
		select {
		case <-ctx.Done():
			s.log("stopping: no new connections; open requests have up to the grace period")
			return exitOK
		case err := <-serveErr:
			s.log("listener failed: %v", err)
			return exitUsage
		case <-hup:
			hupPending = true
		case <-tick:
		case <-settleC:
			settleC = nil
		}
		settled, changed, wait := w.poll()
		switch {
		case !settled:
			if settleC == nil {
				settle.Reset(wait)
				settleC = settle.C
			}
		case hupPending:
			hupPending = false
			files := w.changedPaths()
			s.reload(eff, "SIGHUP", files, w.take())
			// Reopen after the reload: a rotated log reappearing tells
			// whoever sent the signal that it has been handled.
			if s.audit != nil {
				if err := s.audit.Reopen(); err != nil {
					s.log("reopening the audit log: %v", err)
				}
			}
		case changed:
			files := w.changedPaths()
			s.reload(eff, "policy file changed", files, w.take())
		}
	}
}

// reload re-reads, lints and merges the sources and swaps the compiled
// policy in; on any failure the previous policy keeps serving. first is
// the policy serve started with, whose listeners are the ones in use.
func (s *server) reload(first *policy.Effective, why string, files []string, read func(string) ([]byte, error)) {
	changed := strings.Join(files, ",")
	if changed == "" {
		changed = "none"
	}
	eff, diags, err := s.src.loadWith(read)
	if err == nil {
		var c *policy.Compiled
		if c, err = policy.Compile(eff); err == nil && c.Intercepts() && s.proxy.InterceptCA() == nil {
			// Interception is turned on: its CA is loaded (or made) now,
			// with the checks of a start; a CA that cannot be used
			// refuses the reload.
			err = s.enableCA()
		}
		if err == nil {
			s.showWarnings(diags)
			s.proxy.SetPolicy(c)
			s.reloaded(eff, true)
			s.logger.Info(fmt.Sprintf("reloaded the policy (%s)", why), "files", changed, "change", policyChange(s.cur, eff))
			s.cur = eff
			if eff.HTTPAddr.Value != first.HTTPAddr.Value || eff.SocksAddr.Value != first.SocksAddr.Value {
				s.log("listener settings changed (http=%s socks=%s): they take effect at the next start", eff.HTTPAddr.Value, orOff(eff.SocksAddr.Value))
			}
			if eff.Enabled.Value != first.Enabled.Value && !eff.Enabled.Value {
				s.log("the network proxy is now disabled (enabled = false)")
			}
			return
		}
	}
	s.reloaded(nil, false)
	s.logger.Warn(fmt.Sprintf("reload failed (%s), keeping the previous policy: %s", why, withMigrateHint(err)), "files", changed)
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func (s *server) showWarnings(diags []lint.Diagnostic) {
	for _, d := range diags {
		if d.Severity() == lint.SevWarning {
			s.log("%s", d.String())
		}
	}
}

// listeners picks the listener addresses: the flags, else the policy's
// computed addresses. A flag's address is clamped like the policy's
// (POLICY §5). socks is "" when SOCKS5 is off.
func (s *server) listeners(c *cli.Context, eff *policy.Effective) (httpAddr, socksAddr string, err error) {
	httpAddr = eff.HTTPAddr.Value
	if eff.HTTPAddr.Forced && eff.HTTPAddr.Note != "" {
		s.log("http listener: %s", eff.HTTPAddr.Note)
	}
	if c.IsSet("http") {
		if httpAddr, err = s.clampFlag("--http", c.String("http"), eff); err != nil {
			return "", "", err
		}
	}
	switch {
	case c.Bool("no-socks"):
	case c.IsSet("socks"):
		if socksAddr, err = s.clampFlag("--socks", c.String("socks"), eff); err != nil {
			return "", "", err
		}
	default:
		socksAddr = eff.SocksAddr.Value // "" when enable_socks5 = false
		if eff.SocksAddr.Forced && eff.SocksAddr.Note != "" {
			s.log("socks listener: %s", eff.SocksAddr.Note)
		}
	}
	return httpAddr, socksAddr, nil
}

// clampFlag validates a listener flag and moves a non-loopback host to
// 127.0.0.1 unless the policy permits it.
func (s *server) clampFlag(name, addr string, eff *policy.Effective) (string, error) {
	out, note, err := merge.ClampListener(addr, eff)
	if err != nil {
		return "", exitCode(exitUsage, "netpolicy serve: %s %q: %v", name, addr, err)
	}
	if note != "" {
		s.log("%s %s: %s", name, addr, note)
	}
	return out, nil
}

// writeReadyFile writes the listener addresses atomically (a temporary file
// in the same directory, then rename), so a reader never sees half of it.
// metrics, when not "", is the metrics listener's address.
func writeReadyFile(path string, hl, sl net.Listener, metrics string) error {
	ready := struct {
		HTTP    string  `json:"http"`
		SOCKS   *string `json:"socks"`
		Metrics string  `json:"metrics,omitempty"`
	}{HTTP: hl.Addr().String(), Metrics: metrics}
	if sl != nil {
		a := sl.Addr().String()
		ready.SOCKS = &a
	}
	b, err := json.Marshal(ready)
	if err != nil {
		return err
	}
	return atomicfile.ReplaceFile(path, append(b, '\n'), 0o600)
}

// upstreamFromEnv is the upstream proxy of allow_upstream_proxy (POLICY
// §4.2): HTTP_PROXY / HTTPS_PROXY (and NO_PROXY) of serve's environment;
// nil when neither is set.
func upstreamFromEnv(e *env) func(*url.URL) (*url.URL, error) {
	get := func(names ...string) string {
		for _, n := range names {
			if v := e.getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	cfg := httpproxy.Config{
		HTTPProxy:  get("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: get("HTTPS_PROXY", "https_proxy"),
		NoProxy:    get("NO_PROXY", "no_proxy"),
	}
	if cfg.HTTPProxy == "" && cfg.HTTPSProxy == "" {
		return nil
	}
	return cfg.ProxyFunc()
}

// reportOnlyFlag is --report-only of serve (and exec).
func reportOnlyFlag() cli.Flag {
	return &cli.BoolFlag{Name: "report-only", Usage: "let through what only the user's policy blocks, auditing it with network.policy.enforced = false (managed rules and the proxy's guards stay enforced)"}
}

// logReportOnly says at start, in one line, that the proxy does not enforce
// the user's policy.
func (s *server) logReportOnly() {
	if s.proxy.ReportOnly {
		s.log("report-only: blocks of the user's policy are audited with network.policy.enforced = false and let through; managed rules, local addresses and the proxy's guards stay enforced")
	}
}

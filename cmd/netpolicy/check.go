package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/internal/tomldoc"
	"github.com/netpolicy/netpolicy/policy"
)

// checkCommand is the `netpolicy check` command.
func checkCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "say what the proxy would decide for hosts, URLs or unix sockets",
		ArgsUsage: "TARGET...",
		Description: "Check takes, for each TARGET, the decision the proxy would take on the\n" +
			"effective policy (the same code decides both): allow, deny or ask, the\n" +
			"reason, the x-proxy-error value and the rule (file:line) that decided.\n\n" +
			"TARGET is host, host:port, a URL (http://, https://, socks5://) or an\n" +
			"absolute unix socket path (an x-unix-socket request). The protocol comes\n" +
			"from --protocol, else the URL scheme (https = https_connect), else http;\n" +
			"the port defaults to 443 for https_connect and 80 otherwise. An allowed\n" +
			"name is looked up in DNS exactly as the proxy would, unless --no-resolve.\n\n" +
			"In JSON, host and port are null for a unix socket target, and method is\n" +
			"\"CONNECT\" for https_connect and null for socks5_tcp.\n\n" +
			"Exit status: 0 when every target is allowed, 1 when any is not, 2 when a\n" +
			"target cannot be parsed or the policy sources are refused.",
		Flags: append(sourceFlags(),
			&cli.StringFlag{Name: "method", Usage: "HTTP `METHOD` of a plain http request (matters in limited mode; default GET)"},
			&cli.StringFlag{Name: "protocol", Usage: "request protocol `PROTO`: http, https_connect or socks5_tcp (default: from the URL scheme, else http)"},
			&cli.BoolFlag{Name: "upgrade", Usage: "ask about a plain http request for a protocol Upgrade such as WebSocket (refused in limited mode)"},
			&cli.BoolFlag{Name: "no-resolve", Usage: "skip the DNS check of allowed names (step 5 of the decision, docs/policy.md)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say on stderr which policy files were read, which profile was selected and why (always on a terminal)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
			dnsFlag(),
		),
		Action: func(c *cli.Context) error { return runCheck(c, e) },
	}
}

// checkTarget is one parsed TARGET.
type checkTarget struct {
	Raw      string
	Host     string // as written, without brackets; "" for a socket
	Port     int
	Protocol policy.Protocol
	Socket   string // absolute path for a unix socket target
	// Upgrade asks about a request for a protocol Upgrade (--upgrade).
	Upgrade bool
}

// parseProtocol reads a --protocol value.
func parseProtocol(s string) (policy.Protocol, bool) {
	switch p := policy.Protocol(s); p {
	case policy.ProtoHTTP, policy.ProtoHTTPSConnect, policy.ProtoSOCKS5TCP:
		return p, true
	}
	return "", false
}

// parseTarget reads one TARGET. proto is the --protocol value, "" if unset.
func parseTarget(raw string, proto policy.Protocol) (checkTarget, error) {
	t := checkTarget{Raw: raw, Protocol: proto}
	if strings.TrimSpace(raw) == "" {
		return t, errors.New("empty target")
	}
	if strings.HasPrefix(raw, "/") {
		if !policy.ValidSocketPath(raw) {
			return t, errors.New("socket path contains NUL")
		}
		// Socket requests are plain HTTP with x-unix-socket (POLICY §5).
		t.Socket, t.Protocol = raw, policy.ProtoHTTP
		return t, nil
	}
	authority := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		u, err := url.Parse(raw)
		if err != nil {
			return t, err
		}
		var p policy.Protocol
		switch strings.ToLower(u.Scheme) {
		case "http":
			p = policy.ProtoHTTP
		case "https":
			p = policy.ProtoHTTPSConnect
		case "socks5", "socks5h":
			p = policy.ProtoSOCKS5TCP
		default:
			return t, fmt.Errorf("unsupported URL scheme %q (want http, https or socks5)", u.Scheme)
		}
		if t.Protocol == "" {
			t.Protocol = p
		}
		authority = u.Host
	} else if strings.ContainsAny(raw, "/?#@ \t") {
		return t, errors.New("not a host, host:port, URL or absolute socket path")
	}
	if t.Protocol == "" {
		t.Protocol = policy.ProtoHTTP
	}
	defPort := 80
	if t.Protocol == policy.ProtoHTTPSConnect {
		defPort = 443
	}
	host, port, err := policy.ParseTarget(authority, defPort)
	switch {
	case errors.Is(err, policy.ErrMissingHost) && host == "":
		return t, errors.New("no host")
	case errors.Is(err, policy.ErrMissingHost), errors.Is(err, policy.ErrInvalidHost):
		// The proxy answers such a request 400 invalid host.
		return t, fmt.Errorf("invalid host %q: want an IP address or an ASCII DNS name (punycode for IDN)", host)
	case err != nil:
		return t, err
	}
	t.Host, t.Port = host, port
	return t, nil
}

// checkResult is one line of `check --format json`.
type checkResult struct {
	Target     string    `json:"target"`
	Host       *string   `json:"host"`
	Port       *int      `json:"port"`
	Protocol   string    `json:"protocol"`
	Method     *string   `json:"method"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason"`
	Source     string    `json:"source"`
	ProxyError *string   `json:"proxyError"`
	Rule       *ruleJSON `json:"rule"`
	Resolved   bool      `json:"resolved"`
	Detail     *string   `json:"detail"`
	// Intercept: an allowed HTTPS target would be intercepted (POLICY §6).
	Intercept bool `json:"intercept"`
	decision  policy.Decision
	target    checkTarget
}

type ruleJSON struct {
	Pattern    string `json:"pattern"`
	Permission string `json:"permission"`
	File       string `json:"file"`
	Line       int    `json:"line"`
	Origin     string `json:"origin"`
}

func runCheck(c *cli.Context, e *env) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return exitCode(exitUsage, "netpolicy check: invalid --format %q: want text or json", format)
	}
	var proto policy.Protocol
	if c.IsSet("protocol") {
		p, ok := parseProtocol(c.String("protocol"))
		if !ok {
			return exitCode(exitUsage, "netpolicy check: invalid --protocol %q: want http, https_connect or socks5_tcp", c.String("protocol"))
		}
		proto = p
	}
	if c.Args().Len() == 0 {
		return exitCode(exitUsage, "netpolicy check: no TARGET given (host, host:port, URL or absolute socket path)")
	}
	src, err := sourcesFromFlags(c, e)
	if err != nil {
		return err
	}
	eff, rep, err := src.loadReported(c, e)
	if err != nil {
		return err
	}
	if c.Bool("verbose") || isTerminal(e.stderr) {
		// Which files and profile answered, for the person reading.
		rep.write(e.stderr, "check")
	}
	compiled, err := policy.Compile(eff)
	if err != nil {
		return exitCode(exitUsage, "netpolicy check: %v", err)
	}
	resolver, err := newResolver(c, e, nil) // the proxy's resolver
	if err != nil {
		return exitCode(exitUsage, "netpolicy check: %v", err)
	}
	method := strings.ToUpper(c.String("method"))
	noResolve := c.Bool("no-resolve")
	if noResolve {
		fmt.Fprintln(e.stderr, "netpolicy check: --no-resolve: DNS answers of allowed names were not checked (step 5 of the decision skipped; see docs/policy.md#decisions)")
	}

	code := exitOK
	for _, raw := range c.Args().Slice() {
		t, err := parseTarget(raw, proto)
		if err != nil {
			fmt.Fprintf(e.stderr, "netpolicy check: %s: cannot parse target: %v\n", raw, err)
			code = exitUsage
			continue
		}
		t.Upgrade = c.Bool("upgrade")
		res := decideTarget(c.Context, compiled, t, method, noResolve, resolver)
		if format == "json" {
			b, err := json.Marshal(res)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		} else {
			writeCheckText(e.stdout, res)
		}
		if !res.decision.Allowed() && code == exitOK {
			code = exitFindings
		}
	}
	if code != exitOK {
		return exitCode(code, "")
	}
	return nil
}

// decideTarget asks the compiled policy — the proxy's own decision code —
// about one target.
func decideTarget(ctx context.Context, c *policy.Compiled, t checkTarget, method string, noResolve bool, r policy.Resolver) checkResult {
	req := policy.Request{Host: t.Host, Port: t.Port, Protocol: t.Protocol, NoResolve: noResolve, Upgrade: t.Upgrade}
	var m *string
	switch {
	case t.Socket != "":
		req.Host, req.UnixSocket = "localhost", t.Socket
		fallthrough
	case t.Protocol == policy.ProtoHTTP:
		req.Method = method
		if req.Method == "" {
			req.Method = "GET"
		}
		m = &req.Method
	case t.Protocol == policy.ProtoHTTPSConnect:
		connect := "CONNECT"
		m = &connect
	}
	d := c.Decide(ctx, req, r)
	res := checkResult{
		Target:    t.Raw,
		Protocol:  string(t.Protocol),
		Method:    m,
		Decision:  string(d.Verdict),
		Reason:    string(d.Reason),
		Source:    string(d.Source),
		Resolved:  d.Resolved,
		Intercept: d.Intercept,
		decision:  d,
		target:    t,
	}
	if t.Socket == "" {
		host, port := d.Host, t.Port
		if host == "" {
			host = t.Host
		}
		res.Host, res.Port = &host, &port
	}
	if !d.Allowed() {
		pe := d.Reason.ProxyError()
		res.ProxyError = &pe
	}
	if d.Detail != "" {
		detail := d.Detail
		res.Detail = &detail
	}
	switch {
	case d.Rule != nil:
		res.Rule = &ruleJSON{Pattern: d.Rule.Pattern, Permission: d.Rule.Perm.String(), File: d.Rule.Source.File, Line: d.Rule.Source.Line, Origin: d.Rule.Source.Origin.String()}
	case d.Socket != nil:
		res.Rule = &ruleJSON{Pattern: d.Socket.Path, Permission: d.Socket.Perm.String(), File: d.Socket.Source.File, Line: d.Socket.Source.Line, Origin: d.Socket.Source.Origin.String()}
	}
	return res
}

// writeCheckText writes one line in the CLI.md form:
//
//	host:port: deny reason=denied x-proxy-error=blocked-by-denylist rule="p" (file:line, managed)
//
// followed by detail="…" when the decision says what happened (a failed or
// private DNS answer).
func writeCheckText(w io.Writer, r checkResult) {
	var sb strings.Builder
	if r.Host != nil {
		sb.WriteString(net.JoinHostPort(*r.Host, strconv.Itoa(*r.Port)))
	} else {
		sb.WriteString(r.Target)
	}
	fmt.Fprintf(&sb, ": %s reason=%s", r.Decision, r.Reason)
	if r.ProxyError != nil {
		sb.WriteString(" x-proxy-error=" + *r.ProxyError)
	}
	if r.Rule != nil {
		fmt.Fprintf(&sb, " rule=%s (%s:%d, %s)", tomldoc.QuoteString(r.Rule.Pattern), r.Rule.File, r.Rule.Line, r.Rule.Origin)
	}
	if r.Detail != nil {
		sb.WriteString(" detail=" + tomldoc.QuoteString(*r.Detail))
	}
	if r.Intercept {
		sb.WriteString(" intercept")
	}
	sb.WriteByte('\n')
	io.WriteString(w, sb.String())
}

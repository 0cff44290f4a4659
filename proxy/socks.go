package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/netip"
	"time"

	socks5 "github.com/armon/go-socks5"

	"github.com/netpolicy/netpolicy/policy"
)

// How SOCKS5 uses armon/go-socks5, and why like this.
//
// The library speaks the protocol: greeting and method choice (no auth),
// the request, and every reply code — 0x02 when the rule set refuses, 0x07
// for BIND and UDP ASSOCIATE, 0x04/0x05 when the dial fails. Three hooks put
// the policy in:
//
//   - Resolver: passes names through unresolved. The library resolves a
//     domain before it asks the rule set; resolving there would leak a DNS
//     query for a denied name and open a rebinding window.
//   - RuleSet: the decision (policy.Decide on the requested name, so only
//     an allowed name is ever resolved) and its audit event. The decision
//     rides on the context to the dial.
//   - Dial: connects to the checked addresses of that decision, never to
//     the name the library hands it.
//
// The library sets no deadlines and relays with plain io.Copy, which has no
// idle timeout. Handed the raw conns, that io.Copy does splice (for the
// client side, its bufio.Reader's WriteTo hands over to the TCPConn), but
// an idle tunnel then lives forever; handed any wrapper that adds
// deadlines, it hides *net.TCPConn and copies every byte through user space
// (BenchmarkSOCKSTunnel/armon-wrapped-conn: more CPU per MB, and strace
// shows read/write pairs instead of splice). So the conns handed to it are
// thin types that implement io.WriterTo: its io.Copy calls land in
// tunnel.pipe on the raw TCP conns, which splices and keeps the idle
// deadlines, exactly as for CONNECT (BenchmarkSOCKSTunnel/netpolicy runs
// level with armon-bare). For
// that hand-over to lose nothing, the library must never buffer bytes ahead:
// socksClient.Read returns one byte per call from our own small buffer, and
// whatever that buffer holds past the request is written to the target
// first. Handshake deadlines are set on the raw conn before the library
// starts.

// socksPlanKey carries an allowed decision's dial plan from the rule set to
// the dial hook.
type socksPlanKey struct{}

// serveSOCKSConn serves one SOCKS5 client.
func (s *Server) serveSOCKSConn(raw net.Conn) {
	if !s.track(raw) {
		raw.Close()
		return
	}
	defer s.untrack(raw)
	defer raw.Close()
	pol := s.Policy() // read once: this connection is served under it
	if pol == nil {
		return
	}
	_ = raw.SetDeadline(time.Now().Add(s.handshakeTimeout()))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.observeConn(policy.ProtoSOCKS5TCP)
	defer s.observeClose(policy.ProtoSOCKS5TCP)
	t := s.newTunnel(policy.ProtoSOCKS5TCP)
	client := &socksClient{raw: raw, br: bufio.NewReaderSize(raw, 512), t: t}
	conf := &socks5.Config{
		Resolver: passThroughResolver{},
		Rules:    &socksRules{s: s, pol: pol, ctx: ctx, client: raw.RemoteAddr().String(), t: t},
		Dial: func(dctx context.Context, _, _ string) (net.Conn, error) {
			if ic, _ := dctx.Value(socksInterceptKey{}).(*interceptedConn); ic != nil {
				// Intercepted (POLICY §6): nothing is dialled now; the
				// library's relay hands the client conn over (WriteTo).
				done := make(chan struct{})
				ic.onClose = func() { close(done) }
				return &socksTarget{t: t, done: done, intercept: func(c net.Conn, pending []byte) {
					ic.Conn, ic.pending = c, pending
					s.intercept(ic, pol, "")
					<-done
				}}, nil
			}
			p, _ := dctx.Value(socksPlanKey{}).(*dialPlan)
			if p == nil {
				return nil, errNoPlan
			}
			up, err := s.dialTunnel(ctx, p)
			if err != nil {
				s.logf("socks5: upstream failure: %v", err)
				return nil, err
			}
			t.awaitAnswer(raw, up, s.handshakeTimeout())
			return &socksTarget{raw: up, t: t}, nil
		},
		Logger: log.New(io.Discard, "", 0),
	}
	srv, err := socks5.New(conf)
	if err != nil {
		s.logf("socks5: %v", err)
		return
	}
	_ = srv.ServeConn(client)
}

// passThroughResolver leaves names unresolved: the decision resolves
// allowed names itself, once.
type passThroughResolver struct{}

func (passThroughResolver) Resolve(ctx context.Context, _ string) (context.Context, net.IP, error) {
	return ctx, nil, nil
}

// socksRules decides CONNECT requests. BIND and UDP ASSOCIATE pass the rule
// set so that the library answers them 0x07 (command not supported), the
// truthful answer, instead of 0x02.
type socksRules struct {
	s      *Server
	pol    *policy.Compiled
	ctx    context.Context
	client string
	t      *tunnel // the connection's tunnel, which gets the SNI gate
}

// socksInterceptKey carries the tunnel to intercept from the rule set to
// the dial hook.
type socksInterceptKey struct{}

func (r *socksRules) Allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	if req.Command != socks5.ConnectCommand {
		return ctx, true
	}
	dst := req.DestAddr
	if dst == nil || !policy.ValidPort(dst.Port) {
		return ctx, false
	}
	host := dst.FQDN
	if host != "" && !policy.ValidHost(policy.NormalizeHost(host)) {
		return ctx, false // see policy.ValidHost; no decision is made
	}
	if host == "" {
		a, ok := netip.AddrFromSlice(dst.IP)
		if !ok {
			return ctx, false
		}
		host = a.String()
	}
	preq := policy.Request{Host: host, Port: dst.Port, Protocol: policy.ProtoSOCKS5TCP}
	d := r.s.decide(r.ctx, r.pol, preq)
	r.s.audit(d, preq, "", r.client)
	if !d.Allowed() {
		return ctx, false
	}
	p, err := r.s.plan(r.pol, d.Decision, dst.Port, "https")
	if err != nil {
		r.s.logf("socks5: %v", err)
		return ctx, false
	}
	if d.Intercept {
		if r.s.InterceptCA() == nil {
			r.s.logf("interception: no CA for %s", d.Host)
			return ctx, false
		}
		ic := &interceptedConn{host: d.Host, port: dst.Port, protocol: policy.ProtoSOCKS5TCP, plan: p, client: r.client, approved: d.Override}
		return context.WithValue(ctx, socksInterceptKey{}, ic), true
	}
	r.t.gate = r.s.sniGate(r.pol, approved(preq, d.Decision), "", r.client)
	return context.WithValue(ctx, socksPlanKey{}, p), true
}

// socksClient is the client conn as the library sees it.
type socksClient struct {
	raw net.Conn
	br  *bufio.Reader
	t   *tunnel
}

// Read gives the library one byte per call, so its own bufio.Reader never
// holds bytes past the request (see the comment at the top of this file).
func (c *socksClient) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return c.br.Read(p)
}

// WriteTo is the client→target direction of the tunnel.
func (c *socksClient) WriteTo(w io.Writer) (int64, error) {
	dst, ok := w.(*socksTarget)
	if !ok {
		return 0, errors.New("socks5: unexpected relay destination")
	}
	// A client may send its first bytes without waiting for the reply.
	pending := drain(c.br)
	c.br = nil
	if dst.intercept != nil {
		dst.intercept(c.raw, pending)
		return 0, nil
	}
	if c.t.gate != nil {
		var ok bool
		if pending, ok = c.t.gate(c.t, c.raw, pending); !ok {
			c.raw.Close()
			dst.raw.Close()
			return 0, errGateRefused
		}
	}
	if err := c.t.writeAll(dst.raw, pending, true); err != nil {
		return 0, err
	}
	return c.t.pipe(dst.raw, c.raw, true)
}

func (c *socksClient) Write(p []byte) (int, error)        { return c.raw.Write(p) }
func (c *socksClient) Close() error                       { return c.raw.Close() }
func (c *socksClient) CloseWrite() error                  { closeWrite(c.raw); return nil }
func (c *socksClient) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *socksClient) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *socksClient) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *socksClient) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *socksClient) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// errGateRefused ends a SOCKS5 relay whose first bytes the SNI check
// refused.
var errGateRefused = errors.New("socks5: tunnel refused on its first bytes")

// socksTarget is the upstream conn as the library sees it. For an
// intercepted tunnel raw is nil: intercept takes the client conn over, and
// done closes when interception is over.
type socksTarget struct {
	raw       net.Conn
	t         *tunnel
	intercept func(client net.Conn, pending []byte)
	done      chan struct{}
}

// WriteTo is the target→client direction of the tunnel.
func (c *socksTarget) WriteTo(w io.Writer) (int64, error) {
	dst, ok := w.(*socksClient)
	if !ok {
		return 0, errors.New("socks5: unexpected relay destination")
	}
	if c.done != nil {
		<-c.done
		return 0, nil
	}
	return c.t.pipe(dst.raw, c.raw, false)
}

// LocalAddr is a *net.TCPAddr always: the library type-asserts it for the
// bound address of its reply.
func (c *socksTarget) LocalAddr() net.Addr {
	if c.raw == nil {
		return &net.TCPAddr{IP: net.IPv4zero}
	}
	if a, ok := c.raw.LocalAddr().(*net.TCPAddr); ok {
		return a
	}
	return &net.TCPAddr{IP: net.IPv4zero}
}

func (c *socksTarget) Read(p []byte) (int, error)  { return c.raw.Read(p) }
func (c *socksTarget) Write(p []byte) (int, error) { return c.raw.Write(p) }
func (c *socksTarget) Close() error {
	if c.raw == nil {
		return nil
	}
	return c.raw.Close()
}
func (c *socksTarget) CloseWrite() error                  { closeWrite(c.raw); return nil }
func (c *socksTarget) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *socksTarget) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *socksTarget) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *socksTarget) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

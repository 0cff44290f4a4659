package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/tlsca"
)

// Defaults for the zero values of Server's limits.
const (
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultDialTimeout           = 10 * time.Second
	DefaultIdleTimeout           = 5 * time.Minute
	DefaultSocksHandshakeTimeout = 10 * time.Second
	DefaultMaxConns              = 4096
	// DefaultMaxHeaderBytes bounds a request's line and headers (POLICY
	// §5: 64 KiB; larger ⇒ 431).
	DefaultMaxHeaderBytes = 64 << 10
)

// ErrServerClosed is returned by Serve and ServeSOCKS after Shutdown or
// Close.
var ErrServerClosed = errors.New("proxy: server closed")

// Server is the HTTP and SOCKS5 proxy. Set its fields, call SetPolicy, then
// Serve (HTTP) and ServeSOCKS on listeners; do not change the fields after
// that. The zero value of every field has a sensible meaning, documented on
// the field. Server is also an http.Handler for the HTTP proxy protocol.
type Server struct {
	// Resolver answers the DNS lookups of Decide. If nil,
	// net.DefaultResolver.
	Resolver policy.Resolver
	// Dial connects to a checked address ("ip:port", network "tcp") and to
	// an upstream proxy. If nil, a net.Dialer is used.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialUnix connects to an allowed unix socket. path is the file the
	// decision checked: on Linux /proc/self/fd/N of the handle the proxy
	// opened (so it reaches that very inode), elsewhere the cleaned path.
	// If nil, a net.Dialer with network "unix" is used.
	DialUnix func(ctx context.Context, path string) (net.Conn, error)
	// Upstream returns the upstream proxy for a target URL ("http://host:port"
	// for plain HTTP, "https://host:port" for tunnels), or nil for none; it is
	// consulted only when the policy sets allow_upstream_proxy. If nil, there
	// is no upstream proxy and allow_upstream_proxy has no effect.
	Upstream func(target *url.URL) (*url.URL, error)
	// Audit receives one JSON line per decision (POLICY §5.1). If nil, no
	// audit events are written.
	Audit io.Writer
	// Events, if set, gets every audit event too (the OTLP export, POLICY
	// §9), independently of Audit. It must not block.
	Events func(AuditEvent)
	// Observer, if set, is told about decisions, connections and bytes
	// (the metrics, POLICY §9).
	Observer Observer
	// Logf logs operational messages (errors, not decisions). If nil,
	// log.Printf.
	Logf func(format string, args ...any)

	// ReadHeaderTimeout bounds reading a request's headers. If zero,
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// DialTimeout bounds each connection attempt to one address. If zero,
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// IdleTimeout closes tunnels and keep-alive connections on which
	// nothing moved for that long, and bounds stalled request bodies,
	// stalled response writes and the wait for upstream response headers.
	// If zero, DefaultIdleTimeout.
	IdleTimeout time.Duration
	// SocksHandshakeTimeout bounds a SOCKS5 client's greeting, request and
	// the reply to it, and the wait for a tunnel's upstream to send its
	// first byte once the client has sent something (CONNECT and SOCKS5):
	// a tunnel into something that never answers — a chain of proxies —
	// ends then, not after IdleTimeout. If zero,
	// DefaultSocksHandshakeTimeout.
	SocksHandshakeTimeout time.Duration
	// MaxConns caps the client connections open at once, HTTP and SOCKS5
	// together (a tunnel counts as its client connection). At the cap a
	// new client takes the slot of the oldest idle keep-alive HTTP
	// connection, which is closed; when none is idle, no new connection is
	// served until a slot frees. If zero, the default fitted to the
	// process's descriptor limit (FitConnCap).
	MaxConns int
	// MaxHeaderBytes bounds the request line and headers of a request;
	// a larger head is answered 431 Request Header Fields Too Large (plain
	// requests and CONNECT alike) and the connection closed. As with
	// net/http, up to 4 KiB of read-ahead may be taken on top. If zero,
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ReportOnly runs the proxy in report-only mode (POLICY §8): every
	// request is decided and audited as usual, with
	// network.policy.enforced, but what only the user's policy blocks is
	// let through (policy.Decision.NotEnforced).
	ReportOnly bool
	// Ask, if set, is called when a decision is ask (an allowlist miss the
	// user could allow, POLICY §8) and the proxy is not report-only: the
	// request waits for the answer. Concurrent requests for one host share
	// one call; a host answered AnswerSession or AnswerAlways is allowed
	// without asking until the Server is dropped. Ask must return (with
	// AnswerNo) when nobody answers in time. If nil, ask blocks as deny.
	Ask func(ctx context.Context, q Question) Answer

	askMu   sync.Mutex
	asking  map[string]*pendingAsk
	session map[string]bool

	// CA mints the certificates of intercepted tunnels (POLICY §6). If nil,
	// a tunnel the policy says to intercept is closed after its decision
	// (serve always sets one when the policy can intercept). Set it before
	// serving; SetCA gives one to a proxy that is serving already.
	CA  *tlsca.CA
	caP atomic.Pointer[tlsca.CA] // SetCA's, ahead of CA
	// UpstreamRoots verifies origins on intercepted connections. If nil,
	// the system roots without any netpolicy CA (tlsca.UpstreamPool).
	UpstreamRoots *x509.CertPool

	policy atomic.Pointer[policy.Compiled]
	own    ownAddrs
	// ownFn is s.isOwn, made once (init) rather than as a method value
	// per decision: policy.Request.Own of every request this proxy decides.
	ownFn func(netip.AddrPort) bool
	idle  idleConns
	// evictions counts idle keep-alive connections closed at the cap.
	evictions atomic.Int64

	mitmOnce sync.Once
	mitmP    atomic.Pointer[mitm] // set once interception is first used

	initOnce sync.Once
	hs       *http.Server
	slots    chan struct{}
	closed   chan struct{}
	closing  atomic.Bool
	auditMu  sync.Mutex

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	active    map[net.Conn]struct{} // hijacked tunnels and SOCKS5 conns
	killed    bool                  // Close ran: refuse new tunnels
	pins      map[net.Conn]*upSlot  // upstream slot of each HTTP client conn

	direct, viaUpstream, unix *http.Transport
	forward                   http.Handler
}

// SetPolicy makes c the policy for every request that starts from now on.
func (s *Server) SetPolicy(c *policy.Compiled) { s.policy.Store(c) }

// Policy returns the policy new requests are decided with.
func (s *Server) Policy() *policy.Compiled { return s.policy.Load() }

func (s *Server) init() {
	s.initOnce.Do(func() {
		n := s.MaxConns
		if n <= 0 {
			n, _ = FitConnCap()
		}
		s.slots = make(chan struct{}, n)
		s.idle.init()
		s.ownFn = s.isOwn
		s.closed = make(chan struct{})
		s.listeners = map[net.Listener]struct{}{}
		s.active = map[net.Conn]struct{}{}
		s.pins = map[net.Conn]*upSlot{}
		s.initTransports()
		s.forward = s.newForwarder()
		s.hs = &http.Server{
			Handler:           s,
			MaxHeaderBytes:    s.maxHeaderBytes(),
			ReadHeaderTimeout: s.readHeaderTimeout(),
			IdleTimeout:       s.idleTimeout(),
			ConnState:         s.connState,
			ConnContext:       s.connContext,
			// "OPTIONS *" has no target: the handler answers it 400
			// rather than net/http answering 200 with no decision.
			DisableGeneralOptionsHandler: true,
			ErrorLog:                     log.New(logfWriter{s}, "", 0),
		}
	})
}

func (s *Server) readHeaderTimeout() time.Duration {
	return orDefault(s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
}
func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes <= 0 {
		return DefaultMaxHeaderBytes
	}
	return s.MaxHeaderBytes
}
func (s *Server) dialTimeout() time.Duration { return orDefault(s.DialTimeout, DefaultDialTimeout) }
func (s *Server) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }
func (s *Server) handshakeTimeout() time.Duration {
	return orDefault(s.SocksHandshakeTimeout, DefaultSocksHandshakeTimeout)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// logfWriter adapts Logf for the *log.Logger that net/http wants.
type logfWriter struct{ s *Server }

func (w logfWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	w.s.logf("%s", msg)
	return len(p), nil
}

// Serve runs the HTTP proxy on l until Shutdown or Close, after which it
// returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.addOwn(l)
	err := s.hs.Serve(&limitListener{Listener: l, s: s})
	if errors.Is(err, http.ErrServerClosed) || s.closing.Load() {
		return ErrServerClosed
	}
	return err
}

// limitListener takes a connection slot before each Accept. It returns the
// listener's own conns, unwrapped: a wrapper type would hide
// *net.TCPConn from the tunnel code and lose splice.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.s.acquire() {
		c.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

// release gives a slot back. It never blocks, so that a hijacked conn from
// a listener this Server does not own (Server used as a plain
// http.Handler) cannot hang its tunnel's end.
func (s *Server) release() {
	select {
	case <-s.slots:
	default:
	}
}

// connState gives an HTTP connection's slot back when it closes. A
// hijacked connection keeps its slot: the tunnel that took it over gives it
// back.
//
// A connection that closes or is hijacked closes its pinned upstream
// connection (forwardPinned).
func (s *Server) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.observeConn(policy.ProtoHTTP)
	case http.StateIdle:
		s.idle.add(c)
	case http.StateActive:
		s.idle.remove(c)
	case http.StateClosed:
		s.idle.remove(c)
		s.observeClose(policy.ProtoHTTP)
		s.closeSlot(c)
		s.release()
	case http.StateHijacked:
		s.idle.remove(c)
		s.observeClose(policy.ProtoHTTP)
		s.closeSlot(c)
	}
}

// ServeSOCKS runs the SOCKS5 proxy on l until Shutdown or Close, after which
// it returns ErrServerClosed. It owns the accept loop (armon/go-socks5's
// Serve gives up on the first accept error) and serves each connection with
// deadlines.
func (s *Server) ServeSOCKS(l net.Listener) error {
	s.init()
	s.addOwn(l)
	if !s.trackListener(l) {
		return ErrServerClosed
	}
	defer s.untrackListener(l)
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf("socks5: accept: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.acquire() {
			c.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.release()
			s.serveSOCKSConn(c)
		}()
	}
}

func (s *Server) trackListener(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrackListener(l net.Listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
}

// track registers a connection the http.Server does not know about (a
// hijacked one, a SOCKS5 one) so Shutdown can wait for it and Close can end
// it. It returns false when the server is closing; the caller then closes c.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.killed {
		return false
	}
	s.active[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.active, c)
	s.mu.Unlock()
}

func (s *Server) activeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// Shutdown stops accepting, lets requests and tunnels in flight finish until
// ctx is done, then closes whatever is left. It returns ctx.Err() when it
// had to cut connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.beginClose()
	err := s.hs.Shutdown(ctx)
	if m := s.mitmP.Load(); m != nil && err == nil {
		m.close(ctx, true)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for err == nil && s.activeCount() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-tick.C:
		}
	}
	if err != nil {
		s.Close()
	}
	return err
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.init()
	s.beginClose()
	err := s.hs.Close()
	if m := s.mitmP.Load(); m != nil {
		m.close(context.Background(), false)
	}
	s.mu.Lock()
	s.killed = true
	for c := range s.active {
		c.Close()
	}
	s.mu.Unlock()
	s.direct.CloseIdleConnections()
	s.viaUpstream.CloseIdleConnections()
	return err
}

func (s *Server) beginClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Swap(true) {
		return
	}
	close(s.closed)
	for l := range s.listeners {
		l.Close()
	}
}

// decided is one decision with the time policy took over it (DNS
// included, a person's answer to an ask not). Only audit takes it apart for
// the metrics, so the audit log, netpolicy_decisions_total and
// netpolicy_decision_seconds count the same decisions.
type decided struct {
	policy.Decision
	took time.Duration
}

// decide is the one place the proxy asks for a host decision: the request
// carries the proxy's report-only choice, and Decide does the rest. An ask
// goes to the Ask hook; a yes decides the request again as approved, so
// the allow goes through every check an allowed host does.
func (s *Server) decide(ctx context.Context, pol *policy.Compiled, req policy.Request) decided {
	s.init()
	req.ReportOnly = s.ReportOnly
	req.Own = s.ownFn
	d := s.decideOnce(ctx, pol, req)
	if d.Verdict != policy.VerdictAsk || d.Layer != policy.OriginUser || s.Ask == nil || s.ReportOnly {
		return d
	}
	if !s.approve(ctx, Question{Host: d.Host, Port: req.Port, Protocol: req.Protocol}) {
		return d
	}
	req.Approved = true
	again := s.decideOnce(ctx, pol, req)
	again.took += d.took
	return again
}

func (s *Server) decideOnce(ctx context.Context, pol *policy.Compiled, req policy.Request) decided {
	if s.Observer == nil {
		return decided{Decision: pol.Decide(ctx, req, s.Resolver)}
	}
	start := time.Now()
	d := pol.Decide(ctx, req, s.Resolver)
	return decided{Decision: d, took: time.Since(start)}
}

// decideSocket is DecideSocket for a unix-socket request, audited as the
// proxy's report-only choice says (sockets stay enforced).
func (s *Server) decideSocket(pol *policy.Compiled, req policy.Request) decided {
	start := time.Now()
	d := pol.DecideSocket(req)
	d.ReportOnly = s.ReportOnly
	return decided{Decision: d, took: time.Since(start)}
}

package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/tlsca"
)

// HTTPS interception (POLICY §6), in limited mode with mitm = true.
//
// An allowed CONNECT (or SOCKS5 CONNECT) is answered, and its first client
// bytes are read with the same ClientHello parser as the SNI check of
// opaque tunnels. Decide sees them: bytes that are not TLS are
// mitm_required, a server name other than the CONNECT host is
// host_mismatch; both close the tunnel before any TLS. A ClientHello is
// then answered as a TLS server with a leaf the local CA mints for the
// CONNECT host, and the decrypted connection is served: HTTP/1.1 (ALPN
// http/1.1 or none) by the proxy's own request loop over net/http's
// request parser (serveH1, interceptloop.go), h2 by one http.Server shared
// by the h2 tunnels (x/net/http2 — no hand-written framing). The handler
// of both decides every request
// again through Decide, against the current policy, with protocol https:
// the method guard, the Upgrade refusal and the authority check all live
// there. Allowed requests go upstream over TLS to the address checked at
// CONNECT time, verified against the system roots without any netpolicy
// CA: HTTP/1.1 ones on an upstream connection the handler drives itself
// (forwardPinned, as for plain http) and gives back, between requests, to
// an idle pool by destination (upPool); h2 ones through an http.Transport
// per (host, checked addresses).

// interceptedConn is one intercepted tunnel: what was decided at CONNECT
// time, and the client conn with the bytes read ahead of the handshake.
// It is the net.Conn under the *tls.Conn, which is how the shared h2
// server's hooks find it (tls.Conn.NetConn); serveH1 has it at hand.
type interceptedConn struct {
	net.Conn
	pending []byte // the ClientHello, read ahead: served first

	host     string // the CONNECT host, normalised
	port     int
	protocol policy.Protocol // https_connect or socks5_tcp
	plan     *dialPlan
	client   string
	approved bool // a person allowed the CONNECT when asked (POLICY §8)
	// onClose runs once when the shared server is done with the conn.
	onClose  func()
	closeOne sync.Once
	// poolKey names the upstream pool of the tunnel (upstreamKey).
	poolKey  string
	poolOnce sync.Once
	// pin is the part of every HTTP/1.1 request's pinDest that is the
	// tunnel's (destination, TLS, answer to failures, pool), made on first
	// use and kept (tunnelPin).
	pin *pinDest
}

func (c *interceptedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *interceptedConn) finish() {
	c.closeOne.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
}

// authority is the CONNECT target as a URL host: "name" for port 443,
// else "name:port" ("[v6]:port").
func (c *interceptedConn) authority() string {
	if c.port == 443 {
		if strings.Contains(c.host, ":") {
			return "[" + c.host + "]"
		}
		return c.host
	}
	return net.JoinHostPort(c.host, strconv.Itoa(c.port))
}

// upstreamKey names the upstream pool of ic's destination: host, port,
// checked addresses and upstream proxy. It is made on the tunnel's first
// request and kept for the others.
func (ic *interceptedConn) upstreamKey() string {
	ic.poolOnce.Do(func() {
		p := ic.plan
		var key strings.Builder
		key.WriteString(ic.host)
		key.WriteString("|" + strconv.Itoa(ic.port))
		for _, a := range p.addrs {
			key.WriteString("|" + a.String())
		}
		if p.upstream != nil {
			key.WriteString("|via " + p.upstream.String())
		}
		ic.poolKey = key.String()
	})
	return ic.poolKey
}

type interceptKey struct{}

func interceptedFrom(ctx context.Context) *interceptedConn {
	c, _ := ctx.Value(interceptKey{}).(*interceptedConn)
	return c
}

// mitm is the shared machinery of interception, built on first use.
type mitm struct {
	tlsConf *tls.Config
	ln      *connListener
	hs      *http.Server
	forward http.Handler
	roots   *x509.CertPool

	mu   sync.Mutex
	pool map[string]*http.Transport // by host, port and checked addresses
	// idle keeps the upstream connections of HTTP/1.1 requests between
	// them (forwardIntercepted).
	idle upPool
	// h1 are the HTTP/1.1 tunnels served by serveH1; hs serves h2 ones.
	h1 h1Conns
}

// maxUpstreamPools bounds the per-destination transports kept; past it an
// arbitrary one has its idle connections closed and is dropped.
const maxUpstreamPools = 256

func (s *Server) mitmState() *mitm {
	s.mitmOnce.Do(func() {
		m := &mitm{ln: newConnListener(), pool: map[string]*http.Transport{}}
		m.roots = s.UpstreamRoots
		if m.roots == nil {
			m.roots = tlsca.UpstreamPool(nil)
		}
		m.tlsConf = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"h2", "http/1.1"},
			GetConfigForClient: s.tlsConfigFor,
		}
		m.hs = &http.Server{
			Handler:           http.HandlerFunc(s.serveIntercepted),
			MaxHeaderBytes:    s.maxHeaderBytes(),
			ReadHeaderTimeout: s.readHeaderTimeout(),
			IdleTimeout:       s.idleTimeout(),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				if tc, ok := c.(*tls.Conn); ok {
					if ic, ok := tc.NetConn().(*interceptedConn); ok {
						return context.WithValue(ctx, interceptKey{}, ic)
					}
				}
				return ctx
			},
			ConnState: func(c net.Conn, st http.ConnState) {
				if st != http.StateClosed && st != http.StateHijacked {
					return
				}
				if tc, ok := c.(*tls.Conn); ok {
					if ic, ok := tc.NetConn().(*interceptedConn); ok {
						ic.finish()
					}
				}
			},
			TLSConfig: &tls.Config{}, // the conns arrive after their handshake
			ErrorLog:  log.New(logfWriter{s}, "", 0),
		}
		//lint:ignore SA1019 the intercepted conns reach m.hs already handshaken; x/net/http2 is what serves h2 on them here.
		if err := http2.ConfigureServer(m.hs, &http2.Server{IdleTimeout: s.idleTimeout()}); err != nil {
			s.logf("interception: http2: %v", err)
		}
		m.forward = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				ic := interceptedFrom(pr.In.Context())
				pr.Out.URL.Scheme = "https"
				pr.Out.URL.Host = ic.authority()
				pr.Out.Host = ""
				pr.Out.URL.RawQuery = pr.In.URL.RawQuery
				stripProxyHeaders(pr.Out.Header)
			},
			Transport:    roundTripFunc(s.mitmRoundTrip),
			ErrorHandler: s.mitmUpstreamError,
			ErrorLog:     log.New(logfWriter{s}, "", 0),
			BufferPool:   bufferPool{},
		}
		s.mitmP.Store(m)
		go func() {
			if err := m.hs.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.logf("interception: %v", err)
			}
		}()
	})
	return s.mitmP.Load()
}

// SetCA gives the proxy the CA of interception while it serves (a reload
// that turns interception on); tunnels answered from then on use it.
func (s *Server) SetCA(ca *tlsca.CA) { s.caP.Store(ca) }

// InterceptCA is the CA intercepted tunnels are answered with: SetCA's,
// else the CA field; nil when there is none.
func (s *Server) InterceptCA() *tlsca.CA {
	if ca := s.caP.Load(); ca != nil {
		return ca
	}
	return s.CA
}

// tlsConfigFor answers one intercepted ClientHello with the leaf of the
// CONNECT host. The server name was already decided on the proxy's own
// reading of the ClientHello; crypto/tls's reading must agree with it, so
// that no parser difference lets another name through.
func (s *Server) tlsConfigFor(chi *tls.ClientHelloInfo) (*tls.Config, error) {
	ic, ok := chi.Conn.(*interceptedConn)
	if !ok {
		return nil, errors.New("interception: unknown connection")
	}
	if chi.ServerName != "" && policy.NormalizeHost(chi.ServerName) != ic.host {
		return nil, fmt.Errorf("interception: server name %q is not the CONNECT host", chi.ServerName)
	}
	ca := s.InterceptCA()
	if ca == nil {
		return nil, errors.New("interception: no CA")
	}
	leaf, err := ca.Leaf(ic.host)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		Certificates: []tls.Certificate{*leaf},
	}, nil
}

// intercept serves an allowed, answered tunnel that the policy says to
// intercept: c is the client conn, pending what it sent ahead. It returns
// once the tunnel is refused, or once the TLS connection is handed over to
// serveH1 or the shared h2 server, which call onClose when done with it.
func (s *Server) intercept(ic *interceptedConn, pol *policy.Compiled, method string) {
	t := newTunnel(s.idleTimeout())
	first, err := firstBytes(ic.Conn, ic.pending, t)
	ic.pending = nil
	if err != nil {
		ic.Conn.Close()
		ic.finish()
		return
	}
	buf, hello, kind := readClientHello(ic.Conn, first, s.readHeaderTimeout())
	req := policy.Request{Host: ic.host, Port: ic.port, Protocol: ic.protocol, First: firstOf(kind), SNI: hello.ServerName,
		NoResolve: true, Approved: ic.approved}
	d := s.decide(context.Background(), pol, req)
	if !d.Allowed() || !d.Intercept {
		if !d.Allowed() {
			s.audit(d, req, method, ic.client)
		}
		ic.Conn.Close()
		ic.finish()
		return
	}
	if s.InterceptCA() == nil {
		s.logf("interception: no CA: closing the tunnel to %s", ic.host)
		ic.Conn.Close()
		ic.finish()
		return
	}
	ic.pending = buf
	m := s.mitmState()
	tc := tls.Server(ic, m.tlsConf)
	_ = tc.SetDeadline(time.Now().Add(s.readHeaderTimeout()))
	if err := tc.Handshake(); err != nil {
		tc.Close()
		ic.finish()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
		go s.serveH1(m, ic, tc)
		return
	}
	if !m.ln.push(tc) {
		tc.Close()
		ic.finish()
	}
}

// firstOf maps what the parser saw to what Decide is told.
func firstOf(k helloKind) policy.FirstBytes {
	switch k {
	case helloOK:
		return policy.FirstTLS
	case helloMalformed:
		return policy.FirstBadTLS
	}
	return policy.FirstNotTLS
}

// serveIntercepted answers one request inside an intercepted tunnel.
func (s *Server) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	ic := interceptedFrom(r.Context())
	pol := s.Policy() // the current policy: a reload applies from the next request
	if ic == nil || pol == nil {
		plainError(w, http.StatusServiceUnavailable, "no policy loaded")
		return
	}
	if s.headTooLarge(w, r) {
		return
	}
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		guardBody(w)
	}
	req := policy.Request{
		Host: ic.host, Port: ic.port, Protocol: policy.ProtoHTTPS, Method: r.Method,
		Authority: r.Host, Upgrade: isUpgrade(r.Header), MethodOverride: policy.MethodOverrides(r.Header),
		NoResolve: true, // the checked addresses of the CONNECT are dialled
		Approved:  ic.approved,
	}
	d := s.decide(r.Context(), pol, req)
	s.audit(d, req, r.Method, ic.client)
	if !d.Allowed() {
		s.block(w, d.Decision, req)
		return
	}
	delete(r.Header, "X-Unix-Socket") // canonical: no Del, which canonicalises
	s.forwardIntercepted(w, r)
}

// forwardIntercepted sends an allowed inner request upstream. HTTP/1.1
// goes on an upstream TLS connection driven by the handler (forwardPinned)
// and kept in m.idle between requests, with the idle deadlines of plain
// forwarding; h2, and a tunnel whose plan names an upstream proxy, go
// through the Transport of its destination.
func (s *Server) forwardIntercepted(w http.ResponseWriter, r *http.Request) {
	m := s.mitmP.Load()
	if r.ProtoMajor != 1 {
		m.forward.ServeHTTP(w, r)
		return
	}
	ic := interceptedFrom(r.Context())
	var d *pinDest
	if pinnable(r, ic.plan) {
		d = s.tunnelPin(ic, m)
		// Only the path and query of the URL are sent (the Host header is
		// the tunnel's authority): an origin-form target, the usual one,
		// is sent as it came (d.url is nil); anything else as an https URL
		// of the tunnel.
		if r.URL.Opaque != "" || r.URL.Scheme != "" || r.URL.Host != "" || r.URL.User != nil {
			pd := *d
			u := *r.URL
			u.Scheme, u.Host, u.User = "https", pd.hostHeader, nil
			pd.url = &u
			d = &pd
		}
	}
	s.forwardIdle(w, r, m.forward, d)
}

// tunnelPin is the tunnel's part of the pinDest of its HTTP/1.1 requests,
// made on its first one: its destination and authority, TLS to the
// CONNECT host verified against m's roots (the system's without any
// netpolicy CA) over HTTP/1.1, the answer to failures, and m's idle pool.
// An HTTP/1.1 server conn serves one request at a time, so it needs no
// lock; m, made once per Server, is the same for every request.
func (s *Server) tunnelPin(ic *interceptedConn, m *mitm) *pinDest {
	if ic.pin == nil {
		ic.pin = &pinDest{host: ic.host, addrs: ic.plan.addrs, port: ic.plan.port, hostHeader: ic.authority(),
			tls: &tls.Config{
				ServerName: ic.host,
				RootCAs:    m.roots,
				MinVersion: tls.VersionTLS12,
				NextProtos: []string{"http/1.1"},
			},
			fail:  func(w http.ResponseWriter, err error) { s.mitmUpstreamErrorFor(w, ic.host, err) },
			conns: &m.idle}
	}
	return ic.pin
}

// mitmUpstreamError answers a failed upstream exchange: 502 with one line
// naming a certificate problem, else the plain "upstream failure".
func (s *Server) mitmUpstreamError(w http.ResponseWriter, r *http.Request, err error) {
	host := ""
	if ic := interceptedFrom(r.Context()); ic != nil {
		host = ic.host
	}
	s.mitmUpstreamErrorFor(w, host, err)
}

// mitmUpstreamErrorFor is mitmUpstreamError for a known tunnel host.
func (s *Server) mitmUpstreamErrorFor(w http.ResponseWriter, host string, err error) {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		s.logf("upstream TLS for %s: %v", host, verr.Err)
		plainError(w, http.StatusBadGateway, "upstream certificate not trusted: "+oneLine(verr.Err.Error()))
		return
	}
	s.upstreamFailure(w, host, err)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// mitmRoundTrip sends an inner request on the pool of its tunnel's
// destination.
func (s *Server) mitmRoundTrip(r *http.Request) (*http.Response, error) {
	ic := interceptedFrom(r.Context())
	if ic == nil || ic.plan == nil {
		return nil, errNoPlan
	}
	return s.mitmP.Load().transport(s, ic).RoundTrip(r)
}

// transport returns the upstream pool of ic's destination: TLS with SNI =
// the CONNECT host, verified against the upstream roots, to the checked
// addresses only (or through the upstream proxy the plan names).
func (m *mitm) transport(s *Server, ic *interceptedConn) *http.Transport {
	p := ic.plan
	k := ic.upstreamKey()
	m.mu.Lock()
	defer m.mu.Unlock()
	if tr := m.pool[k]; tr != nil {
		return tr
	}
	if len(m.pool) >= maxUpstreamPools {
		for old, tr := range m.pool { // any one: map order is random enough
			tr.CloseIdleConnections()
			delete(m.pool, old)
			break
		}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return s.dialTunnel(ctx, p)
		},
		TLSClientConfig: &tls.Config{
			ServerName: ic.host,
			RootCAs:    m.roots,
			MinVersion: tls.VersionTLS12,
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256, // the default 2 would redial under load
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   s.dialTimeout(),
		ResponseHeaderTimeout: s.idleTimeout(),
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	m.pool[k] = tr
	return tr
}

// close ends the shared server and the upstream pools.
func (m *mitm) close(ctx context.Context, graceful bool) {
	m.ln.Close()
	m.h1.close(graceful)
	if graceful {
		_ = m.hs.Shutdown(ctx)
	} else {
		_ = m.hs.Close()
	}
	m.mu.Lock()
	for _, tr := range m.pool {
		tr.CloseIdleConnections()
	}
	m.mu.Unlock()
	m.idle.close()
}

// connListener hands conns to http.Server.Serve.
type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

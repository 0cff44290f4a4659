package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/netpolicy/netpolicy/policy"
)

// ServeHTTP answers one HTTP proxy request: CONNECT tunnels, absolute-form
// requests (forwarded, or upgraded to a byte tunnel), and requests for a unix
// socket named by the x-unix-socket header.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	pol := s.Policy() // read once: this request is decided and served under it
	if pol == nil {
		plainError(w, http.StatusServiceUnavailable, "no policy loaded")
		return
	}
	if s.headTooLarge(w, r) {
		return
	}
	if r.ContentLength != 0 {
		guardBody(w)
	}
	if r.Method == http.MethodConnect {
		s.serveConnect(w, r, pol)
		return
	}
	s.serveRequest(w, r, pol)
}

// guardBody ends a request's connection after the answer, and makes any
// read of its body that does not push the read deadline forward fail at
// once. Only forwardIdle hands a body on (its reads do push the deadline,
// and it keeps the connection unless the body was chunked); every other
// answer is the proxy's own and leaves the body unread, which Go's server
// would otherwise read after the handler with no deadline at all: a client
// that announces a body and never sends it would get no answer and hold its
// connection slot forever.
//
// A request with Transfer-Encoding may have had a Content-Length too, which
// Go's server drops without telling the handler. RFC 9112 §6.1 asks the
// server to close the connection after answering such a request, so that
// nothing smuggled after it is parsed as a request of its own; all chunked
// requests pay that price.
func guardBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// headTooLarge answers 431 to a request whose line and headers exceed the
// limit (POLICY §5), before anything is decided, and reports whether it
// did. net/http stops reading a head at the limit plus its 4 KiB read
// buffer, which bounds the memory; this check makes the limit itself exact,
// counted on the request as parsed.
func (s *Server) headTooLarge(w http.ResponseWriter, r *http.Request) bool {
	if headSize(r) <= s.maxHeaderBytes() {
		return false
	}
	if r.ProtoMajor == 1 {
		guardBody(w)
	}
	plainError(w, http.StatusRequestHeaderFieldsTooLarge, "request header fields too large")
	return true
}

// headSize is the size of r's request line and headers as HTTP/1.1 sends
// them: "METHOD URI PROTO", "Key: value" lines, the Host line, CR LF ends
// and the blank line.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// plainError writes a one-line plain-text error (POLICY §5: 400, 502, 503).
func plainError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}

// parseTarget splits a request's authority into host and port
// (policy.ParseTarget); problem is the 400 message when it cannot be used.
func parseTarget(authority string, defPort int) (host string, port int, problem string) {
	host, port, err := policy.ParseTarget(authority, defPort)
	switch {
	case err == nil:
		return host, port, ""
	case errors.Is(err, policy.ErrMissingHost), errors.Is(err, policy.ErrInvalidHost), errors.Is(err, policy.ErrMissingPort):
		return "", 0, err.Error()
	}
	return "", 0, "invalid host or port"
}

// serveConnect answers CONNECT host:port with a decision, then 200 and a
// byte tunnel to a checked address.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, pol *policy.Compiled) {
	// Only the request target counts. "CONNECT /x" with a Host header has
	// no target (URL.Host is empty); r.Host would be the client's header,
	// which a proxy must not trust.
	host, port, problem := parseTarget(r.URL.Host, 0)
	if problem == "" && !isAuthority(r.URL) {
		problem = "invalid CONNECT target"
	}
	if problem != "" {
		plainError(w, http.StatusBadRequest, problem)
		return
	}
	req := policy.Request{Host: host, Port: port, Protocol: policy.ProtoHTTPSConnect}
	d := s.decide(r.Context(), pol, req)
	s.audit(d, req, r.Method, r.RemoteAddr)
	if !d.Allowed() {
		s.block(w, d.Decision, req)
		return
	}
	p, err := s.plan(pol, d.Decision, port, "https")
	if err != nil {
		s.upstreamFailure(w, d.Host, err)
		return
	}
	if d.Intercept {
		s.startIntercept(w, r, pol, d.Decision, p, port)
		return
	}
	up, err := s.dialTunnel(r.Context(), p)
	if err != nil {
		s.upstreamFailure(w, d.Host, err)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		s.upstreamFailure(w, d.Host, err)
		return
	}
	// Bytes the client sent right after its request (a TLS ClientHello
	// that did not wait for the 200) are in the server's read buffer.
	pending := drain(brw.Reader)
	s.startTunnel(policy.ProtoHTTPSConnect, conn, up, pending, []byte(connectEstablished), true, s.sniGate(pol, approved(req, d.Decision), r.Method, r.RemoteAddr))
}

const connectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n"

// startIntercept answers a CONNECT the policy says to intercept: 200, then
// interception in the background (intercept). Nothing is dialled yet: the
// inner requests go to the checked addresses of p.
func (s *Server) startIntercept(w http.ResponseWriter, r *http.Request, pol *policy.Compiled, d policy.Decision, p *dialPlan, port int) {
	if s.InterceptCA() == nil {
		s.logf("interception: no CA for %s", d.Host)
		plainError(w, http.StatusBadGateway, "HTTPS interception is not configured")
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.upstreamFailure(w, d.Host, err)
		return
	}
	pending := drain(brw.Reader)
	if !s.track(conn) {
		conn.Close()
		s.release()
		return
	}
	ic := &interceptedConn{Conn: conn, pending: pending, host: d.Host, port: port,
		protocol: policy.ProtoHTTPSConnect, plan: p, client: r.RemoteAddr, approved: d.Override}
	ic.onClose = func() {
		s.untrack(conn)
		s.release()
	}
	_ = conn.SetWriteDeadline(time.Now().Add(s.idleTimeout()))
	if _, err := io.WriteString(conn, connectEstablished); err != nil {
		conn.Close()
		ic.finish()
		return
	}
	go s.intercept(ic, pol, r.Method)
}

// sniGate is the check of POLICY §5 on an opaque tunnel: when the client's
// first bytes are a TLS ClientHello, its server name must name the CONNECT
// host (Decide, with the name). It runs before any client byte reaches the
// upstream; a refusal is audited and ends the tunnel.
func (s *Server) sniGate(pol *policy.Compiled, req policy.Request, method, client string) tunnelGate {
	return func(t *tunnel, c net.Conn, pending []byte) ([]byte, bool) {
		first, err := firstBytes(c, pending, t)
		if err != nil {
			// EOF before any byte: nothing to check, the tunnel
			// half-closes as it would have.
			return nil, errors.Is(err, io.EOF)
		}
		buf, hello, kind := readClientHello(c, first, s.readHeaderTimeout())
		if kind == helloNotTLS || kind == helloOK && hello.ServerName == "" {
			return buf, true
		}
		r := req
		r.First, r.SNI, r.NoResolve = firstOf(kind), hello.ServerName, true
		d := s.decide(context.Background(), pol, r)
		if d.Allowed() {
			return buf, true
		}
		s.audit(d, r, method, client)
		return nil, false
	}
}

// approved is req as decided again on a tunnel's later looks (its first
// bytes, the requests inside): a person's yes to its CONNECT still holds.
func approved(req policy.Request, d policy.Decision) policy.Request {
	req.Approved = req.Approved || d.Override
	return req
}

// isAuthority reports whether a CONNECT target was an authority only (RFC
// 9110 §9.3.6). Go's server also takes "host:443/x" and "user@host:443",
// which no client means.
func isAuthority(u *url.URL) bool {
	return u.User == nil && u.Path == "" && u.RawPath == "" && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.Opaque == ""
}

// startTunnel relays between a hijacked client conn and its upstream in the
// background; the handler returns at once, so nothing of the HTTP server's
// per-connection state (buffers, goroutine) stays alive for the tunnel's
// lifetime. The tunnel gives the connection's slot back when it ends.
//
// toClient starts with the answer that opens the tunnel (200, 101): it is
// written only once the conn is tracked, so that a Shutdown that begins
// after the client saw it waits for the tunnel.
//
// awaitAnswer bounds the wait for the upstream's first byte by the
// handshake timeout (tunnel.awaitAnswer); an upgraded connection has had
// its answer (the 101) already. proto is the tunnel's protocol for the
// metrics: https_connect, or http for an upgraded request. gate, if
// set, vets the client's first bytes (tunnel.gate).
func (s *Server) startTunnel(proto policy.Protocol, client, up net.Conn, toUp, toClient []byte, awaitAnswer bool, gate tunnelGate) {
	if !s.track(client) {
		client.Close()
		up.Close()
		s.release()
		return
	}
	go func() {
		defer s.release()
		defer s.untrack(client)
		s.observeConn(proto)
		defer s.observeClose(proto)
		t := s.newTunnel(proto)
		if awaitAnswer {
			t.awaitAnswer(client, up, s.handshakeTimeout())
		}
		t.gate = gate
		t.run(client, up, toUp, toClient)
	}()
}

// drain returns (a copy of) what r holds in its buffer without reading more.
func drain(r *bufio.Reader) []byte {
	n := r.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := r.Peek(n)
	return append([]byte(nil), b...)
}

func (s *Server) upstreamFailure(w http.ResponseWriter, host string, err error) {
	if !errors.Is(err, context.Canceled) {
		s.logf("upstream failure for %s: %v", host, err)
	}
	plainError(w, http.StatusBadGateway, "upstream failure")
}

// serveRequest answers a non-CONNECT request: it must be absolute-form (a
// forward proxy has no resources of its own), or name a unix socket.
func (s *Server) serveRequest(w http.ResponseWriter, r *http.Request, pol *policy.Compiled) {
	var defPort int
	switch r.URL.Scheme {
	case "http":
		defPort = 80
	case "https":
		defPort = 443
	case "":
		// Origin-form ("GET /index.html"): no request target host. The
		// Host header is not a target for a forward proxy.
		plainError(w, http.StatusBadRequest, "missing host")
		return
	default:
		plainError(w, http.StatusBadRequest, "unsupported scheme")
		return
	}
	host, port, problem := parseTarget(r.URL.Host, defPort)
	if problem != "" {
		plainError(w, http.StatusBadRequest, problem)
		return
	}
	upgrade := isUpgrade(r.Header)
	req := policy.Request{Host: host, Port: port, Protocol: policy.ProtoHTTP, Method: r.Method, Upgrade: upgrade, MethodOverride: policy.MethodOverrides(r.Header)}
	socket, isSocket := unixSocket(r.Header)
	var d decided
	var sh *socketHandle
	if isSocket {
		// The decision checks the file this handle holds, and the dial
		// connects through it (POLICY §5: sockets are files).
		sh = openSocket(socket)
		defer sh.Close()
		req.UnixSocket, req.SocketFile = socket, sh
		d = s.decideSocket(pol, req)
	} else {
		d = s.decide(r.Context(), pol, req)
	}
	s.audit(d, req, r.Method, r.RemoteAddr)
	if !d.Allowed() {
		s.block(w, d.Decision, req)
		return
	}
	var p *dialPlan
	if isSocket {
		p = &dialPlan{socket: sh.dialPath}
	} else {
		var err error
		if p, err = s.plan(pol, d.Decision, port, r.URL.Scheme); err != nil {
			s.upstreamFailure(w, d.Host, err)
			return
		}
	}
	r = r.WithContext(withPlan(r.Context(), p))
	if upgrade {
		s.serveUpgrade(w, r, p, d.Host)
		return
	}
	s.forwardIdle(w, r, s.forward, plainPin(r, p))
}

// unixSocket returns the x-unix-socket path of a request. A header that is
// present but empty, or repeated, is still a socket request — one that
// DecideSocket refuses — never a fall back to the domain rules.
func unixSocket(h http.Header) (string, bool) {
	v, ok := h[textproto.CanonicalMIMEHeaderKey("X-Unix-Socket")]
	if !ok {
		return "", false
	}
	if len(v) != 1 {
		return "", true
	}
	return v[0], true
}

func isUpgrade(h http.Header) bool {
	return h.Get("Upgrade") != "" && httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade")
}

// block answers a request the decision refused: 503 for a disabled proxy,
// otherwise 403 with x-proxy-error and the JSON body of POLICY §5.
func (s *Server) block(w http.ResponseWriter, d policy.Decision, req policy.Request) {
	w.Header().Set("x-proxy-error", d.Reason.ProxyError())
	if d.Reason == policy.ReasonProxyDisabled {
		plainError(w, http.StatusServiceUnavailable, "network proxy is disabled")
		return
	}
	b := blockBody{
		Status:   "blocked",
		Decision: string(d.Verdict),
		Reason:   string(d.Reason),
		Source:   string(d.Source),
		Protocol: string(req.Protocol),
		Host:     d.Host,
		Port:     req.Port,
		Message:  d.Reason.Message(),
		Detail:   d.Detail,
	}
	if d.Rule != nil {
		b.Rule = d.Rule.Pattern
	}
	if req.UnixSocket != "" || d.Socket != nil {
		// The client asked for a socket, not a host: say which one.
		b.Host, b.Port, b.Path = "unix-socket", 0, req.UnixSocket
	}
	body, _ := json.Marshal(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	w.Write(append(body, '\n'))
}

// blockBody is the JSON body of a 403 (POLICY §5). Rule, Detail and Path
// are there only when known: the pattern that matched the host, what
// happened in words, and the requested unix socket path.
type blockBody struct {
	Status   string `json:"status"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Source   string `json:"source"`
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Message  string `json:"message"`
	Rule     string `json:"rule,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Path     string `json:"path,omitempty"`
}

// stripProxyHeaders removes what is meant for this proxy only: every
// Proxy-* header and x-unix-socket. (Hop-by-hop headers and those named in
// Connection are removed by httputil.ReverseProxy, or by hopHeaders for
// upgrades.)
func stripProxyHeaders(h http.Header) {
	for k := range h {
		if len(k) >= 6 && strings.EqualFold(k[:6], "proxy-") {
			delete(h, k)
		}
	}
	delete(h, "X-Unix-Socket")
}

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1, plus the
// Proxy-Connection and Keep-Alive headers clients still send, in canonical
// form (removeHopHeaders deletes them from the map without canonicalising
// each name again, on every forwarded request and response).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopHeaders deletes the hop-by-hop headers and every header named in
// Connection.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

func (s *Server) newForwarder() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// A forward proxy passes the query as the client wrote it
			// (ReverseProxy drops parameters it cannot parse).
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			stripProxyHeaders(pr.Out.Header)
			// An upstream proxy is asked for the checked address of a
			// literal, as for CONNECT (plan): it might read "2130706433" as
			// a name and resolve it. Go writes Out.Host into the request
			// line of a proxied request, so both change.
			if p := planFrom(pr.In.Context()); p != nil && p.upstream != nil && isLiteral(pr.In.URL.Hostname()) {
				pr.Out.URL.Host, pr.Out.Host = p.target, p.target
			}
			// Out.Host is the request target's host: Go's server has
			// already replaced a client's Host header with it.
		},
		Transport: roundTripFunc(s.roundTrip),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.upstreamFailure(w, policy.NormalizeHost(r.URL.Hostname()), err)
		},
		ErrorLog:   log.New(logfWriter{s}, "", 0),
		BufferPool: bufferPool{},
	}
}

// forwardIdle forwards a request with idle deadlines on the client side: a
// client that stops sending its body or stops reading the response is cut
// after IdleTimeout, not held forever. It goes to d on a pinned upstream
// connection when there is one (plainPin, forwardIntercepted), else
// through fwd. The request loop of intercepted tunnels has its connection
// push the deadlines itself (h1Writer.pushIdle), without the wrappers.
func (s *Server) forwardIdle(w http.ResponseWriter, r *http.Request, fwd http.Handler, d *pinDest) {
	if len(r.TransferEncoding) == 0 {
		delete(w.Header(), "Connection") // set by guardBody; this body is read
	}
	idle := s.idleTimeout()
	if hw, ok := w.(*h1Writer); ok {
		hw.pushIdle(idle)
		defer hw.liftWriteIdle()
	} else {
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(idle))
		defer rc.SetWriteDeadline(time.Time{}) // the server sets none for the next response
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &idleBody{ReadCloser: r.Body, rc: rc, idle: idle}
		}
		w = &idleWriter{ResponseWriter: w, rc: rc, idle: idle}
	}
	if d != nil {
		s.forwardPinned(w, r, d)
		return
	}
	fwd.ServeHTTP(w, r)
}

// idleBody pushes the connection's read deadline forward on every read of
// the request body, and lifts it at EOF (the server's background read that
// follows must not time out while a long response streams).
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// idleWriter pushes the connection's write deadline forward on every write
// of the response. Unwrap keeps Flush and the other ResponseController
// features reachable.
type idleWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (w *idleWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	return w.ResponseWriter.Write(p)
}

func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferPool recycles the 32 KiB copy buffers of ReverseProxy.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

// serveUpgrade forwards a request that asks for a protocol upgrade
// (WebSocket over plain HTTP) and, after 101, relays bytes both ways on the
// raw connections.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, p *dialPlan, host string) {
	up, err := s.dialTunnel(r.Context(), p)
	if err != nil {
		s.upstreamFailure(w, host, err)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = &idleBody{ReadCloser: out.Body, rc: http.NewResponseController(w), idle: s.idleTimeout()}
	}
	upType := r.Header.Get("Upgrade")
	removeHopHeaders(out.Header)
	stripProxyHeaders(out.Header)
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", upType)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "") // Request.Write would add Go's own
	}
	_ = up.SetDeadline(time.Now().Add(s.idleTimeout()))
	if err := out.Write(up); err != nil {
		up.Close()
		s.upstreamFailure(w, host, err)
		return
	}
	br := bufio.NewReader(up)
	resp, err := http.ReadResponse(br, out)
	if err != nil {
		up.Close()
		s.upstreamFailure(w, host, err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// Not upgraded: an ordinary response, relayed as one.
		defer up.Close()
		defer resp.Body.Close()
		removeHopHeaders(resp.Header)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	toUp := drain(brw.Reader)
	// The 101 keeps Connection and Upgrade: the client needs them.
	h := resp.Header.Clone()
	for _, k := range []string{"Keep-Alive", "Te", "Trailer", "Transfer-Encoding"} {
		h.Del(k)
	}
	stripProxyHeaders(h)
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %s\r\n", resp.Status)
	_ = h.Write(&head)
	head.WriteString("\r\n")
	_ = up.SetDeadline(time.Time{})
	s.startTunnel(policy.ProtoHTTP, conn, up, toUp, append(head.Bytes(), drain(br)...), false, nil)
}

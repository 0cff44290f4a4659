package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/netpolicy/netpolicy/policy"
)

// Plain http requests to checked addresses dialled directly, and the
// HTTP/1.1 requests inside an intercepted tunnel (intercept.go), with no
// body or a body of known length or chunked, are forwarded on an upstream
// connection the handler drives itself rather than through
// httputil.ReverseProxy and a shared http.Transport: the request is written and the response read by the
// handler's own goroutine, with no hand-off between goroutines and no
// request clone. Every request is still decided on its own; an idle
// connection is only reused for a request to the same host and port whose
// new decision's checked addresses include the one it was dialled to.
//
// Between requests, a plain http connection stays pinned to its client
// connection (upSlot). Intercepted tunnels give theirs, TLS verified as
// their pinDest says, back to an idle pool by destination (upPool), so
// that an idle tunnel holds no upstream connection and a new tunnel
// reuses one.

// upSlot holds the idle upstream connection of one client connection.
type upSlot struct {
	mu     sync.Mutex
	closed bool // the client connection is gone
	up     *upConn
}

// upConn is a pinned upstream connection.
type upConn struct {
	net.Conn
	raw net.Conn // the TCP connection under a TLS Conn, else Conn
	// probe looks at raw for bytes, EOF or an error while idle.
	probe idleProbe
	br    *bufio.Reader
	bw    *bufio.Writer
	host  string         // normalised host it was opened for
	addr  netip.AddrPort // the checked address it was dialled to
	idle  time.Time      // since when it is idle in an upPool
}

type slotKey struct{}

// pastDeadline, set as a connection's deadline, ends the reads or writes
// waiting on it at once.
var pastDeadline = time.Unix(1, 0)

// take returns the slot's connection if it may carry a request for host to
// one of addrs:port, and leaves the slot empty; any other idle connection is
// closed (the client connection moved on to another destination, or the
// connection is not fresh).
func (sl *upSlot) take(host string, addrs []netip.Addr, port int) *upConn {
	sl.mu.Lock()
	uc := sl.up
	sl.up = nil
	sl.mu.Unlock()
	if uc == nil {
		return nil
	}
	if uc.usable(host, addrs, port) {
		return uc
	}
	uc.Close()
	return nil
}

// put keeps uc for the next request, or closes it when the client
// connection has closed meanwhile.
func (sl *upSlot) put(uc *upConn) {
	sl.mu.Lock()
	if sl.closed {
		sl.mu.Unlock()
		uc.Close()
		return
	}
	old := sl.up
	sl.up = uc
	sl.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// close ends the slot with its client connection.
func (sl *upSlot) close() {
	sl.mu.Lock()
	uc := sl.up
	sl.up, sl.closed = nil, true
	sl.mu.Unlock()
	if uc != nil {
		uc.Close()
	}
}

// upPool keeps the idle upstream connections of intercepted tunnels, by
// host and port, for any tunnel to the same destination: a tunnel takes one
// for each request and gives it back after the answer, so an idle tunnel
// holds none and a new tunnel need not dial (nor make a TLS handshake)
// while a connection is idle. The most recently used connection is taken
// first, which is the tunnel's own last one when nothing came in between.
// At most maxIdlePerDest connections are kept per destination, for at most
// upIdleTimeout.
type upPool struct {
	mu     sync.Mutex
	idle   map[destKey][]*upConn // most recently used last
	n      int
	closed bool
	sweep  *time.Timer // closes the connections idle too long; nil when none
}

const (
	maxIdlePerDest = 256
	maxIdleTotal   = 1024
	upIdleTimeout  = 90 * time.Second
)

// destKey names a destination of upPool.
type destKey struct {
	host string
	port int
}

func (p *upPool) take(host string, addrs []netip.Addr, port int) *upConn {
	k := destKey{host, port}
	var drop []*upConn
	defer func() {
		for _, uc := range drop {
			uc.Close()
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[k] // all for host and port
	for i := len(l) - 1; i >= 0; i-- {
		uc := l[i]
		if !uc.addrIn(addrs) {
			continue // another checked address: maybe another tunnel's
		}
		l = append(l[:i], l[i+1:]...)
		p.n--
		if time.Since(uc.idle) < upIdleTimeout && uc.fresh() {
			p.setIdle(k, l)
			return uc
		}
		drop = append(drop, uc)
	}
	p.setIdle(k, l)
	return nil
}

func (p *upPool) setIdle(k destKey, l []*upConn) {
	if len(l) == 0 {
		delete(p.idle, k)
		return
	}
	p.idle[k] = l
}

func (p *upPool) put(uc *upConn) {
	k := destKey{uc.host, int(uc.addr.Port())}
	uc.idle = time.Now()
	var drop *upConn
	p.mu.Lock()
	switch l := p.idle[k]; {
	case p.closed:
		drop = uc
	case len(l) >= maxIdlePerDest || p.n >= maxIdleTotal:
		// Full: the connection idle longest here makes room, or this
		// one is not kept when the destination has none.
		if len(l) == 0 {
			drop = uc
			break
		}
		drop = l[0]
		p.idle[k] = append(l[1:], uc)
	default:
		if p.idle == nil {
			p.idle = map[destKey][]*upConn{}
		}
		p.idle[k] = append(l, uc)
		p.n++
	}
	if p.sweep == nil && p.n > 0 && !p.closed {
		p.sweep = time.AfterFunc(upIdleTimeout, p.expire)
	}
	p.mu.Unlock()
	if drop != nil {
		drop.Close()
	}
}

// expire closes the connections idle for upIdleTimeout, and comes back
// while some are left.
func (p *upPool) expire() {
	var drop []*upConn
	p.mu.Lock()
	for k, l := range p.idle {
		i := 0
		for i < len(l) && time.Since(l[i].idle) >= upIdleTimeout {
			i++
		}
		drop = append(drop, l[:i]...)
		p.n -= i
		p.setIdle(k, l[i:])
	}
	p.sweep = nil
	if p.n > 0 && !p.closed {
		p.sweep = time.AfterFunc(upIdleTimeout/4, p.expire)
	}
	p.mu.Unlock()
	for _, uc := range drop {
		uc.Close()
	}
}

// close closes every idle connection; those in use are closed when given
// back.
func (p *upPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.n, p.closed = nil, 0, true
	if p.sweep != nil {
		p.sweep.Stop()
	}
	p.mu.Unlock()
	for _, l := range idle {
		for _, uc := range l {
			uc.Close()
		}
	}
}

// connStore keeps idle upstream connections between requests: an upSlot
// (the one connection of a plain http client connection) or an upPool
// (those of intercepted tunnels, by destination).
type connStore interface {
	// take returns an idle connection for host that was dialled to one of
	// addrs:port and has nothing to read, or nil.
	take(host string, addrs []netip.Addr, port int) *upConn
	// put keeps uc, idle, for a later request.
	put(uc *upConn)
}

// usable reports whether an idle uc may carry a request for host to one of
// addrs:port: same host and port, dialled to one of the addresses of the
// new decision, and fresh.
func (uc *upConn) usable(host string, addrs []netip.Addr, port int) bool {
	return uc.host == host && int(uc.addr.Port()) == port && uc.addrIn(addrs) && uc.fresh()
}

// fresh reports whether an idle uc has nothing unread, buffered or in the
// socket, and was not closed by the origin meanwhile. An origin that sent
// bytes nobody asked for (a body after a 204, more than its length, or
// anything while idle) loses the connection: the bytes are never read as
// the answer to the next request, of this client or another.
func (uc *upConn) fresh() bool {
	return uc.br.Buffered() == 0 && !uc.probe.readable()
}

// addrIn reports whether uc was dialled to one of addrs.
func (uc *upConn) addrIn(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if a.Unmap() == uc.addr.Addr() {
			return true
		}
	}
	return false
}

// connContext gives every client connection an upstream slot.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	sl := &upSlot{}
	s.mu.Lock()
	s.pins[c] = sl
	s.mu.Unlock()
	return context.WithValue(ctx, slotKey{}, sl)
}

// closeSlot closes the upstream slot of a client connection that closed or
// was hijacked.
func (s *Server) closeSlot(c net.Conn) {
	s.mu.Lock()
	sl := s.pins[c]
	delete(s.pins, c)
	s.mu.Unlock()
	if sl != nil {
		sl.close()
	}
}

// pinnable reports whether r, allowed with the plan p, can be forwarded on
// a pinned connection: p dials checked addresses directly (no unix socket,
// no upstream proxy), and the body is framed in a way that is passed on as
// it is.
//
// A request body is forwarded as the client framed it: with its
// Content-Length, or chunked (Go's server has already refused any other
// framing, and a chunked request's client connection closes after the
// answer, see guardBody). Upgrades never come here (serveUpgrade).
func pinnable(r *http.Request, p *dialPlan) bool {
	if p == nil || p.socket != "" || p.upstream != nil {
		return false
	}
	switch {
	case len(r.TransferEncoding) == 0 && r.ContentLength >= 0:
		return true
	case len(r.TransferEncoding) == 1 && r.TransferEncoding[0] == "chunked":
		return true
	}
	return false
}

// pinDest is where a pinned request goes and how: the host the upstream
// connection is opened for, the checked addresses and port it may be
// dialled to, what the request line and Host header say, TLS for an
// intercepted tunnel, and the answer to a failure.
type pinDest struct {
	host  string // normalised
	addrs []netip.Addr
	port  int
	// url's path and query are the request target upstream; nil sends
	// the request's own.
	url *url.URL
	// hostHeader is the Host header sent; "" sends url.Host.
	hostHeader string
	// tls, when set, is the client config of the upstream TLS connection
	// (server name and roots); nil is plain TCP.
	tls *tls.Config
	// fail answers a failed dial or exchange; nil answers upstreamFailure.
	fail func(http.ResponseWriter, error)
	// conns keeps the connection between requests.
	conns connStore
}

func (s *Server) pinFailed(w http.ResponseWriter, d *pinDest, err error) {
	if d.fail != nil {
		d.fail(w, err)
		return
	}
	s.upstreamFailure(w, d.host, err)
}

// plainPin is the pinned way of a plain http request allowed with the plan
// p, on its client connection's slot, or nil when it has none (pinnable,
// and a client connection with an upstream slot).
func plainPin(r *http.Request, p *dialPlan) *pinDest {
	sl, _ := r.Context().Value(slotKey{}).(*upSlot)
	if sl == nil || r.URL.Scheme != "http" || !pinnable(r, p) {
		return nil
	}
	return &pinDest{host: policy.NormalizeHost(r.URL.Hostname()), addrs: p.addrs, port: p.port, url: r.URL, hostHeader: r.Host, conns: sl}
}

// dialPinned opens a pinned connection to d: TCP to the first checked
// address that accepts, then, for an intercepted tunnel, TLS verified with
// d.tls within the dial timeout.
func (s *Server) dialPinned(ctx context.Context, d *pinDest) (*upConn, error) {
	c, ap, err := s.dialAddrsAt(ctx, d.addrs, d.port)
	if err != nil {
		return nil, err
	}
	raw := c
	if d.tls != nil {
		tc := tls.Client(c, d.tls)
		hctx, cancel := context.WithTimeout(ctx, s.dialTimeout())
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	uc := &upConn{Conn: c, raw: raw, br: bufio.NewReader(c), bw: bufio.NewWriter(c), host: d.host, addr: ap}
	uc.probe.init(raw)
	return uc, nil
}

// idleUpload pushes the upstream connection's write deadline forward on
// every read of the request body being forwarded to it.
type idleUpload struct {
	io.ReadCloser
	c    net.Conn
	idle time.Duration
}

func (b *idleUpload) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	_ = b.c.SetWriteDeadline(time.Now().Add(b.idle))
	return n, err
}

// hasBody reports whether r has a request body to forward.
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || len(r.TransferEncoding) != 0
}

// errStale marks a pooled connection that the origin closed while it was
// idle: nothing of a response was received.
var errStale = errors.New("pooled upstream connection closed")

// replayable reports whether a bodiless request may be sent again after a
// pooled connection failed without an answer: the rule of http.Transport
// (idempotent methods, or an idempotency key).
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := r.Header["Idempotency-Key"]
	_, xkey := r.Header["X-Idempotency-Key"]
	return key || xkey
}

// max1xx bounds the informational responses before a final one.
const max1xx = 5

// forwardPinned forwards a request to d on an upstream connection the
// handler drives itself (see above), taken from and given back to d.conns.
// w is the idle-deadline writer of forwardIdle.
func (s *Server) forwardPinned(w http.ResponseWriter, r *http.Request, d *pinDest) {
	target := d.url
	if target == nil {
		target = r.URL
	}
	out := &http.Request{Method: r.Method, URL: target, Host: d.hostHeader, Header: outHeader(r.Header)}
	body := hasBody(r)
	if body {
		// Request.Write frames it: Content-Length for a known length,
		// chunked (with the client's trailers) otherwise.
		out.Body, out.ContentLength = r.Body, r.ContentLength
		if len(r.TransferEncoding) > 0 {
			out.ContentLength, out.TransferEncoding, out.Trailer = -1, []string{"chunked"}, r.Trailer
		}
	}
	ctx := r.Context()
	// An idle connection is taken only when it has nothing to read (fresh);
	// one the origin closes after that check is retried below when the
	// request can be sent twice.
	uc := d.conns.take(d.host, d.addrs, d.port)
	var resp *http.Response
	var stop func() bool
	for retried := false; ; retried = true {
		reused := uc != nil
		var err error
		if uc == nil {
			if uc, err = s.dialPinned(ctx, d); err != nil {
				s.pinFailed(w, d, err)
				return
			}
		}
		// A client that goes away cuts the exchange and, after it, the
		// upstream read of the body: one AfterFunc for both.
		c := uc
		stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(pastDeadline) })
		resp, err = s.exchange(ctx, uc, out, w)
		if err == nil {
			break
		}
		stop()
		uc.Close()
		uc = nil
		// A pooled connection the origin closed while idle: a bodiless
		// request that got no answer at all is sent once more on a fresh
		// connection, as http.Transport does.
		if errors.Is(err, errStale) && reused && !retried && ctx.Err() == nil && !body && replayable(r) {
			continue
		}
		if ctx.Err() != nil {
			err = ctx.Err() // the client went away: not worth a log line
		}
		s.pinFailed(w, d, err)
		return
	}
	keep := false
	defer func() {
		if !stop() || !keep {
			uc.Close()
			return
		}
		d.conns.put(uc)
	}()

	removeHopHeaders(resp.Header)
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	var dst io.Writer = w
	if streaming(resp) {
		dst = flushWriter{w, http.NewResponseController(w)}
	}
	buf := copyBuffers.Get().(*[]byte)
	_, err := io.CopyBuffer(dst, onlyReader{resp.Body}, *buf)
	copyBuffers.Put(buf)
	if err != nil {
		// The response is half written: all that can be done is to cut
		// the client connection (as ReverseProxy does).
		panic(http.ErrAbortHandler)
	}
	resp.Body.Close() // fills resp.Trailer
	if len(resp.Trailer) > 0 {
		_ = http.NewResponseController(w).Flush() // forces chunking
		if len(resp.Trailer) == announced {
			for k, v := range resp.Trailer {
				h[k] = v
			}
		} else {
			for k, vv := range resp.Trailer {
				for _, v := range vv {
					h.Add(http.TrailerPrefix+k, v)
				}
			}
		}
	}
	keep = !resp.Close
}

// exchange writes out on uc and reads the final response's head, passing
// informational responses on to w. The write and the read of the head are
// each bounded by the idle timeout. The caller has the request's context
// cancel both (an AfterFunc that sets a past deadline on uc, kept for the
// read of the body); exchange checks the context after each deadline it
// sets, which could overwrite that one.
func (s *Server) exchange(ctx context.Context, uc *upConn, out *http.Request, w http.ResponseWriter) (*http.Response, error) {
	_ = uc.SetDeadline(time.Now().Add(s.idleTimeout()))
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if out.Body != nil {
		// A body may take longer than one idle period to send: each read
		// of it pushes the upstream write deadline forward.
		out.Body = &idleUpload{ReadCloser: out.Body, c: uc.Conn, idle: s.idleTimeout()}
	}
	var err error
	if out.Body == nil && (out.Method == http.MethodGet || out.Method == http.MethodHead) {
		err = writeBodilessHead(uc.bw, out)
	} else {
		err = out.Write(uc.bw)
	}
	if err == nil {
		err = uc.bw.Flush()
	}
	if err == nil {
		// The wait for the answer starts when the request is sent.
		_ = uc.SetReadDeadline(time.Now().Add(s.idleTimeout()))
		if ctx.Err() != nil {
			_ = uc.SetDeadline(pastDeadline) // cancelled meanwhile
		}
		_, err = uc.br.Peek(1)
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err // the header timeout, or the client went away
		}
		return nil, fmt.Errorf("%w: %w", errStale, err)
	}
	for n := 0; ; n++ {
		resp, err := http.ReadResponse(uc.br, out)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code > 199 {
			_ = uc.SetDeadline(time.Time{})
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return resp, nil
		}
		if code == http.StatusSwitchingProtocols {
			return nil, errors.New("upstream switched protocols without an upgrade request")
		}
		if n == max1xx {
			return nil, errors.New("too many 1xx responses")
		}
		if code == http.StatusContinue {
			// The body, if any, has been sent already (and the client
			// got its own 100 Continue from our server when we read it).
			continue
		}
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		w.WriteHeader(code)
		clear(h)
	}
}

// outHeader is the header sent upstream: the client's, less hop-by-hop
// headers, those meant for this proxy and the Forwarded family, exactly as
// httputil.ReverseProxy with a Rewrite func sends them. Value slices are
// shared with the client's header; neither is modified.
func outHeader(in http.Header) http.Header {
	h := make(http.Header, len(in))
	for k, v := range in {
		h[k] = v
	}
	removeHopHeaders(h)
	if httpguts.HeaderValuesContainsToken(in["Te"], "trailers") {
		h["Te"] = []string{"trailers"}
	}
	stripProxyHeaders(h)
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		delete(h, k)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // Request.Write would add Go's own
	}
	return h
}

// streaming reports whether a response is passed on as it arrives: one of
// unknown length (chunked or close-delimited) or an event stream.
func streaming(resp *http.Response) bool {
	if resp.ContentLength == -1 {
		return true
	}
	v := resp.Header.Get("Content-Type")
	// The media type ParseMediaType returns is the value up to any ';',
	// trimmed and lower-cased: a value whose first part does not fold to
	// text/event-stream cannot be one, and is not parsed (two allocations
	// per response otherwise).
	if base, _, _ := strings.Cut(v, ";"); !strings.EqualFold(strings.TrimSpace(base), "text/event-stream") {
		return false
	}
	ct, _, _ := mime.ParseMediaType(v)
	return ct == "text/event-stream"
}

// flushWriter flushes after every write.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// onlyReader hides any WriterTo of a body so that io.CopyBuffer uses the
// pooled buffer.
type onlyReader struct{ io.Reader }

// writeBodilessHead writes a GET or HEAD request without a body as
// Request.Write does (the same request line, Host, User-Agent and header
// lines; no Content-Length, which Request.Write sends for neither method
// without a body), without its formatting, sorting and allocations: the
// one request of every keep-alive exchange. The header lines come in map
// order.
func writeBodilessHead(bw *bufio.Writer, r *http.Request) error {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	host, err := httpguts.PunycodeHostPort(host)
	if err != nil {
		return err
	}
	if !httpguts.ValidHostHeader(host) {
		host = "" // as Request.Write does when not talking to a proxy
	}
	host = removeZone(host)
	ruri := r.URL.RequestURI()
	for i := 0; i < len(ruri); i++ {
		if b := ruri[i]; b < ' ' || b == 0x7f {
			return errors.New("net/http: can't write control character in Request.URL")
		}
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1" // Request.Write's default
	if _, ok := r.Header["User-Agent"]; ok {
		ua = r.Header.Get("User-Agent")
	}
	if ua != "" {
		writeHeaderField(bw, "User-Agent", ua)
	}
	writeHeaderFields(bw, r.Header, omitBodilessRequest)
	_, err = bw.WriteString("\r\n")
	return err
}

// omitBodilessRequest tells the header lines writeBodilessHead writes
// itself, or not at all.
func omitBodilessRequest(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// writeHeaderFields writes the lines of h (in map order), but those omit
// names and those with invalid names (as Header.Write does): the header of
// a request the proxy sends upstream, or of an answer of the intercepted
// HTTP/1.1 loop.
func writeHeaderFields(bw *bufio.Writer, h http.Header, omit func(k string) bool) {
	for k, vv := range h {
		if omit(k) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vv {
			writeHeaderField(bw, k, v)
		}
	}
}

// writeHeaderField writes "k: v", v's line breaks made spaces and its ends
// trimmed, as Header.Write does.
func writeHeaderField(bw *bufio.Writer, k, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = headerNewlineToSpace.Replace(v)
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(textproto.TrimString(v))
	bw.WriteString("\r\n")
}

// headerNewlineToSpace is net/http's: each CR and LF becomes a space.
var headerNewlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// removeZone removes the zone of an IPv6 literal host ("[fe80::1%en0]:80"),
// as Request.Write does.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}

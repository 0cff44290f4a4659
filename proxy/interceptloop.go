package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The HTTP/1.1 requests of an intercepted tunnel (ALPN http/1.1, or none)
// are served by a loop of the proxy's own rather than by an http.Server:
// one goroutine per tunnel reads a request with http.ReadRequest, hands it
// to the same handler as h2 requests (serveIntercepted: Decide against the
// current policy, audit, block or forward), writes the answer through
// h1Writer, and reads the next. It keeps what net/http's server gives this
// path — the head size limit (431), the read-header and idle timeouts, the
// 400/501/505/417 answers to bad requests, Expect: 100-continue, request
// bodies read to their end or the connection closed, Content-Length or
// chunked framing, HEAD/1xx/204/304 without a body, Connection: close and
// HTTP/1.0 keep-alive, a Date header, trailers, pipelining in order — and
// drops what this path does not need: the background read started for
// every request (and the deadline that ends it), the per-request context,
// response and buffers. The client's deadlines are applied lazily, just
// before the connection is read or written (h1IO), and forwardIdle's
// pushes of them are made by h1IO itself (h1Writer.forwardIdle).
//
// Differences from net/http, deliberate: a response without a
// Content-Type gets none (net/http sniffs one from the body; a proxy
// passes on what the origin said); a client that goes away while the
// origin has not answered yet is noticed within watchAfter (250 ms), by a
// read started only for a request still running then (net/http's
// background read noticed it at once, at a read system call, a deadline
// and a wake-up for every request); and "OPTIONS *" goes to the handler
// like any request (net/http answered it itself, with no decision).

// h1 connection states (h1Conn.state), for shutdown: idle between requests
// (and before the first), active while one is read or served, closed
// once a shutdown took it.
const (
	h1Idle int32 = iota
	h1Active
	h1Closed
)

// h1Conn is one intercepted HTTP/1.1 tunnel served by the loop.
type h1Conn struct {
	s   *Server
	m   *mitm
	ic  *interceptedConn
	tc  *tls.Conn
	io  h1IO
	br  *bufio.Reader
	bw  *bufio.Writer
	ctx context.Context // carries ic; cancelled when the tunnel ends
	// cancel cancels ctx: the end of the tunnel, or Close, which so cuts
	// a request waiting for the origin.
	cancel context.CancelFunc
	// tlsState is given to every request (Request.TLS), as net/http does.
	tlsState *tls.ConnectionState
	state    atomic.Int32
	w        h1Writer // reused for every response
	// body is the body of the request served (nil when it has none);
	// one of its own for each, as it may still be read from another
	// goroutine (http.Transport's) after its request (h1Body).
	body *h1Body

	// The watch of a request that waits (watchAfter): a read of the
	// client connection that notices the client going away.
	watch     *time.Timer
	wmu       sync.Mutex
	inRequest bool          // the request's body is read and its handler runs
	watching  bool          // watchClient is reading
	watchDone chan struct{} // closed when watchClient returns
	gone      bool          // watchClient saw the client go: the tunnel ends

	// scratch formats the status code and chunk sizes; clenBuf the
	// Content-Length of a held body (both in one head).
	scratch, clenBuf [20]byte

	// faultyTE is an HTTP/1.0 request with Transfer-Encoding (readRequest):
	// its answer closes the tunnel.
	faultyTE bool

	// date caches the Date header of the current second.
	dateSec int64
	date    []byte
}

// h1IO is what the bufio reader and writer of a tunnel read from and write
// to: the *tls.Conn, with a limit on reads (the head size limit) and the
// deadlines wanted, set on the connection only before a read or write and
// only when they changed.
type h1IO struct {
	tc        *tls.Conn
	rd, rdSet time.Time // read deadline wanted, and set
	wd, wdSet time.Time // write deadline wanted, and set
	remain    int64     // bytes that may still be read
	hit       bool      // a read was refused at the limit
	werr      error     // the first write error
	rec       *[]byte   // when set, what is read is appended to it
	// idle, when set, pushes the read or write deadline to now+idle
	// before each read or write (forwardIdle).
	idle time.Duration
	// wbound bounds a write when no write deadline is wanted (wd zero):
	// the answers the loop writes itself and the end of every response
	// are written after forwardIdle. The deadline set is now+wbound,
	// pushed again only once less than half of it is left, so that a
	// keep-alive exchange rarely pays for a deadline.
	wbound time.Duration
	// pend is a byte watchClient read ahead (npend of them), served first.
	pend  [1]byte
	npend int
}

func (x *h1IO) Read(p []byte) (int, error) {
	if x.npend > 0 && len(p) > 0 && x.remain > 0 {
		p[0], x.npend = x.pend[0], 0
		x.remain--
		if x.rec != nil {
			*x.rec = append(*x.rec, p[0])
		}
		return 1, nil
	}
	if x.remain <= 0 {
		x.hit = true
		return 0, io.EOF
	}
	if int64(len(p)) > x.remain {
		p = p[:x.remain]
	}
	if x.idle > 0 {
		x.rd = time.Now().Add(x.idle)
	}
	if !x.rd.Equal(x.rdSet) {
		_ = x.tc.SetReadDeadline(x.rd)
		x.rdSet = x.rd
	}
	n, err := x.tc.Read(p)
	x.remain -= int64(n)
	if x.rec != nil {
		*x.rec = append(*x.rec, p[:n]...)
	}
	return n, err
}

func (x *h1IO) Write(p []byte) (int, error) {
	if x.werr != nil {
		return 0, x.werr
	}
	if x.idle > 0 {
		x.wd = time.Now().Add(x.idle)
	}
	if x.wd.IsZero() && x.wbound > 0 {
		if now := time.Now(); x.wdSet.IsZero() || x.wdSet.Sub(now) < x.wbound/2 {
			x.wdSet = now.Add(x.wbound)
			_ = x.tc.SetWriteDeadline(x.wdSet)
		}
	} else if !x.wd.Equal(x.wdSet) {
		_ = x.tc.SetWriteDeadline(x.wd)
		x.wdSet = x.wd
	}
	n, err := x.tc.Write(p)
	if err != nil {
		x.werr = err
	}
	return n, err
}

// h1Conns are the tunnels the loop serves, for Shutdown and Close.
type h1Conns struct {
	mu      sync.Mutex
	conns   map[*h1Conn]struct{}
	closing atomic.Bool
}

func (cs *h1Conns) add(c *h1Conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closing.Load() {
		return false
	}
	if cs.conns == nil {
		cs.conns = map[*h1Conn]struct{}{}
	}
	cs.conns[c] = struct{}{}
	return true
}

func (cs *h1Conns) remove(c *h1Conn) {
	cs.mu.Lock()
	delete(cs.conns, c)
	cs.mu.Unlock()
}

// close ends the loops: at once (graceful false), or, for a graceful
// shutdown, those waiting between requests now and the others after the
// answer they are serving.
func (cs *h1Conns) close(graceful bool) {
	cs.closing.Store(true)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c := range cs.conns {
		if !graceful || c.state.CompareAndSwap(h1Idle, h1Closed) {
			c.state.Store(h1Closed)
			c.cancel()
			c.tc.Close()
		}
	}
}

// serveH1 serves the HTTP/1.1 requests of an intercepted tunnel, after its
// handshake, until the client or a shutdown ends it; then it closes tc and
// finishes ic, once.
func (s *Server) serveH1(m *mitm, ic *interceptedConn, tc *tls.Conn) {
	c := &h1Conn{s: s, m: m, ic: ic, tc: tc}
	c.ctx, c.cancel = context.WithCancel(context.WithValue(context.Background(), interceptKey{}, ic))
	defer ic.finish()
	defer func() {
		if c.io.werr != nil {
			// A write failed (or timed out): no close_notify can be
			// sent, and tls.Conn.Close would wait 5 s trying.
			tc.NetConn().Close()
			return
		}
		tc.Close()
	}()
	defer c.cancel()
	if !m.h1.add(c) {
		return
	}
	defer m.h1.remove(c)
	st := tc.ConnectionState()
	c.tlsState = &st
	c.io.tc = tc
	c.io.wbound = s.idleTimeout()
	c.br = bufio.NewReader(&c.io)
	c.bw = bufio.NewWriter(&c.io)
	c.w.c = c
	c.w.header = http.Header{}
	c.serve()
}

// h1ErrorHeaders end the head of the answers the loop writes itself.
const h1ErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// errH1TooLarge is a request head past the limit net/http enforces too.
var errH1TooLarge = errors.New("request head too large")

func (c *h1Conn) serve() {
	s := c.s
	// The first request's head must be complete within the read-header
	// timeout of the tunnel's start; a later one's within the idle
	// timeout to its first byte, then the read-header timeout.
	c.io.rd = time.Now().Add(s.readHeaderTimeout())
	first := true
	for {
		// The head may take this much from the connection (net/http's
		// bound too); the exact limit is checked on the parsed head
		// (headTooLarge).
		c.io.remain = int64(s.maxHeaderBytes()) + 4096
		c.io.hit = false
		if c.br.Buffered() == 0 {
			if !first {
				c.io.rd = time.Now().Add(s.idleTimeout())
			}
			if _, err := c.br.Peek(1); err != nil {
				return
			}
			if !first {
				c.io.rd = time.Now().Add(s.readHeaderTimeout())
			}
		} else if !first {
			// A pipelined head that came in part with the previous
			// request: the rest of it within the read-header timeout
			// too (the previous request left no deadline).
			c.io.rd = time.Now().Add(s.readHeaderTimeout())
		}
		first = false
		if !c.state.CompareAndSwap(h1Idle, h1Active) {
			return // a shutdown closed it meanwhile
		}
		r, err := c.readRequest()
		if err != nil {
			c.answerBadRequest(err)
			return
		}
		if !c.serveRequest(r) {
			return
		}
		c.state.Store(h1Idle)
		if c.m.h1.closing.Load() {
			return
		}
	}
}

// readRequest reads one request's head, and checks it as net/http's server
// does. http.ReadRequest drops the Host header lines, which the checks
// need: they are counted on the raw head (scanHead), read in the
// connection's buffer when it holds the whole head, else recorded as it
// is read.
func (c *h1Conn) readRequest() (*http.Request, error) {
	buffered, _ := c.br.Peek(c.br.Buffered())
	end, hosts, host, te := scanHead(buffered)
	if end < 0 {
		rec := append(make([]byte, 0, 2*len(buffered)+512), buffered...)
		c.io.rec = &rec
		defer func() { c.io.rec = nil }()
	}
	r, err := http.ReadRequest(c.br)
	if err != nil {
		if c.io.hit {
			return nil, errH1TooLarge
		}
		return nil, err
	}
	if end < 0 {
		rec := *c.io.rec
		_, hosts, host, te = scanHead(rec[:len(rec)-c.br.Buffered()])
	}
	// HTTP/1.0 with Transfer-Encoding: net/http's parser drops the header
	// and reads no body, so what the client sent as its body would be
	// read as requests. RFC 9112 §6.1: faulty framing, close after.
	c.faultyTE = r.ProtoMajor == 1 && r.ProtoMinor == 0 && te
	c.io.remain = math.MaxInt64
	c.io.rd = time.Time{} // no deadline on the body but the handler's
	if r.ProtoMajor != 1 {
		return nil, h1StatusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	if r.ProtoAtLeast(1, 1) && hosts == 0 && r.Method != http.MethodConnect {
		return nil, h1StatusError{http.StatusBadRequest, "missing required Host header"}
	}
	// The Host line as written, and r.Host as read from it (textproto
	// joins continued lines) when the target does not name the host.
	if hosts == 1 && (!httpguts.ValidHostHeader(string(host)) || r.URL.Host == "" && !httpguts.ValidHostHeader(r.Host)) {
		return nil, h1StatusError{http.StatusBadRequest, "malformed Host header"}
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, h1StatusError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, h1StatusError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	r.RemoteAddr = c.ic.client
	r.TLS = c.tlsState
	return r.WithContext(c.ctx), nil
}

// scanHead finds the end of the request head at the start of b (-1 when b
// does not hold all of it), counts its Host lines, with the value of the
// first, and tells whether it has a Transfer-Encoding line. Lines end in LF
// or CR LF, as textproto reads them.
func scanHead(b []byte) (end, hosts int, host []byte, te bool) {
	for pos, first := 0, true; ; first = false {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return -1, hosts, host, te
		}
		line := b[pos : pos+i]
		pos += i + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if first {
			continue // the request line
		}
		if len(line) == 0 {
			return pos, hosts, host, te
		}
		switch {
		case hasFieldName(line, "host:"):
			if hosts++; hosts == 1 {
				host = bytes.TrimSpace(line[5:])
			}
		case hasFieldName(line, "transfer-encoding:"):
			te = true
		}
	}
}

// hasFieldName reports whether a head line is one of the field name (lower
// case, with its colon).
func hasFieldName(line []byte, name string) bool {
	return len(line) >= len(name) && bytes.EqualFold(line[:len(name)], []byte(name))
}

// h1StatusError is a request refused with a status of its own.
type h1StatusError struct {
	code int
	text string
}

func (e h1StatusError) Error() string { return strconv.Itoa(e.code) + " " + e.text }

// answerBadRequest answers a request that could not be read, as net/http
// does, and the connection closes.
func (c *h1Conn) answerBadRequest(err error) {
	var se h1StatusError
	switch {
	case errors.Is(err, errH1TooLarge):
		const publicErr = "431 Request Header Fields Too Large"
		c.bw.WriteString("HTTP/1.1 " + publicErr + h1ErrorHeaders + publicErr)
		c.bw.Flush()
		c.closeWriteAndWait()
		return
	case strings.HasPrefix(err.Error(), "unsupported transfer encoding"):
		// net/http's unsupportedTEError, unexported: its message.
		c.bw.WriteString("HTTP/1.1 501 Not Implemented" + h1ErrorHeaders + "Unsupported transfer encoding")
	case isCommonReadError(err):
		return // nothing to answer
	case errors.As(err, &se):
		text := strconv.Itoa(se.code) + " " + http.StatusText(se.code) + ": " + se.text
		c.bw.WriteString("HTTP/1.1 " + text + h1ErrorHeaders + text)
	default:
		const publicErr = "400 Bad Request"
		c.bw.WriteString("HTTP/1.1 " + publicErr + h1ErrorHeaders + publicErr)
	}
	c.bw.Flush()
}

// closeWriteAndWait ends the tunnel's writing and waits a little before
// it is closed, so that the client reads the answer before the close
// resets the connection with its unread request (net/http's
// rstAvoidanceDelay).
func (c *h1Conn) closeWriteAndWait() {
	_ = c.tc.CloseWrite()
	time.Sleep(500 * time.Millisecond)
}

// isCommonReadError is net/http's isCommonNetReadError: the client went
// away or timed out; there is no one to answer.
func isCommonReadError(err error) bool {
	if err == io.EOF {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// serveRequest serves one request read, and reports whether the
// connection may carry the next.
func (c *h1Conn) serveRequest(r *http.Request) bool {
	w := &c.w
	w.reset(r)
	c.body = nil
	canContinue := false
	expect := r.Header["Expect"]
	if len(expect) > 0 && httpguts.HeaderValuesContainsToken(expect[:1], "100-continue") {
		canContinue = r.ProtoAtLeast(1, 1) && r.ContentLength != 0
	} else if len(expect) > 0 && expect[0] != "" {
		w.header.Set("Connection", "close")
		w.WriteHeader(http.StatusExpectationFailed)
		w.finish()
		return false
	}
	if r.Body == http.NoBody || r.Body == nil {
		c.startWatch()
	} else {
		c.body = &h1Body{c: c, rc: r.Body, canContinue: canContinue}
		r.Body = c.body
	}
	ok := c.runHandler(w, r)
	bodyDone := c.body.end()
	c.io.idle, c.io.wd = 0, time.Time{} // forwardIdle's, after the body
	if c.stopWatch() || !ok {
		return false
	}
	w.finish()
	return bodyDone && w.reusable()
}

// watchAfter is how long a request may run before its tunnel is watched
// for the client going away. net/http reads every connection in the
// background for this, at a read system call, a wake-up and a deadline
// per request; a request answered within watchAfter needs none.
const watchAfter = 250 * time.Millisecond

// startWatch arms the watch of the request in flight, once its body is
// read: if it still runs after watchAfter, watchClient reads the client
// connection, and cancels the request if the client has gone.
func (c *h1Conn) startWatch() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.inRequest = true
	if c.watch == nil {
		c.watch = time.AfterFunc(watchAfter, c.watchClient)
		return
	}
	c.watch.Reset(watchAfter)
}

// watchClient reads one byte of the client connection while the request
// runs: EOF or an error means the client went away (its requests are
// cancelled and the tunnel ends); a byte is the start of the next
// request, kept for it.
func (c *h1Conn) watchClient() {
	c.wmu.Lock()
	if !c.inRequest || c.watching {
		c.wmu.Unlock()
		return // the request ended meanwhile, or is watched already
	}
	// The deadline is lifted under the lock: stopWatch's past deadline,
	// which ends the read, can then only come after it.
	_ = c.tc.SetReadDeadline(time.Time{})
	c.watching = true
	c.watchDone = make(chan struct{})
	done := c.watchDone
	c.wmu.Unlock()
	defer close(done)
	n, err := c.tc.Read(c.io.pend[:])
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.watching = false
	c.io.npend = n
	if err != nil && c.inRequest {
		c.gone = true
		c.cancel()
	}
}

// stopWatch ends the watch of the request that was served, waiting for a
// watchClient read to return, and reports whether the client went away.
func (c *h1Conn) stopWatch() (gone bool) {
	c.wmu.Lock()
	if !c.inRequest {
		c.wmu.Unlock()
		return false
	}
	c.inRequest = false
	watching, done := c.watching, c.watchDone
	c.wmu.Unlock()
	c.watch.Stop()
	if watching {
		_ = c.tc.SetReadDeadline(pastDeadline) // ends the read
		<-done
		c.io.rdSet = pastDeadline // the next read sets its own
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.gone
}

// runHandler runs the handler on r, and reports whether it returned: a
// panic (http.ErrAbortHandler, from a response cut half way) ends the
// connection, as net/http's server does.
func (c *h1Conn) runHandler(w *h1Writer, r *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.logf("interception: panic serving %s: %v\n%s", c.ic.client, p, buf)
			}
			ok = false
		}
	}()
	c.s.serveIntercepted(w, r)
	return true
}

// h1Body is a request body as the handler reads it: it records whether the
// body was read to its end (else the connection cannot carry another
// request), sends 100 Continue on the first read when the client asked
// for it and no answer was written yet, and never reads the rest of the
// body on Close (the connection closes instead).
//
// The handler may have it read by a goroutine of its own that outlives
// it (http.Transport writes a request body from its write loop, and may
// still do so after the response came, through an upstream proxy): reads
// are serialised with the end of the request (end), after which the body
// reads nothing, and the 100 Continue with the answer's head (cmu).
type h1Body struct {
	c  *h1Conn
	rc io.ReadCloser

	mu      sync.Mutex
	done    bool        // read to its end
	closed  bool        // closed by the handler, or its request ended
	reading atomic.Bool // a read of the connection is running (under mu)

	cmu         sync.Mutex
	canContinue bool // 100 Continue may still be sent
}

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.done {
		return 0, io.EOF
	}
	if err := b.sendContinue(); err != nil {
		return 0, err
	}
	b.reading.Store(true)
	n, err := b.rc.Read(p)
	b.reading.Store(false)
	if err == io.EOF {
		b.done = true
		b.c.startWatch()
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// end ends the body with its handler, and reports whether it was read to
// its end; a nil body has none to read. A read still running in another
// goroutine is cut (the client may be waiting for the answer before it
// sends the rest), and the tunnel closes after the answer.
func (b *h1Body) end() bool {
	if b == nil {
		return true
	}
	cut := false
	for !b.mu.TryLock() {
		// Another goroutine holds the body: a Close, an EOF being
		// recorded, or a read of the connection, which is cut.
		if !cut && b.reading.Load() {
			_ = b.c.tc.SetReadDeadline(pastDeadline)
			cut = true
		}
		time.Sleep(time.Millisecond)
	}
	defer b.mu.Unlock()
	if cut {
		b.c.io.rdSet = pastDeadline // the next read sets its own
		b.closed = true
		return false
	}
	b.closed = true
	return b.done
}

// isDone reports whether the body was read to its end (nil: none); not
// while another goroutine reads it, which is not waited for.
func (b *h1Body) isDone() bool {
	if b == nil {
		return true
	}
	if !b.mu.TryLock() {
		return false
	}
	defer b.mu.Unlock()
	return b.done
}

// sendContinue writes 100 Continue if the client asked for it and no
// answer was given yet.
func (b *h1Body) sendContinue() error {
	b.cmu.Lock()
	defer b.cmu.Unlock()
	if !b.canContinue {
		return nil
	}
	b.canContinue = false
	b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return b.c.bw.Flush()
}

// noContinue is called as an answer is written: no 100 Continue after
// it. It returns with cmu held when there is a body (unlock with
// doneContinue), so that the answer's writes do not meet one.
func (c *h1Conn) noContinue() {
	if b := c.body; b != nil {
		b.cmu.Lock()
		b.canContinue = false
	}
}

// doneContinue ends noContinue.
func (c *h1Conn) doneContinue() {
	if b := c.body; b != nil {
		b.cmu.Unlock()
	}
}

// h1Writer is the http.ResponseWriter of the loop, reused for every
// response of a tunnel. The head is written when the framing is known: at
// WriteHeader when the handler set a Content-Length or the response has no
// body, else at the first write past a small buffer (chunked), at a Flush
// (chunked), or at the end (Content-Length of what was written). It also
// has the deadline methods http.ResponseController looks for.
type h1Writer struct {
	c      *h1Conn
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // the final status was given
	headWritten bool // the head is in the connection's buffer
	chunking    bool
	closeAfter  bool
	isHEAD      bool
	cl          int64 // Content-Length, or -1
	written     int64
	buf         []byte // body held until the framing is known
	trailers    []string
	handlerDone bool
}

// h1HoldBytes is how much of a body is held before the head is written
// without a Content-Length (net/http's bufferBeforeChunkingSize).
const h1HoldBytes = 2048

func (w *h1Writer) reset(r *http.Request) {
	clear(w.header)
	buf, trailers := w.buf[:0], w.trailers[:0]
	*w = h1Writer{c: w.c, req: r, header: w.header, buf: buf, trailers: trailers, cl: -1, isHEAD: r.Method == http.MethodHead}
}

// Header is the response header; it is written with the head.
func (w *h1Writer) Header() http.Header { return w.header }

// WriteHeader gives the status: a 1xx one is written at once, with the
// header as it is; a final one once.
func (w *h1Writer) WriteHeader(code int) {
	if w.wroteHeader {
		w.c.s.logf("interception: superfluous WriteHeader (%d after %d)", code, w.status)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		if code == http.StatusContinue {
			if b := w.c.body; b != nil {
				_ = b.sendContinue()
			}
			return
		}
		w.c.noContinue()
		defer w.c.doneContinue()
		bw := w.c.bw
		w.c.writeStatusLine(w.req.ProtoAtLeast(1, 1), code)
		writeHeaderFields(w.c.bw, w.header, omitNoBody)
		bw.WriteString("\r\n")
		_ = bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	w.c.noContinue()
	w.c.doneContinue()
	if v := w.header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.cl = n
		} else {
			w.c.s.logf("interception: invalid Content-Length of %q", v)
			delete(w.header, "Content-Length")
		}
	}
	if w.cl >= 0 || !bodyAllowedForStatus(code) {
		w.writeHead()
	}
}

// Write writes body bytes: held, framed as chunks, or passed as they are.
func (w *h1Writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl != -1 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.isHEAD {
		// Not sent; counted for the Content-Length of a short answer.
		if !w.headWritten && w.written > h1HoldBytes {
			w.writeHead()
		}
		return len(p), nil
	}
	if !w.headWritten {
		if len(w.buf)+len(p) <= h1HoldBytes {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.writeHead()
	}
	return w.writeBody(p)
}

// writeBody writes p as the framing says, after the head.
func (w *h1Writer) writeBody(p []byte) (int, error) {
	bw := w.c.bw
	if w.chunking {
		bw.Write(strconv.AppendInt(w.c.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		n, _ := bw.Write(p)
		_, err := bw.WriteString("\r\n")
		if err != nil {
			return n, err
		}
		return len(p), nil
	}
	return bw.Write(p)
}

// FlushError writes the head (chunked when no length is known) and what
// is buffered to the client.
func (w *h1Writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		w.writeHead()
	}
	return w.c.bw.Flush()
}

// Flush is FlushError without the error (http.Flusher).
func (w *h1Writer) Flush() { _ = w.FlushError() }

// SetReadDeadline sets the client connection's read deadline (for the
// request body); it is applied at the next read of the connection.
func (w *h1Writer) SetReadDeadline(t time.Time) error {
	w.c.io.rd = t
	return nil
}

// SetWriteDeadline sets the client connection's write deadline; it is
// applied at the next write to the connection.
func (w *h1Writer) SetWriteDeadline(t time.Time) error {
	w.c.io.wd = t
	return nil
}

// finish ends the response after the handler: the head if not written yet
// (with the Content-Length of what was held), the last chunk and
// trailers, and a flush.
func (w *h1Writer) finish() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		w.writeHead()
	}
	bw := w.c.bw
	if w.chunking {
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				writeHeaderField(w.c.bw, k, v)
			}
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(name) && httpguts.ValidTrailerHeader(name) {
				for _, v := range vv {
					writeHeaderField(w.c.bw, name, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	_ = bw.Flush()
}

// reusable reports whether the connection may carry another request after
// this response, as far as the response goes (serveRequest adds that the
// request's body must have been read to its end).
func (w *h1Writer) reusable() bool {
	switch {
	case w.closeAfter, w.c.io.werr != nil:
		return false
	case !w.isHEAD && w.cl != -1 && bodyAllowedForStatus(w.status) && w.cl != w.written:
		return false // too little written: the client would be out of step
	}
	return true
}

// writeHead writes the status line and header, choosing the framing and
// whether the connection closes after the response, as net/http does.
func (w *h1Writer) writeHead() {
	w.headWritten = true
	c, h, r := w.c, w.header, w.req
	bodyOK := bodyAllowedForStatus(w.status)
	trailers := false
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			trailers = true
			break
		}
	}
	for _, v := range h["Trailer"] {
		trailers = true
		for f := range strings.SplitSeq(v, ",") {
			// Trailers RFC 9110 forbids (framing, routing, Content-Type…)
			// are not sent, as net/http declares none of them.
			if f = http.CanonicalHeaderKey(textproto.TrimString(f)); f != "" && httpguts.ValidTrailerHeader(f) {
				w.trailers = append(w.trailers, f)
			}
		}
	}
	te := ""
	if v := h["Transfer-Encoding"]; len(v) > 0 {
		te = v[0]
	}
	var clen []byte
	if w.handlerDone && !trailers && te == "" && bodyOK && w.cl == -1 && (!w.isHEAD || w.written > 0) {
		w.cl = int64(len(w.buf))
		if w.isHEAD {
			w.cl = w.written
		}
		clen = strconv.AppendInt(c.clenBuf[:0], w.cl, 10)
	}
	wants10KeepAlive := r.ProtoMajor == 1 && r.ProtoMinor == 0 && httpguts.HeaderValuesContainsToken(r.Header["Connection"], "keep-alive")
	wantsClose := r.Close || httpguts.HeaderValuesContainsToken(r.Header["Connection"], "close")
	connection := ""
	hasCL := w.cl != -1
	if wants10KeepAlive && (w.isHEAD || hasCL || !bodyOK) {
		if _, ok := h["Connection"]; !ok {
			connection = "keep-alive"
		}
	} else if !r.ProtoAtLeast(1, 1) || wantsClose {
		w.closeAfter = true
	}
	if len(h["Connection"]) > 0 && h["Connection"][0] == "close" || c.m.h1.closing.Load() {
		w.closeAfter = true // asked by the handler, or the proxy shuts down
	}
	if r.ContentLength != 0 && !c.body.isDone() {
		w.closeAfter = true // the body was not read (or 100 Continue not sent)
	}
	if len(r.TransferEncoding) > 0 || c.faultyTE {
		// A chunked request may have had a Content-Length too (guardBody),
		// whatever a 1xx did to the header since; see also faultyTE.
		w.closeAfter = true
	}
	if hasCL && te != "" && te != "identity" {
		delete(h, "Content-Length")
		hasCL = false
	}
	switch {
	case w.isHEAD || !bodyOK || w.status == http.StatusNoContent:
	case hasCL:
	case r.ProtoAtLeast(1, 1) && te != "identity":
		w.chunking = true
	default:
		w.closeAfter = true // delimited by the close
	}
	if w.closeAfter && !httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		delete(h, "Connection")
		connection = "close"
	}

	bw := c.bw
	c.writeStatusLine(r.ProtoAtLeast(1, 1), w.status)
	omit := omitFraming
	switch {
	case w.status == http.StatusNotModified:
		omit = omit304
	case !bodyOK:
		omit = omitNoBody
	}
	writeHeaderFields(bw, h, omit)
	if clen != nil {
		bw.WriteString("Content-Length: ")
		bw.Write(clen)
		bw.WriteString("\r\n")
	}
	if connection != "" {
		bw.WriteString("Connection: " + connection + "\r\n")
	}
	if w.chunking {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(c.dateNow())
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	if len(w.buf) > 0 {
		_, _ = w.writeBody(w.buf)
		w.buf = w.buf[:0]
	}
}

// Which header lines a response head leaves out: Transfer-Encoding and
// the trailer values, always framed by the writer; for 1xx and 204 the
// Content-Length too, for 304 the Content-Type as well.
func omitFraming(k string) bool {
	return k == "Transfer-Encoding" || strings.HasPrefix(k, http.TrailerPrefix)
}
func omitNoBody(k string) bool { return k == "Content-Length" || omitFraming(k) }
func omit304(k string) bool    { return k == "Content-Type" || omitNoBody(k) }

// writeStatusLine is net/http's.
func (c *h1Conn) writeStatusLine(is11 bool, code int) {
	bw := c.bw
	if is11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	if text := http.StatusText(code); text != "" {
		bw.Write(strconv.AppendInt(c.scratch[:0], int64(code), 10))
		bw.WriteByte(' ')
		bw.WriteString(text)
		bw.WriteString("\r\n")
	} else {
		fmt.Fprintf(bw, "%03d status code %d\r\n", code, code)
	}
}

// dateNow is the Date header value of now, formatted once a second.
func (c *h1Conn) dateNow() []byte {
	now := time.Now()
	if sec := now.Unix(); sec != c.dateSec || c.date == nil {
		c.dateSec = sec
		c.date = now.UTC().AppendFormat(c.date[:0], http.TimeFormat)
	}
	return c.date
}

// bodyAllowedForStatus is net/http's: 1xx, 204 and 304 have no body.
func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// pushIdle makes the connection push its read and write deadlines to idle
// from now on every read of the request body and every write of the
// response (Server.forwardIdle, with no wrappers). The read side is lifted
// by serveRequest once the body has ended (a read of it may still run in
// another goroutine, h1Body); the write side by liftWriteIdle.
func (w *h1Writer) pushIdle(idle time.Duration) { w.c.io.idle = idle }

// liftWriteIdle ends pushIdle's write deadline.
func (w *h1Writer) liftWriteIdle() { w.c.io.wd = time.Time{} }

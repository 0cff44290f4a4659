package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the HTTP/1.1 loop of intercepted tunnels against clients that
// try to hold it, desync it or slip a request past it.

// TestInterceptLoopPipelinedSlowHead: the head of a pipelined request
// that arrived in part with the previous one must still be complete
// within the read-header timeout; its tunnel closes without an answer.
func TestInterceptLoopPipelinedSlowHead(t *testing.T) {
	m, _ := loopHarness(t, func(s *Server) {
		s.ReadHeaderTimeout = 300 * time.Millisecond
		s.IdleTimeout = 10 * time.Second
	})
	tc, br := innerTunnel(t, m)
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\nGET /next HTTP/1.1\r\nHost: example.com\r\n")
	if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 || body != "hello over TLS" {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	start := time.Now()
	wantTunnelClosed(t, tc, br)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want about the read-header timeout (300ms)", d)
	}
	for _, p := range originURIs(m) {
		if strings.HasPrefix(p, "/next") {
			t.Error("the half-sent request reached the origin")
		}
	}
}

// TestInterceptLoopUnreadAnswersCut: a client that pipelines requests
// and never reads the answers is cut after about the idle timeout, even
// when every answer is one the proxy writes itself (a refusal) or a small
// response written whole after its handler: no write of the loop waits
// forever, and the tunnel's slot comes back.
func TestInterceptLoopUnreadAnswersCut(t *testing.T) {
	m, _ := loopHarness(t, func(s *Server) {
		s.IdleTimeout = 500 * time.Millisecond
		s.Logf = func(string, ...any) {}
	})
	for _, method := range []string{"DELETE", "GET"} {
		t.Run(method, func(t *testing.T) {
			tc, _ := innerTunnel(t, m)
			req := strings.Repeat(method+" / HTTP/1.1\r\nHost: example.com\r\n\r\n", 256)
			done := make(chan struct{})
			go func() { // bounded: 2M requests at most, or 20 s
				defer close(done)
				tc.SetWriteDeadline(time.Now().Add(20 * time.Second))
				for i := 0; i < 8192; i++ {
					if _, err := io.WriteString(tc, req); err != nil {
						return
					}
				}
			}()
			// GETs take a while to fill the socket buffers (each goes to
			// the origin); without a bound the tunnel is never cut.
			start := time.Now()
			for m.srv.activeCount() != 0 || len(m.srv.slots) != 0 {
				if time.Since(start) > 15*time.Second {
					t.Fatal("a client that reads nothing holds its tunnel")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if d := time.Since(start); d < 400*time.Millisecond {
				t.Errorf("cut after %v, before the idle timeout", d)
			}
			tc.Close()
			<-done
		})
	}
}

// TestInterceptLoopRefusalBeforeBigBody: a refused request whose large
// body is not read still gets its 403: the tunnel is half-closed and
// lingers before the close, so that the unread body does not reset the
// connection under the answer (net/http's closeWriteAndWait).
func TestInterceptLoopRefusalBeforeBigBody(t *testing.T) {
	m, _ := loopHarness(t)
	for i := 0; i < 5; i++ {
		tc, br := innerTunnel(t, m)
		const size = 8 << 20
		go func() { // bounded by the tunnel's deadline and the size
			io.WriteString(tc, "POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n")
			tc.Write(make([]byte, size))
		}()
		resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
		if err != nil {
			t.Fatalf("try %d: no answer to the refused upload: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 403 || !strings.Contains(string(body), "method_not_allowed") {
			t.Fatalf("try %d: %d %q %v, want the whole 403", i, resp.StatusCode, body, err)
		}
		tc.Close()
	}
	if n := m.origin.hits.Load(); n != 0 {
		t.Errorf("origin got %d requests", n)
	}
}

// hijackingOrigin is an HTTP/1.1 origin whose requests for
// the paths in raw are answered by those funcs, on the hijacked connection
// (closed after them); other paths as loopOrigin does.
func hijackingOrigin(t *testing.T, release chan struct{}, raw map[string]func(o *tlsOrigin, r *http.Request, c net.Conn, bw *bufio.ReadWriter)) *tlsOrigin {
	t.Helper()
	return newTLSOrigin(t, loopOrigin(release), func(o *tlsOrigin) {
		o.TLS.NextProtos = []string{"http/1.1"}
		next := o.Config.Handler
		o.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, ok := raw[r.URL.Path]
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			c, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			f(o, r, c, bw)
		})
	})
}

// rawOriginHarness is a loopHarness whose origin answers each path in
// raws with those bytes, written on the hijacked connection, which then
// closes; other paths as loopOrigin does.
func rawOriginHarness(t *testing.T, raws map[string]string) *mitmHarness {
	t.Helper()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	handlers := map[string]func(*tlsOrigin, *http.Request, net.Conn, *bufio.ReadWriter){}
	for path, raw := range raws {
		handlers[path] = func(o *tlsOrigin, r *http.Request, _ net.Conn, bw *bufio.ReadWriter) {
			o.hits.Add(1)
			o.record(r)
			bw.WriteString(raw)
			bw.Flush()
		}
	}
	o := hijackingOrigin(t, release, handlers)
	return newMITMHarnessTo(t, o, limitedMITM(map[string]string{"example.com": "allow"}), func(s *Server) { s.Logf = func(string, ...any) {} })
}

// TestInterceptLoopUpstreamFraming: what an origin frames badly or cuts
// reaches the client framed by the loop: a body delimited by the close
// is passed on chunked and whole; a chunked body cut half way never
// looks complete; trailers that RFC 9110 forbids (one that would set the
// Content-Type) are not passed on, the others are.
func TestInterceptLoopUpstreamFraming(t *testing.T) {
	m := rawOriginHarness(t, map[string]string{
		"/close-delimited": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, then the close",
		"/cut-chunked":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"/cut-length":      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello",
		"/trailers": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: Content-Type, X-Ok\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2\r\nok\r\n0\r\nContent-Type: evil/x\r\nX-Ok: yes\r\n\r\n",
	})
	t.Run("close-delimited", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		innerRequest(t, tc, "GET", "/close-delimited")
		resp, body := innerResponse(t, br, "GET")
		if resp.StatusCode != 200 || body != "all of it, then the close" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if len(resp.TransferEncoding) != 1 && !resp.Close {
			t.Errorf("framing: TE %v close=%v, want chunked or the close", resp.TransferEncoding, resp.Close)
		}
	})
	for _, path := range []string{"/cut-chunked", "/cut-length"} {
		t.Run(path, func(t *testing.T) {
			tc, br := innerTunnel(t, m)
			innerRequest(t, tc, "GET", path)
			if resp, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err == nil {
				if b, err := io.ReadAll(resp.Body); err == nil {
					t.Errorf("a cut response read whole: %d %q", resp.StatusCode, b)
				}
			}
			wantTunnelClosed(t, tc, br)
		})
	}
	t.Run("trailers", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		innerRequest(t, tc, "GET", "/trailers")
		resp, body := innerResponse(t, br, "GET")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if got := resp.Trailer.Get("X-Ok"); got != "yes" {
			t.Errorf("trailer X-Ok: %q, want yes (%v)", got, resp.Trailer)
		}
		if got, ok := resp.Trailer["Content-Type"]; ok && len(got) > 0 {
			t.Errorf("a Content-Type trailer was passed on: %q", got)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type %q, want the origin's header", ct)
		}
	})
}

// TestInterceptLoopFaultyFramingCloses: a request whose framing RFC 9112
// §6.1 calls faulty closes its tunnel after the answer, whatever comes
// between: a chunked request (which may have carried a Content-Length
// too) even when the origin sent a 1xx first, and an HTTP/1.0 request
// with Transfer-Encoding (which net/http's parser ignores, reading no
// body) even when it asked for keep-alive. What follows is never read
// as a request.
func TestInterceptLoopFaultyFramingCloses(t *testing.T) {
	m := rawOriginHarness(t, map[string]string{
		"/early": "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	})
	for _, tt := range []struct{ name, raw, body string }{
		{"chunked after a 1xx", "GET /early HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "ok"},
		{"HTTP/1.0 with Transfer-Encoding", "GET / HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n", "hello over TLS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc, br := innerTunnel(t, m)
			io.WriteString(tc, tt.raw+"GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n")
			resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
			for err == nil && resp.StatusCode < 200 {
				resp, err = http.ReadResponse(br, &http.Request{Method: "GET"})
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != tt.body || !resp.Close {
				t.Errorf("got %d %q close=%v, want %q and Connection: close", resp.StatusCode, body, resp.Close, tt.body)
			}
			wantTunnelClosed(t, tc, br)
			for _, p := range originURIs(m) {
				if p == "/smuggled" {
					t.Error("the bytes after the request reached the origin as a request")
				}
			}
		})
	}
}

// TestInterceptLoopNoLeaks: tunnels that end every way — the client
// leaving between requests or while the origin has not answered (the
// watch running), a bad request, a refusal, Connection: close — leave no
// goroutine behind (the loop, its watch, its timer's function).
func TestInterceptLoopNoLeaks(t *testing.T) {
	m, release := loopHarness(t)
	defer close(release)
	// One tunnel first, so that the proxy's and the origin's lasting
	// goroutines (listeners, pools) are counted in the baseline.
	tc, br := innerTunnel(t, m)
	innerOK(t, tc, br, "GET")
	tc.Close()
	waitFor(t, func() bool { return m.srv.activeCount() == 0 }, "the first tunnel to end")
	m.origin.CloseClientConnections()
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		tc, br := innerTunnel(t, m)
		switch i % 5 {
		case 0:
			innerOK(t, tc, br, "GET")
		case 1:
			innerRequest(t, tc, "GET", "/block")
			time.Sleep(2 * watchAfter) // the watch reads the client
		case 2:
			io.WriteString(tc, "GARBAGE\r\n\r\n")
			innerResponse(t, br, "GET")
		case 3:
			innerRequest(t, tc, "DELETE", "/")
			innerResponse(t, br, "DELETE")
		case 4:
			innerRequest(t, tc, "GET", "/", "Connection: close")
			innerResponse(t, br, "GET")
		}
		tc.Close()
	}
	waitFor(t, func() bool { return m.srv.activeCount() == 0 && len(m.srv.slots) == 0 }, "every tunnel to end")
	m.origin.CloseClientConnections()
	var n int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// The /block handlers at the origin wait for release: 4 of them,
		// with their connections' goroutines, are not the proxy's.
		if n = runtime.NumGoroutine(); n <= base+8 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("goroutines: %d before, %d after", base, n)
	if n > base+8 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after 20 tunnels, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// TestInterceptLoopBodiesViaUpstreamProxy: through an upstream proxy the
// inner requests go through http.Transport, which reads a request body
// from a goroutine of its own that may outlive the handler (an origin
// that answers before the body is sent). Each body is read only for its
// own request: the tunnel carries the next request after a body read
// whole, a body read by nobody afterwards (run with -race).
func TestInterceptLoopBodiesViaUpstreamProxy(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	o := hijackingOrigin(t, release, map[string]func(*tlsOrigin, *http.Request, net.Conn, *bufio.ReadWriter){
		"/early": func(o *tlsOrigin, _ *http.Request, c net.Conn, bw *bufio.ReadWriter) {
			// Answers at once, and keeps reading what comes.
			o.hits.Add(1)
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
			bw.Flush()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, bw)
		},
	})
	var connects atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		e, err := net.Dial("tcp", o.Listener.Addr().String())
		if err != nil {
			return
		}
		defer e.Close()
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
		go io.Copy(e, brw)
		io.Copy(c, e)
	}))
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	e := limitedMITM(map[string]string{"example.com": "allow"})
	e.AllowUpstreamProxy.Value = true
	m := newMITMHarnessTo(t, o, e, func(s *Server) {
		s.Upstream = func(*url.URL) (*url.URL, error) { return upURL, nil }
		next := s.Dial
		s.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == upURL.Host {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			return next(ctx, network, addr)
		}
	})

	tc, br := innerTunnel(t, m)
	for i, body := range []string{"hello", "again", "third"} {
		io.WriteString(tc, "GET /"+strconv.Itoa(i)+" HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n"+body)
		if resp, got := innerResponse(t, br, "GET"); resp.StatusCode != 200 || got != "hello over TLS" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, got)
		}
		if got := m.origin.last(t).Body; got != body {
			t.Errorf("request %d: origin got body %q, want %q", i, got, body)
		}
	}
	if connects.Load() == 0 {
		t.Fatal("the requests did not go through the upstream proxy")
	}
	// An answer before the body: the origin's handler reads none of it,
	// and answers while the Transport still waits for the rest of it
	// from the client, after the handler returned.
	tc, br = innerTunnel(t, m)
	io.WriteString(tc, "GET /early HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\nhello")
	if resp, got := innerResponse(t, br, "GET"); resp.StatusCode != 200 || got != "early" {
		t.Fatalf("early answer: %d %q", resp.StatusCode, got)
	}
	io.WriteString(tc, "world")
	// The tunnel carries on once the body was read whole, else closes;
	// either way the next request is a request of its own.
	io.WriteString(tc, "GET /after HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if resp, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err == nil {
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "hello over TLS" {
			t.Errorf("after the early answer: %d %q", resp.StatusCode, b)
		}
	}
}

// TestInterceptLoopNothingAfterClose: what a client pipelines after a
// request that said Connection: close (or after an HTTP/1.0 one without
// keep-alive) is never read as a request: it reaches no origin and gets
// no decision.
func TestInterceptLoopNothingAfterClose(t *testing.T) {
	m, _ := loopHarness(t)
	for _, first := range []string{
		"GET /a HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, close\r\n\r\n",
		"GET /a HTTP/1.0\r\nHost: example.com\r\n\r\n",
	} {
		before := len(originURIs(m))
		tc, br := innerTunnel(t, m)
		io.WriteString(tc, first+"GET /after HTTP/1.1\r\nHost: example.com\r\n\r\nDELETE /after HTTP/1.1\r\nHost: example.com\r\n\r\n")
		if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 || !resp.Close || body != "hello over TLS" {
			t.Errorf("%q: %d close=%v %q", first, resp.StatusCode, resp.Close, body)
		}
		wantTunnelClosed(t, tc, br)
		if got := originURIs(m)[before:]; len(got) != 1 || got[0] != "/a" {
			t.Errorf("%q: origin got %v, want /a alone", first, got)
		}
	}
	wantHTTPSAudits(t, m, "DELETE", "method_not_allowed", 0)
	wantHTTPSAudits(t, m, "GET", "allowed", 3)
}

// TestInterceptLoopNoBodyStatusWithBody: an origin that sends a body
// after a 204 or 304 (or more than a response's length) with its answer
// gets it dropped with its connection (upConn.fresh): the bytes are never
// read as the response to the next request, of this tunnel or another to
// the same origin; nor are bytes that come later, while the connection is
// idle in the pool (upConn.probe finds them before it is reused).
func TestInterceptLoopNoBodyStatusWithBody(t *testing.T) {
	const injected = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected"
	for _, tt := range []struct{ path, raw, later string }{
		{"/204", "HTTP/1.1 204 No Content\r\n\r\n" + injected, ""},
		{"/304", "HTTP/1.1 304 Not Modified\r\n\r\n" + injected, ""},
		{"/long", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + injected, ""},
		{"/later", "HTTP/1.1 204 No Content\r\n\r\n", injected},
	} {
		t.Run(tt.path, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			o := hijackingOrigin(t, release, map[string]func(*tlsOrigin, *http.Request, net.Conn, *bufio.ReadWriter){
				tt.path: func(_ *tlsOrigin, _ *http.Request, c net.Conn, bw *bufio.ReadWriter) {
					// Answers, and keeps the connection open.
					bw.WriteString(tt.raw)
					bw.Flush()
					if tt.later != "" {
						time.Sleep(50 * time.Millisecond)
						bw.WriteString(tt.later)
						bw.Flush()
					}
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					io.Copy(io.Discard, bw)
				},
			})
			m := newMITMHarnessTo(t, o, limitedMITM(map[string]string{"example.com": "allow"}))
			tc, br := innerTunnel(t, m)
			innerRequest(t, tc, "GET", tt.path)
			innerResponse(t, br, "GET")
			if tt.later != "" {
				time.Sleep(200 * time.Millisecond) // the bytes reach the idle connection
			}
			for i := 0; i < 2; i++ { // this tunnel, then another
				innerRequest(t, tc, "GET", "/next")
				if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 || body != "hello over TLS" {
					t.Fatalf("next request: %d %q, want the origin's answer to it", resp.StatusCode, body)
				}
				tc, br = innerTunnel(t, m)
			}
		})
	}
}

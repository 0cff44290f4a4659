package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the HTTP/1.1 loop of intercepted tunnels (interceptloop.go):
// each guarantee net/http's server gave this path, on the wire.

// loopOrigin is a tlsOrigin option answering a few paths the way the loop
// must pass on: /chunked (no length, flushed), /204, /304, /nocontenttype,
// /trailer, /short (a Content-Length it does not keep), /stream (two
// parts, the second only once release is closed), /block (waits for
// release); the rest as newTLSOrigin does. The body of every request is
// recorded (requestLog).
func loopOrigin(release chan struct{}) func(*tlsOrigin) {
	return func(o *tlsOrigin) {
		o.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.hits.Add(1)
			o.record(r)
			switch r.URL.Path {
			case "/chunked":
				io.WriteString(w, "part one,")
				w.(http.Flusher).Flush()
				io.WriteString(w, " part two")
			case "/204":
				w.WriteHeader(http.StatusNoContent)
			case "/304":
				w.WriteHeader(http.StatusNotModified)
			case "/nocontenttype":
				w.Header()["Content-Type"] = nil // no sniffing at the origin
				io.WriteString(w, "<html><body>not sniffed</body></html>")
			case "/trailer":
				w.Header().Set("Trailer", "X-Checksum")
				io.WriteString(w, "with a trailer")
				w.Header().Set("X-Checksum", "abc")
			case "/short":
				w.Header().Set("Content-Length", "100")
				io.WriteString(w, "only ten b")
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			case "/stream":
				io.WriteString(w, "first")
				w.(http.Flusher).Flush()
				<-release
				io.WriteString(w, "second")
			case "/hints":
				w.Header().Set("Link", "</style.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				io.WriteString(w, "after hints")
			case "/big":
				chunk := make([]byte, 32<<10)
				for i := 0; i < 1024; i++ { // 32 MiB
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			case "/block":
				<-release
				io.WriteString(w, "released")
			default:
				w.Header().Set("X-Origin", "tls")
				io.WriteString(w, "hello over TLS")
			}
		})
	}
}

// loopHarness is a pinHarness on a loopOrigin.
func loopHarness(t *testing.T, opts ...func(*Server)) (*mitmHarness, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	o := newTLSOrigin(t, loopOrigin(release), func(o *tlsOrigin) { o.TLS.NextProtos = []string{"http/1.1"} })
	m := newMITMHarnessTo(t, o, limitedMITM(map[string]string{"example.com": "allow"}), opts...)
	return m, release
}

// wantTunnelClosed checks that the proxy closes the tunnel: nothing more than
// EOF comes, within a few seconds.
func wantTunnelClosed(t *testing.T, tc *tls.Conn, br *bufio.Reader) {
	t.Helper()
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(br)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("tunnel not closed: %v (read %q)", err, b)
	} else if len(b) > 0 {
		t.Errorf("after the answer: %q, want the close", b)
	}
}

// rawExchange writes raw on a new intercepted tunnel and reads one response.
func rawExchange(t *testing.T, m *mitmHarness, raw, method string) (*http.Response, string, *tls.Conn, *bufio.Reader) {
	t.Helper()
	tc, br := innerTunnel(t, m)
	if _, err := io.WriteString(tc, raw); err != nil {
		t.Fatal(err)
	}
	resp, body := innerResponse(t, br, method)
	return resp, body, tc, br
}

// TestInterceptLoopRefusesBadRequests: a request that cannot be read or
// that breaks HTTP/1.1's rules is answered as net/http's server answers
// it, the tunnel closes, and nothing reaches the origin.
func TestInterceptLoopRefusesBadRequests(t *testing.T) {
	m, _ := loopHarness(t, func(s *Server) { s.MaxHeaderBytes = 8 << 10 })
	for _, tt := range []struct {
		name, raw string
		code      int
		body      string // a part of the body
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "400 Bad Request"},
		{"malformed header line", "GET / HTTP/1.1\r\nHost: example.com\r\nno colon here\r\n\r\n", 400, "400 Bad Request"},
		{"no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"no Host in absolute form", "GET https://example.com/ HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"two Host lines", "GET / HTTP/1.1\r\nHost: example.com\r\nhost: example.com\r\n\r\n", 400, "400 Bad Request"},
		{"invalid Host", "GET / HTTP/1.1\r\nHost: exa\tmple.com\r\n\r\n", 400, "malformed Host header"},
		{"Host continued on a second line", "GET / HTTP/1.1\r\nHost: example.com\r\n other\r\n\r\n", 400, "400 Bad Request"},
		{"invalid Host in absolute form", "GET https://example.com/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "malformed Host header"},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: example.com\r\nX(Bad): 1\r\n\r\n", 400, "400 Bad Request"},
		{"invalid header value", "GET / HTTP/1.1\r\nHost: example.com\r\nX-A: a\x7fb\r\n\r\n", 400, "400 Bad Request"},
		{"unsupported transfer coding", "GET / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Unsupported transfer encoding"},
		{"two content lengths", "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, "400 Bad Request"},
		{"HTTP/2 request line", "GET / HTTP/2.0\r\nHost: example.com\r\n\r\n", 505, "unsupported protocol version"},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: example.com\r\nExpect: magic\r\n\r\n", 417, ""},
		{"head past the read bound", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431, "Request Header Fields Too Large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := m.origin.hits.Load()
			resp, body, tc, br := rawExchange(t, m, tt.raw, "GET")
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tt.code, tt.body)
			}
			if !resp.Close {
				t.Errorf("answer without Connection: close: %v", resp.Header)
			}
			wantTunnelClosed(t, tc, br)
			if n := m.origin.hits.Load() - before; n != 0 {
				t.Errorf("origin got %d requests", n)
			}
		})
	}
	// A head within the read bound but past the limit: the handler's
	// exact check, before any decision.
	resp, body, tc, br := rawExchange(t, m, "GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: "+strings.Repeat("a", 9<<10)+"\r\n\r\n", "GET")
	if resp.StatusCode != 431 {
		t.Errorf("head of 9 KiB over a limit of 8: %d %q", resp.StatusCode, body)
	}
	wantTunnelClosed(t, tc, br)
}

// TestInterceptLoopNoSmuggling: a request with both Transfer-Encoding and
// Content-Length is read as chunked and its connection closes after the
// answer, so that what follows is never read as a request of its own.
func TestInterceptLoopNoSmuggling(t *testing.T) {
	m, _ := loopHarness(t)
	raw := "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"
	resp, body, tc, br := rawExchange(t, m, raw, "GET")
	if resp.StatusCode != 200 || body != "hello over TLS" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := m.origin.last(t).Body; got != "abc" {
		t.Errorf("origin got body %q, want the chunked one", got)
	}
	if !resp.Close {
		t.Error("a chunked request's connection stays open")
	}
	wantTunnelClosed(t, tc, br)
	for _, p := range originURIs(m) {
		if p == "/smuggled" {
			t.Error("the bytes after the chunked body reached the origin as a request")
		}
	}
}

// TestInterceptLoopTimeouts: the read-header timeout bounds a head that
// does not come, the idle timeout a tunnel that sends nothing more; both
// close without an answer.
func TestInterceptLoopTimeouts(t *testing.T) {
	m, _ := loopHarness(t, func(s *Server) {
		s.ReadHeaderTimeout = 300 * time.Millisecond
		s.IdleTimeout = 600 * time.Millisecond
	})
	t.Run("read header", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: exam")
		start := time.Now()
		wantTunnelClosed(t, tc, br)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v, want about the read-header timeout", d)
		}
	})
	t.Run("read header after idle", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		innerOK(t, tc, br, "GET")
		io.WriteString(tc, "GET / HTTP/1.1\r\n")
		start := time.Now()
		wantTunnelClosed(t, tc, br)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v, want about the read-header timeout", d)
		}
	})
	t.Run("idle", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		innerOK(t, tc, br, "GET")
		start := time.Now()
		wantTunnelClosed(t, tc, br)
		if d := time.Since(start); d < 500*time.Millisecond || d > 3*time.Second {
			t.Errorf("idle tunnel closed after %v, want about the idle timeout (600ms)", d)
		}
	})
}

// TestInterceptLoopPipelined: pipelined requests are answered in order,
// each decided on its own; the refused one never reaches the origin.
func TestInterceptLoopPipelined(t *testing.T) {
	m, _ := loopHarness(t)
	tc, br := innerTunnel(t, m)
	io.WriteString(tc, "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"+
		"DELETE /b HTTP/1.1\r\nHost: example.com\r\n\r\n"+
		"HEAD /c HTTP/1.1\r\nHost: example.com\r\n\r\n"+
		"GET /chunked HTTP/1.1\r\nHost: example.com\r\n\r\n")
	for _, want := range []struct {
		method string
		code   int
		body   string
	}{{"GET", 200, "hello over TLS"}, {"DELETE", 403, "method_not_allowed"}, {"HEAD", 200, ""}, {"GET", 200, "part one, part two"}} {
		resp, body := innerResponse(t, br, want.method)
		if resp.StatusCode != want.code || !strings.Contains(body, want.body) {
			t.Errorf("%s: %d %q, want %d %q", want.method, resp.StatusCode, body, want.code, want.body)
		}
	}
	if got, want := strings.Join(originURIs(m), " "), "/a /c /chunked"; got != want {
		t.Errorf("origin got %s, want %s", got, want)
	}
	wantHTTPSAudits(t, m, "DELETE", "method_not_allowed", 1)
	innerOK(t, tc, br, "GET") // still open
}

// TestInterceptLoopBodies: a request body of known length is forwarded and
// the tunnel carries the next request; a chunked one is forwarded and the
// tunnel closes; a refused request's body is never read and its tunnel
// closes; 100-continue is sent when the body is read, not for a refusal.
func TestInterceptLoopBodies(t *testing.T) {
	m, _ := loopHarness(t)
	t.Run("known length", func(t *testing.T) {
		resp, body, tc, br := rawExchange(t, m, "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello", "GET")
		if resp.StatusCode != 200 || body != "hello over TLS" || resp.Close {
			t.Fatalf("got %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
		if got := m.origin.last(t).Body; got != "hello" {
			t.Errorf("origin got %q", got)
		}
		innerOK(t, tc, br, "GET")
	})
	t.Run("chunked", func(t *testing.T) {
		resp, body, tc, br := rawExchange(t, m, "GET / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "hello over TLS" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if got := m.origin.last(t).Body; got != "hello" {
			t.Errorf("origin got %q", got)
		}
		if !resp.Close {
			t.Error("chunked request: tunnel kept")
		}
		wantTunnelClosed(t, tc, br)
	})
	t.Run("refused", func(t *testing.T) {
		resp, body, tc, br := rawExchange(t, m, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello", "POST")
		if resp.StatusCode != 403 || !strings.Contains(body, "method_not_allowed") || !resp.Close {
			t.Fatalf("got %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
		wantTunnelClosed(t, tc, br)
	})
	t.Run("100-continue", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("got %q %v, want 100 Continue before the body", line, err)
		}
		br.ReadString('\n')
		io.WriteString(tc, "hello")
		if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 || body != "hello over TLS" {
			t.Fatalf("after the body: %d %q", resp.StatusCode, body)
		}
		if got := m.origin.last(t).Body; got != "hello" {
			t.Errorf("origin got %q", got)
		}
		innerOK(t, tc, br, "GET")
	})
	t.Run("100-continue refused", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		io.WriteString(tc, "PUT / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		resp, body := innerResponse(t, br, "PUT")
		if resp.StatusCode != 403 || !resp.Close {
			t.Fatalf("got %d %q close=%v, want the 403 without 100 Continue", resp.StatusCode, body, resp.Close)
		}
		wantTunnelClosed(t, tc, br)
	})
}

// TestInterceptLoopResponses: the framing and headers of what the loop
// writes, for each kind of response.
func TestInterceptLoopResponses(t *testing.T) {
	m, _ := loopHarness(t)
	tc, br := innerTunnel(t, m)
	get := func(method, path string, head ...string) (*http.Response, string) {
		t.Helper()
		innerRequest(t, tc, method, path, head...)
		return innerResponse(t, br, method)
	}
	resp, body := get("GET", "/")
	if resp.ContentLength != int64(len("hello over TLS")) || resp.TransferEncoding != nil || body != "hello over TLS" {
		t.Errorf("known length: CL %d TE %v %q", resp.ContentLength, resp.TransferEncoding, body)
	}
	if resp.Header.Get("Date") == "" || resp.Header.Get("X-Origin") != "tls" {
		t.Errorf("header %v: want the origin's and a Date", resp.Header)
	}
	resp, body = get("GET", "/chunked")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || body != "part one, part two" {
		t.Errorf("unknown length: TE %v %q", resp.TransferEncoding, body)
	}
	resp, body = get("HEAD", "/")
	if resp.ContentLength != int64(len("hello over TLS")) || body != "" {
		t.Errorf("HEAD: CL %d body %q", resp.ContentLength, body)
	}
	for _, p := range []string{"/204", "/304"} {
		resp, body = get("GET", p)
		if resp.Header.Get("Content-Length") != "" || resp.TransferEncoding != nil || body != "" {
			t.Errorf("%s: %v %q, want neither length nor body", p, resp.Header, body)
		}
	}
	resp, body = get("GET", "/nocontenttype")
	if ct, ok := resp.Header["Content-Type"]; ok || body != "<html><body>not sniffed</body></html>" {
		t.Errorf("no Content-Type upstream: got %q %q, want none", ct, body)
	}
	resp, body = get("GET", "/trailer")
	if body != "with a trailer" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailer: %q %v", body, resp.Trailer)
	}
	// The refusal: JSON with its length and a Date.
	resp, body = get("PATCH", "/")
	if resp.StatusCode != 403 || resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Date") == "" {
		t.Errorf("403: CL %d %v %q", resp.ContentLength, resp.Header, body)
	}
	// The client asks to close.
	resp, _ = get("GET", "/", "Connection: close")
	if !resp.Close {
		t.Error("Connection: close from the client: not in the answer")
	}
	wantTunnelClosed(t, tc, br)
}

// TestInterceptLoopHTTP10: an HTTP/1.0 request is answered in HTTP/1.0; its
// tunnel closes after the answer unless it asked for keep-alive and the
// length is known; an unknown length is delimited by the close.
func TestInterceptLoopHTTP10(t *testing.T) {
	m, _ := loopHarness(t)
	tc, br := innerTunnel(t, m)
	io.WriteString(tc, "GET / HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n")
	resp, body := innerResponse(t, br, "GET")
	if resp.Proto != "HTTP/1.0" || resp.Close || body != "hello over TLS" || resp.Header.Get("Connection") != "keep-alive" {
		t.Errorf("1.0 keep-alive: %s close=%v %v %q", resp.Proto, resp.Close, resp.Header, body)
	}
	io.WriteString(tc, "GET /chunked HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n")
	resp, body = innerResponse(t, br, "GET")
	if resp.TransferEncoding != nil || body != "part one, part two" || !resp.Close {
		t.Errorf("1.0 without length: TE %v close=%v %q", resp.TransferEncoding, resp.Close, body)
	}
	wantTunnelClosed(t, tc, br)

	tc, br = innerTunnel(t, m)
	io.WriteString(tc, "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")
	if resp, _ := innerResponse(t, br, "GET"); !resp.Close {
		t.Error("1.0 without keep-alive: tunnel kept")
	}
	wantTunnelClosed(t, tc, br)
}

// TestInterceptLoopStreams: a response of unknown length is passed on as
// it comes: the first part reaches the client before the origin sends the
// second.
func TestInterceptLoopStreams(t *testing.T) {
	m, release := loopHarness(t)
	tc, br := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/stream")
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("first"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first part: %q %v", first, err)
	}
	close(release)
	if rest, err := io.ReadAll(resp.Body); err != nil || string(rest) != "second" {
		t.Fatalf("second part: %q %v", rest, err)
	}
	innerOK(t, tc, br, "GET")
}

// TestInterceptLoopCutResponse: an origin that sends less than its
// Content-Length cuts the client's tunnel (the response cannot be
// completed), which is then finished once.
func TestInterceptLoopCutResponse(t *testing.T) {
	m, _ := loopHarness(t, func(s *Server) { s.Logf = func(string, ...any) {} })
	tc, br := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/short")
	// The head may or may not have been sent; the body is never whole.
	if resp, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err == nil {
		if b, err := io.ReadAll(resp.Body); err == nil {
			t.Errorf("a cut response read whole: %d %q", resp.StatusCode, b)
		}
	}
	wantTunnelClosed(t, tc, br)
	waitFor(t, func() bool { return m.srv.activeCount() == 0 && len(m.srv.slots) == 0 }, "the tunnel's slot to come back")
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInterceptLoopShutdown: a graceful shutdown closes idle tunnels at
// once, lets a request in flight finish and closes its tunnel after the
// answer; every tunnel gives its slot back once.
func TestInterceptLoopShutdown(t *testing.T) {
	m, release := loopHarness(t)
	idle, idleBR := innerTunnel(t, m)
	innerOK(t, idle, idleBR, "GET")
	busy, busyBR := innerTunnel(t, m)
	innerRequest(t, busy, "GET", "/block")
	waitFor(t, func() bool { return m.origin.hits.Load() == 2 }, "the blocked request at the origin")

	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { done <- m.srv.Shutdown(ctx) }()
	wantTunnelClosed(t, idle, idleBR)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	resp, body := innerResponse(t, busyBR, "GET")
	if resp.StatusCode != 200 || body != "released" || !resp.Close {
		t.Errorf("request in flight: %d %q close=%v, want 200 with Connection: close", resp.StatusCode, body, resp.Close)
	}
	wantTunnelClosed(t, busy, busyBR)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n, s := m.srv.activeCount(), len(m.srv.slots); n != 0 || s != 0 {
		t.Errorf("after Shutdown: %d active, %d slots taken", n, s)
	}
}

// TestInterceptLoopClose: Close ends a tunnel in the middle of a request.
func TestInterceptLoopClose(t *testing.T) {
	m, release := loopHarness(t)
	defer close(release)
	tc, br := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/block")
	waitFor(t, func() bool { return m.origin.hits.Load() == 1 }, "the request at the origin")
	m.srv.Close()
	wantTunnelClosed(t, tc, br)
	waitFor(t, func() bool { return m.srv.activeCount() == 0 && len(m.srv.slots) == 0 }, "the tunnel's slot to come back")
}

// TestInterceptLoopFinishOnce: tunnels that end every way give their slot
// back exactly once (a second release would free a slot another holds).
func TestInterceptLoopFinishOnce(t *testing.T) {
	m, _ := loopHarness(t, func(s *Server) { s.MaxConns = 4 })
	var n atomic.Int64
	for i := 0; i < 12; i++ { // three times the cap
		tc, br := innerTunnel(t, m)
		switch i % 3 {
		case 0:
			innerOK(t, tc, br, "GET")
			tc.Close() // the client goes
		case 1:
			io.WriteString(tc, "GARBAGE\r\n\r\n") // the proxy closes
			innerResponse(t, br, "GET")
			wantTunnelClosed(t, tc, br)
		case 2:
			innerRequest(t, tc, "GET", "/", "Connection: close")
			innerResponse(t, br, "GET")
			wantTunnelClosed(t, tc, br)
		}
		n.Add(1)
		waitFor(t, func() bool { return m.srv.activeCount() == 0 && len(m.srv.slots) == 0 }, "the slot to come back")
	}
	if n.Load() != 12 {
		t.Fatal("not every tunnel was served under the cap")
	}
}

func TestScanHead(t *testing.T) {
	for _, tt := range []struct {
		in    string
		end   int
		hosts int
		host  string
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 27, 1, "a"},
		{"GET / HTTP/1.1\nhost:  b \n\n", 26, 1, "b"},
		{"GET / HTTP/1.1\r\nHOST: a\r\nHost: b\r\n\r\n", 36, 2, "a"},
		{"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 29, 0, ""},
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1, 1, "a"},
		{"GET / HTTP/1.1\r\n\r\n", 18, 0, ""},
		{"", -1, 0, ""},
	} {
		end, hosts, host, _ := scanHead([]byte(tt.in))
		if end != tt.end || hosts != tt.hosts || string(host) != tt.host {
			t.Errorf("scanHead(%q) = %d, %d, %q; want %d, %d, %q", tt.in, end, hosts, host, tt.end, tt.hosts, tt.host)
		}
	}
}

// originURIs are the request targets the origin got, in order.
func originURIs(m *mitmHarness) []string {
	m.origin.mu.Lock()
	defer m.origin.mu.Unlock()
	var uris []string
	for _, r := range m.origin.seen {
		uris = append(uris, r.URI)
	}
	return uris
}

// TestInterceptLoopClientGoneCancels: a client that goes away while the
// origin has not answered cancels the request (the watch of a request
// that waits): the upstream exchange ends and the tunnel's slot comes
// back without waiting for the origin or the idle timeout.
func TestInterceptLoopClientGoneCancels(t *testing.T) {
	m, release := loopHarness(t)
	defer close(release)
	tc, _ := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/block")
	waitFor(t, func() bool { return m.origin.hits.Load() == 1 }, "the request at the origin")
	time.Sleep(2 * watchAfter) // the watch has started
	tc.Close()
	start := time.Now()
	waitFor(t, func() bool { return m.srv.activeCount() == 0 && len(m.srv.slots) == 0 }, "the tunnel's slot to come back")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slot back after %v", d)
	}
}

// TestInterceptLoopNextRequestDuringWatch: a request the client sends
// while the previous one waits for the origin (the watch read its first
// byte) is served after it, whole.
func TestInterceptLoopNextRequestDuringWatch(t *testing.T) {
	m, release := loopHarness(t)
	tc, br := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/block")
	waitFor(t, func() bool { return m.origin.hits.Load() == 1 }, "the request at the origin")
	time.Sleep(2 * watchAfter)
	innerRequest(t, tc, "GET", "/next")
	time.Sleep(50 * time.Millisecond)
	close(release)
	for _, want := range []string{"released", "hello over TLS"} {
		if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 || body != want {
			t.Errorf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	}
	if got, want := strings.Join(originURIs(m), " "), "/block /next"; got != want {
		t.Errorf("origin got %s, want %s", got, want)
	}
	innerOK(t, tc, br, "GET")
}

// TestInterceptLoopIdleDeadlines: a client that stops reading a response,
// or stops sending the body it announced, is cut after the idle timeout
// (forwardIdle's deadlines, on the loop's own writer), and its slot
// comes back.
func TestInterceptLoopIdleDeadlines(t *testing.T) {
	m, _ := loopHarness(t, func(s *Server) {
		s.IdleTimeout = 500 * time.Millisecond
		s.Logf = func(string, ...any) {}
	})
	t.Run("response not read", func(t *testing.T) {
		tc, _ := innerTunnel(t, m)
		innerRequest(t, tc, "GET", "/big")
		start := time.Now()
		waitFor(t, func() bool { return m.srv.activeCount() == 0 && len(m.srv.slots) == 0 }, "the stalled reader to be cut")
		if d := time.Since(start); d < 400*time.Millisecond {
			t.Errorf("cut after %v, before the idle timeout", d)
		}
	})
	t.Run("body not sent", func(t *testing.T) {
		tc, br := innerTunnel(t, m)
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\nhalf.")
		start := time.Now()
		// The origin may answer 502 or nothing: the body never came.
		tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, br)
		waitFor(t, func() bool { return m.srv.activeCount() == 0 && len(m.srv.slots) == 0 }, "the stalled upload to be cut")
		if d := time.Since(start); d < 400*time.Millisecond || d > 4*time.Second {
			t.Errorf("cut after %v, want about the idle timeout", d)
		}
	})
}

// TestInterceptLoopInformational: a 1xx answer of the origin (103 Early
// Hints) reaches the client at once, with its header, before the final
// answer, which does not repeat that header.
func TestInterceptLoopInformational(t *testing.T) {
	m, _ := loopHarness(t)
	tc, br := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/hints")
	hints, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || hints.StatusCode != http.StatusEarlyHints || hints.Header.Get("Link") != "</style.css>; rel=preload" {
		t.Fatalf("first answer: %v %v, want 103 with the Link header", hints, err)
	}
	resp, body := innerResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "after hints" || resp.Header.Get("Link") != "" {
		t.Errorf("final answer: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	innerOK(t, tc, br, "GET")
}

// TestInterceptLoopOptionsStar: "OPTIONS *" is decided, audited and
// forwarded like any request (net/http's server answered it itself, with
// no decision).
func TestInterceptLoopOptionsStar(t *testing.T) {
	m, _ := loopHarness(t)
	tc, br := innerTunnel(t, m)
	io.WriteString(tc, "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if resp, body := innerResponse(t, br, "OPTIONS"); resp.StatusCode != 200 {
		t.Fatalf("OPTIONS *: %d %q", resp.StatusCode, body)
	}
	wantHTTPSAudits(t, m, "OPTIONS", "allowed", 1)
	innerOK(t, tc, br, "GET")
}

package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// TestMaxHeaderBytes is issue 9's defect 5: 1 MiB request heads were read
// in full. A head beyond the limit is answered 431 on plain requests and
// CONNECT alike, before any decision; one within it is served.
func TestMaxHeaderBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int // Server.MaxHeaderBytes
		size  int // bytes of one header value
		want  int
	}{
		{"default-60KiB", 0, 60 << 10, 200},
		{"default-72KiB", 0, 72 << 10, 431},
		{"default-1MiB", 0, 1 << 20, 431},
		{"flag-8KiB-small", 8 << 10, 4 << 10, 200},
		{"flag-8KiB-16KiB", 8 << 10, 16 << 10, 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) { s.MaxHeaderBytes = tc.limit })
			big := "X-Big: " + strings.Repeat("a", tc.size)
			resp, body := h.do(t, "GET", "http://example.com/", big)
			if resp.StatusCode != tc.want {
				t.Errorf("GET: status %d, want %d (%.80q)", resp.StatusCode, tc.want, body)
			}
			resp, _, _ = h.connect(t, "example.com:443", big)
			if resp.StatusCode != tc.want {
				t.Errorf("CONNECT: status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 431 {
				wantNoDial(t, h)
				if evs := h.audit.events(t); len(evs) != 0 {
					t.Errorf("a refused head was decided: %v", evs)
				}
			}
		})
	}
}

// TestMaxHeaderBytesExact: the limit is the limit. net/http alone reads up
// to 4 KiB past it; a head of exactly N bytes is served and one of N+1 is
// answered 431, on plain requests and CONNECT.
func TestMaxHeaderBytesExact(t *testing.T) {
	const limit = 8 << 10
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) { s.MaxHeaderBytes = limit })
	h.dial.routes = map[string]string{publicIP + ":443": echoServer(t)}
	// head builds a request head of exactly size bytes.
	head := func(line, host string, size int) string {
		fixed := line + "\r\nHost: " + host + "\r\nX-Pad: \r\n\r\n"
		return line + "\r\nHost: " + host + "\r\nX-Pad: " + strings.Repeat("p", size-len(fixed)) + "\r\n\r\n"
	}
	for _, tc := range []struct {
		size, want int
	}{{limit, 200}, {limit + 1, 431}, {limit + 3000, 431}} {
		req := head("GET http://example.com/ HTTP/1.1", "example.com", tc.size)
		if len(req) != tc.size {
			t.Fatalf("head of %d bytes, want %d", len(req), tc.size)
		}
		h.dial.reset()
		resp, body := h.raw(t, req)
		if resp.StatusCode != tc.want {
			t.Errorf("GET head of %d bytes: %d %q, want %d", tc.size, resp.StatusCode, body, tc.want)
		}
		if tc.want == 431 && (body != "request header fields too large\n" || !resp.Close) {
			t.Errorf("431 body %q, close %v: want the connection closed", body, resp.Close)
		}
		c := h.dialHTTP(t)
		io.WriteString(c, head("CONNECT example.com:443 HTTP/1.1", "example.com:443", tc.size))
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
		if err != nil {
			t.Fatalf("CONNECT head of %d bytes: %v", tc.size, err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("CONNECT head of %d bytes: %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
		if tc.want == 431 {
			wantNoDial(t, h)
		}
	}
}

// TestUnfinishedHeadersBounded: many clients that send a head near the
// limit and never finish it hold no more than the limit each, and are cut
// at the header timeout; a client that keeps sending is cut at the limit
// without waiting for the timeout.
func TestUnfinishedHeadersBounded(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.ReadHeaderTimeout = 500 * time.Millisecond
	})
	// A client streaming an endless header gets 431 once it passes the
	// limit, long before the header timeout.
	c := h.dialHTTP(t)
	start := time.Now()
	go func() {
		io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-Big: ")
		chunk := strings.Repeat("a", 4096)
		for range 1024 { // 4 MiB at most
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("endless header: %v", err)
	}
	if resp.StatusCode != 431 {
		t.Errorf("endless header: status %d, want 431", resp.StatusCode)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("endless header answered after %v, want before the header timeout", d)
	}
	// Unfinished heads are cut at the header timeout.
	var conns []net.Conn
	for range 20 {
		c := h.dialHTTP(t)
		io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nX-Big: "+strings.Repeat("a", 60<<10))
		conns = append(conns, c)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("conn %d: %v, want closed by the proxy at the header timeout", i, err)
		}
	}
	wantNoDial(t, h)
}

// TestMethodOverrideHeadersInLimitedMode is issue 9's defect 7 (POLICY
// §4.3): "GET" with X-HTTP-Method-Override: DELETE used to be forwarded in
// limited mode. Every override header naming a write method is refused,
// with no lookup and no dial; an override to a read-only method passes.
func TestMethodOverrideHeadersInLimitedMode(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow"})
	e.Mode.Value = "limited"
	h := newHarness(t, e)
	for _, tc := range []struct{ method, header string }{
		{"GET", "X-HTTP-Method-Override: DELETE"},
		{"GET", "X-HTTP-Method: PUT"},
		{"HEAD", "X-Method-Override: post"},
		{"OPTIONS", "x-http-method-override: PATCH"},
	} {
		h.dial.reset()
		h.res.reset()
		resp, body := h.do(t, tc.method, "http://example.com/", tc.header)
		if tc.method == "HEAD" { // no body to read the reason from
			if resp.StatusCode != 403 || resp.Header.Get("x-proxy-error") != "blocked-by-method-policy" {
				t.Errorf("HEAD %s: %d %s", tc.header, resp.StatusCode, resp.Header.Get("x-proxy-error"))
			}
			wantNoDial(t, h)
			continue
		}
		b := wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
		if b.Source != "mode_guard" || b.Protocol != "http" {
			t.Errorf("%s %s: body %+v", tc.method, tc.header, b)
		}
		wantNoDial(t, h)
		wantResolves(t, h)
	}
	before := h.origin.count()
	resp, body := h.do(t, "GET", "http://example.com/", "X-HTTP-Method-Override: HEAD")
	if resp.StatusCode != 200 || h.origin.count() != before+1 {
		t.Errorf("override to HEAD: %d %q", resp.StatusCode, body)
	}
	// Full mode forwards the header untouched.
	h.srv.SetPolicy(compile(t, effective(map[string]string{"example.com": "allow"})))
	resp, _ = h.do(t, "GET", "http://example.com/", "X-HTTP-Method-Override: DELETE")
	if resp.StatusCode != 200 || h.origin.last(t).Header.Get("X-Http-Method-Override") != "DELETE" {
		t.Errorf("full mode: %d", resp.StatusCode)
	}
}

// TestHopHeadersCanonical: removeHopHeaders deletes hopHeaders from the map
// as they are written, so each must be in canonical form (a name that is
// not would stay in every forwarded request and response).
func TestHopHeadersCanonical(t *testing.T) {
	for _, k := range hopHeaders {
		if c := textproto.CanonicalMIMEHeaderKey(k); c != k {
			t.Errorf("hopHeaders has %q, canonical form %q", k, c)
		}
	}
	h := http.Header{}
	for _, k := range hopHeaders {
		h.Set(strings.ToLower(k), "x")
	}
	h.Set("Connection", "X-Named, close")
	h.Set("X-Named", "1")
	h.Set("X-Kept", "1")
	removeHopHeaders(h)
	if len(h) != 1 || h.Get("X-Kept") != "1" {
		t.Errorf("after removeHopHeaders: %v, want only X-Kept", h)
	}
}

package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/testnet"
)

// countingOrigin is an origin that counts the TCP connections it accepted
// and those still open.
type countingOrigin struct {
	*httptest.Server
	mu           sync.Mutex
	opened, open int
}

func newCountingOrigin(t *testing.T, handler http.HandlerFunc) *countingOrigin {
	o := &countingOrigin{Server: httptest.NewUnstartedServer(handler)}
	o.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		o.mu.Lock()
		defer o.mu.Unlock()
		switch st {
		case http.StateNew:
			o.opened++
			o.open++
		case http.StateClosed, http.StateHijacked:
			o.open--
		}
	}
	o.Start()
	t.Cleanup(o.Close)
	return o
}

func (o *countingOrigin) counts() (opened, open int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opened, o.open
}

// waitOpen waits until the origin has want connections open.
func (o *countingOrigin) waitOpen(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, open := o.counts()
		if open == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("origin has %d connections open, want %d", open, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keepAlive sends one request on a client connection and reads its response.
func keepAlive(t *testing.T, c net.Conn, br *bufio.Reader, method, target string, headers ...string) (*http.Response, string) {
	t.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: " + hostOf(target) + "\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	for resp == nil || resp.StatusCode/100 == 1 {
		var err error
		if resp, err = http.ReadResponse(br, &http.Request{Method: method}); err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, target, err)
	}
	return resp, string(body)
}

func pinnedHarness(t *testing.T, o *countingOrigin) *harness {
	h := newHarness(t, effective(map[string]string{"example.com": "allow", "other.example": "allow"}))
	h.res.answer("other.example", "93.184.216.35")
	h.dial.to = o.Listener.Addr().String()
	return h
}

func TestPinnedReuseAcrossKeepAliveRequests(t *testing.T) {
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RequestURI())
	})
	h := pinnedHarness(t, o)
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)
	for _, p := range []string{"/a", "/b?x=1;y", "/c"} {
		resp, body := keepAlive(t, c, br, "GET", "http://example.com"+p)
		if resp.StatusCode != 200 || body != p {
			t.Fatalf("GET %s: %d %q", p, resp.StatusCode, body)
		}
	}
	if opened, _ := o.counts(); opened != 1 {
		t.Errorf("origin saw %d connections, want 1", opened)
	}
	// Each request was decided on its own.
	if n := len(h.res.Calls()); n != 3 {
		t.Errorf("resolver calls = %d, want 3", n)
	}
	if n := len(h.audit.events(t)); n != 3 {
		t.Errorf("audit events = %d, want 3", n)
	}
}

func TestPinnedHostSwitchClosesOldUpstream(t *testing.T) {
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	})
	h := pinnedHarness(t, o)
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)
	for _, host := range []string{"example.com", "other.example", "example.com"} {
		resp, body := keepAlive(t, c, br, "GET", "http://"+host+"/")
		if resp.StatusCode != 200 || body != host {
			t.Fatalf("GET %s: %d %q", host, resp.StatusCode, body)
		}
		o.waitOpen(t, 1)
	}
	if opened, _ := o.counts(); opened != 3 {
		t.Errorf("origin saw %d connections, want 3", opened)
	}
	wantDials(t, h, publicIP+":80", "93.184.216.35:80", publicIP+":80")
}

func TestPinnedStaleUpstreamRetried(t *testing.T) {
	// The origin answers one request per connection and then closes it,
	// without saying so.
	var mu sync.Mutex
	conns := 0
	closed := make(chan struct{}, 8) // one per connection the origin closed
	addr := testnet.Serve(t, func(c net.Conn) {
		defer func() {
			c.Close()
			closed <- struct{}{}
		}()
		mu.Lock()
		conns++
		mu.Unlock()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = addr
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		resp, body := keepAlive(t, c, br, "GET", "http://example.com/")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		// The next request must go out after the origin closed this
		// connection, so that it meets a stale upstream.
		select {
		case <-closed:
		case <-time.After(3 * time.Second):
			t.Fatalf("request %d: the origin did not close its connection", i)
		}
	}
	mu.Lock()
	if conns != 3 {
		t.Errorf("origin saw %d connections, want 3", conns)
	}
	mu.Unlock()
	// A POST is not idempotent: it is not sent on a connection the origin
	// has closed, nor retried.
	resp, body := keepAlive(t, c, br, "POST", "http://example.com/", "Content-Length: 0")
	if resp.StatusCode != 200 || body != "ok" {
		t.Errorf("POST after a stale connection: %d %q", resp.StatusCode, body)
	}
}

func TestPinnedUpstreamFailure(t *testing.T) {
	addr := testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		http.ReadRequest(bufio.NewReader(c))
	})
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = addr
	resp, body := h.do(t, "GET", "http://example.com/")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "upstream failure") {
		t.Errorf("got %d %q, want 502 upstream failure", resp.StatusCode, body)
	}
}

func TestPinnedUpstreamClosedWithClient(t *testing.T) {
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	h := pinnedHarness(t, o)
	var cs []net.Conn
	for i := 0; i < 5; i++ {
		c := h.dialHTTP(t)
		br := bufio.NewReader(c)
		for j := 0; j < 2; j++ {
			if resp, _ := keepAlive(t, c, br, "GET", "http://example.com/"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		cs = append(cs, c)
	}
	o.waitOpen(t, 5)
	for _, c := range cs {
		c.Close()
	}
	o.waitOpen(t, 0)
	if opened, _ := o.counts(); opened != 5 {
		t.Errorf("origin saw %d connections, want 5", opened)
	}
}

func TestPinnedResponseKinds(t *testing.T) {
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "10")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part2")
			w.Header().Set("X-Sum", "42")
		case "/hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, "final")
		case "/hop":
			w.Header().Set("Connection", "X-Secret")
			w.Header().Set("X-Secret", "1")
			w.Header().Set("Keep-Alive", "timeout=5")
			io.WriteString(w, "hop")
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}
	})
	h := pinnedHarness(t, o)
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)

	resp, body := keepAlive(t, c, br, "HEAD", "http://example.com/head")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 10 {
		t.Errorf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	for _, p := range []string{"/204", "/304"} {
		resp, body = keepAlive(t, c, br, "GET", "http://example.com"+p)
		if resp.Status[:3] != p[1:] || body != "" {
			t.Errorf("GET %s: %s %q", p, resp.Status, body)
		}
	}
	resp, body = keepAlive(t, c, br, "GET", "http://example.com/chunked", "TE: trailers")
	if body != "part1,part2" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("chunked: %q trailer %v", body, resp.Trailer)
	}
	resp, body = keepAlive(t, c, br, "GET", "http://example.com/hints")
	if resp.StatusCode != 200 || body != "final" || resp.Header.Get("Link") != "" {
		t.Errorf("after 103: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = keepAlive(t, c, br, "GET", "http://example.com/hop")
	if body != "hop" || resp.Header.Get("X-Secret") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop response headers passed on: %v", resp.Header)
	}
	if opened, _ := o.counts(); opened != 1 {
		t.Errorf("origin saw %d connections, want 1", opened)
	}
	// Connection: close from the origin ends that upstream connection only.
	resp, body = keepAlive(t, c, br, "GET", "http://example.com/close")
	if body != "bye" || resp.Close {
		t.Errorf("close: %q, client conn closed %v", body, resp.Close)
	}
	o.waitOpen(t, 0)
	resp, body = keepAlive(t, c, br, "GET", "http://example.com/hop")
	if body != "hop" {
		t.Errorf("after close: %d %q", resp.StatusCode, body)
	}
	if opened, _ := o.counts(); opened != 2 {
		t.Errorf("origin saw %d connections, want 2", opened)
	}
}

func TestPinnedRequestHeaders(t *testing.T) {
	seen := make(chan *http.Request, 1)
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r
	})
	h := pinnedHarness(t, o)
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)
	resp, _ := keepAlive(t, c, br, "GET", "http://example.com/p%2Fq?a=1;b",
		"Connection: keep-alive, X-Drop", "X-Drop: 1", "Proxy-Authorization: Basic eA==",
		"Proxy-Foo: 1", "Keep-Alive: 5", "X-Forwarded-For: 1.2.3.4", "X-Keep: yes")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := <-seen
	if r.RequestURI != "/p%2Fq?a=1;b" || r.Host != "example.com" {
		t.Errorf("origin saw %q for %q", r.RequestURI, r.Host)
	}
	for k := range r.Header {
		if k != "X-Keep" {
			t.Errorf("origin got header %s: %q", k, r.Header[k])
		}
	}
}

// TestStreaming: a response is streamed (flushed write by write) when its
// length is unknown or it is an event stream, however the media type is
// spelled; the quick refusal before ParseMediaType must agree with it.
func TestStreaming(t *testing.T) {
	for _, tc := range []struct {
		ct     string
		length int64
		want   bool
	}{
		{"", 10, false},
		{"text/plain", 10, false},
		{"text/plain", -1, true},
		{"text/event-stream", 10, true},
		{"Text/Event-Stream; charset=utf-8", 10, true},
		{"  text/event-stream  ;charset=utf-8", 10, true},
		{"text/event-streamx", 10, false},
		{"text/event-stream; a=1; a=2", 10, false}, // ParseMediaType refuses a duplicate parameter
		{"application/json; x=text/event-stream", 10, false},
	} {
		resp := &http.Response{ContentLength: tc.length, Header: http.Header{}}
		if tc.ct != "" {
			resp.Header.Set("Content-Type", tc.ct)
		}
		if got := streaming(resp); got != tc.want {
			t.Errorf("streaming(Content-Type %q, length %d) = %v, want %v", tc.ct, tc.length, got, tc.want)
		}
	}
}

// An origin that sends bytes on an idle pinned connection after its
// answer (here a second response, 50 ms after a 204) loses the
// connection: the next request of the client goes on a new one and gets
// the origin's answer to it, not the bytes nobody asked for.
func TestPinnedUnsolicitedBytesWhileIdle(t *testing.T) {
	const injected = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected"
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/204" {
			io.WriteString(w, r.URL.RequestURI())
			return
		}
		c, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		bw.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
		bw.Flush()
		time.Sleep(50 * time.Millisecond)
		bw.WriteString(injected)
		bw.Flush()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, bw)
	})
	h := pinnedHarness(t, o)
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)
	if resp, _ := keepAlive(t, c, br, "GET", "http://example.com/204"); resp.StatusCode != 204 {
		t.Fatalf("GET /204: %d", resp.StatusCode)
	}
	time.Sleep(200 * time.Millisecond) // the bytes reach the idle connection
	resp, body := keepAlive(t, c, br, "GET", "http://example.com/next")
	if resp.StatusCode != 200 || body != "/next" {
		t.Fatalf("GET /next: %d %q, want the origin's answer to it", resp.StatusCode, body)
	}
	if opened, _ := o.counts(); opened != 2 {
		t.Errorf("origin saw %d connections, want 2 (the first one dropped)", opened)
	}
}

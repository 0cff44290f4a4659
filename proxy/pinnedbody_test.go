package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Requests with a body take the pinned path: framed as the client framed
// them, every header rule kept, and the upstream connection reused.
func TestPinnedBodies(t *testing.T) {
	type seen struct {
		method, body, te, cl, expect, conn, proxyAuth, trailer string
		length                                                 int64
	}
	got := make(chan seen, 10)
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, string(b), strings.Join(r.TransferEncoding, ","), r.Header.Get("Content-Length"),
			r.Header.Get("Expect"), r.Header.Get("Connection"), r.Header.Get("Proxy-Authorization"), r.Trailer.Get("X-Sum"), r.ContentLength}
		fmt.Fprintf(w, "%s %d", r.Method, len(b))
	})
	h := pinnedHarness(t, o)
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)
	big := strings.Repeat("0123456789abcdef", 256) // 4 KiB

	send := func(raw string) (*http.Response, string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// Known length, then a bodiless GET and a PUT on the same connection.
	resp, body := send("POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4096\r\n" +
		"Proxy-Authorization: Basic c2VjcmV0\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n" + big)
	if resp.StatusCode != 200 || body != "POST 4096" || resp.Close {
		t.Fatalf("POST: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if s := <-got; s.body != big || s.length != 4096 || s.cl != "4096" || s.te != "" || s.proxyAuth != "" || s.conn != "" {
		t.Errorf("origin saw %+v", s)
	}
	resp, body = send("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if resp.StatusCode != 200 || body != "GET 0" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	<-got
	// Expect: 100-continue: our server says 100 when the body is read;
	// the body reaches the origin.
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "PUT http://example.com/x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue first, got %q", line)
	}
	br.ReadString('\n')
	resp, body = send("hello")
	if resp.StatusCode != 200 || body != "PUT 5" {
		t.Fatalf("PUT: %d %q", resp.StatusCode, body)
	}
	if s := <-got; s.body != "hello" || s.length != 5 {
		t.Errorf("origin saw %+v", s)
	}
	if opened, _ := o.counts(); opened != 1 {
		t.Errorf("origin saw %d connections, want 1 (pinned)", opened)
	}

	// Chunked, with a trailer: forwarded chunked; the client connection
	// closes after the answer (guardBody).
	resp, body = send("POST http://example.com/c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
		"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n")
	if body != "POST 11" || !resp.Close {
		t.Fatalf("chunked: %q close=%v", body, resp.Close)
	}
	if s := <-got; s.body != "hello world" || s.te != "chunked" || s.length != -1 || s.cl != "" || s.trailer != "11" {
		t.Errorf("origin saw %+v", s)
	}
	if opened, _ := o.counts(); opened != 1 {
		t.Errorf("origin saw %d connections, want 1 (pinned)", opened)
	}
	if n := len(h.audit.events(t)); n != 4 {
		t.Errorf("audit events = %d, want one per request (4)", n)
	}
}

// A body upload that takes longer than the idle timeout, but never stalls
// for that long, is not cut.
//
// The writer's gaps are measured: a busy machine can pause the test itself
// for longer than the idle timeout, and then the proxy is right to cut.
// Such an attempt proves nothing and is made again (at most 3 times); a
// cut upload whose gaps all stayed short is a failure.
func TestPinnedSlowBodyIsNotIdle(t *testing.T) {
	const (
		idle = 400 * time.Millisecond
		gap  = 50 * time.Millisecond
		size = 30 // 1.5 s in all, > 3 idle timeouts
	)
	o := newCountingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d", len(b))
	})
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.IdleTimeout = idle
	})
	h.dial.to = o.Listener.Addr().String()
	for attempt := 1; attempt <= 3; attempt++ {
		c := h.dialHTTP(t)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n", size)
		last, longest := time.Now(), time.Duration(0)
		for range size {
			time.Sleep(gap)
			io.WriteString(c, "x")
			now := time.Now()
			longest, last = max(longest, now.Sub(last)), now
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode == 200 && string(b) == fmt.Sprint(size) {
			return
		}
		if longest < idle {
			t.Fatalf("slow upload (longest gap %v, idle timeout %v): %d %q", longest, idle, resp.StatusCode, b)
		}
		t.Logf("attempt %d: the writer stalled for %v (idle timeout %v): cut as it should be; again", attempt, longest, idle)
	}
	t.Skip("the machine stalled the writer past the idle timeout 3 times: nothing to conclude")
}

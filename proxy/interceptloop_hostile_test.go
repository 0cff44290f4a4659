package proxy

import (
	"io"
	"net/http"
	"strconv"
	"strings"
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

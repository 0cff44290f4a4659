package proxy

import (
	"io"
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

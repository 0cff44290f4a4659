package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// loopPolicy allows every spelling of the loopback addresses explicitly,
// so that only the loop guard stands between a request and the proxy's own
// listeners.
func loopPolicy() *policy.Effective {
	return effective(map[string]string{"127.0.0.1": "allow", "localhost": "allow", "::1": "allow", "self.example": "allow"})
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func wantLoopEvent(t *testing.T, h *harness, proto string) {
	t.Helper()
	evs := h.audit.events(t)
	if len(evs) == 0 {
		t.Fatal("no audit event")
	}
	ev := evs[len(evs)-1]
	for k, want := range map[string]any{
		"event.name":                 EventBlockDecision,
		"network.policy.scope":       "proxy_state",
		"network.policy.source":      "proxy_state",
		"network.policy.reason":      "loop_detected",
		"network.policy.decision":    "deny",
		"network.transport.protocol": proto,
	} {
		if ev[k] != want {
			t.Errorf("audit %s = %v, want %v", k, ev[k], want)
		}
	}
}

// TestLoopDetected: every spelling of the proxy's own listeners is refused
// with loop_detected on plain HTTP, CONNECT and SOCKS5, before any dial.
func TestLoopDetected(t *testing.T) {
	h := newHarness(t, loopPolicy())
	hp, sp := portOf(t, h.httpAddr), portOf(t, h.socksAddr)
	// A listener on [::1] counts when it is bound; here it is registered
	// the way the metrics listener and exec's relays join.
	if err := h.srv.AddOwnListener("[::1]:" + strconv.Itoa(hp)); err != nil {
		t.Fatal(err)
	}
	h.res.answer("self.example", "127.0.0.1")
	e := loopPolicy()
	e.AllowLocalBinding.Value = true // self.example may resolve to loopback
	h.srv.SetPolicy(compile(t, e))
	spellings := []string{"127.0.0.1", "127.1", "2130706433", "0x7f.1", "localhost", "[::ffff:127.0.0.1]", "[::1]", "self.example"}
	for _, port := range []int{hp, sp} {
		for _, host := range spellings {
			if host == "[::1]" && port == sp {
				continue // only the HTTP port is registered on ::1
			}
			authority := host + ":" + strconv.Itoa(port)
			t.Run("http/"+authority, func(t *testing.T) {
				h.dial.reset()
				resp, body := h.do(t, "GET", "http://"+authority+"/")
				b := wantBlock(t, resp, body, "blocked-by-policy", "loop_detected", "deny")
				if b.Source != "proxy_state" || b.Message != "Request would loop back into the proxy." {
					t.Errorf("body %+v", b)
				}
				if b.Port != port {
					t.Errorf("port %d, want %d", b.Port, port)
				}
				wantNoDial(t, h)
				wantLoopEvent(t, h, "http")
			})
			t.Run("connect/"+authority, func(t *testing.T) {
				h.dial.reset()
				resp, body, _ := h.connect(t, authority)
				b := wantBlock(t, resp, body, "blocked-by-policy", "loop_detected", "deny")
				if b.Protocol != "https_connect" || b.Source != "proxy_state" {
					t.Errorf("body %+v", b)
				}
				wantNoDial(t, h)
				wantLoopEvent(t, h, "https_connect")
			})
		}
	}
	for _, tc := range []struct {
		atyp byte
		host string
		port int
	}{
		{atypIPv4, "127.0.0.1", hp},
		{atypIPv4, "127.0.0.1", sp},
		{atypIPv6, "::ffff:127.0.0.1", sp},
		{atypIPv6, "::1", hp},
		{atypDomain, "localhost", sp},
		{atypDomain, "127.1", hp},
		{atypDomain, "self.example", sp},
	} {
		t.Run(fmt.Sprintf("socks/%s:%d", tc.host, tc.port), func(t *testing.T) {
			h.dial.reset()
			if code := socksReply(t, h, tc.atyp, tc.host, tc.port); code != 0x02 {
				t.Errorf("reply %#x, want 0x02", code)
			}
			wantNoDial(t, h)
			wantLoopEvent(t, h, "socks5_tcp")
		})
	}
	// Another port on the same address is not the proxy.
	t.Run("other-port", func(t *testing.T) {
		h.dial.reset()
		other := portOf(t, h.origin.Listener.Addr().String())
		resp, body := h.do(t, "GET", "http://127.0.0.1:"+strconv.Itoa(other)+"/")
		if resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		wantDials(t, h, "127.0.0.1:"+strconv.Itoa(other))
	})
}

// TestLoopWildcardListener: a listener on 0.0.0.0 is reached through any
// local address on its port.
func TestLoopWildcardListener(t *testing.T) {
	e := effective(map[string]string{"127.0.0.1": "allow", "127.0.0.2": "allow", "localhost": "allow", "::1": "allow"})
	h := newHarness(t, e)
	const port = 39999 // registered, never bound: the request must not reach a dial
	if err := h.srv.AddOwnListener("0.0.0.0:" + strconv.Itoa(port)); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "127.0.0.2", "localhost", "[::1]"} {
		resp, body := h.do(t, "GET", "http://"+host+":"+strconv.Itoa(port)+"/")
		wantBlock(t, resp, body, "blocked-by-policy", "loop_detected", "deny")
	}
	wantNoDial(t, h)
	if err := h.srv.AddOwnListener("not an address"); err == nil {
		t.Error("AddOwnListener accepted a bad address")
	}
}

// TestSelfLoopPipelinedConnects is issue 9's defect 2: one write of many
// pipelined "CONNECT 127.0.0.1:<own port>" lines used to nest one hop per
// line until descriptors ran out. With the real dialer (a failing guard
// would really loop), each is answered 403 loop_detected, and an unrelated
// client is served meanwhile.
func TestSelfLoopPipelinedConnects(t *testing.T) {
	const n = 1000
	h := newHarness(t, loopPolicy(), func(s *Server) { s.Dial = nil; s.MaxConns = 64 })
	var req strings.Builder
	for range n {
		fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", h.httpAddr, h.httpAddr)
	}
	c, err := net.Dial("tcp", h.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go io.WriteString(c, req.String())
	br := bufio.NewReader(c)
	for i := range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(body), `"reason":"loop_detected"`) {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, body)
		}
		if i == n/2 {
			// An unrelated client, in the middle of the attack.
			o := portOf(t, h.origin.Listener.Addr().String())
			resp, body := h.do(t, "GET", "http://127.0.0.1:"+strconv.Itoa(o)+"/")
			if resp.StatusCode != 200 || body != "hello from origin" {
				t.Fatalf("unrelated client: %d %q", resp.StatusCode, body)
			}
		}
	}
	if a := h.srv.activeCount(); a != 0 {
		t.Errorf("%d tunnels open after the attack, want 0", a)
	}
}

// TestUpstreamLoops: an upstream proxy that is the proxy itself is found
// (serve refuses to start with it), and a request that would go through it
// is not sent there.
func TestUpstreamLoops(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.res.answer("proxy.internal", "127.0.0.1")
	// Serve and ServeSOCKS register their listeners when they start.
	h.do(t, "GET", "http://example.com/")
	socksReply(t, h, atypDomain, "example.com", 443)
	for _, tc := range []struct {
		u    string
		want bool
	}{
		{"http://" + h.httpAddr, true},
		{"http://localhost:" + strconv.Itoa(portOf(t, h.socksAddr)), true},
		{"http://proxy.internal:" + strconv.Itoa(portOf(t, h.httpAddr)), true},
		{"http://127.1:" + strconv.Itoa(portOf(t, h.httpAddr)), true},
		{"http://127.0.0.1:1", false},
		{"http://proxy.internal:1", false},
	} {
		u, _ := url.Parse(tc.u)
		got, err := h.srv.UpstreamLoops(context.Background(), u)
		if err != nil || got != tc.want {
			t.Errorf("UpstreamLoops(%s) = %v, %v; want %v", tc.u, got, err, tc.want)
		}
	}
	// A reload that turns allow_upstream_proxy on with such an upstream:
	// 502, nothing dialled.
	self, _ := url.Parse("http://" + h.httpAddr)
	h.srv.Upstream = func(*url.URL) (*url.URL, error) { return self, nil }
	e := effective(map[string]string{"example.com": "allow"})
	e.AllowUpstreamProxy.Value = true
	h.srv.SetPolicy(compile(t, e))
	h.dial.reset()
	resp, body := h.do(t, "GET", "http://example.com/")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("GET via self upstream: %d %q, want 502", resp.StatusCode, body)
	}
	resp, _, _ = h.connect(t, "example.com:443")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("CONNECT via self upstream: %d, want 502", resp.StatusCode)
	}
	wantNoDial(t, h)
}

// TestTunnelUnansweredIsCut: a tunnel whose upstream accepts but never
// answers what the client sent is closed after the handshake timeout, not
// the idle timeout — how a chain that still forms unwinds.
func TestTunnelUnansweredIsCut(t *testing.T) {
	silent := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		io.Copy(io.Discard, c) // reads, never answers
	})
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.IdleTimeout = time.Minute
		s.SocksHandshakeTimeout = 300 * time.Millisecond
	})
	h.dial.to = silent
	for _, proto := range []string{"connect", "socks"} {
		t.Run(proto, func(t *testing.T) {
			var c net.Conn
			if proto == "connect" {
				resp, _, cc := h.connect(t, "example.com:443")
				if resp.StatusCode != 200 {
					t.Fatalf("CONNECT: %d", resp.StatusCode)
				}
				c = cc
			} else {
				c = socksDial(t, h, "example.com:443")
			}
			// Silent on both sides: an idle tunnel, not cut early.
			c.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
				t.Fatalf("idle tunnel: read %v, want a timeout of our own", err)
			}
			start := time.Now()
			io.WriteString(c, "hello?")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if err == nil || isTimeout(err) {
				t.Fatalf("unanswered tunnel: read %v, want it closed", err)
			}
			if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
				t.Errorf("closed after %v, want about the handshake timeout", d)
			}
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/testnet"
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
		{atypDomain, "0x7f.1", sp},
		{atypDomain, "2130706433", hp},
		{atypDomain, "::ffff:127.0.0.1", hp},
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

// wildListener is a listener that says it is bound to 0.0.0.0:port, bound
// to nothing: Serve registers it as the proxy's own without the test
// opening a port on every interface.
type wildListener struct {
	port   int
	closed chan struct{}
	once   sync.Once
}

func (l *wildListener) Accept() (net.Conn, error) { <-l.closed; return nil, net.ErrClosed }
func (l *wildListener) Close() error              { l.once.Do(func() { close(l.closed) }); return nil }
func (l *wildListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4zero, Port: l.port} }

// nonLoopbackLocal returns an address of one of this machine's interfaces
// that is not a loopback address, if there is one.
func nonLoopbackLocal() (netip.Addr, bool) {
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, ia := range ifs {
		p, err := netip.ParsePrefix(ia.String())
		if err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() && p.Addr().Is4() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// TestLoopWildcardListener: a listener on 0.0.0.0 is reached through any
// local address on its port — every loopback spelling and the addresses of
// the machine's other interfaces — on plain HTTP, CONNECT and SOCKS5. The
// listener is served (Serve registers it) but never bound, and the fake
// dialer shows that nothing is dialled.
func TestLoopWildcardListener(t *testing.T) {
	domains := map[string]string{"127.0.0.1": "allow", "127.0.0.2": "allow", "localhost": "allow", "::1": "allow"}
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.1", "0x7f.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"}
	if a, ok := nonLoopbackLocal(); ok {
		domains[a.String()] = "allow" // an explicit literal: admitted as local
		hosts = append(hosts, a.String())
	} else {
		t.Log("no non-loopback interface address: checking loopback spellings only")
	}
	h := newHarness(t, effective(domains))
	const port = 39999 // never bound: the request must not reach a dial
	wl := &wildListener{port: port, closed: make(chan struct{})}
	serveOwn(t, h, wl, netip.MustParseAddrPort("127.0.0.1:39999"))
	for _, host := range hosts {
		authority := host + ":" + strconv.Itoa(port)
		t.Run(host, func(t *testing.T) {
			h.dial.reset()
			wantLoopHTTP(t, h, authority)
			atyp, name := byte(atypDomain), strings.Trim(host, "[]")
			if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
				atyp = atypIPv4
			} else if err == nil {
				atyp = atypIPv6
			}
			if code := socksReply(t, h, atyp, name, port); code != 0x02 {
				t.Errorf("SOCKS5 reply %#x, want 0x02", code)
			}
			wantLoopEvent(t, h, "socks5_tcp")
			wantNoDial(t, h)
		})
	}
	// Another port on the same addresses is not the proxy.
	h.dial.reset()
	resp, body := h.do(t, "GET", "http://127.0.0.2:39998/")
	if resp.StatusCode != 200 {
		t.Errorf("another port: %d %q", resp.StatusCode, body)
	}
	wantDials(t, h, "127.0.0.2:39998")
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
	// Every spelling of both listeners, in turn.
	hp, sp := strconv.Itoa(portOf(t, h.httpAddr)), strconv.Itoa(portOf(t, h.socksAddr))
	targets := []string{h.httpAddr, "127.1:" + hp, "localhost:" + sp, "[::ffff:127.0.0.1]:" + hp, "0x7f.1:" + sp, "2130706433:" + hp}
	to := make([]string, n)
	for i := range to {
		to[i] = targets[i%len(targets)]
	}
	req := pipelinedConnects(to)
	c, err := net.Dial("tcp", h.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go io.WriteString(c, req)
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
			start := time.Now()
			resp, body := h.do(t, "GET", "http://127.0.0.1:"+strconv.Itoa(o)+"/")
			if resp.StatusCode != 200 || body != "hello from origin" {
				t.Fatalf("unrelated client: %d %q", resp.StatusCode, body)
			}
			t.Logf("unrelated client served in %v during the attack", time.Since(start))
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
	silent := testnet.Serve(t, func(c net.Conn) {
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
			c := h.openTunnel(t, proto, "example.com:443")
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

// TestChainThroughPeerUnwinds: two proxies that allow each other's address
// can still be chained (neither listener is the other's own), one hop per
// pipelined CONNECT. When the peer is at its connection cap, the hop into it
// is accepted by the kernel and never answered; that hop is cut after the
// handshake timeout, and the chain unwinds from there instead of holding
// every hop, and the peer's slots, for the idle timeout (a minute here).
// "leaves" is the attacker closing once seven hops answered; "waits" reads
// until the cut reaches it, then closes; "stays" reads until the cut and
// keeps its connection open, silent: every hop sees its upstream end and
// closes after the handshake timeout of silence from its client. (An
// attacker that closes right after its write forms no chain at all.)
func TestChainThroughPeerUnwinds(t *testing.T) {
	for _, how := range []string{"leaves", "waits", "stays"} {
		t.Run(how, func(t *testing.T) { chainThroughPeer(t, how) })
	}
}

func chainThroughPeer(t *testing.T, how string) {
	const hops = 12
	opts := func(maxConns int) func(*Server) {
		return func(s *Server) {
			s.Dial = nil // really dial the peer
			s.MaxConns = maxConns
			s.IdleTimeout = time.Minute
			s.SocksHandshakeTimeout = 300 * time.Millisecond
		}
	}
	a := newHarness(t, loopPolicy(), opts(64))
	b := newHarness(t, loopPolicy(), opts(3))
	to := make([]string, hops)
	for i := range to {
		to[i] = []string{b.httpAddr, a.httpAddr}[i%2]
	}
	req := pipelinedConnects(to)
	c, err := net.Dial("tcp", a.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if how == "leaves" {
		// Leave once seven hops answered: the eighth, into B, is stuck.
		br := bufio.NewReader(c)
		for i := range 7 {
			resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("hop %d: %v %v", i, resp, err)
			}
		}
		c.Close()
	} else {
		br := bufio.NewReader(c)
		oks := 0
		for {
			resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
			if err != nil {
				break // the chain was cut
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("hop %d: %d", oks, resp.StatusCode)
			}
			oks++
		}
		cut := time.Since(start)
		// B admits 3 connections: the chain stops at the third hop
		// into B, so it is a few hops deep and never all of them.
		if oks < 3 || oks >= hops {
			t.Errorf("%d hops answered, want a chain stopped by the peer's cap", oks)
		}
		if cut < 250*time.Millisecond || cut > 5*time.Second {
			t.Errorf("client cut after %v, want about the handshake timeout", cut)
		}
		t.Logf("%d hops answered, client cut after %v", oks, cut)
		if how == "waits" {
			c.Close()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.srv.activeCount()+b.srv.activeCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d+%d tunnels still open 5 s after the cut", a.srv.activeCount(), b.srv.activeCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("every hop closed %v after the attack began", time.Since(start))
	// Both serve again.
	for _, h := range []*harness{a, b} {
		o := portOf(t, h.origin.Listener.Addr().String())
		resp, body := h.do(t, "GET", "http://127.0.0.1:"+strconv.Itoa(o)+"/")
		if resp.StatusCode != 200 {
			t.Errorf("after the chain: %d %q", resp.StatusCode, body)
		}
	}
}

// TestTunnelAfterUpstreamEnds: once the upstream has ended its direction
// (sent its last bytes and a FIN), a client that stays silent is cut after
// the handshake timeout, not the idle timeout; a client that keeps sending
// after the upstream's FIN is not cut. CONNECT and SOCKS5 alike.
func TestTunnelAfterUpstreamEnds(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.IdleTimeout = time.Minute
		// Six times the sending client's 100 ms gaps, so a busy machine's
		// late wake-up is not mistaken for silence.
		s.SocksHandshakeTimeout = 600 * time.Millisecond
	})
	type seen struct {
		n   int64
		eof time.Time
	}
	// halfClosing routes the next dial to a server that says "bye",
	// half-closes, and reports what it read until the proxy closed.
	halfClosing := func(t *testing.T) chan seen {
		got := make(chan seen, 1)
		h.dial.to = testnet.Serve(t, func(c net.Conn) {
			defer c.Close()
			io.WriteString(c, "bye")
			c.(*net.TCPConn).CloseWrite()
			n, _ := io.Copy(io.Discard, c)
			got <- seen{n, time.Now()}
		})
		return got
	}
	open := func(t *testing.T, proto string) net.Conn {
		c := h.openTunnel(t, proto, "example.com:443")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "bye" {
			t.Fatalf("read %q, %v; want bye and EOF", b, err)
		}
		return c
	}
	for _, proto := range []string{"connect", "socks"} {
		t.Run(proto+"/silent", func(t *testing.T) {
			got := halfClosing(t)
			c := open(t, proto)
			defer c.Close()
			start := time.Now()
			select {
			case s := <-got:
				if d := s.eof.Sub(start); d > 3*time.Second {
					t.Errorf("upstream closed after %v, want about the handshake timeout", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the half-closed tunnel was held past 5 s")
			}
		})
		t.Run(proto+"/sending", func(t *testing.T) {
			got := halfClosing(t)
			c := open(t, proto)
			defer c.Close()
			// 2 s of sending, every 100 ms: more than three handshake
			// timeouts, never one of silence.
			for range 20 {
				if _, err := io.WriteString(c, "more"); err != nil {
					t.Fatalf("write after the upstream's FIN: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			c.(interface{ CloseWrite() error }).CloseWrite()
			select {
			case s := <-got:
				if s.n != 80 {
					t.Errorf("upstream got %d bytes, want 80", s.n)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the tunnel did not end after the client's FIN")
			}
		})
	}
}

// TestLoopIPv6Listener: a listener really bound on [::1] is the proxy's own
// through every spelling of ::1, on HTTP, CONNECT and SOCKS5; the same port
// on 127.0.0.1 is another socket and is not.
func TestLoopIPv6Listener(t *testing.T) {
	l6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	h := newHarness(t, loopPolicy())
	port := portOf(t, l6.Addr().String())
	serveOwn(t, h, l6, netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port)))
	for _, host := range []string{"[::1]", "[0:0:0:0:0:0:0:1]", "[::0001]", "localhost"} {
		authority := host + ":" + strconv.Itoa(port)
		t.Run(host, func(t *testing.T) {
			h.dial.reset()
			wantLoopHTTP(t, h, authority)
			wantNoDial(t, h)
		})
	}
	if code := socksReply(t, h, atypIPv6, "::1", port); code != 0x02 {
		t.Errorf("SOCKS5 [::1]: reply %#x, want 0x02", code)
	}
	wantLoopEvent(t, h, "socks5_tcp")
	// Served through the [::1] listener itself: a plain request works.
	c, err := net.Dial("tcp", l6.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	o := portOf(t, h.origin.Listener.Addr().String())
	fmt.Fprintf(c, "GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", o)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request through the [::1] listener: %v %v", resp, err)
	}
	// 127.0.0.1 on the same port number is a different socket.
	if h.srv.isOwn(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))) &&
		portOf(t, h.httpAddr) != port && portOf(t, h.socksAddr) != port {
		t.Error("127.0.0.1 on the [::1] listener's port counted as own")
	}
}

// pipelinedConnects is one CONNECT request for each target, back to back,
// as a client that pipelines them sends them.
func pipelinedConnects(targets []string) string {
	var b strings.Builder
	for _, a := range targets {
		fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", a, a)
	}
	return b.String()
}

// serveOwn serves l on h's proxy until the test ends, and returns once the
// proxy counts own as one of its own addresses (Serve registers its
// listener before it accepts).
func serveOwn(t *testing.T, h *harness, l net.Listener, own netip.AddrPort) {
	t.Helper()
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(l) }()
	t.Cleanup(func() { l.Close(); <-served })
	deadline := time.Now().Add(5 * time.Second)
	for !h.srv.isOwn(own) {
		if time.Now().After(deadline) {
			t.Fatalf("the listener %s was not registered as %s", l.Addr(), own)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantLoopHTTP asserts that a plain GET of authority and a CONNECT to it
// are both refused as loops.
func wantLoopHTTP(t *testing.T, h *harness, authority string) {
	t.Helper()
	resp, body := h.do(t, "GET", "http://"+authority+"/")
	wantBlock(t, resp, body, "blocked-by-policy", "loop_detected", "deny")
	resp, body, _ = h.connect(t, authority)
	wantBlock(t, resp, body, "blocked-by-policy", "loop_detected", "deny")
}

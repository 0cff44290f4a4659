package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// keepAliveGet sends one keep-alive request on a new connection and reads
// the answer; the connection then sits idle in the proxy.
func keepAliveGet(t *testing.T, h *harness) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", h.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	getOn(t, c, br)
	return c, br
}

func getOn(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("keep-alive GET: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("keep-alive GET: %d", resp.StatusCode)
	}
}

// closedByPeer reports whether the proxy closed c.
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

// TestIdleKeepAliveEvictedAtCap is issue 9's defect 6: at the cap, idle
// keep-alive connections locked every other client out for the whole idle
// timeout. Now the oldest idle one makes room, at once.
func TestIdleKeepAliveEvictedAtCap(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.MaxConns = 2
		s.IdleTimeout = time.Minute
	})
	old, _ := keepAliveGet(t, h)
	time.Sleep(20 * time.Millisecond) // "oldest" by the clock
	young, youngBR := keepAliveGet(t, h)

	start := time.Now()
	third, _ := keepAliveGet(t, h) // would wait a minute before
	if d := time.Since(start); d > time.Second {
		t.Errorf("third client served after %v", d)
	}
	if !closedByPeer(old) {
		t.Error("the oldest idle connection was not the one closed")
	}
	young.SetDeadline(time.Now().Add(5 * time.Second))
	getOn(t, young, youngBR) // still served
	_ = third
	if n := h.srv.evictions.Load(); n != 1 {
		t.Errorf("evictions = %d, want 1", n)
	}
}

// TestTunnelsNeverEvicted: at a cap held by tunnels a new client waits (no
// tunnel is cut), and is served as soon as a tunnel ends; a keep-alive
// connection next to a tunnel is the one that makes room.
func TestTunnelsNeverEvicted(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.MaxConns = 2
		s.IdleTimeout = time.Minute
	})
	h.dial.routes = map[string]string{publicIP + ":443": echoServer(t)}
	_, _, t1 := h.connect(t, "example.com:443")
	_, _, t2 := h.connect(t, "example.com:443")
	echoRoundTrip(t, t1, "one")
	echoRoundTrip(t, t2, "two")

	third, err := net.Dial("tcp", h.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("third connection served while tunnels hold the cap")
	}
	echoRoundTrip(t, t1, "still one")
	echoRoundTrip(t, t2, "still two")
	t1.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("third connection after a tunnel ended: %v", err)
	}
	resp.Body.Close()

	// Now: tunnel t2 and an idle keep-alive connection hold the cap.
	ka, _ := keepAliveGet(t, h)
	fourth, _ := keepAliveGet(t, h)
	_ = fourth
	if !closedByPeer(ka) {
		t.Error("the idle keep-alive connection was not closed for the new client")
	}
	echoRoundTrip(t, t2, "tunnel untouched")
}

func TestFitConnCap(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, DefaultMaxConns},       // unknown
		{1 << 20, DefaultMaxConns}, // plenty
		{20000, (20000 - fdReserve) / fdsPerConn},
		{1024, (1024 - fdReserve) / fdsPerConn},
		{256, (256 - fdReserve) / fdsPerConn},
		{10, 1},
	} {
		if got := fitConnCap(tc.limit); got != tc.want {
			t.Errorf("fitConnCap(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	n, limit := FitConnCap()
	if limit > 0 && uint64(n*fdsPerConn+fdReserve) > limit {
		t.Errorf("FitConnCap() = %d for limit %d: does not fit", n, limit)
	}
	s := &Server{}
	if s.ConnCap() != n {
		t.Errorf("ConnCap() of the zero Server = %d, want the fitted %d", s.ConnCap(), n)
	}
}

// TestSocksTunnelNeverEvicted: an idle SOCKS5 tunnel is a tunnel too. At a
// cap of two held by an idle SOCKS5 tunnel and an idle keep-alive
// connection, a new client takes the keep-alive connection's slot; the next
// one waits rather than cut the tunnel.
func TestSocksTunnelNeverEvicted(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.MaxConns = 2
		s.IdleTimeout = time.Minute
	})
	h.dial.routes = map[string]string{publicIP + ":443": echoServer(t)}
	tun := socksDial(t, h, "example.com:443")
	echoRoundTrip(t, tun, "socks")
	time.Sleep(20 * time.Millisecond) // the tunnel is the older one
	ka, _ := keepAliveGet(t, h)
	newer, _ := keepAliveGet(t, h)
	if !closedByPeer(ka) {
		t.Fatal("the idle keep-alive connection was not the one closed")
	}
	echoRoundTrip(t, tun, "still there")
	_ = newer

	// The cap is the tunnel and the newer keep-alive connection, idle: the
	// next client evicts that one, never the older tunnel.
	last, _ := keepAliveGet(t, h)
	_ = last
	if !closedByPeer(newer) {
		t.Error("the idle keep-alive connection was not closed for the next client")
	}
	echoRoundTrip(t, tun, "untouched")
	if n := h.srv.evictions.Load(); n != 2 {
		t.Errorf("evictions = %d, want 2", n)
	}
}

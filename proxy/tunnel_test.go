package proxy

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/testnet"
)

// halfCloseServer reads until EOF, then answers with what it read,
// reversed in case, and closes.
func halfCloseServer(t *testing.T) string {
	return testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		b, _ := io.ReadAll(c)
		io.WriteString(c, strings.ToUpper(string(b)))
	})
}

// Client → upstream EOF reaches the upstream as EOF while the other
// direction keeps flowing.
func TestTunnelHalfCloseClientFirst(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = halfCloseServer(t)
	_, _, c := h.connect(t, "example.com:443")
	io.WriteString(c, "request body")
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "REQUEST BODY" {
		t.Fatalf("got %q %v", got, err)
	}
}

// Upstream → client EOF reaches the client while it can still send.
func TestTunnelHalfCloseUpstreamFirst(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	received := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "banner")
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		received <- string(b)
	}()
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = l.Addr().String()
	_, _, c := h.connect(t, "example.com:443")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "banner" {
		t.Fatalf("got %q %v", got, err)
	}
	io.WriteString(c, "still talking")
	c.(*net.TCPConn).CloseWrite()
	select {
	case s := <-received:
		if s != "still talking" {
			t.Errorf("upstream got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream never saw EOF")
	}
}

// A tunnel with no traffic is closed after IdleTimeout; one where only one
// direction moves is not idle.
func TestTunnelIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	addr := testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		one := make([]byte, 1)
		if _, err := c.Read(one); err != nil {
			return
		}
		if one[0] == 's' { // stream: one byte every idle/3, for 4×idle
			for i := 0; i < 12; i++ {
				if _, err := c.Write([]byte{'.'}); err != nil {
					return
				}
				time.Sleep(idle / 3)
			}
			c.Write([]byte{'!'})
		}
		io.Copy(io.Discard, c)
	})
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) { s.IdleTimeout = idle })
	h.dial.to = addr

	_, _, c := h.connect(t, "example.com:443")
	c.Write([]byte{'q'})
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c)
	if d := time.Since(start); d < idle/2 || d > 10*idle {
		t.Errorf("idle tunnel closed after %v (idle %v)", d, idle)
	}

	_, _, c = h.connect(t, "example.com:443")
	c.Write([]byte{'s'})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 13)
	if _, err := io.ReadFull(c, buf); err != nil || buf[12] != '!' {
		t.Fatalf("one-way stream cut: %q %v", buf, err)
	}
}

// Bytes sent right after the CONNECT request (before the 200) reach the
// upstream.
func TestConnectPipelinedBytes(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = echoServer(t)
	c, err := net.Dial("tcp", h.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nEARLY")
	want := "HTTP/1.1 200 Connection established\r\n\r\nEARLY"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("got %q %v", got, err)
	}
}

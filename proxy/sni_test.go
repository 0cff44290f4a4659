package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/testnet"
	xproxy "golang.org/x/net/proxy"
)

// byteCounter is an origin that counts the bytes it receives.
func byteCounter(t testing.TB) (addr string, got *atomic.Int64) {
	got = new(atomic.Int64)
	addr = testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	return addr, got
}

// helloWithSNI sends a TLS ClientHello naming sni over c (the handshake
// then fails or not; only the first flight matters).
func helloWithSNI(c net.Conn, sni string) error {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	return tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
}

// wantClosed checks that the proxy closed c.
func wantClosed(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("tunnel not closed: %v", err)
	}
}

func TestOpaqueTunnelSNI(t *testing.T) {
	for _, tc := range []struct {
		name, target, sni string
		pass              bool
	}{
		{"same name", "example.com:443", "example.com", true},
		{"same name, other case", "example.com:443", "EXAMPLE.COM", true},
		{"another allowed name", "example.com:443", "a.corp.example", false},
		{"an unlisted name", "example.com:443", "elsewhere.example", false},
		{"IP tunnel, allowed name", publicIP + ":443", "a.corp.example", true},
		{"IP tunnel, denied name", publicIP + ":443", "bad.corp.example", false},
		{"IP tunnel, unlisted name", publicIP + ":443", "elsewhere.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, effective(map[string]string{"example.com": "allow", "*.corp.example": "allow", "bad.corp.example": "deny", publicIP: "allow"}))
			addr, got := byteCounter(t)
			h.dial.to = addr
			_, _, c := h.connect(t, tc.target)
			if c == nil {
				t.Fatal("CONNECT refused")
			}
			if tc.pass {
				// The origin never answers: send the hello, wait for
				// it to arrive, then give up the handshake.
				go helloWithSNI(c, tc.sni)
				deadline := time.Now().Add(3 * time.Second)
				for got.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if got.Load() == 0 {
					t.Error("the ClientHello did not reach the origin")
				}
				c.Close()
				return
			}
			helloWithSNI(c, tc.sni)
			wantClosed(t, c)
			ev := waitAudit(t, h.audit, "host_mismatch")
			if ev["event.name"] != EventBlockDecision || ev["network.policy.source"] != "mode_guard" || ev["network.transport.protocol"] != "https_connect" {
				t.Errorf("audit %v", ev)
			}
			time.Sleep(20 * time.Millisecond)
			if n := got.Load(); n != 0 {
				t.Errorf("origin got %d bytes of a refused tunnel", n)
			}
		})
	}
}

func TestOpaqueTunnelMalformedHello(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	addr, got := byteCounter(t)
	h.dial.to = addr
	_, _, c := h.connect(t, "example.com:443")
	// A handshake record announcing more than it holds, then EOF.
	c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03})
	c.(*net.TCPConn).CloseWrite()
	wantClosed(t, c)
	waitAudit(t, h.audit, "host_mismatch")
	if n := got.Load(); n != 0 {
		t.Errorf("origin got %d bytes", n)
	}
}

func TestSOCKS5TunnelSNI(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow", "other.example": "allow"}))
	addr, got := byteCounter(t)
	h.dial.to = addr
	d, err := xproxy.SOCKS5("tcp", h.socksAddr, nil, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", "example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	helloWithSNI(c, "other.example")
	wantClosed(t, c)
	ev := waitAudit(t, h.audit, "host_mismatch")
	if ev["network.transport.protocol"] != "socks5_tcp" {
		t.Errorf("audit %v", ev)
	}
	if n := got.Load(); n != 0 {
		t.Errorf("origin got %d bytes", n)
	}
}

// A server that speaks first (SSH, SMTP) is not held up by the wait for the
// client's first bytes.
func TestOpaqueTunnelServerSpeaksFirst(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, "SSH-2.0-test\r\n")
		b := make([]byte, 5)
		io.ReadFull(c, b)
		c.Write(b)
	})
	_, _, c := h.connect(t, "example.com:22")
	banner := make([]byte, 14)
	if _, err := io.ReadFull(c, banner); err != nil || string(banner) != "SSH-2.0-test\r\n" {
		t.Fatalf("banner %q, %v", banner, err)
	}
	echoRoundTrip(t, c, "hello")
}

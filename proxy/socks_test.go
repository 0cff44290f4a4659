package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"
)

const (
	atypIPv4   = 1
	atypDomain = 3
	atypIPv6   = 4

	cmdConnect   = 1
	cmdBind      = 2
	cmdAssociate = 3
)

// socksRequest is the bytes of a no-auth greeting followed by a request.
func socksRequest(cmd, atyp byte, host string, port int) []byte {
	b := []byte{5, 1, 0, 5, cmd, 0, atyp}
	switch atyp {
	case atypDomain:
		b = append(b, byte(len(host)))
		b = append(b, host...)
	default:
		a := netip.MustParseAddr(host)
		if atyp == atypIPv4 {
			a4 := a.As4()
			b = append(b, a4[:]...)
		} else {
			a16 := a.As16()
			b = append(b, a16[:]...)
		}
	}
	return binary.BigEndian.AppendUint16(b, uint16(port))
}

// socksExchange sends a request and returns the reply code and the conn,
// positioned after the reply.
func socksExchange(t testing.TB, h *harness, cmd, atyp byte, host string, port int, extra []byte) (byte, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.socksAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(socksRequest(cmd, atyp, host, port), extra...)); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 2+4)
	if _, err := io.ReadFull(c, head); err != nil {
		c.Close()
		t.Fatalf("SOCKS5 %s: %v", host, err)
	}
	if !bytes.Equal(head[:2], []byte{5, 0}) || head[2] != 5 {
		t.Fatalf("SOCKS5 %s: unexpected reply head %v", host, head)
	}
	rest := 4 + 2
	switch head[5] {
	case atypIPv6:
		rest = 16 + 2
	case atypDomain:
		n := make([]byte, 1)
		io.ReadFull(c, n)
		rest = int(n[0]) + 2
	}
	io.ReadFull(c, make([]byte, rest))
	t.Cleanup(func() { c.Close() })
	return head[3], c
}

func socksReply(t testing.TB, h *harness, atyp byte, host string, port int) byte {
	t.Helper()
	code, c := socksExchange(t, h, cmdConnect, atyp, host, port, nil)
	c.Close()
	return code
}

// socksDial connects through the proxy with golang.org/x/net/proxy, which
// sends names as domain-typed addresses.
func socksDial(t testing.TB, h *harness, addr string) net.Conn {
	t.Helper()
	d, err := xproxy.SOCKS5("tcp", h.socksAddr, nil, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("SOCKS5 dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestV105SocksConnectByName(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = echoServer(t)
	code, c := socksExchange(t, h, cmdConnect, atypDomain, "example.com", 443, nil)
	if code != 0 {
		t.Fatalf("reply %#x", code)
	}
	echoRoundTrip(t, c, "hello")
	echoRoundTrip(t, c, string(bytes.Repeat([]byte("y"), 200<<10)))
	wantResolves(t, h, "example.com")
	wantDials(t, h, publicIP+":443")

	// The same through golang.org/x/net/proxy.
	h.dial.reset()
	h.res.reset()
	echoRoundTrip(t, socksDial(t, h, "example.com:443"), "x/net")
	wantResolves(t, h, "example.com")
	wantDials(t, h, publicIP+":443")
}

func TestV106SocksBlocks(t *testing.T) {
	t.Run("a", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"*": "allow", "blocked.example.com": "deny"}))
		h.res.forbid = true
		if code := socksReply(t, h, atypDomain, "blocked.example.com", 443); code != 0x02 {
			t.Errorf("reply %#x", code)
		}
		wantNoDial(t, h)
	})
	t.Run("b", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
		h.res.forbid = true
		if code := socksReply(t, h, atypDomain, "other.example.net", 443); code != 0x02 {
			t.Errorf("reply %#x", code)
		}
		wantNoDial(t, h)
	})
	t.Run("c", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"*": "allow"}))
		h.res.forbid = true
		for _, r := range []struct {
			atyp byte
			host string
			port int
		}{
			{atypIPv4, "127.0.0.1", 6379},
			{atypIPv6, "::1", 22},
			{atypDomain, "2130706433", 80},
			{atypDomain, "localhost", 80},
		} {
			if code := socksReply(t, h, r.atyp, r.host, r.port); code != 0x02 {
				t.Errorf("%s: reply %#x", r.host, code)
			}
		}
		wantNoDial(t, h)
	})
}

func TestV107SocksInLimitedMode(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow"})
	e.Mode.Value = "limited"
	h := newHarness(t, e)
	for _, port := range []int{443, 80} {
		if code := socksReply(t, h, atypDomain, "example.com", port); code != 0x02 {
			t.Errorf(":%d reply %#x", port, code)
		}
	}
	wantNoDial(t, h)
	evs := h.audit.events(t)
	if len(evs) != 2 {
		t.Fatalf("audit events %v", evs)
	}
	for _, ev := range evs {
		if ev["network.policy.reason"] != "mitm_required" || ev["network.policy.source"] != "mode_guard" ||
			ev["network.transport.protocol"] != "socks5_tcp" || ev["event.name"] != EventBlockDecision ||
			ev["network.policy.scope"] != "mode_guard" || ev["http.request.method"] != "none" {
			t.Errorf("audit %v", ev)
		}
	}
}

func TestSocksUnsupportedCommands(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"*": "allow"}))
	h.res.forbid = true
	for _, cmd := range []byte{cmdBind, cmdAssociate} {
		code, c := socksExchange(t, h, cmd, atypIPv4, "93.184.216.34", 80, nil)
		c.Close()
		if code != 0x07 {
			t.Errorf("command %d: reply %#x, want 0x07", cmd, code)
		}
	}
	wantNoDial(t, h)
}

// Bytes a client sends before the reply (with the request, in one write)
// reach the target first.
func TestSocksPipelinedData(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = echoServer(t)
	code, c := socksExchange(t, h, cmdConnect, atypDomain, "example.com", 443, []byte("early"))
	if code != 0 {
		t.Fatalf("reply %#x", code)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "early" {
		t.Fatalf("got %q %v", got, err)
	}
	echoRoundTrip(t, c, "later")
}

func TestSocksHandshakeTimeout(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.SocksHandshakeTimeout = 200 * time.Millisecond
	})
	c, err := net.Dial("tcp", h.socksAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{5, 1}) // half a greeting
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("not closed: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestSocksHalfCloseAndIdle(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.IdleTimeout = 300 * time.Millisecond
	})
	h.dial.to = echoServer(t)
	_, c := socksExchange(t, h, cmdConnect, atypDomain, "example.com", 443, nil)
	io.WriteString(c, "bye")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "bye" {
		t.Fatalf("after half-close got %q %v", got, err)
	}
	// An idle SOCKS5 tunnel is closed.
	_, c = socksExchange(t, h, cmdConnect, atypDomain, "example.com", 443, nil)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	io.ReadAll(c)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle SOCKS5 tunnel open for %v", d)
	}
}

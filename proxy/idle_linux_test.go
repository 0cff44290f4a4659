package proxy

import (
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/testnet"
)

// openFDs counts this process's descriptors once they have stopped
// changing: pipes the runtime pooled for splice are closed when the
// collector frees them, so collect first and give the cleanups a moment.
func openFDs(t testing.TB) int {
	t.Helper()
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	prev := -1
	for range 50 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		n := count()
		if n == prev {
			return n
		}
		prev = n
	}
	return prev
}

// POLICY §5: an idle opaque tunnel holds its two sockets and no pipe, also
// after it has carried data both ways. 200 tunnels (CONNECT and SOCKS5)
// each move a few KiB each way and then go quiet; every tunnel then costs
// four descriptors in this process: the client's socket, the proxy's two,
// and the origin's.
func TestIdleTunnelsHoldOnlyTheirSockets(t *testing.T) {
	const tunnels = 200
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.Logf = func(string, ...any) {}
		s.Audit = io.Discard
		s.IdleTimeout = time.Minute
	})
	h.dial.to = testnet.Echo(t, 4096) // no splice: the descriptors counted are the proxy's
	msg := strings.Repeat("x", 6000)
	// Warm up: the first tunnels start the runtime's own descriptors
	// (poller, timers) and the listeners' accept paths.
	_, _, warm := h.connect(t, "example.com:443")
	echoRoundTrip(t, warm, msg)
	warm.Close()
	base := openFDs(t)

	conns := make([]net.Conn, 0, tunnels)
	for i := range tunnels {
		var c net.Conn
		if i%2 == 0 {
			_, _, c = h.connect(t, "example.com:443")
		} else {
			var code byte
			code, c = socksExchange(t, h, cmdConnect, atypDomain, "example.com", 443, nil)
			if code != 0 {
				t.Fatalf("SOCKS5 reply %d", code)
			}
		}
		echoRoundTrip(t, c, msg)
		echoRoundTrip(t, c, msg[:100])
		conns = append(conns, c)
	}
	idle := openFDs(t)
	perTunnel := float64(idle-base) / tunnels
	t.Logf("%d idle tunnels after traffic: %d descriptors (%.2f per tunnel in this process, 4 = the two sockets of each side)", tunnels, idle-base, perTunnel)
	if idle-base > 4*tunnels+8 {
		t.Errorf("%d idle tunnels hold %d descriptors, %.2f per tunnel; want 4 (2 in the proxy, no pipe)", tunnels, idle-base, perTunnel)
	}
	// They are still tunnels: each carries data again.
	for _, c := range conns[:10] {
		echoRoundTrip(t, c, "again")
	}
	for _, c := range conns {
		c.Close()
	}
}

package proxy

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/policy"
)

// movedCounter is an Observer that keeps the tunnel byte counts only.
type movedCounter struct{ up, down atomic.Int64 }

func (*movedCounter) Decided(policy.Decision, policy.Protocol) {}
func (*movedCounter) DecisionTook(time.Duration)               {}
func (*movedCounter) ConnOpened(policy.Protocol)               {}
func (*movedCounter) ConnClosed(policy.Protocol)               {}
func (b *movedCounter) Moved(_ policy.Protocol, toUpstream bool, n int64) {
	if toUpstream {
		b.up.Add(n)
	} else {
		b.down.Add(n)
	}
}

// A tunnel's bytes are counted by the time the client has seen them come
// back: a client that reads its answer and then the metrics finds the
// exchange counted, exactly (the read-ahead first bytes included).
func TestTunnelBytesCountedBeforeSeen(t *testing.T) {
	for _, via := range []string{"connect", "socks"} {
		t.Run(via, func(t *testing.T) {
			bc := &movedCounter{}
			h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) { s.Observer = bc })
			h.dial.to = echoServer(t)
			const early = "early bytes"
			var c net.Conn
			var head int64 // the proxy's own answer that opened the tunnel
			switch via {
			case "connect":
				var err error
				c, err = net.DialTimeout("tcp", h.httpAddr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"+early)
				got := make([]byte, len(connectEstablished))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != connectEstablished {
					t.Fatalf("CONNECT: %q %v", got, err)
				}
				// The 200 goes out as the tunnel's first bytes to
				// the client, and is counted with them.
				head = int64(len(connectEstablished))
			case "socks":
				var code byte
				code, c = socksExchange(t, h, cmdConnect, atypDomain, "example.com", 443, []byte(early))
				if code != 0 {
					t.Fatalf("reply %#x", code)
				}
			}
			got := make([]byte, len(early))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != early {
				t.Fatalf("early bytes echoed: %q %v", got, err)
			}
			want := int64(len(early))
			check := func(round int) {
				t.Helper()
				if u, d := bc.up.Load(), bc.down.Load(); u != want || d != head+want {
					t.Fatalf("round %d: counted %d to the upstream and %d to the client, want %d and %d", round, u, d, want, head+want)
				}
			}
			check(0)
			for i := 1; i <= 200; i++ {
				msg := fmt.Sprintf("round %d %s", i, strings.Repeat("x", i*37))
				echoRoundTrip(t, c, msg)
				want += int64(len(msg))
				check(i)
			}
		})
	}
}

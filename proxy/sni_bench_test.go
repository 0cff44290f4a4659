package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkTunnelNewConnection opens one CONNECT tunnel per op to an echo
// origin, sends a TLS ClientHello naming the CONNECT host (what the SNI
// check of opaque tunnels reads) and reads it back: the cost of a new
// tunnel, gate included.
func BenchmarkTunnelNewConnection(b *testing.B) {
	a, z := net.Pipe()
	go tls.Client(a, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true}).Handshake()
	z.SetReadDeadline(time.Now().Add(3 * time.Second))
	hello := make([]byte, 16<<10)
	n, _ := z.Read(hello)
	hello = hello[:n]
	a.Close()
	z.Close()
	h := benchHarness(b, echoServer(b))
	b.ResetTimer()
	got := make([]byte, len(hello))
	for i := 0; i < b.N; i++ {
		_, _, c := h.connect(b, "example.com:443")
		if c == nil {
			b.Fatal("CONNECT refused")
		}
		if _, err := c.Write(hello); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

package proxy

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	socks5 "github.com/armon/go-socks5"
	"github.com/netpolicy/netpolicy/internal/testnet"
)

// The tunnel benchmarks move bytes upstream → client: each op asks a local
// source server for benchBlock bytes over one long-lived tunnel. Every
// variant runs against the same source, so the ratios between them are what
// matters (loopback, all processes on the same cores).
const benchBlock = 8 << 20

// sourceServer answers each 8-byte big-endian count with that many bytes.
func sourceServer(b *testing.B) string {
	buf := make([]byte, 1<<20)
	return testnet.Serve(b, func(c net.Conn) {
		defer c.Close()
		var n [8]byte
		for {
			if _, err := io.ReadFull(c, n[:]); err != nil {
				return
			}
			for left := int64(binary.BigEndian.Uint64(n[:])); left > 0; {
				k := min(left, int64(len(buf)))
				if _, err := c.Write(buf[:k]); err != nil {
					return
				}
				left -= k
			}
		}
	})
}

func pull(b *testing.B, c net.Conn) {
	b.SetBytes(benchBlock)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], benchBlock)
	buf := make([]byte, 256<<10)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(n[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, benchBlock), buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// CPU of the whole test process (client, proxy and source) per MB
	// moved: the differences between variants are the relay's own cost.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/(benchBlock>>20), "cpu-ns/MB")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// plainRelay is the baseline: a CONNECT-less relay with no policy that
// splices between the raw conns.
func plainRelay(b *testing.B, target string) string {
	return testnet.Serve(b, func(c net.Conn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		go func() { io.Copy(u, c); u.Close() }()
		io.Copy(c, u)
		c.Close()
	})
}

func benchHarness(b *testing.B, to string) *harness {
	h := newHarness(b, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.Logf = func(string, ...any) {}
		s.Audit = io.Discard
	})
	h.dial.to = to
	return h
}

func BenchmarkConnectTunnel(b *testing.B) {
	src := sourceServer(b)
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", src)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pull(b, c)
	})
	b.Run("plain-relay", func(b *testing.B) {
		c, err := net.Dial("tcp", plainRelay(b, src))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pull(b, c)
	})
	b.Run("netpolicy", func(b *testing.B) {
		h := benchHarness(b, src)
		_, _, c := h.connect(b, "example.com:443")
		c.SetDeadline(time.Time{})
		pull(b, c)
	})
}

func BenchmarkSOCKSTunnel(b *testing.B) {
	src := sourceServer(b)
	b.Run("armon-bare", func(b *testing.B) {
		// armon/go-socks5 as it comes, serving the raw conn: its relay
		// splices too (bufio.Reader.WriteTo hands over to the TCPConn),
		// but it has no deadlines at all.
		srv, _ := socks5.New(&socks5.Config{
			Logger: log.New(io.Discard, "", 0),
			Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return net.Dial("tcp", src)
			},
			Resolver: passThroughResolver{},
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		go srv.Serve(l)
		h := &harness{socksAddr: l.Addr().String()}
		code, c := socksExchange(b, h, cmdConnect, atypDomain, "example.com", 443, nil)
		if code != 0 {
			b.Fatalf("reply %d", code)
		}
		c.SetDeadline(time.Time{})
		pull(b, c)
	})
	b.Run("armon-wrapped-conn", func(b *testing.B) {
		// What a deadline wrapper around the conn would cost: the same
		// library, served a type that hides *net.TCPConn, copies through
		// user space.
		srv, _ := socks5.New(&socks5.Config{
			Logger: log.New(io.Discard, "", 0),
			Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				c, err := net.Dial("tcp", src)
				return wrappedConn{c}, err
			},
			Resolver: passThroughResolver{},
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		go testnet.Accept(l, func(c net.Conn) { srv.ServeConn(wrappedConn{c}) })
		h := &harness{socksAddr: l.Addr().String()}
		code, c := socksExchange(b, h, cmdConnect, atypDomain, "example.com", 443, nil)
		if code != 0 {
			b.Fatalf("reply %d", code)
		}
		c.SetDeadline(time.Time{})
		pull(b, c)
	})
	b.Run("netpolicy", func(b *testing.B) {
		h := benchHarness(b, src)
		code, c := socksExchange(b, h, cmdConnect, atypDomain, "example.com", 443, nil)
		if code != 0 {
			b.Fatalf("reply %d", code)
		}
		c.SetDeadline(time.Time{})
		pull(b, c)
	})
}

// BenchmarkHTTPForward is small keep-alive GETs, 16 at a time.
func BenchmarkHTTPForward(b *testing.B) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer o.Close()
	run := func(b *testing.B, client *http.Client, target string) {
		b.SetParallelism(8) // 8×GOMAXPROCS clients
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Get(target)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	tr := func(proxy *url.URL) *http.Client {
		t := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		if proxy != nil {
			t.Proxy = http.ProxyURL(proxy)
		}
		return &http.Client{Transport: t}
	}
	b.Run("direct", func(b *testing.B) {
		run(b, tr(nil), o.URL+"/")
	})
	b.Run("netpolicy", func(b *testing.B) {
		h := benchHarness(b, o.Listener.Addr().String())
		pu, _ := url.Parse("http://" + h.httpAddr)
		run(b, tr(pu), "http://example.com/")
	})
}

// wrappedConn hides the concrete conn type, as any wrapper does.
type wrappedConn struct{ net.Conn }

func (c wrappedConn) LocalAddr() net.Addr { return c.Conn.LocalAddr() }

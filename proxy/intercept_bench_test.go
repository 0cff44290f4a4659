package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"runtime/pprof"
	"strconv"
	"testing"
)

// BenchmarkIntercept measures HTTPS through the proxy on 127.0.0.1:
// keep-alive GETs on intercepted connections (HTTP/1.1 and h2), a new
// intercepted connection (CONNECT, TLS to the proxy with a cached leaf,
// TLS upstream on the pool) per GET, and, for scale, keep-alive GETs
// through an opaque tunnel in full mode (TLS end to end).
//
// The proxy's goroutines carry the profiler label side=proxy (the client's
// and the origin's do not), so that a CPU profile of the proxy alone is
//
//	go test ./proxy -run XXX -bench BenchmarkIntercept -cpuprofile cpu.out
//	go tool pprof -tagfocus side=proxy -top proxy.test cpu.out
func BenchmarkIntercept(b *testing.B) {
	quiet := func(s *Server) { s.Logf, s.Audit = func(string, ...any) {}, nil }
	get := func(b *testing.B, c *http.Client) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Get("https://example.com/")
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	newHarness := func(b *testing.B, full bool, originOpts ...func(*tlsOrigin)) *mitmHarness {
		e := limitedMITM(map[string]string{"example.com": "allow"})
		if full {
			e.Mode.Value = "full"
		}
		// The proxy's Serve goroutines are started by newHarness after
		// the options ran: they, and all they start, inherit the label.
		label := func(*Server) {
			pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("side", "proxy")))
		}
		m := newMITMHarnessTo(b, newTLSOrigin(b, originOpts...), e, quiet, label) // no audit: the harness's sink keeps every line
		pprof.SetGoroutineLabels(context.Background())
		m.origin.Config.ErrorLog = nil
		return m
	}
	b.Run("keepalive-get-h1", func(b *testing.B) {
		m := newHarness(b, false)
		c := m.h1Client()
		c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
		get(b, c)
	})
	// An origin that speaks HTTP/1.1 only, as bench/mitm.sh's: each
	// upstream connection carries one request at a time.
	b.Run("keepalive-get-h1-origin-h1", func(b *testing.B) {
		m := newHarness(b, false, func(o *tlsOrigin) { o.TLS.NextProtos = []string{"http/1.1"} })
		c := m.h1Client()
		c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
		get(b, c)
	})
	b.Run("keepalive-get-h2", func(b *testing.B) {
		m := newHarness(b, false)
		get(b, m.h2Client(b))
	})
	b.Run("new-connection-get", func(b *testing.B) {
		m := newHarness(b, false)
		c := m.h1Client()
		c.Transport.(*http.Transport).DisableKeepAlives = true
		get(b, c)
	})
	b.Run("opaque-keepalive-get-h1", func(b *testing.B) {
		m := newHarness(b, true)
		c := m.h1Client()
		tr := c.Transport.(*http.Transport)
		tr.MaxIdleConnsPerHost = 64
		tr.TLSClientConfig = &tls.Config{RootCAs: m.origin.roots}
		get(b, c)
	})
	big := func(b *testing.B, full bool) {
		m := newHarness(b, full)
		chunk := make([]byte, 1<<20)
		m.origin.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(64<<20))
			for i := 0; i < 64; i++ {
				w.Write(chunk)
			}
		})
		c := m.h1Client()
		if full {
			c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: m.origin.roots}
		}
		b.SetBytes(64 << 20)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := c.Get("https://example.com/big")
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n != 64<<20 {
				b.Fatalf("got %d bytes", n)
			}
		}
	}
	b.Run("get-64MiB-intercepted", func(b *testing.B) { big(b, false) })
	b.Run("get-64MiB-opaque", func(b *testing.B) { big(b, true) })
}

package proxy

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestInterceptIdleMemory estimates the heap an idle intercepted keep-alive
// connection costs the proxy (POLICY §5: at most 64 KiB). N HTTP/1.1
// clients each make one GET straight to the origin and stay connected
// (client + origin server conn per connection); then N do the same through
// interception (client + the proxy's TLS and HTTP server conn; the
// upstream side is the idle pool's connections, one when the GETs are
// sequential). Everything runs in this process,
// so the figures are totals per connection; the proxy's share is the
// second minus the client's part. Set NETPOLICY_MEM_CONNS to run it (a
// measurement, not a unit test).
func TestInterceptIdleMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("NETPOLICY_MEM_CONNS"))
	if n <= 0 {
		t.Skip("set NETPOLICY_MEM_CONNS=N to measure")
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		for i := 0; i < 3; i++ {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse
	}
	open := func(t *testing.T, via bool, m *mitmHarness) []*http.Client {
		var cs []*http.Client
		for i := 0; i < n; i++ {
			var c *http.Client
			if via {
				c = m.h1Client()
			} else {
				c = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: m.origin.roots, ServerName: "example.com"}}}
			}
			url := "https://example.com/"
			if !via {
				url = m.origin.URL
			}
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cs = append(cs, c)
		}
		time.Sleep(200 * time.Millisecond)
		return cs
	}
	quiet := func(s *Server) { s.Logf, s.Audit = func(string, ...any) {}, nil }
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}), quiet)
	base := heap()
	direct := open(t, false, m)
	d := heap() - base
	for _, c := range direct {
		c.CloseIdleConnections()
	}
	time.Sleep(200 * time.Millisecond)
	base = heap()
	via := open(t, true, m)
	v := heap() - base
	t.Logf("%d idle conns: client+origin %d B/conn; client+proxy %d B/conn", n, d/uint64(n), v/uint64(n))
	runtime.KeepAlive(direct)
	runtime.KeepAlive(via)
}

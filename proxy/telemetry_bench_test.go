package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/resolve"
	"github.com/netpolicy/netpolicy/resolve/dnstest"
	"github.com/netpolicy/netpolicy/telemetry"
)

// uncachedResolver is the resolver without its cache: a fresh one per
// lookup (A and AAAA still in parallel), as every CONNECT paid before the
// cache existed.
type uncachedResolver struct{ cfg resolve.Config }

func (u uncachedResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return resolve.New(u.cfg).LookupNetIP(ctx, network, host)
}

// BenchmarkConnectOneName is the `npm install` shape: new CONNECT tunnels,
// one after another (c1) or 64 at a time (c64), all to one allowed name
// whose DNS server answers after 20 ms with a TTL of 60 s; each op opens
// the tunnel, moves one byte each way and closes it. "cached" is the
// proxy's resolver, "uncached" the same resolver without its cache.
func BenchmarkConnectOneName(b *testing.B) {
	dns, err := dnstest.Start("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	defer dns.Close()
	dns.Set("registry.bench.test", dnstest.Answer{Addrs: []string{"127.0.0.1"}, TTL: 60, Delay: 20 * time.Millisecond})
	echo := echoServer(b)
	cfg := resolve.Config{Servers: []string{dns.Addr}, Timeout: time.Second, Attempts: 1}
	for _, cached := range []bool{true, false} {
		for _, conc := range []int{1, 64} {
			name := "cached"
			if !cached {
				name = "uncached"
			}
			b.Run(name+"/c"+strconv.Itoa(conc), func(b *testing.B) {
				var r policy.Resolver = resolve.New(cfg)
				if !cached {
					r = uncachedResolver{cfg}
				}
				e := effective(map[string]string{"registry.bench.test": "allow"})
				e.AllowLocalBinding.Value = true // the name resolves to the local echo server
				h := newHarness(b, e, func(s *Server) {
					s.Logf = func(string, ...any) {}
					s.Audit = io.Discard
					s.Resolver = r
				})
				h.dial.to = echo
				_, port, _ := net.SplitHostPort(echo)
				target := "registry.bench.test:" + port
				op := func() error {
					c, err := net.Dial("tcp", h.httpAddr)
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Second))
					io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
					br := bufio.NewReader(c)
					resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
					if err != nil {
						return err
					}
					if resp.StatusCode != 200 {
						return io.ErrUnexpectedEOF
					}
					c.Write([]byte{'x'})
					_, err = br.ReadByte()
					return err
				}
				if err := op(); err != nil { // warm: the first lookup
					b.Fatal(err)
				}
				b.ResetTimer()
				if conc == 1 {
					for range b.N {
						if err := op(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism((conc + 1) / 2) // GOMAXPROCS 2 on the bench machine
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := op(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
			})
		}
	}
}

// BenchmarkSmallRequestsTelemetry is small keep-alive GETs, 64 at a time,
// with the metrics and the OTLP export off and on (to a collector that
// reads each request and answers at once).
func BenchmarkSmallRequestsTelemetry(b *testing.B) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer o.Close()
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			h := benchHarness(b, o.Listener.Addr().String())
			if on {
				m := telemetry.NewMetrics()
				x, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: collector.URL, Getenv: func(string) string { return "" }, Dropped: m.AuditDropped})
				if err != nil {
					b.Fatal(err)
				}
				defer x.Shutdown(context.Background())
				h.srv.Observer = m
				h.srv.Events = func(ev AuditEvent) { x.Emit(ev) }
			}
			pu, _ := url.Parse("http://" + h.httpAddr)
			client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 64, DisableCompression: true}}
			b.SetParallelism(32) // 64 clients with GOMAXPROCS 2
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get("http://example.com/")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			// CPU of the whole process (clients, proxy, origin, collector)
			// per request: steadier than req/s on a shared machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/req")
		})
	}
}

// BenchmarkPost4K is 4 KiB POSTs, 64 at a time on keep-alive connections,
// directly and through the proxy (whose per-connection forward path now
// takes requests with a body).
func BenchmarkPost4K(b *testing.B) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer o.Close()
	body := strings.Repeat("x", 4096)
	run := func(b *testing.B, client *http.Client, target string) {
		b.SetParallelism(32) // 64 clients with GOMAXPROCS 2
		b.SetBytes(4096)
		cpu0 := cpuTime()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(target, "application/octet-stream", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/req")
	}
	tr := func(proxy *url.URL) *http.Client {
		t := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		if proxy != nil {
			t.Proxy = http.ProxyURL(proxy)
		}
		return &http.Client{Transport: t}
	}
	b.Run("direct", func(b *testing.B) { run(b, tr(nil), o.URL+"/") })
	b.Run("netpolicy", func(b *testing.B) {
		h := benchHarness(b, o.Listener.Addr().String())
		pu, _ := url.Parse("http://" + h.httpAddr)
		run(b, tr(pu), "http://example.com/")
	})
}

package main

import (
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	socks5 "github.com/armon/go-socks5"
)

// newOrigin serves /small and /big on 127.0.0.1 like bench/cmd/origin.
func newOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "small\n") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("size"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(make([]byte, n))
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// newSink accepts one TCP connection at a time and speaks the origin's sink
// protocol: a 9-byte header, then an acknowledgement every MiB and at EOF.
func newSink(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [9]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != modeSink {
					return
				}
				buf := make([]byte, 64<<10)
				var n, acked int64
				var ack [8]byte
				for {
					m, err := c.Read(buf)
					n += int64(m)
					if err != nil || n-acked >= 1<<20 {
						binary.BigEndian.PutUint64(ack[:], uint64(n))
						acked = n
						c.Write(ack[:])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func newSOCKS(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s, err := socks5.New(&socks5.Config{Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	return l.Addr().String()
}

func testConfig(route, proxy, origin string) *config {
	return &config{
		mode: "small", route: route, proxy: proxy, origin: origin,
		conc: 2, duration: 200 * time.Millisecond, maxRequests: 1000,
		bytes: 1 << 20, dir: "up", clkTck: 100, warmup: 2,
	}
}

func TestSmallDirectAndSOCKS(t *testing.T) {
	o := newOrigin(t)
	origin := strings.TrimPrefix(o.URL, "http://")
	socks := newSOCKS(t)
	for _, c := range []*config{testConfig("direct", "", origin), testConfig("socks5", socks, origin)} {
		r, err := runSmall(c)
		if err != nil {
			t.Fatalf("%s: %v", c.route, err)
		}
		if r.Requests == 0 || r.Requests > c.maxRequests || r.Errors != 0 || r.P50ms <= 0 || r.P99ms < r.P50ms {
			t.Errorf("%s: %+v", c.route, r)
		}
	}
}

func TestSmallStopsAtCount(t *testing.T) {
	o := newOrigin(t)
	c := testConfig("direct", "", strings.TrimPrefix(o.URL, "http://"))
	c.duration, c.maxRequests = time.Minute, 50
	start := time.Now()
	r, err := runSmall(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 50 || time.Since(start) > 30*time.Second {
		t.Errorf("requests %d after %v", r.Requests, time.Since(start))
	}
}

func TestBig(t *testing.T) {
	o := newOrigin(t)
	c := testConfig("direct", "", strings.TrimPrefix(o.URL, "http://"))
	c.conc = 1
	r, err := runBig(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bytes == 0 || r.Bytes%(1<<20) != 0 || r.Errors != 0 || r.MBps <= 0 {
		t.Errorf("%+v", r)
	}
}

func TestTunnelUpCountsAcknowledgedBytes(t *testing.T) {
	sink := newSink(t)
	socks := newSOCKS(t)
	for _, route := range []string{"direct", "socks5"} {
		c := testConfig(route, socks, "")
		c.tcpOrigin, c.conc, c.bytes = sink, 1, 8<<20
		c.duration = 10 * time.Second // the byte limit ends it first
		r, err := runTunnel(c)
		if err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		// All but at most the last MiB is acknowledged.
		if r.Bytes > 8<<20 || r.Bytes <= 7<<20 || r.Errors != 0 {
			t.Errorf("%s: %+v", route, r)
		}
	}
}

// TestSmallTLSNewConn checks -tls with -new-conn: every measured request is
// its own verified TLS connection, counted by the server.
func TestSmallTLSNewConn(t *testing.T) {
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("request without TLS")
		}
		io.WriteString(w, "small\n")
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientTLS(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1"
	c := testConfig("direct", "", strings.TrimPrefix(s.URL, "https://"))
	c.tls, c.newConn, c.maxRequests = cfg, true, 20
	r, err := runSmall(c)
	if err != nil {
		t.Fatal(err)
	}
	// warm-up: one connection per client; then one per measured request.
	if want := int64(c.conc) + r.Requests; r.Requests == 0 || r.Errors != 0 || conns.Load() != want {
		t.Errorf("requests %d errors %d, server saw %d connections, want %d", r.Requests, r.Errors, conns.Load(), want)
	}

	// A server the roots do not cover fails the handshake: no figure.
	c.tls = cfg.Clone()
	c.tls.RootCAs = x509.NewCertPool()
	if r, err := runSmall(c); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted origin: %+v, %v", r, err)
	}
}

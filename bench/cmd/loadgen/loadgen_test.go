package main

import (
	"bufio"
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
	"github.com/netpolicy/netpolicy/internal/testnet"
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

// serveConns accepts TCP connections on 127.0.0.1 until the test ends and
// hands each to handle in a goroutine of its own, closing it after.
func serveConns(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	return testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		handle(c)
	})
}

// newSink speaks the origin's sink protocol: a 9-byte header, then an
// acknowledgement every MiB and at EOF.
func newSink(t *testing.T) string {
	t.Helper()
	return serveConns(t, func(c net.Conn) {
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
	})
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

func TestPostSendsTheBody(t *testing.T) {
	var posts, bad atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if r.Method != "POST" || err != nil || len(b) != 4096 || r.ContentLength != 4096 {
			bad.Add(1)
		}
		posts.Add(1)
		io.WriteString(w, "ok\n")
	}))
	defer o.Close()
	c := testConfig("direct", "", strings.TrimPrefix(o.URL, "http://"))
	c.mode, c.postBytes = "post", 4096
	r, err := runSmall(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors != 0 || bad.Load() != 0 || posts.Load() < r.Requests {
		t.Errorf("%+v; %d posts, %d malformed", r, posts.Load(), bad.Load())
	}
}

// TestNewConnOneTunnelPerRequest runs mode newconn through a CONNECT proxy
// that maps the name to 127.0.0.1: every measured request comes in a
// tunnel of its own, asked for by name.
func TestNewConnOneTunnelPerRequest(t *testing.T) {
	o := newOrigin(t)
	origin := strings.TrimPrefix(o.URL, "http://")
	_, port, _ := net.SplitHostPort(origin)
	var tunnels, wrong atomic.Int64
	proxy := serveConns(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil || req.Method != "CONNECT" {
			return
		}
		tunnels.Add(1)
		if req.Host != "registry.bench.test:"+port {
			wrong.Add(1)
			return
		}
		up, err := net.Dial("tcp", origin)
		if err != nil {
			return
		}
		defer up.Close()
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		go io.Copy(up, c)
		io.Copy(c, up)
	})
	c := testConfig("connect", proxy, origin)
	c.mode, c.newConn, c.name, c.conc = "newconn", true, "registry.bench.test", 1 // as main sets it for -mode newconn
	r, err := runSmall(c)
	if err != nil {
		t.Fatal(err)
	}
	// One tunnel for the warm-up, then one per measured request.
	if r.Requests == 0 || r.Errors != 0 || wrong.Load() != 0 || tunnels.Load() != r.Requests+1 {
		t.Errorf("%+v; %d tunnels (%d to the wrong target)", r, tunnels.Load(), wrong.Load())
	}
	c.route = "direct"
	if err := c.check(); err == nil {
		t.Error("-name with -route direct accepted")
	}
}

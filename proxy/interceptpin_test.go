package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// The HTTP/1.1 requests of an intercepted tunnel go upstream on TLS
// connections the handler drives itself, kept between requests in an idle
// pool by destination (pinned.go). These tests check what that shape could
// get wrong: every request is still decided, a refused one leaves the
// upstream connection alone, a closed one is dialled again to the checked
// address only, a connection is reused only for the address it was dialled
// to, and a response that ends at EOF is neither cut nor reused.

// connCounter counts the connections a tlsOrigin accepted.
type connCounter struct {
	mu     sync.Mutex
	opened int
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened
}

// pinOrigin is a tlsOrigin option: it counts accepted connections into c,
// and answers /eof with a response without length that ends when the
// origin closes the connection.
func pinOrigin(c *connCounter) func(*tlsOrigin) {
	return func(o *tlsOrigin) {
		o.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				c.mu.Lock()
				c.opened++
				c.mu.Unlock()
			}
		}
		next := o.Config.Handler
		o.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/eof" {
				next.ServeHTTP(w, r)
				return
			}
			o.hits.Add(1)
			o.record(r)
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the origin closes")
			brw.Flush()
			conn.Close()
		})
	}
}

// pinHarness is a mitmHarness allowing example.com, on a pinOrigin changed
// by opts, with the counter of the origin's connections.
func pinHarness(t *testing.T, opts ...func(*tlsOrigin)) (*mitmHarness, *connCounter) {
	t.Helper()
	conns := &connCounter{}
	o := newTLSOrigin(t, append([]func(*tlsOrigin){pinOrigin(conns)}, opts...)...)
	return newMITMHarnessTo(t, o, limitedMITM(map[string]string{"example.com": "allow"})), conns
}

// innerTunnel opens an intercepted HTTP/1.1 tunnel to example.com:443.
func innerTunnel(t *testing.T, m *mitmHarness) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	tc, err := tlsThrough(t, m.harness, "example.com:443", "example.com", m.clientRoots)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	return tc, bufio.NewReader(tc)
}

// innerRequest writes one origin-form request for example.com on the
// tunnel; head is its extra header lines.
func innerRequest(t *testing.T, tc *tls.Conn, method, path string, head ...string) {
	t.Helper()
	req := method + " " + path + " HTTP/1.1\r\nHost: example.com\r\n"
	for _, h := range head {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(tc, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
}

// innerResponse reads the next response of the tunnel and its body.
func innerResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: body: %v", method, err)
	}
	return resp, string(body)
}

// innerOK sends method / on the tunnel and wants 200.
func innerOK(t *testing.T, tc *tls.Conn, br *bufio.Reader, method string) {
	t.Helper()
	innerRequest(t, tc, method, "/")
	if resp, body := innerResponse(t, br, method); resp.StatusCode != 200 {
		t.Fatalf("%s /: %d %q", method, resp.StatusCode, body)
	}
}

// wantHTTPSAudits checks that n inner requests with method were audited
// with reason.
func wantHTTPSAudits(t *testing.T, m *mitmHarness, method, reason string, want int) {
	t.Helper()
	n := 0
	for _, ev := range m.audit.events(t) {
		if ev["network.transport.protocol"] == "https" && ev["http.request.method"] == method && ev["network.policy.reason"] == reason {
			n++
		}
	}
	if n != want {
		t.Errorf("%d https %s audited %s, want %d", n, method, reason, want)
	}
}

// wantUpstreams checks that the proxy opened n upstream connections, each
// dialled to the checked address, and that the origin accepted as many.
func wantUpstreams(t *testing.T, m *mitmHarness, conns *connCounter, n int) {
	t.Helper()
	var want []string
	for range n {
		want = append(want, publicIP+":443")
	}
	wantDials(t, m.harness, want...)
	if got := conns.count(); got != n {
		t.Errorf("origin accepted %d connections, want %d", got, n)
	}
}

func TestInterceptPinnedRefusedRequestKeepsUpstream(t *testing.T) {
	m, conns := pinHarness(t)
	tc, br := innerTunnel(t, m)

	innerRequest(t, tc, "GET", "/first")
	if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 || body != "hello over TLS" {
		t.Fatalf("first GET: %d %q", resp.StatusCode, body)
	}
	// A refused request and an allowed one pipelined behind it, in one
	// write: the refusal is answered, the next request still served.
	io.WriteString(tc, "DELETE /x HTTP/1.1\r\nHost: example.com\r\n\r\nGET /after HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, body := innerResponse(t, br, "DELETE")
	wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
	resp, body = innerResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "hello over TLS" {
		t.Fatalf("GET after the refused DELETE: %d %q", resp.StatusCode, body)
	}
	if seen := m.origin.last(t); seen.Method != "GET" || seen.URI != "/after" || seen.Host != "example.com" {
		t.Errorf("origin saw %s %s Host %s", seen.Method, seen.URI, seen.Host)
	}
	if n := m.origin.hits.Load(); n != 2 {
		t.Errorf("origin got %d requests, want the 2 GETs", n)
	}
	// The refusal neither used nor dropped the pinned connection.
	wantUpstreams(t, m, conns, 1)
	wantHTTPSAudits(t, m, "GET", "allowed", 2)
	wantHTTPSAudits(t, m, "DELETE", "method_not_allowed", 1)
}

func TestInterceptPinnedRedialsAfterUpstreamClose(t *testing.T) {
	m, conns := pinHarness(t, func(o *tlsOrigin) {
		o.Config.IdleTimeout = 50 * time.Millisecond // closes the pinned conn between requests
	})
	tc, br := innerTunnel(t, m)
	get := func(want int) {
		t.Helper()
		innerRequest(t, tc, "GET", "/")
		resp, body := innerResponse(t, br, "GET")
		if resp.StatusCode != want {
			t.Fatalf("GET: %d %q, want %d", resp.StatusCode, body, want)
		}
	}
	waitClosed := func() {
		t.Helper()
		// The origin closes its idle side after 50 ms.
		time.Sleep(300 * time.Millisecond)
	}
	get(200)
	waitClosed()
	// Decided against the current policy: denied now, so nothing is
	// dialled again.
	m.srv.SetPolicy(compile(t, limitedMITM(map[string]string{"example.com": "deny"})))
	innerRequest(t, tc, "GET", "/")
	resp, body := innerResponse(t, br, "GET")
	wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
	wantUpstreams(t, m, conns, 1)
	// Allowed again: the closed pinned connection is replaced by a new
	// one to the checked address.
	m.srv.SetPolicy(compile(t, limitedMITM(map[string]string{"example.com": "allow"})))
	get(200)
	waitClosed()
	get(200)
	wantUpstreams(t, m, conns, 3)
	wantHTTPSAudits(t, m, "GET", "allowed", 3)
	wantHTTPSAudits(t, m, "GET", "denied", 1)
}

func TestInterceptPinnedResponseToEOF(t *testing.T) {
	m, conns := pinHarness(t)
	tc, br := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/eof")
	resp, body := innerResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "until the origin closes" {
		t.Fatalf("GET /eof: %d %q", resp.StatusCode, body)
	}
	// The client connection carries on; the upstream one ended with the
	// body and is not reused.
	innerRequest(t, tc, "GET", "/next")
	resp, body = innerResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "hello over TLS" {
		t.Fatalf("GET after /eof: %d %q", resp.StatusCode, body)
	}
	wantUpstreams(t, m, conns, 2)
}

func TestInterceptPinnedRequestHeaders(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	tc, br := innerTunnel(t, m)
	innerRequest(t, tc, "GET", "/p%2Fq?a=1;b",
		"Connection: keep-alive, X-Drop", "X-Drop: 1", "Proxy-Authorization: Basic eA==",
		"Proxy-Foo: 1", "Keep-Alive: 5", "X-Forwarded-For: 1.2.3.4", "X-Unix-Socket: /var/run/docker.sock",
		"TE: trailers", "X-Keep: yes")
	if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	seen := m.origin.last(t)
	if seen.URI != "/p%2Fq?a=1;b" || seen.Host != "example.com" {
		t.Errorf("origin saw %q for %q", seen.URI, seen.Host)
	}
	for k, v := range seen.Header {
		switch {
		case k == "X-Keep" && v[0] == "yes", k == "Te" && v[0] == "trailers":
		default:
			t.Errorf("origin got header %s: %q", k, v)
		}
	}
	if seen.Header.Get("X-Keep") == "" {
		t.Error("origin did not get X-Keep")
	}
}

// An upstream closed between requests is not a 502 for a request that may
// be sent again: the stale pinned connection is replaced at once.
func TestInterceptPinnedStaleUpstreamRetried(t *testing.T) {
	var mu sync.Mutex
	var origins []net.Conn
	m, conns := pinHarness(t, func(o *tlsOrigin) {
		prev := o.Config.ConnState
		o.Config.ConnState = func(c net.Conn, st http.ConnState) {
			prev(c, st)
			if st == http.StateNew {
				mu.Lock()
				origins = append(origins, c)
				mu.Unlock()
			}
		}
	})
	tc, br := innerTunnel(t, m)
	innerOK(t, tc, br, "GET")
	// The origin drops the idle connection without a word (no TLS
	// close_notify).
	mu.Lock()
	origins[0].(*tls.Conn).NetConn().Close()
	mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	innerOK(t, tc, br, "GET")
	innerOK(t, tc, br, "HEAD")
	wantUpstreams(t, m, conns, 2)
	wantHTTPSAudits(t, m, "GET", "allowed", 2)
	wantHTTPSAudits(t, m, "HEAD", "allowed", 1)
}

func TestInterceptUpstreamReusedAcrossTunnelsForItsAddressOnly(t *testing.T) {
	m, conns := pinHarness(t)
	getOnNewTunnel := func() {
		t.Helper()
		tc, br := innerTunnel(t, m)
		innerOK(t, tc, br, "GET")
		tc.Close()
	}
	getOnNewTunnel()
	getOnNewTunnel()
	// The second tunnel took the first one's idle upstream connection.
	wantUpstreams(t, m, conns, 1)
	// The name now resolves elsewhere: a new tunnel is decided with the
	// new address and may not use a connection dialled to the old one.
	const otherIP = "93.184.216.35"
	m.res.answer("example.com", otherIP)
	getOnNewTunnel()
	wantDials(t, m.harness, publicIP+":443", otherIP+":443")
	if n := conns.count(); n != 2 {
		t.Errorf("origin accepted %d connections, want 2", n)
	}
	wantHTTPSAudits(t, m, "GET", "allowed", 3)
}

func TestInterceptConcurrentTunnels(t *testing.T) {
	m, conns := pinHarness(t)
	const tunnels, requests = 8, 20
	var wg sync.WaitGroup
	errs := make(chan string, tunnels*requests)
	for range tunnels {
		tc, br := innerTunnel(t, m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range requests {
				path := "/r" + string(rune('a'+i))
				if _, err := io.WriteString(tc, "GET "+path+" HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
					errs <- err.Error()
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(body) != "hello over TLS" {
					errs <- resp.Status + " " + string(body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := m.origin.hits.Load(); n != tunnels*requests {
		t.Errorf("origin got %d requests, want %d", n, tunnels*requests)
	}
	// Never more upstream connections than requests in flight.
	if n := conns.count(); n < 1 || n > tunnels {
		t.Errorf("origin accepted %d connections for %d tunnels", n, tunnels)
	}
	wantHTTPSAudits(t, m, "GET", "allowed", tunnels*requests)
}

// pipeConn is an upConn on one end of a pipe, dialled to addr.
func pipeConn(t *testing.T, host, addr string) *upConn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &upConn{Conn: a, raw: a, br: bufio.NewReader(a), host: host, addr: netip.MustParseAddrPort(addr)}
}

func TestUpPool(t *testing.T) {
	var p upPool
	public := []netip.Addr{netip.MustParseAddr(publicIP)}
	a := pipeConn(t, "example.com", publicIP+":443")
	b := pipeConn(t, "example.com", publicIP+":443")
	p.put(a)
	p.put(b)
	// Most recently used first; only for the host, port and address.
	if got := p.take("example.com", public, 443); got != b {
		t.Errorf("take = %p, want the last put %p", got, b)
	}
	if got := p.take("example.com", public, 8443); got != nil {
		t.Error("took a connection for another port")
	}
	if got := p.take("other.example", public, 443); got != nil {
		t.Error("took a connection for another host")
	}
	if got := p.take("example.com", []netip.Addr{netip.MustParseAddr("93.184.216.35")}, 443); got != nil {
		t.Error("took a connection dialled to another address")
	}
	if got := p.take("example.com", public, 443); got != a {
		t.Errorf("take = %p, want %p", got, a)
	}
	if got := p.take("example.com", public, 443); got != nil || p.n != 0 {
		t.Errorf("empty pool gave %p (n = %d)", got, p.n)
	}
	// Bounded per destination: the connection idle longest makes room.
	var first *upConn
	for i := range maxIdlePerDest + 1 {
		uc := pipeConn(t, "example.com", publicIP+":443")
		if i == 0 {
			first = uc
		}
		p.put(uc)
	}
	if p.n != maxIdlePerDest {
		t.Errorf("%d idle, want %d", p.n, maxIdlePerDest)
	}
	if _, err := first.Write([]byte("x")); err == nil {
		t.Error("the oldest connection was not closed")
	}
	// Expired connections are dropped.
	for _, uc := range p.idle[destKey{"example.com", 443}] {
		uc.idle = time.Now().Add(-upIdleTimeout)
	}
	p.expire()
	if p.n != 0 || len(p.idle) != 0 {
		t.Errorf("after expiry: %d idle in %d destinations", p.n, len(p.idle))
	}
	// Closed: nothing is kept.
	p.close()
	c := pipeConn(t, "example.com", publicIP+":443")
	p.put(c)
	if p.n != 0 {
		t.Error("a closed pool kept a connection")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("a connection given to a closed pool was not closed")
	}
}

func TestInterceptSetCAWhileServing(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}), func(s *Server) { s.CA = nil })
	// No CA: the CONNECT the policy says to intercept is refused.
	resp, err := m.h1Client().Get("https://example.com/")
	if err == nil {
		readAll(t, resp)
		t.Fatalf("without a CA: %d, want the tunnel refused", resp.StatusCode)
	}
	wantNoDial(t, m.harness)
	// A CA given while serving answers the next tunnels.
	m.srv.SetCA(m.ca)
	if m.srv.InterceptCA() != m.ca {
		t.Fatal("InterceptCA is not the CA just set")
	}
	resp, err = m.h1Client().Get("https://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "hello over TLS" {
		t.Fatalf("after SetCA: %d %q", resp.StatusCode, body)
	}
	if got := resp.TLS.PeerCertificates[0].Issuer.CommonName; got != m.ca.Cert.Subject.CommonName {
		t.Errorf("leaf issued by %q", got)
	}
}

// TestInterceptRequestTarget: whatever form the request target inside the
// tunnel takes, the origin gets its path and query in origin form and the
// tunnel's authority as Host, request after request on one tunnel (the
// tunnel's part of the pinned destination is made once and kept).
func TestInterceptRequestTarget(t *testing.T) {
	m, _ := pinHarness(t)
	tc, br := innerTunnel(t, m)
	for _, tc2 := range []struct{ target, wantURI string }{
		{"/a?b=1", "/a?b=1"},
		{"https://example.com/c?d=2", "/c?d=2"},
		{"/e%2Ff?g", "/e%2Ff?g"},
		{"https://example.com:443/h", "/h"},
		{"/", "/"},
	} {
		innerRequest(t, tc, "GET", tc2.target)
		if resp, body := innerResponse(t, br, "GET"); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %q", tc2.target, resp.StatusCode, body)
		}
		got := m.origin.last(t)
		if got.URI != tc2.wantURI || got.Host != "example.com" {
			t.Errorf("GET %s reached the origin as %q, Host %q; want %q, Host example.com", tc2.target, got.URI, got.Host, tc2.wantURI)
		}
	}
}

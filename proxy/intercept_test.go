package proxy

//lint:file-ignore SA1019 the h2 tests need an h2-only client (x/net/http2.Transport) over a CONNECT tunnel they dial themselves.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	xproxy "golang.org/x/net/proxy"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/tlsca"
)

// tlsOrigin is an HTTPS origin whose certificate (for example.com and the
// test's public address) comes from a CA made for the test — not a
// netpolicy CA. It records what it sees.
type tlsOrigin struct {
	*httptest.Server
	roots *x509.CertPool // trusts the origin's CA
	ca    *x509.Certificate

	requestLog
	hits atomic.Int64
}

// newTLSOrigin starts a tlsOrigin (h2 and HTTP/1.1); opts change it before
// it starts (its TLS config, for one).
func newTLSOrigin(t testing.TB, opts ...func(*tlsOrigin)) *tlsOrigin {
	t.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "origin test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "example.com"},
		DNSNames:    []string{"example.com"},
		IPAddresses: []net.IP{net.ParseIP(publicIP), net.IPv4(127, 0, 0, 1)},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	o := &tlsOrigin{roots: x509.NewCertPool(), ca: ca}
	o.roots.AddCert(ca)
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		o.record(r)
		w.Header().Set("X-Origin", "tls")
		io.WriteString(w, "hello over TLS")
	}))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}
	o.EnableHTTP2 = true
	for _, opt := range opts {
		opt(o)
	}
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

// mitmHarness is a proxy in limited mode with mitm = true, a fresh
// netpolicy CA, and every dial routed to a TLS origin whose CA only the
// proxy trusts (through the injected root pool).
type mitmHarness struct {
	*harness
	ca     *tlsca.CA
	origin *tlsOrigin
	// clientRoots trusts the netpolicy CA only.
	clientRoots *x509.CertPool
}

func limitedMITM(domains map[string]string) *policy.Effective {
	e := effective(domains)
	e.Mode.Value = "limited"
	e.MITM.Value = true
	return e
}

func newMITMHarness(t testing.TB, e *policy.Effective, opts ...func(*Server)) *mitmHarness {
	t.Helper()
	return newMITMHarnessTo(t, newTLSOrigin(t), e, opts...)
}

// newMITMHarnessTo is newMITMHarness with the origin o.
func newMITMHarnessTo(t testing.TB, o *tlsOrigin, e *policy.Effective, opts ...func(*Server)) *mitmHarness {
	t.Helper()
	ca, err := tlsca.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := &mitmHarness{ca: ca, origin: o, clientRoots: x509.NewCertPool()}
	m.clientRoots.AddCert(ca.Cert)
	all := append([]func(*Server){func(s *Server) {
		s.CA = ca
		s.UpstreamRoots = o.roots
	}}, opts...)
	m.harness = newHarness(t, e, all...)
	m.dial.to = o.Listener.Addr().String()
	return m
}

// h1Client speaks HTTP/1.1 through the proxy's CONNECT, trusting only the
// netpolicy CA.
func (m *mitmHarness) h1Client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:           http.ProxyURL(mustURL("http://" + m.httpAddr)),
			TLSClientConfig: &tls.Config{RootCAs: m.clientRoots},
		},
		Timeout: 10 * time.Second,
	}
}

// h2Client speaks h2 (x/net/http2.Transport) over a CONNECT tunnel.
func (m *mitmHarness) h2Client(t testing.TB) *http.Client {
	return &http.Client{
		Transport: &http2.Transport{
			DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
				_, _, c := m.connect(t, addr)
				if c == nil {
					t.Fatalf("CONNECT %s refused", addr)
				}
				c.SetDeadline(time.Time{})
				cfg = cfg.Clone()
				cfg.RootCAs = m.clientRoots
				tc := tls.Client(c, cfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					return nil, err
				}
				return tc, nil
			},
		},
		Timeout: 10 * time.Second,
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (m *mitmHarness) wantAuditHTTPS(t testing.TB, method, reason string) {
	t.Helper()
	for _, ev := range m.audit.events(t) {
		if ev["network.transport.protocol"] == "https" && ev["http.request.method"] == method && ev["network.policy.reason"] == reason {
			return
		}
	}
	t.Errorf("no https audit event for %s with reason %s in %v", method, reason, m.audit.events(t))
}

func TestInterceptHTTP1Methods(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	c := m.h1Client()
	for _, method := range []string{"GET", "HEAD", "OPTIONS"} {
		req, _ := http.NewRequest(method, "https://example.com/path?q=1", nil)
		req.Header.Set("X-Unix-Socket", "/var/run/docker.sock")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("X-Origin") != "tls" {
			t.Fatalf("%s: %d %q", method, resp.StatusCode, body)
		}
		// The client saw the netpolicy leaf for example.com.
		if got := resp.TLS.PeerCertificates[0]; got.Issuer.CommonName != m.ca.Cert.Subject.CommonName || got.DNSNames[0] != "example.com" {
			t.Errorf("%s: leaf %v issued by %q", method, got.DNSNames, got.Issuer.CommonName)
		}
		seen := m.origin.last(t)
		if seen.Method != method || seen.Host != "example.com" || seen.URI != "/path?q=1" {
			t.Errorf("%s: origin saw %s %s Host %s", method, seen.Method, seen.URI, seen.Host)
		}
		if _, ok := seen.Header["X-Unix-Socket"]; ok {
			t.Errorf("%s: x-unix-socket reached the origin", method)
		}
		m.wantAuditHTTPS(t, method, "allowed")
	}
	// One CONNECT, decided (and resolved) once; the inner requests are
	// decided without DNS and sent to the checked address.
	wantResolves(t, m.harness, "example.com")
	hits := m.origin.hits.Load()
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		req, _ := http.NewRequest(method, "https://example.com/x", strings.NewReader("payload"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		body := readAll(t, resp)
		b := wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
		if b.Protocol != "https" || b.Host != "example.com" || b.Port != 443 || b.Source != "mode_guard" {
			t.Errorf("%s: block body %+v", method, b)
		}
		m.wantAuditHTTPS(t, method, "method_not_allowed")
	}
	// Method-override headers naming a write method count as that method.
	for _, hdr := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		req, _ := http.NewRequest("GET", "https://example.com/x", nil)
		req.Header.Set(hdr, "DELETE")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", hdr, err)
		}
		body := readAll(t, resp)
		wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
	}
	if got := m.origin.hits.Load(); got != hits {
		t.Errorf("origin got %d requests with forbidden methods", got-hits)
	}
	// The upstream connection went to the checked address, once resolved.
	for _, d := range m.dial.Calls() {
		if d != publicIP+":443" {
			t.Errorf("dialled %s, want only %s:443", d, publicIP)
		}
	}
}

func TestInterceptHTTP2(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow", "other.example": "allow"}))
	c := m.h2Client(t)
	resp, err := c.Get("https://example.com/h2")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || body != "hello over TLS" {
		t.Fatalf("GET over h2: %d %s %q", resp.StatusCode, resp.Proto, body)
	}
	m.wantAuditHTTPS(t, "GET", "allowed")
	resp, err = c.Post("https://example.com/h2", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
	// :authority of another host, on the same connection.
	req, _ := http.NewRequest("GET", "https://example.com/", nil)
	req.Host = "other.example"
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	b := wantBlock(t, resp, body, "blocked-by-policy", "host_mismatch", "deny")
	if b.Source != "mode_guard" || b.Protocol != "https" {
		t.Errorf("block %+v", b)
	}
	if n := m.origin.hits.Load(); n != 1 {
		t.Errorf("origin hits = %d, want 1", n)
	}
}

func TestInterceptHostMismatch(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow", "other.example": "allow"}))
	c := m.h1Client()
	for _, host := range []string{"other.example", "example.com:8443", "example.com.evil"} {
		req, _ := http.NewRequest("GET", "https://example.com/", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("Host %s: %v", host, err)
		}
		body := readAll(t, resp)
		wantBlock(t, resp, body, "blocked-by-policy", "host_mismatch", "deny")
	}
	// The port may be named when it is the CONNECT port.
	req, _ := http.NewRequest("GET", "https://example.com/", nil)
	req.Host = "EXAMPLE.com:443"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 {
		t.Errorf("Host example.com:443: %d %q", resp.StatusCode, body)
	}
	if n := m.origin.hits.Load(); n != 1 {
		t.Errorf("origin hits = %d, want 1", n)
	}
}

// tlsThrough opens a CONNECT tunnel and a TLS client over it, trusting
// roots, with the given SNI; it returns the handshake error.
func tlsThrough(t testing.TB, h *harness, authority, sni string, roots *x509.CertPool) (*tls.Conn, error) {
	t.Helper()
	resp, body, c := h.connect(t, authority)
	if c == nil {
		t.Fatalf("CONNECT %s: %d %q", authority, resp.StatusCode, body)
	}
	tc := tls.Client(c, &tls.Config{ServerName: sni, RootCAs: roots})
	return tc, tc.Handshake()
}

func TestInterceptSNIMismatch(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow", "other.example": "allow"}))
	if _, err := tlsThrough(t, m.harness, "example.com:443", "other.example", m.clientRoots); err == nil {
		t.Fatal("handshake with another SNI succeeded")
	}
	ev := waitAudit(t, m.audit, "host_mismatch")
	if ev["event.name"] != EventBlockDecision || ev["network.policy.source"] != "mode_guard" || ev["server.address"] != "example.com" {
		t.Errorf("audit event %v", ev)
	}
	if n := m.origin.hits.Load(); n != 0 {
		t.Errorf("origin hits = %d", n)
	}
	// Without SNI the handshake goes through, with the leaf of the CONNECT
	// host.
	resp, body, c := m.connect(t, "example.com:443")
	if c == nil {
		t.Fatalf("CONNECT: %d %q", resp.StatusCode, body)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake without SNI: %v", err)
	}
	leaf := tc.ConnectionState().PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: m.clientRoots}); err != nil {
		t.Errorf("leaf without SNI: %v", err)
	}
}

// waitAudit waits (bounded) for an audit event with the reason.
func waitAudit(t testing.TB, a *syncBuffer, reason string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range a.events(t) {
			if ev["network.policy.reason"] == reason {
				return ev
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no audit event with reason %s: %v", reason, a.events(t))
	return nil
}

func TestInterceptDeniedBeforeTLS(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow", "bad.example.com": "deny"}))
	resp, body, _ := m.connect(t, "bad.example.com:443")
	wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
	wantNoDial(t, m.harness)
}

func TestInterceptNotTLS(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	_, _, c := m.connect(t, "example.com:22")
	io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("tunnel answered %d bytes, want it closed", n)
	}
	ev := waitAudit(t, m.audit, "mitm_required")
	if ev["event.name"] != EventBlockDecision || ev["network.policy.source"] != "mode_guard" || ev["network.transport.protocol"] != "https_connect" {
		t.Errorf("audit event %v", ev)
	}
	wantNoDial(t, m.harness)
}

func TestInterceptUntrustedUpstream(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.UpstreamRoots = x509.NewCertPool() // trusts nothing
	})
	resp, err := m.h1Client().Get("https://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "certificate") || strings.Count(strings.TrimSpace(body), "\n") != 0 {
		t.Errorf("untrusted upstream: %d %q, want a one-line 502 naming the certificate error", resp.StatusCode, body)
	}
	if n := m.origin.hits.Load(); n != 0 {
		t.Errorf("origin got %d requests", n)
	}
}

func TestInterceptBundleNeverTrustedUpstream(t *testing.T) {
	// SSL_CERT_FILE points at a bundle holding the netpolicy CA, and the
	// origin shows a leaf of that very CA: the proxy must not trust it.
	ca, err := tlsca.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.pem")
	os.WriteFile(bundle, ca.Bundle(func(k string) string {
		if k == "SSL_CERT_FILE" || k == "SSL_CERT_DIR" {
			return dir + "/none"
		}
		return ""
	}), 0o644)
	t.Setenv("SSL_CERT_FILE", bundle)
	t.Setenv("SSL_CERT_DIR", dir)
	leaf, _ := ca.Leaf("example.com")
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fronted") }))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	o.StartTLS()
	defer o.Close()
	h := newHarness(t, limitedMITM(map[string]string{"example.com": "allow"}), func(s *Server) { s.CA = ca })
	h.dial.to = o.Listener.Addr().String()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL("http://" + h.httpAddr)), TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway || body == "fronted" {
		t.Errorf("origin with a netpolicy leaf: %d %q, want 502", resp.StatusCode, body)
	}
}

func TestInterceptSOCKS5(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	d, err := xproxy.SOCKS5("tcp", m.socksAddr, nil, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{
		DialContext:     d.(xproxy.ContextDialer).DialContext,
		TLSClientConfig: &tls.Config{RootCAs: m.clientRoots},
	}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://example.com/socks")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "hello over TLS" {
		t.Fatalf("GET over SOCKS5: %d %q", resp.StatusCode, body)
	}
	resp, err = c.Post("https://example.com/socks", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
	m.wantAuditHTTPS(t, "GET", "allowed")
	m.wantAuditHTTPS(t, "POST", "method_not_allowed")
}

func TestFullModeStaysOpaque(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow"})
	e.MITM.Value = true // no effect in full mode
	m := newMITMHarness(t, e)
	tc, err := tlsThrough(t, m.harness, "example.com:443", "example.com", m.origin.roots)
	if err != nil {
		t.Fatalf("handshake with the origin: %v", err)
	}
	defer tc.Close()
	if got := tc.ConnectionState().PeerCertificates[0].Issuer.CommonName; got != "origin test CA" {
		t.Errorf("client saw a certificate issued by %q, want the origin's", got)
	}
}

func TestInterceptNoRebinding(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	// The CONNECT's answer is public; any later answer is private.
	m.res.answer("example.com", "127.0.0.1")
	c := m.h1Client()
	for i := 0; i < 3; i++ {
		resp, err := c.Get("https://example.com/")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// Inner requests are never resolved again, and go to the checked
	// address over one pooled upstream connection.
	wantResolves(t, m.harness, "example.com")
	wantDials(t, m.harness, publicIP+":443")
	// A new tunnel is decided afresh: its answer is private now.
	c.CloseIdleConnections()
	if resp, err := c.Get("https://example.com/"); err == nil {
		readAll(t, resp)
		t.Errorf("a tunnel after the rebinding got %d", resp.StatusCode)
	}
	wantDials(t, m.harness, publicIP+":443")
}

func TestInterceptUpgradeRefused(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	req, _ := http.NewRequest("GET", "https://example.com/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := m.h1Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
	if n := m.origin.hits.Load(); n != 0 {
		t.Errorf("origin hits = %d", n)
	}
}

func TestInterceptDecidesEachRequestOnTheCurrentPolicy(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	tc, err := tlsThrough(t, m.harness, "example.com:443", "example.com", m.clientRoots)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	get := func() *http.Response {
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return resp
	}
	if r := get(); r.StatusCode != 200 {
		t.Fatalf("first GET: %d", r.StatusCode)
	}
	m.srv.SetPolicy(compile(t, limitedMITM(map[string]string{"example.com": "deny"})))
	if r := get(); r.StatusCode != 403 || r.Header.Get("x-proxy-error") != "blocked-by-denylist" {
		t.Errorf("GET after the reload: %d %s, want the denylist block", r.StatusCode, r.Header.Get("x-proxy-error"))
	}
}

// TestInterceptMethodOverride: inside an intercepted tunnel, as on plain
// HTTP, a read-only method whose override header names a write method is
// refused in limited mode (POLICY §4.3), over HTTP/1.1 and HTTP/2.
func TestInterceptMethodOverride(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	for _, proto := range []string{"h1", "h2"} {
		c := m.h1Client()
		if proto == "h2" {
			c = m.h2Client(t)
		}
		hits := m.origin.hits.Load()
		for _, hdr := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
			req, _ := http.NewRequest("GET", "https://example.com/x", nil)
			req.Header.Set(hdr, "DELETE")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", proto, hdr, err)
			}
			body := readAll(t, resp)
			b := wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
			if b.Protocol != "https" || b.Source != "mode_guard" {
				t.Errorf("%s %s: block body %+v", proto, hdr, b)
			}
		}
		if got := m.origin.hits.Load(); got != hits {
			t.Errorf("%s: origin got %d overridden requests", proto, got-hits)
		}
		req, _ := http.NewRequest("GET", "https://example.com/x", nil)
		req.Header.Set("X-HTTP-Method-Override", "HEAD")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 200 {
			t.Errorf("%s: override to HEAD: %d %q", proto, resp.StatusCode, body)
		}
	}
}

// TestInterceptHeaderLimit: an intercepted request's head meets the same
// limit as a plain one.
func TestInterceptHeaderLimit(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}), func(s *Server) { s.MaxHeaderBytes = 8 << 10 })
	req, _ := http.NewRequest("GET", "https://example.com/x", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := m.h1Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

func TestInterceptSessionResumption(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	cache := tls.NewLRUClientSessionCache(8)
	for i, want := range []bool{false, true} {
		resp, body, c := m.connect(t, "example.com:443")
		if c == nil {
			t.Fatalf("CONNECT: %d %q", resp.StatusCode, body)
		}
		tc := tls.Client(c, &tls.Config{ServerName: "example.com", RootCAs: m.clientRoots, ClientSessionCache: cache})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		// TLS 1.3 tickets arrive after the handshake: read a response.
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
		r, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, r)
		if got := tc.ConnectionState().DidResume; got != want {
			t.Errorf("connection %d: resumed = %v, want %v", i+1, got, want)
		}
		tc.Close()
	}
	if n := m.ca.Mints(); n != 1 {
		t.Errorf("minted %d leaves for one host, want 1", n)
	}
}

func TestInterceptShutdownClosesIdleConnections(t *testing.T) {
	m := newMITMHarness(t, limitedMITM(map[string]string{"example.com": "allow"}))
	c := m.h1Client()
	resp, err := c.Get("https://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp) // the connection is now idle, kept alive
	if n := m.srv.activeCount(); n != 1 {
		t.Fatalf("active = %d, want the intercepted conn", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := m.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with only an idle intercepted connection", d)
	}
	if n := m.srv.activeCount(); n != 0 {
		t.Errorf("active = %d after Shutdown", n)
	}
}

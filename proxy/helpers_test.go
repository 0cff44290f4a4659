package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/syncio"
	"github.com/netpolicy/netpolicy/internal/testnet"
	"github.com/netpolicy/netpolicy/policy"
)

// The public address every test name resolves to, and that the fake dialer
// is asked for. No test ever connects to it: the dialer records the address
// and connects to a local listener instead.
const publicIP = "93.184.216.34"

// effective builds an effective policy for a restricted session (misses
// ask) with the given domain rules.
func effective(domains map[string]string) *policy.Effective {
	e := &policy.Effective{SessionMode: policy.ModeWorkspaceWrite, OnMiss: policy.Setting[policy.OnMiss]{Value: policy.MissAsk}}
	e.Enabled.Value = true
	e.Mode.Value = "full"
	e.EnableSocks5.Value = true
	keys := make([]string, 0, len(domains))
	for k := range domains {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		perm, ok := policy.ParseDomainPermission(domains[k])
		if !ok {
			panic("bad permission " + domains[k])
		}
		r := policy.Rule{Pattern: k, Perm: perm, Source: policy.Source{File: "config.toml", Line: i + 1, Origin: policy.OriginUser}}
		if perm == policy.Allow {
			e.Allow = append(e.Allow, r)
		} else {
			e.Deny = append(e.Deny, r)
		}
	}
	return e
}

func compile(t testing.TB, e *policy.Effective) *policy.Compiled {
	t.Helper()
	c, err := policy.Compile(e)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

// fakeResolver answers from a table and records every call. With forbid
// set, any call fails the test: the vectors that say "resolver not
// consulted" use it.
type fakeResolver struct {
	t      testing.TB
	mu     sync.Mutex
	seq    map[string][][]netip.Addr // successive answers per name; the last repeats
	calls  []string
	n      map[string]int // calls per name
	forbid bool
}

func newResolver(t testing.TB) *fakeResolver {
	return &fakeResolver{t: t, seq: map[string][][]netip.Addr{}}
}

// answer sets the successive answers for name.
func (r *fakeResolver) answer(name string, answers ...string) *fakeResolver {
	var set []netip.Addr
	for _, a := range answers {
		if a == "|" { // separates one call's answer from the next
			r.seq[name] = append(r.seq[name], set)
			set = nil
			continue
		}
		set = append(set, netip.MustParseAddr(a))
	}
	r.seq[name] = append(r.seq[name], set)
	return r
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	n := r.n[host]
	r.n[host]++
	if len(r.calls) < 1000 {
		r.calls = append(r.calls, host)
	}
	if r.forbid {
		r.t.Errorf("resolver consulted for %q", host)
	}
	seq, ok := r.seq[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return slices.Clone(seq[min(n, len(seq)-1)]), nil
}

func (r *fakeResolver) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *fakeResolver) reset() {
	r.mu.Lock()
	r.calls, r.n = nil, nil
	r.mu.Unlock()
}

// fakeDialer records the addresses the proxy dials and connects to a local
// listener instead: routes[addr] if set, else to.
type fakeDialer struct {
	mu     sync.Mutex
	calls  []string
	to     string
	routes map[string]string
	refuse bool
}

func (d *fakeDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	if len(d.calls) < 1000 {
		d.calls = append(d.calls, addr)
	}
	target, refuse := d.to, d.refuse
	if r, ok := d.routes[addr]; ok {
		target = r
	}
	d.mu.Unlock()
	if refuse || target == "" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", target)
}

func (d *fakeDialer) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func (d *fakeDialer) reset() {
	d.mu.Lock()
	d.calls = nil
	d.mu.Unlock()
}

// syncBuffer is a goroutine-safe audit sink.
type syncBuffer struct{ syncio.Buffer }

// events returns the audit lines written so far, decoded.
func (s *syncBuffer) events(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// seenRequest is what the origin saw.
type seenRequest struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
	ContentLength     int64
	TransferEncoding  []string
}

// requestLog records the requests an origin gets.
type requestLog struct {
	mu   sync.Mutex
	seen []seenRequest
}

// record reads r's body and notes r with it.
func (l *requestLog) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	l.seen = append(l.seen, seenRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone(), string(body), r.ContentLength, r.TransferEncoding})
	l.mu.Unlock()
}

func (l *requestLog) last(t testing.TB) seenRequest {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		t.Fatal("origin saw no request")
	}
	return l.seen[len(l.seen)-1]
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// origin is an httptest server that records the requests it gets.
type origin struct {
	*httptest.Server
	requestLog
}

func newOrigin(t testing.TB) *origin {
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.record(r)
		w.Header().Set("X-Origin", "yes")
		io.WriteString(w, "hello from origin")
	}))
	t.Cleanup(o.Close)
	return o
}

// echoServer accepts TCP connections and echoes what it reads, until EOF,
// then half-closes.
func echoServer(t testing.TB) string {
	return testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
}

// harness is a proxy with a fake resolver and dialer, listening on
// loopback, and an origin every dial reaches.
type harness struct {
	srv       *Server
	res       *fakeResolver
	dial      *fakeDialer
	audit     *syncBuffer
	origin    *origin
	httpAddr  string
	socksAddr string

	mu        sync.Mutex
	unixDials []string
}

// ownListeners listens on 127.0.0.1 for srv's HTTP and SOCKS5 sides and
// registers both as its own listeners before anything is served. Serve
// and ServeSOCKS register their listeners too, but only once their
// goroutines run; a test's first request may come sooner. serve registers
// them before it starts serving, and so do the test harnesses.
func ownListeners(t testing.TB, srv *Server) (hl, sl net.Listener) {
	t.Helper()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []net.Listener{hl, sl} {
		if err := srv.AddOwnListener(l.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	return hl, sl
}

func newHarness(t testing.TB, e *policy.Effective, opts ...func(*Server)) *harness {
	t.Helper()
	h := &harness{res: newResolver(t), audit: &syncBuffer{}, origin: newOrigin(t)}
	h.res.answer("example.com", publicIP)
	h.dial = &fakeDialer{to: h.origin.Listener.Addr().String()}
	h.srv = &Server{
		Resolver: h.res,
		Dial:     h.dial.Dial,
		DialUnix: func(ctx context.Context, path string) (net.Conn, error) {
			h.mu.Lock()
			h.unixDials = append(h.unixDials, path)
			h.mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		Audit:       h.audit,
		Logf:        t.Logf,
		IdleTimeout: 5 * time.Second,
	}
	for _, o := range opts {
		o(h.srv)
	}
	h.srv.SetPolicy(compile(t, e))
	hl, sl := ownListeners(t, h.srv)
	h.httpAddr, h.socksAddr = hl.Addr().String(), sl.Addr().String()
	done := make(chan struct{}, 2)
	go func() { h.srv.Serve(hl); done <- struct{}{} }()
	go func() { h.srv.ServeSOCKS(sl); done <- struct{}{} }()
	t.Cleanup(func() {
		h.srv.Close()
		<-done
		<-done
	})
	return h
}

func (h *harness) UnixDials() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.unixDials)
}

// upstreamHarness is a harness whose policy sets allow_upstream_proxy and
// whose upstream proxy is up.
func upstreamHarness(t testing.TB, e *policy.Effective, up *httptest.Server) *harness {
	t.Helper()
	upURL, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	e.AllowUpstreamProxy.Value = true
	h := newHarness(t, e, func(s *Server) {
		s.Upstream = func(*url.URL) (*url.URL, error) { return upURL, nil }
	})
	h.dial.routes = map[string]string{upURL.Host: upURL.Host}
	return h
}

// dialHTTP connects to the HTTP listener, with a 5 s deadline; the conn
// closes when the test ends.
func (h *harness) dialHTTP(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// client is an HTTP client that sends everything through the proxy.
func (h *harness) client() *http.Client {
	pu, _ := url.Parse("http://" + h.httpAddr)
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableCompression: true},
		Timeout:   10 * time.Second,
	}
}

// raw sends request text to the HTTP listener as is and reads one response.
func (h *harness) raw(t testing.TB, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", firstLine(req), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// get sends "METHOD target" with a Host header (unless target is
// origin-form) and extra header lines.
func (h *harness) do(t testing.TB, method, target string, headers ...string) (*http.Response, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	if host := hostOf(target); host != "" && !hasHeader(headers, "Host") {
		b.WriteString("Host: " + host + "\r\n")
	}
	for _, hd := range headers {
		b.WriteString(hd + "\r\n")
	}
	if (method == "POST" || method == "PUT" || method == "PATCH") && !hasHeader(headers, "Content-Length") && !hasHeader(headers, "Transfer-Encoding") {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return h.raw(t, b.String())
}

func hasHeader(hs []string, name string) bool {
	for _, h := range hs {
		if k, _, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func hostOf(target string) string {
	if i := strings.Index(target, "://"); i >= 0 {
		rest := target[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	if !strings.HasPrefix(target, "/") {
		return target // CONNECT authority
	}
	return ""
}

// blockBodyOf decodes and checks the common parts of a 403.
func blockBodyOf(t testing.TB, resp *http.Response, body string) blockBody {
	t.Helper()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d (%q), want 403", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var b blockBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("block body %q: %v", body, err)
	}
	if b.Status != "blocked" {
		t.Errorf("status field = %q", b.Status)
	}
	msg := policy.Reason(b.Reason).Message()
	if b.Message != msg {
		t.Errorf("message = %q, want %q", b.Message, msg)
	}
	return b
}

// wantBlock checks a 403's header, reason and decision.
func wantBlock(t testing.TB, resp *http.Response, body, xerr, reason, decision string) blockBody {
	t.Helper()
	b := blockBodyOf(t, resp, body)
	if got := resp.Header.Get("x-proxy-error"); got != xerr {
		t.Errorf("x-proxy-error = %q, want %q", got, xerr)
	}
	if b.Reason != reason {
		t.Errorf("reason = %q, want %q", b.Reason, reason)
	}
	if b.Decision != decision {
		t.Errorf("decision = %q, want %q", b.Decision, decision)
	}
	return b
}

func wantNoDial(t testing.TB, h *harness) {
	t.Helper()
	if c := h.dial.Calls(); len(c) != 0 {
		t.Errorf("dialer called with %v, want no dial", c)
	}
}

func wantDials(t testing.TB, h *harness, want ...string) {
	t.Helper()
	if c := h.dial.Calls(); !slices.Equal(c, want) {
		t.Errorf("dialer called with %v, want %v", c, want)
	}
}

func wantResolves(t testing.TB, h *harness, want ...string) {
	t.Helper()
	if c := h.res.Calls(); !slices.Equal(c, want) {
		t.Errorf("resolver called with %v, want %v", c, want)
	}
}

// openTunnel opens a tunnel to authority through the proxy: a CONNECT
// that must be answered 200 (via "connect"), else a SOCKS5 CONNECT.
func (h *harness) openTunnel(t testing.TB, via, authority string) net.Conn {
	t.Helper()
	if via != "connect" {
		return socksDial(t, h, authority)
	}
	resp, _, c := h.connect(t, authority)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	return c
}

// connect opens a CONNECT tunnel; it returns the response and, on 200, the
// conn positioned after the response head.
func (h *harness) connect(t testing.TB, authority string, headers ...string) (*http.Response, string, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "CONNECT " + authority + " HTTP/1.1\r\n"
	if !hasHeader(headers, "Host") {
		req += "Host: " + authority + "\r\n"
	}
	for _, hd := range headers {
		req += hd + "\r\n"
	}
	io.WriteString(c, req+"\r\n")
	// Read the head byte by byte: what follows belongs to the tunnel.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil {
			c.Close()
			t.Fatalf("CONNECT %s: reading response: %v (%q)", authority, err, head)
		}
		head = append(head, b[0])
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		t.Cleanup(func() { c.Close() })
		return resp, "", c
	}
	body := make([]byte, max(resp.ContentLength, 0))
	io.ReadFull(c, body)
	c.Close()
	return resp, string(body), nil
}

// echoRoundTrip writes msg and reads it back.
func echoRoundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

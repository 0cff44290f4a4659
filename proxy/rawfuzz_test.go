package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/testnet"
)

// The raw-request fuzz targets (issue 9) feed arbitrary bytes to a live
// Server on 127.0.0.1 whose resolver, dialer and unix-socket dialer are
// injected, and fail when the server resolves a name the policy does not
// allow, dials an address it does not allow, dials a unix socket (none is
// allowed), or panics (net/http recovers handler panics and logs them; the
// log hook reports those). The oracle is written out here, independently
// of policy.Decide:
//
//   - names allowed: example.com, and any name under allowed.test except
//     deny.allowed.test (the resolver must see them normalised: lower
//     case, no trailing dot);
//   - addresses dialled: what those names resolve to (93.184.216.34 and
//     93.184.216.35), and the allowed local literal 10.0.0.5.

var fuzzPolicy = map[string]string{
	"example.com":       "allow",
	"*.allowed.test":    "allow",
	"deny.allowed.test": "deny",
	"10.0.0.5":          "allow",
	"blocked.example":   "deny",
}

func fuzzNameAllowed(name string) bool {
	if name != strings.ToLower(name) || strings.HasSuffix(name, ".") {
		return false
	}
	return name == "example.com" || strings.HasSuffix(name, ".allowed.test") && name != "deny.allowed.test"
}

var fuzzDialable = map[netip.Addr]bool{
	netip.MustParseAddr("93.184.216.34"): true,
	netip.MustParseAddr("93.184.216.35"): true,
	netip.MustParseAddr("10.0.0.5"):      true,
}

// fuzzProxy is one live Server shared by every input of a fuzz run.
type fuzzProxy struct {
	srv                 *Server
	httpAddr, socksAddr string

	mu        sync.Mutex
	violation []string
	resolves  int
	dials     int
}

func (p *fuzzProxy) violate(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.violation) < 20 {
		p.violation = append(p.violation, fmt.Sprintf(format, args...))
	}
}

// take returns and clears the violations seen so far.
func (p *fuzzProxy) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.violation
	p.violation = nil
	return v
}

type fuzzResolver struct{ p *fuzzProxy }

func (r fuzzResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.p.mu.Lock()
	r.p.resolves++
	r.p.mu.Unlock()
	if !fuzzNameAllowed(host) {
		r.p.violate("resolved %q, which the policy does not allow", host)
	}
	if host == "example.com" {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("93.184.216.35")}, nil
}

func newFuzzProxy(f testing.TB) *fuzzProxy {
	p := &fuzzProxy{}
	// Every allowed dial reaches this: it answers any request with a
	// short HTTP response and then closes.
	origin := testnet.Serve(f, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	p.srv = &Server{
		Resolver: fuzzResolver{p},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			p.mu.Lock()
			p.dials++
			p.mu.Unlock()
			ap, err := netip.ParseAddrPort(addr)
			if err != nil || !fuzzDialable[ap.Addr()] || ap.Port() == 0 {
				p.violate("dialled %s %q, which the policy does not allow", network, addr)
				return nil, errors.New("fuzz: dial refused")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", origin)
		},
		DialUnix: func(context.Context, string) (net.Conn, error) {
			p.violate("dialled a unix socket")
			return nil, errors.New("fuzz: unix dial refused")
		},
		Logf: func(format string, args ...any) {
			if msg := fmt.Sprintf(format, args...); strings.Contains(msg, "panic") {
				p.violate("server log: %s", msg)
			}
		},
		ReadHeaderTimeout:     time.Second,
		IdleTimeout:           time.Second,
		SocksHandshakeTimeout: time.Second,
		DialTimeout:           time.Second,
	}
	e := effective(fuzzPolicy)
	e.DangerouslyAllowAllUnixSockets.Value = false
	p.srv.SetPolicy(compile(f, e))
	hl, sl := ownListeners(f, p.srv)
	p.httpAddr, p.socksAddr = hl.Addr().String(), sl.Addr().String()
	go p.srv.Serve(hl)
	go p.srv.ServeSOCKS(sl)
	f.Cleanup(func() { p.srv.Close() })
	return p
}

// exchange writes data to addr, half-closes, and reads whatever comes back
// until the proxy closes or a short deadline passes.
func (p *fuzzProxy) exchange(t testing.TB, addr string, data []byte) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	c.Write(data)
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	if v := p.take(); len(v) > 0 {
		t.Fatalf("input %q:\n%s", data, strings.Join(v, "\n"))
	}
}

// httpSeeds are request shapes of VECTORS.md §7 (and the hostile ones the
// proxy tests use), as raw bytes.
var httpSeeds = []string{
	"GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Authorization: Basic dTpw\r\nProxy-Connection: keep-alive\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n", // V092
	"POST http://blocked.example/x HTTP/1.1\r\nHost: blocked.example\r\nContent-Length: 3\r\n\r\nabc",                                                                        // V093
	"GET http://other.example.net/ HTTP/1.1\r\nHost: other.example.net\r\n\r\n",                                                                                              // V094
	"GET http://127.0.0.1:8080/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",                                                                                                    // V095
	"GET http://2130706433/ HTTP/1.1\r\n\r\nGET http://0x7f.1/ HTTP/1.1\r\n\r\nGET http://[::ffff:127.0.0.1]/ HTTP/1.1\r\n\r\n",                                              // V096
	"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n",                                                                                 // V096g
	"GET http://10.0.0.5:8080/health HTTP/1.1\r\nHost: 10.0.0.5\r\n\r\n",                                                                                                     // V099
	"CONNECT 10.0.0.5:5432 HTTP/1.1\r\nHost: 10.0.0.5:5432\r\n\r\n\x16\x03\x01",                                                                                              // V099b
	"DELETE http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",                                                                                                       // V100
	"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nhello",                                                                                                 // V102
	"CONNECT blocked.example:443 HTTP/1.1\r\n\r\nCONNECT [::1]:443 HTTP/1.1\r\n\r\nCONNECT 2130706433:443 HTTP/1.1\r\n\r\n",                                                  // V103
	"GET http://localhost/_ping HTTP/1.1\r\nHost: localhost\r\nX-Unix-Socket: /tmp/app.sock\r\n\r\n",                                                                         // V108
	"GET http://localhost/_ping HTTP/1.1\r\nX-Unix-Socket: /proc/self/root/tmp/app.sock\r\n\r\n",                                                                             // socket spellings
	"GET /index.html HTTP/1.0\r\n\r\n",                                                                                                                  // V112a
	"GET http://example.com/ HTTP/1.1\r\nHost: evil.example.net\r\n\r\n",                                                                                // V112b
	"GET http://a.allowed.test./ HTTP/1.1\r\n\r\nGET http://DENY.allowed.test/ HTTP/1.1\r\n\r\n",                                                        // trailing dot, case
	"GET http://x.allowed.test/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",                                                          // upgrade
	"POST http://example.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET http://blocked.example/ HTTP/1.1\r\n\r\n", // smuggling shape
	"GET http://example.com/ HTTP/1.1\r\nX-HTTP-Method-Override: DELETE\r\n\r\n",                                                                        // override
	"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"CONNECT /x HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
}

func FuzzRawHTTP(f *testing.F) {
	for _, s := range httpSeeds {
		f.Add([]byte(s))
	}
	p := newFuzzProxy(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p.exchange(t, p.httpAddr, data)
	})
}

func FuzzRawSOCKS(f *testing.F) {
	for _, s := range socksSeeds {
		f.Add(s)
	}
	p := newFuzzProxy(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p.exchange(t, p.socksAddr, data)
	})
}

var socksSeeds = [][]byte{
	socksRequest(cmdConnect, atypDomain, "example.com", 443),     // V105
	socksRequest(cmdConnect, atypDomain, "blocked.example", 443), // V106a
	socksRequest(cmdConnect, atypDomain, "other.example.net", 443),
	socksRequest(cmdConnect, atypIPv4, "127.0.0.1", 6379), // V106c
	socksRequest(cmdConnect, atypIPv6, "::1", 22),
	socksRequest(cmdConnect, atypDomain, "2130706433", 80),
	socksRequest(cmdConnect, atypDomain, "localhost", 80),
	socksRequest(cmdConnect, atypIPv4, "10.0.0.5", 5432),         // allowed literal
	socksRequest(cmdConnect, atypDomain, "A.Allowed.Test.", 443), // case, trailing dot
	socksRequest(cmdBind, atypIPv4, "93.184.216.34", 80),         // 0x07
	socksRequest(cmdAssociate, atypIPv4, "0.0.0.0", 0),           // 0x07
	append(socksRequest(cmdConnect, atypDomain, "example.com", 443), "\x16\x03\x01 pipelined"...),
	{5, 2, 0, 2, 5, 1, 0, 3, 0, 0, 80}, // empty name
	{4, 1, 0, 80, 127, 0, 0, 1, 0},     // SOCKS4
	{5, 1, 0, 5, 1, 0, 9, 1, 2, 3, 4},  // bad address type
}

// TestFuzzHarness: the seeds reach the resolver and the dialer (the fuzz
// targets exercise the real paths), and the checks do catch a proxy that
// resolves or dials outside the policy: with a policy that allows every
// name, the oracle reports the first name it was not told about.
func TestFuzzHarness(t *testing.T) {
	for name, want := range map[string]bool{
		"example.com": true, "a.allowed.test": true, "deny.allowed.test": false,
		"allowed.test": false, "Example.com": false, "example.com.": false, "blocked.example": false,
	} {
		if got := fuzzNameAllowed(name); got != want {
			t.Errorf("fuzzNameAllowed(%q) = %v", name, got)
		}
	}
	p := newFuzzProxy(t)
	for _, s := range httpSeeds {
		p.exchange(t, p.httpAddr, []byte(s))
	}
	for _, s := range socksSeeds {
		p.exchange(t, p.socksAddr, s)
	}
	p.mu.Lock()
	resolves, dials := p.resolves, p.dials
	p.mu.Unlock()
	if resolves < 4 || dials < 4 {
		t.Errorf("seeds made %d lookups and %d dials: the harness is not exercising the proxy", resolves, dials)
	}

	p.srv.SetPolicy(compile(t, effective(map[string]string{"*": "allow"})))
	c, err := net.Dial("tcp", p.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "GET http://other.example.net/ HTTP/1.1\r\nHost: other.example.net\r\nConnection: close\r\n\r\n")
	io.Copy(io.Discard, c)
	if v := p.take(); len(v) == 0 || !strings.Contains(v[0], `resolved "other.example.net"`) {
		t.Errorf("violations %v, want the lookup of other.example.net", v)
	}
}

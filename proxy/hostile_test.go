package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Requests the proxy answers itself (a block, a 400, a 503) without reading
// the body they announce. Go's server would read that body after the
// handler, with no deadline: a client that never sends it would get no
// answer and hold its connection slot forever. The answer must come at
// once, and the connection must close.
func TestUnreadBodyDoesNotHoldTheConnection(t *testing.T) {
	disabled := effective(map[string]string{"example.com": "allow"})
	disabled.Enabled.Value = false
	for _, tc := range []struct {
		name   string
		req    string
		status int
		off    bool
	}{
		{"denied", "POST http://secret.example.com/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 403, false},
		{"local", "POST http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", 403, false},
		{"chunked", "PUT http://secret.example.com/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 403, false},
		{"origin-form", "POST /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\n", 400, false},
		{"disabled", "POST http://example.com/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 503, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := effective(map[string]string{"example.com": "allow", "secret.example.com": "deny"})
			if tc.off {
				e = disabled
			}
			h := newHarness(t, e, func(s *Server) {
				s.MaxConns = 1
				s.IdleTimeout = time.Minute
			})
			c := h.dialHTTP(t)
			start := time.Now()
			c.SetDeadline(start.Add(3 * time.Second))
			io.WriteString(c, tc.req)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status || !resp.Close {
				t.Errorf("got %d, Connection: close %v; want %d and close", resp.StatusCode, resp.Close, tc.status)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("connection not closed after the answer: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			// The one slot is free again.
			if tc.off {
				return
			}
			resp, body := h.do(t, "GET", "http://example.com/")
			if resp.StatusCode != 200 {
				t.Errorf("next connection: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// Requests without a body keep their connection through a block, and each
// request on a keep-alive connection is decided on its own: the second, to
// a denied host, is blocked between two allowed ones.
func TestKeepAliveRequestsDecidedEachOnItsOwn(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow", "secret.example.com": "deny"}))
	c := h.dialHTTP(t)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET http://example.com/1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
	for i, want := range []int{200, 403, 200} {
		switch i {
		case 1:
			io.WriteString(c, "GET http://secret.example.com/ HTTP/1.1\r\nHost: x\r\n\r\n")
		case 2:
			io.WriteString(c, "GET http://example.com/3 HTTP/1.1\r\nHost: example.com\r\n\r\n")
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != want {
			t.Errorf("response %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

// Hosts that are neither an IP literal nor an ASCII DNS name are refused
// before any decision: such text means one thing to the policy and maybe
// another to a resolver or an upstream proxy (IDNA maps "ｂlocked.example"
// to "blocked.example"; CR LF in a SOCKS5 name would become header lines
// of the upstream proxy's CONNECT).
func TestInvalidHostsRefused(t *testing.T) {
	hits := make(chan string, 10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.Method + " " + r.Host
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer up.Close()
	e := effective(map[string]string{"*": "allow", "blocked.example": "deny"})
	e.AllowLocalBinding.Value = true // a failed lookup is no block then
	h := upstreamHarness(t, e, up)
	h.res.forbid = true

	for _, host := range []string{"\uff42locked.example", "bl\u00f6cked.example", "a'b.example", "*", "a..example"} {
		resp, body := h.raw(t, "GET http://"+host+"/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 400 || body != "invalid host\n" {
			t.Errorf("GET http://%s/: %d %q, want 400 invalid host", host, resp.StatusCode, body)
		}
		// Go's server refuses some of these itself, with a body of its own.
		resp, body, _ = h.connect(t, host+":443")
		if resp.StatusCode != 400 {
			t.Errorf("CONNECT %s:443: %d %q, want 400", host, resp.StatusCode, body)
		}
	}
	for _, host := range []string{
		"\uff42locked.example",
		"blocked.example:443 HTTP/1.1\r\nX-Injected: 1\r\n\r\n",
		"blocked.example\x00",
		"ok.example\r\nX-Injected: 1",
		"ok example",
		"",
	} {
		if code := socksReply(t, h, atypDomain, host, 443); code != 2 {
			t.Errorf("SOCKS5 %q: reply %d, want 2", host, code)
		}
	}
	select {
	case got := <-hits:
		t.Errorf("upstream proxy got %q", got)
	default:
	}
	wantNoDial(t, h)
	for _, ev := range h.audit.events(t) {
		t.Errorf("audit event for an invalid host: %v", ev)
	}
}

// A CONNECT target is an authority (RFC 9110 §9.3.6): no path, query or
// userinfo. Go's server would take "example.com:443/x" as example.com:443.
func TestConnectTargetMustBeAuthority(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	for _, target := range []string{"example.com:443/x", "example.com:443?x", "u@example.com:443", "u:p@127.0.0.1:443", "example.com:443#f"} {
		resp, body := h.raw(t, "CONNECT "+target+" HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
		if resp.StatusCode != 400 {
			t.Errorf("CONNECT %s: %d %q, want 400", target, resp.StatusCode, body)
		}
	}
	wantNoDial(t, h)
}

// "OPTIONS *" asks about the proxy itself; Go's server would answer it 200
// on its own, without a decision. It has no target host.
func TestOptionsAsterisk(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"*": "allow"}))
	resp, body := h.raw(t, "OPTIONS * HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 400 || body != "missing host\n" {
		t.Errorf("OPTIONS *: %d %q, want 400 missing host", resp.StatusCode, body)
	}
	wantNoDial(t, h)
}

// Through an upstream proxy a numeric host is asked for at the address the
// policy checked, for plain HTTP as for CONNECT: the upstream might read
// "2130706433" as a name and resolve it. (An upstream proxy goes by the
// request line, which Go writes from the Host header: both change.)
func TestUpstreamGetsCheckedLiteral(t *testing.T) {
	hits := make(chan string, 10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.URL.String() + " host=" + r.Host
		io.WriteString(w, "via upstream")
	}))
	defer up.Close()
	h := upstreamHarness(t, effective(map[string]string{"127.0.0.1": "allow"}), up)
	for _, host := range []string{"2130706433:8080", "0x7f.1:8080", "[::ffff:127.0.0.1]:8080"} {
		resp, body := h.do(t, "GET", "http://"+host+"/p?q")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %q", host, resp.StatusCode, body)
		}
		if got, want := <-hits, "http://127.0.0.1:8080/p?q host=127.0.0.1:8080"; got != want {
			t.Errorf("upstream saw %q, want %q", got, want)
		}
	}
	if !strings.Contains(h.audit.String(), `"server.address":"2130706433"`) {
		t.Errorf("audit: %s", h.audit.String())
	}
}

package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/testnet"
	"github.com/netpolicy/netpolicy/policy"
)

func TestV092ForwardStripsHopByHopAndProxyHeaders(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	resp, body := h.do(t, "GET", "http://example.com/a?b=1",
		"Proxy-Authorization: Basic dTpw",
		"Proxy-Connection: keep-alive",
		"Keep-Alive: timeout=5",
		"Connection: X-Hop",
		"X-Hop: 1",
		"X-Request-Id: 42",
		"Proxy-Foo: bar",
		"X-Unix-Socket-Not: kept",
	)
	if resp.StatusCode != 200 || body != "hello from origin" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	wantDials(t, h, publicIP+":80")
	seen := h.origin.last(t)
	if seen.Method != "GET" || seen.URI != "/a?b=1" || seen.Host != "example.com" {
		t.Errorf("origin saw %s %s host %s", seen.Method, seen.URI, seen.Host)
	}
	if got := seen.Header.Get("X-Request-Id"); got != "42" {
		t.Errorf("X-Request-Id = %q", got)
	}
	for _, k := range []string{"Proxy-Authorization", "Proxy-Connection", "Keep-Alive", "X-Hop", "Proxy-Foo"} {
		if v, ok := seen.Header[k]; ok {
			t.Errorf("origin saw %s: %v", k, v)
		}
	}
	if seen.Header.Get("X-Unix-Socket-Not") != "kept" {
		t.Errorf("unrelated header dropped")
	}
	if resp.Header.Get("X-Origin") != "yes" {
		t.Errorf("origin's response header lost")
	}
}

// The same through Go's own proxy client, with keep-alive: the query is
// passed as written, even parameters ReverseProxy would drop.
func TestForwardGoClientKeepAlive(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	c := h.client()
	for i := 0; i < 3; i++ {
		resp, err := c.Get("http://example.com/p?a=1;b=2&c")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if got := h.origin.last(t).URI; got != "/p?a=1;b=2&c" {
		t.Errorf("origin saw %q", got)
	}
	if got := h.origin.last(t).Header.Get("Accept-Encoding"); got != "" {
		t.Errorf("proxy added Accept-Encoding %q", got)
	}
	// One decision (and one lookup) per request; one upstream connection.
	if n := len(h.res.Calls()); n != 3 {
		t.Errorf("resolver calls = %d, want 3", n)
	}
	if n := len(h.dial.Calls()); n != 1 {
		t.Errorf("dials = %d, want 1 (pooled)", n)
	}
}

func TestV093DenyWinsAndIsNeverAsk(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"*": "allow", "blocked.example.com": "deny"}))
	h.res.forbid = true
	resp, body := h.do(t, "POST", "http://blocked.example.com/x")
	b := wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
	want := blockBody{"blocked", "deny", "denied", "baseline_policy", "http", "blocked.example.com", 80, "Domain denied by policy.", "blocked.example.com", "", ""}
	if b != want {
		t.Errorf("body = %+v, want %+v", b, want)
	}
	wantNoDial(t, h)
}

func TestV094AllowlistMissAskOrDeny(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   policy.SessionMode
		onMiss policy.OnMiss
		want   string
	}{
		{"a-workspace-write", policy.ModeWorkspaceWrite, policy.MissAsk, "ask"},
		{"a-read-only", policy.ModeReadOnly, policy.MissAsk, "ask"},
		{"b-full-access", policy.ModeFullAccess, policy.MissDeny, "deny"},
		{"c-managed-only", policy.ModeWorkspaceWrite, policy.MissDeny, "deny"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := effective(map[string]string{"example.com": "allow"})
			e.SessionMode, e.OnMiss.Value = tc.mode, tc.onMiss
			h := newHarness(t, e)
			h.res.forbid = true
			resp, body := h.do(t, "GET", "http://other.example.net/")
			b := wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", tc.want)
			if b.Message != "Domain not in allowlist." {
				t.Errorf("message %q", b.Message)
			}
			wantNoDial(t, h)
		})
	}
}

func TestV095LocalLiteralBlocked(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.res.forbid = true
	resp, body := h.do(t, "GET", "http://127.0.0.1:8080/")
	b := wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed_local", "deny")
	if b.Source != "baseline_policy" || b.Host != "127.0.0.1" || b.Port != 8080 ||
		b.Message != "Local/private network addresses are blocked by policy." {
		t.Errorf("body = %+v", b)
	}
	wantNoDial(t, h)
}

func TestV096NumericSpellingsOfLocalAddresses(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"*": "allow"}))
	h.res.forbid = true
	for _, target := range []string{
		"http://2130706433/",                       // (a)
		"http://0x7f.1/",                           // (b)
		"http://127.1:8080/",                       // (c)
		"http://0/",                                // (d)
		"http://[::ffff:127.0.0.1]/",               // (e)
		"http://[64:ff9b::7f00:1]/",                // (f)
		"http://169.254.169.254/latest/meta-data/", // (g)
		"http://0177.0.0.1/", "http://0x7f000001/", // V117
		"http://017700000001/", "http://10.1/", // V117
		"http://0xa9.0xfe.0xa9.0xfe/",                  // V117
		"http://LOCALHOST./", "http://localhost:3128/", // names of loopback
	} {
		resp, body := h.do(t, "GET", target)
		if b := wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed_local", "deny"); t.Failed() {
			t.Fatalf("%s: %+v", target, b)
		}
	}
	wantNoDial(t, h)
}

func TestV097RebindingDialsTheCheckedAddress(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"rebind.example.net": "allow"}))
	h.res.answer("rebind.example.net", publicIP, "|", "127.0.0.1")
	resp, body := h.do(t, "GET", "http://rebind.example.net/")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	wantResolves(t, h, "rebind.example.net")
	wantDials(t, h, publicIP+":80")
	// The next request is a new decision: the private answer blocks it.
	h.dial.reset()
	resp, body = h.do(t, "GET", "http://rebind.example.net/")
	wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed_local", "deny")
	wantNoDial(t, h)
}

func TestRebindingConnectAndSOCKS(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"rebind.example.net": "allow"}))
	h.dial.to = echoServer(t)
	h.res.answer("rebind.example.net", publicIP, "|", "127.0.0.1")
	resp, _, c := h.connect(t, "rebind.example.net:443")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	echoRoundTrip(t, c, "ping")
	wantDials(t, h, publicIP+":443")

	h.res.seq["rebind2.example.net"] = nil
	h.srv.SetPolicy(compile(t, effective(map[string]string{"rebind2.example.net": "allow"})))
	h.res.answer("rebind2.example.net", "93.184.216.35", "|", "10.0.0.1")
	h.dial.reset()
	sc := socksDial(t, h, "rebind2.example.net:443")
	echoRoundTrip(t, sc, "pong")
	wantDials(t, h, "93.184.216.35:443")
}

func TestV098AnyPrivateAnswerBlocks(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"mixed.example.net": "allow"}))
	h.res.answer("mixed.example.net", publicIP, "10.0.0.8")
	resp, body := h.do(t, "GET", "http://mixed.example.net/")
	wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed_local", "deny")
	wantNoDial(t, h)
}

func TestV099ExplicitLocalLiteralDialledAsIs(t *testing.T) {
	t.Run("a", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"127.0.0.1": "allow"}))
		h.res.forbid = true
		resp, body := h.do(t, "GET", "http://127.0.0.1:8080/health")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %q", resp.StatusCode, body)
		}
		wantDials(t, h, "127.0.0.1:8080")
		if got := h.origin.last(t).Host; got != "127.0.0.1:8080" {
			t.Errorf("origin Host = %q", got)
		}
	})
	t.Run("b", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"10.0.0.5": "allow"}))
		h.res.forbid = true
		h.dial.to = echoServer(t)
		resp, _, c := h.connect(t, "10.0.0.5:5432")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		echoRoundTrip(t, c, "select 1")
		wantDials(t, h, "10.0.0.5:5432")
	})
}

func TestV100LimitedMode(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow"})
	e.Mode.Value = "limited"
	h := newHarness(t, e)
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		resp, body := h.do(t, m, "http://example.com/")
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d %q", m, resp.StatusCode, body)
		}
	}
	h.dial.reset()
	h.res.reset()
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		resp, body := h.do(t, m, "http://example.com/")
		b := wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
		if b.Source != "mode_guard" || b.Protocol != "http" || b.Message != "Method not allowed in limited mode." {
			t.Errorf("%s: body %+v", m, b)
		}
	}
	wantNoDial(t, h)
	wantResolves(t, h) // the mode guard comes before the lookup
}

func TestV101HostDecisionBeforeModeGuard(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow", "blocked.example.com": "deny"})
	e.Mode.Value = "limited"
	h := newHarness(t, e)
	resp, body := h.do(t, "POST", "http://blocked.example.com/")
	wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
	resp, body = h.do(t, "POST", "http://other.example.net/")
	wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "ask")
	wantNoDial(t, h)
}

func TestV102ConnectAnyPort(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = echoServer(t)
	for _, port := range []string{"443", "22"} {
		resp, _, c := h.connect(t, "example.com:"+port)
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT :%s status %d", port, resp.StatusCode)
		}
		echoRoundTrip(t, c, "hello "+port)
		echoRoundTrip(t, c, strings.Repeat("x", 100<<10))
	}
	wantDials(t, h, publicIP+":443", publicIP+":22")
}

func TestV103ConnectBlocks(t *testing.T) {
	t.Run("a", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"*": "allow", "blocked.example.com": "deny"}))
		h.res.forbid = true
		resp, body, _ := h.connect(t, "blocked.example.com:443")
		b := wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
		if b.Protocol != "https_connect" || b.Port != 443 {
			t.Errorf("body %+v", b)
		}
		wantNoDial(t, h)
	})
	t.Run("b", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
		h.res.forbid = true
		resp, body, _ := h.connect(t, "other.example.net:443")
		wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "ask")
		wantNoDial(t, h)
	})
	t.Run("c", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"*": "allow"}))
		h.res.forbid = true
		for _, a := range []string{"127.0.0.1:22", "[::1]:443", "2130706433:443"} {
			resp, body, _ := h.connect(t, a)
			wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed_local", "deny")
		}
		wantNoDial(t, h)
	})
}

func TestV104ConnectInLimitedMode(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow"})
	e.Mode.Value = "limited"
	h := newHarness(t, e)
	resp, body, _ := h.connect(t, "example.com:443")
	b := wantBlock(t, resp, body, "blocked-by-mitm-required", "mitm_required", "deny")
	if b.Source != "mode_guard" || b.Protocol != "https_connect" || b.Message != "HTTPS interception required in limited mode." {
		t.Errorf("body %+v", b)
	}
	wantNoDial(t, h)
	wantResolves(t, h)
}

// unixOrigin serves HTTP on a unix socket in a temporary directory.
func unixOrigin(t *testing.T, name string) (path string, o *origin) {
	dir := t.TempDir()
	path = filepath.Join(dir, name)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("unix sockets: %v", err)
	}
	o = &origin{}
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, seenRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone()})
		o.mu.Unlock()
		io.WriteString(w, "OK from socket")
	}))
	o.Listener = l
	o.Start()
	t.Cleanup(o.Close)
	return path, o
}

func sockets(e *policy.Effective, m map[string]string) *policy.Effective {
	for p, v := range m {
		perm, _ := policy.ParseSocketPermission(v)
		e.Sockets = append(e.Sockets, policy.SocketRule{Path: p, Perm: perm, Source: policy.Source{File: "config.toml", Line: 9}})
	}
	return e
}

func TestV108UnixSocketForwarded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		domains map[string]string
	}{
		{"a-no-domains", nil},
		{"b-localhost-denied", map[string]string{"localhost": "deny"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, o := unixOrigin(t, "app.sock")
			h := newHarness(t, sockets(effective(tc.domains), map[string]string{path: "allow"}))
			h.res.forbid = true
			resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+path)
			if resp.StatusCode != 200 || body != "OK from socket" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			seen := o.last(t)
			if seen.URI != "/_ping" || seen.Host != "localhost" {
				t.Errorf("socket origin saw %s host %s", seen.URI, seen.Host)
			}
			if _, ok := seen.Header["X-Unix-Socket"]; ok {
				t.Errorf("x-unix-socket forwarded")
			}
			wantNoDial(t, h)
			// On Linux the dial goes through the handle the decision
			// checked (TestUnixSocketSymlinkSwap), elsewhere to the path.
			want := path
			if runtime.GOOS == "linux" {
				want = "/proc/self/fd/"
			}
			if got := h.UnixDials(); len(got) != 1 || !strings.HasPrefix(got[0], want) {
				t.Errorf("unix dials %v, want one to %s", got, want)
			}
		})
	}
}

func TestV109UnixSocketRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules func(path string) map[string]string
	}{
		{"a-no-rules", func(string) map[string]string { return nil }},
		{"b-none", func(p string) map[string]string { return map[string]string{p: "none"} }},
		{"c-deny", func(p string) map[string]string { return map[string]string{p: "deny"} }},
		{"d-other-allowed", func(p string) map[string]string {
			return map[string]string{filepath.Join(filepath.Dir(p), "other.sock"): "allow"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, o := unixOrigin(t, "app.sock")
			h := newHarness(t, sockets(effective(nil), tc.rules(path)))
			resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+path)
			blockBodyOf(t, resp, body)
			if got := resp.Header.Get("x-proxy-error"); got != "blocked-by-allowlist" {
				t.Errorf("x-proxy-error = %q", got)
			}
			if o.count() != 0 || len(h.UnixDials()) != 0 {
				t.Errorf("socket connected")
			}
			wantNoDial(t, h)
		})
	}
}

func TestV110AllowAllUnixSockets(t *testing.T) {
	path, _ := unixOrigin(t, "any.sock")
	e := effective(nil)
	e.DangerouslyAllowAllUnixSockets.Value = true
	h := newHarness(t, e)
	resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+path)
	if resp.StatusCode != 200 {
		t.Fatalf("(a) status %d %q", resp.StatusCode, body)
	}
	for _, bad := range []string{"relative.sock", "./relative.sock", ""} {
		resp, body = h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+bad)
		blockBodyOf(t, resp, body)
		if got := resp.Header.Get("x-proxy-error"); got != "blocked-by-allowlist" {
			t.Errorf("(b) %q: x-proxy-error = %q", bad, got)
		}
	}
	// Two x-unix-socket headers are refused, not resolved either way.
	resp, body = h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+path, "X-Unix-Socket: "+path)
	blockBodyOf(t, resp, body)
	if got := h.UnixDials(); len(got) != 1 {
		t.Errorf("unix dials %v", got)
	}
}

func TestV111LimitedModeOnUnixSocket(t *testing.T) {
	path, o := unixOrigin(t, "app.sock")
	e := sockets(effective(nil), map[string]string{path: "allow"})
	e.Mode.Value = "limited"
	h := newHarness(t, e)
	resp, body := h.do(t, "POST", "http://localhost/containers/create", "X-Unix-Socket: "+path)
	wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
	if o.count() != 0 {
		t.Errorf("POST reached the socket")
	}
	resp, body = h.do(t, "GET", "http://localhost/containers/create", "X-Unix-Socket: "+path)
	if resp.StatusCode != 200 {
		t.Errorf("(b) status %d %q", resp.StatusCode, body)
	}
}

func TestV112HostHandling(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	t.Run("a-missing-host", func(t *testing.T) {
		resp, body := h.raw(t, "GET /index.html HTTP/1.0\r\n\r\n")
		if resp.StatusCode != 400 || body != "missing host\n" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		// Origin-form with a Host header is not a proxy request either.
		resp, body = h.raw(t, "GET /index.html HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 400 || body != "missing host\n" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		wantNoDial(t, h)
	})
	t.Run("b-client-host-ignored", func(t *testing.T) {
		resp, _ := h.do(t, "GET", "http://example.com/", "Host: evil.example.net")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := h.origin.last(t).Host; got != "example.com" {
			t.Errorf("origin Host = %q", got)
		}
	})
	t.Run("c-port-from-target", func(t *testing.T) {
		h.dial.reset()
		resp, _ := h.do(t, "GET", "http://example.com:8080/", "Host: example.com:9090")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := h.origin.last(t).Host; got != "example.com:8080" {
			t.Errorf("origin Host = %q", got)
		}
		wantDials(t, h, publicIP+":8080")
	})
	t.Run("d-upstream-refused", func(t *testing.T) {
		h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
		h.dial.refuse = true
		resp, body := h.do(t, "GET", "http://example.com/")
		if resp.StatusCode != 502 || body != "upstream failure\n" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		resp, body, _ = h.connect(t, "example.com:443")
		if resp.StatusCode != 502 || body != "upstream failure\n" {
			t.Errorf("CONNECT got %d %q", resp.StatusCode, body)
		}
	})
}

// A refused checked address is followed by the next one.
func TestNextCheckedAddressOnRefusal(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"multi.example.net": "allow"}))
	h.res.answer("multi.example.net", "93.184.216.1", "93.184.216.2")
	h.dial.routes = map[string]string{"93.184.216.1:80": ""} // refused
	resp, body := h.do(t, "GET", "http://multi.example.net/")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	wantDials(t, h, "93.184.216.1:80", "93.184.216.2:80")
}

func TestV114BlockResponses(t *testing.T) {
	for _, tc := range []struct {
		reason           policy.Reason
		source           policy.DecisionSource
		xerr, message    string
		status           int
		wantJSON         bool
		wantPlainMessage string
	}{
		{policy.ReasonNotAllowed, policy.SourceBaseline, "blocked-by-allowlist", "Domain not in allowlist.", 403, true, ""},
		{policy.ReasonNotAllowedLocal, policy.SourceBaseline, "blocked-by-allowlist", "Local/private network addresses are blocked by policy.", 403, true, ""},
		{policy.ReasonDenied, policy.SourceBaseline, "blocked-by-denylist", "Domain denied by policy.", 403, true, ""},
		{policy.ReasonMethodNotAllowed, policy.SourceModeGuard, "blocked-by-method-policy", "Method not allowed in limited mode.", 403, true, ""},
		{policy.ReasonMITMRequired, policy.SourceModeGuard, "blocked-by-mitm-required", "HTTPS interception required in limited mode.", 403, true, ""},
		{"something_else", policy.SourceProxyState, "blocked-by-policy", "Request blocked by network policy.", 403, true, ""},
		{policy.ReasonProxyDisabled, policy.SourceProxyState, "blocked-by-policy", "", 503, false, "network proxy is disabled\n"},
	} {
		t.Run(string(tc.reason), func(t *testing.T) {
			s := &Server{}
			rec := httptest.NewRecorder()
			d := policy.Decision{Verdict: policy.VerdictDeny, Reason: tc.reason, Source: tc.source, Host: "example.com"}
			s.block(rec, d, policy.Request{Host: "example.com", Port: 443, Protocol: policy.ProtoHTTPSConnect})
			if rec.Code != tc.status {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("x-proxy-error"); got != tc.xerr {
				t.Errorf("x-proxy-error %q, want %q", got, tc.xerr)
			}
			if !tc.wantJSON {
				if rec.Body.String() != tc.wantPlainMessage {
					t.Errorf("body %q", rec.Body.String())
				}
				return
			}
			resp := rec.Result()
			b := blockBodyOf(t, resp, rec.Body.String())
			want := blockBody{"blocked", "deny", string(tc.reason), string(tc.source), "https_connect", "example.com", 443, tc.message, "", "", ""}
			if b != want {
				t.Errorf("body %+v, want %+v", b, want)
			}
		})
	}
}

func TestDisabledProxyAnswers503(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow"})
	e.Enabled.Value = false
	h := newHarness(t, e)
	h.res.forbid = true
	resp, body := h.do(t, "GET", "http://example.com/")
	if resp.StatusCode != 503 || body != "network proxy is disabled\n" {
		t.Errorf("GET: %d %q", resp.StatusCode, body)
	}
	resp, body, _ = h.connect(t, "example.com:443")
	if resp.StatusCode != 503 || body != "network proxy is disabled\n" {
		t.Errorf("CONNECT: %d %q", resp.StatusCode, body)
	}
	if code := socksReply(t, h, atypDomain, "example.com", 443); code != 0x02 {
		t.Errorf("SOCKS5 reply %#x", code)
	}
	wantNoDial(t, h)
	for _, ev := range h.audit.events(t) {
		if ev["event.name"] != EventBlockDecision || ev["network.policy.scope"] != "proxy_state" ||
			ev["network.policy.reason"] != "proxy_disabled" || ev["network.policy.source"] != "proxy_state" {
			t.Errorf("audit %v", ev)
		}
	}
}

func TestBadRequestTargets(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"*": "allow"}))
	h.res.answer("a.example", publicIP)
	for _, tc := range []struct{ req, want string }{
		// CONNECT never falls back to the Host header.
		{"CONNECT /x HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "missing host\n"},
		{"CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", "missing port\n"},
		{"CONNECT example.com:0443 HTTP/1.1\r\nHost: x\r\n\r\n", "invalid host or port\n"},
		{"CONNECT example.com:0 HTTP/1.1\r\nHost: x\r\n\r\n", "invalid host or port\n"},
		{"CONNECT example.com:65536 HTTP/1.1\r\nHost: x\r\n\r\n", "invalid host or port\n"},
		{"CONNECT :443 HTTP/1.1\r\nHost: x\r\n\r\n", "missing host\n"},
		{"GET http://a.example:0443/ HTTP/1.1\r\nHost: x\r\n\r\n", "invalid host or port\n"},
		{"GET http://a.example:99999/ HTTP/1.1\r\nHost: x\r\n\r\n", "invalid host or port\n"},
		{"GET http://:80/ HTTP/1.1\r\nHost: x\r\n\r\n", "missing host\n"},
		{"GET ftp://a.example/ HTTP/1.1\r\nHost: x\r\n\r\n", "unsupported scheme\n"},
	} {
		resp, body := h.raw(t, tc.req)
		if resp.StatusCode != 400 || (tc.want != "" && body != tc.want) {
			t.Errorf("%q: got %d %q, want 400 %q", firstLine(tc.req), resp.StatusCode, body, tc.want)
		}
	}
	// Go's own parser refuses "+443" before our handler runs; still a 400.
	resp, _ := h.raw(t, "CONNECT example.com:+443 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("CONNECT :+443: %d", resp.StatusCode)
	}
	wantNoDial(t, h)
}

// Go's server follows RFC 9112 §6.3 for a request with both Content-Length
// and Transfer-Encoding: chunked — it drops Content-Length and reads the
// chunked body — so what reaches the origin is framed one way only. RFC
// 9112 §6.1 also says the server MUST close the connection after
// responding to such a request: a request smuggled after it is never
// parsed, decided or forwarded.
func TestContentLengthWithTransferEncoding(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow", "secret.example.com": "deny"}))
	c := h.dialHTTP(t)
	io.WriteString(c, "POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\n"+
		"Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n0\r\n\r\n"+
		"GET http://secret.example.com/ HTTP/1.1\r\nHost: secret.example.com\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !resp.Close {
		t.Errorf("response to a CL+TE request does not say Connection: close")
	}
	seen := h.origin.last(t)
	if seen.Body != "hello" || seen.Header.Get("Content-Length") != "" {
		t.Errorf("origin saw body %q, Content-Length %q", seen.Body, seen.Header.Get("Content-Length"))
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the response: %q, %v; want the connection closed", rest, err)
	}
	if h.origin.count() != 1 {
		t.Errorf("smuggled request reached the origin")
	}
	for _, ev := range h.audit.events(t) {
		if ev["server.address"] == "secret.example.com" {
			t.Errorf("smuggled request was decided: %v", ev)
		}
	}
}

// Address spellings of VECTORS §8, through HTTP, CONNECT and SOCKS5, with a
// global allow: every non-public spelling is blocked before DNS and
// without a dial; a public spelling is dialled at its checked address,
// never as written.
func TestSection8SpellingsAllProtocols(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"*": "allow"}))
	h.dial.to = echoServer(t)
	local := []string{
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "100.64.0.1", "127.0.0.1", "169.254.169.254",
		"172.16.0.1", "192.0.0.1", "192.0.2.1", "192.168.1.1", "198.18.0.1", "198.51.100.1",
		"203.0.113.1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
		"2130706433", "0x7f.1", "127.1", "0177.0.0.1", "0x7f000001", "017700000001", "0", "10.1",
		"0xa9.0xfe.0xa9.0xfe", "127.0.0.1.", "LOCALHOST", "localhost.",
		"[::]", "[::1]", "[fc00::1]", "[fe80::1%25eth0]", "[ff02::1]",
		"[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[::10.0.0.1]", "[::ffff:0.0.0.0]",
		"[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::1]", "[2002:c0a8:101::1]",
	}
	h.res.forbid = true
	for _, host := range local {
		resp, body := h.do(t, "GET", "http://"+host+":81/")
		if resp.StatusCode != 403 || resp.Header.Get("x-proxy-error") != "blocked-by-allowlist" || !strings.Contains(body, `"not_allowed_local"`) {
			t.Errorf("HTTP %s: %d %s", host, resp.StatusCode, body)
		}
		resp, body, _ = h.connect(t, host+":443")
		if resp.StatusCode != 403 || !strings.Contains(body, `"not_allowed_local"`) {
			t.Errorf("CONNECT %s: %d %s", host, resp.StatusCode, body)
		}
		name := strings.Trim(host, "[]")
		name = strings.ReplaceAll(name, "%25", "%")
		if code := socksReply(t, h, atypDomain, name, 443); code != 0x02 {
			t.Errorf("SOCKS5 domain %q: reply %#x", name, code)
		}
	}
	wantNoDial(t, h)
	// IP-typed SOCKS5 requests.
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1", "64:ff9b::a00:1", "fe80::1"} {
		atyp := byte(atypIPv4)
		if strings.Contains(ip, ":") {
			atyp = atypIPv6
		}
		if code := socksReply(t, h, atyp, ip, 80); code != 0x02 {
			t.Errorf("SOCKS5 IP %s: reply %#x", ip, code)
		}
	}
	wantNoDial(t, h)

	// Public spellings: dialled at the canonical address.
	public := map[string]string{
		"134744072":          "8.8.8.8",
		"0x8.0x8.0x8.0x8":    "8.8.8.8",
		"[::ffff:8.8.8.8]":   "8.8.8.8",
		"[2606:4700::1111]":  "[2606:4700::1111]",
		"[64:ff9b::808:808]": "[64:ff9b::808:808]",
		"[2002:808:808::1]":  "[2002:808:808::1]",
	}
	for spelled, canon := range public {
		h.dial.reset()
		resp, _, c := h.connect(t, spelled+":443")
		if resp.StatusCode != 200 {
			t.Errorf("CONNECT %s: %d", spelled, resp.StatusCode)
			continue
		}
		echoRoundTrip(t, c, "x")
		c.Close()
		wantDials(t, h, canon+":443")
	}
}

// Trailing dots and mixed case are the same host; the resolver sees the
// normalised name, the origin the host as the client wrote it.
func TestTrailingDotsAndCase(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"api.example.com": "allow", "*.bad.example": "deny", "*": "allow"}))
	h.res.answer("api.example.com", publicIP)
	resp, _ := h.do(t, "GET", "http://API.Example.COM../x")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantResolves(t, h, "api.example.com")
	wantDials(t, h, publicIP+":80")
	h.res.forbid = true
	for _, host := range []string{"X.BAD.EXAMPLE.", "x.bad.example..", "X.Bad.Example"} {
		resp, body := h.do(t, "GET", "http://"+host+"/")
		wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
		resp, body, _ = h.connect(t, host+":443")
		wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
		if code := socksReply(t, h, atypDomain, host, 443); code != 0x02 {
			t.Errorf("SOCKS5 %s: %#x", host, code)
		}
	}
}

// Explicitly allowed 0.0.0.0 or [::] is still refused.
func TestUnspecifiedNeverDialled(t *testing.T) {
	e := effective(map[string]string{"0.0.0.0": "allow", "::": "allow"})
	e.AllowLocalBinding.Value = true
	h := newHarness(t, e)
	h.res.forbid = true
	for _, host := range []string{"0.0.0.0", "[::]", "0", "[::ffff:0.0.0.0]"} {
		resp, body := h.do(t, "GET", "http://"+host+":8080/")
		wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed_local", "deny")
	}
	wantNoDial(t, h)
}

// upgradeOrigin answers an Upgrade request with 101, then echoes.
func upgradeOrigin(t *testing.T, seen chan<- http.Header) string {
	return testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		seen <- r.Header
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n\r\n")
		io.Copy(c, br)
	})
}

func TestWebSocketUpgrade(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	seen := make(chan http.Header, 1)
	h.dial.to = upgradeOrigin(t, seen)
	c, err := net.Dial("tcp", h.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET http://example.com/ws HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, Upgrade\r\n"+
		"Upgrade: websocket\r\nSec-WebSocket-Key: k\r\nProxy-Authorization: secret\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Sec-WebSocket-Accept") != "abc" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
	}
	hd := <-seen
	if hd.Get("Connection") != "Upgrade" || hd.Get("Upgrade") != "websocket" || hd.Get("Sec-Websocket-Key") != "k" || hd.Get("Proxy-Authorization") != "" {
		t.Errorf("origin saw %v", hd)
	}
	io.WriteString(c, "frame")
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "frame" {
		t.Fatalf("echo %q %v", got, err)
	}
	wantDials(t, h, publicIP+":80")
}

func TestWebSocketUpgradeRefusedInLimitedMode(t *testing.T) {
	e := effective(map[string]string{"example.com": "allow"})
	e.Mode.Value = "limited"
	h := newHarness(t, e)
	resp, body := h.do(t, "GET", "http://example.com/ws", "Connection: Upgrade", "Upgrade: websocket")
	wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
	wantNoDial(t, h)
}

// A client that sends half a header is cut after ReadHeaderTimeout.
func TestSlowlorisHeader(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
	})
	c := h.dialHTTP(t)
	io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nHo")
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("connection not closed by the proxy: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
}

// A client that stops sending its body is cut after IdleTimeout.
func TestStalledBody(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}), func(s *Server) {
		s.IdleTimeout = 300 * time.Millisecond
	})
	c := h.dialHTTP(t)
	io.WriteString(c, "POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\nabc")
	start := time.Now()
	io.ReadAll(c)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stalled body held for %v", d)
	}
}

// An upstream proxy from the environment is used only with
// allow_upstream_proxy, and only for allowed requests.
func TestUpstreamProxy(t *testing.T) {
	type hit struct{ method, target string }
	hits := make(chan hit, 10)
	echo := echoServer(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			hits <- hit{r.Method, r.Host}
			c, brw, _ := http.NewResponseController(w).Hijack()
			io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
			e, err := net.Dial("tcp", echo)
			if err != nil {
				c.Close()
				return
			}
			go io.Copy(e, brw)
			io.Copy(c, e)
			c.Close()
			return
		}
		hits <- hit{r.Method, r.URL.String()}
		io.WriteString(w, "via upstream")
	}))
	defer up.Close()
	h := upstreamHarness(t, effective(map[string]string{"example.com": "allow"}), up)
	resp, body := h.do(t, "GET", "http://example.com/x?y")
	if resp.StatusCode != 200 || body != "via upstream" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := <-hits; got != (hit{"GET", "http://example.com/x?y"}) {
		t.Errorf("upstream saw %v", got)
	}
	r2, _, c := h.connect(t, "example.com:443")
	if r2.StatusCode != 200 {
		t.Fatalf("CONNECT %d", r2.StatusCode)
	}
	echoRoundTrip(t, c, "tunnelled")
	if got := <-hits; got != (hit{"CONNECT", "example.com:443"}) {
		t.Errorf("upstream saw %v", got)
	}
	// Blocks are decided here, never sent upstream.
	resp, body = h.do(t, "GET", "http://other.example.net/")
	wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "ask")
	select {
	case got := <-hits:
		t.Errorf("blocked request reached upstream: %v", got)
	default:
	}

	// Without allow_upstream_proxy, the checked address is dialled.
	h.srv.SetPolicy(compile(t, effective(map[string]string{"example.com": "allow"})))
	h.dial.reset()
	resp, body = h.do(t, "GET", "http://example.com/")
	if body != "hello from origin" {
		t.Errorf("direct: %d %q", resp.StatusCode, body)
	}
	wantDials(t, h, publicIP+":80")
}

// Policy is read once per request: a reload while a request is in flight
// does not change how it ends, and applies to the next one.
func TestReloadKeepsInFlightPolicy(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "slow")
	}))
	defer slow.Close()
	h.dial.to = slow.Listener.Addr().String()
	done := make(chan string, 1)
	go func() {
		resp, err := h.client().Get("http://example.com/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	// A tunnel opened under the old policy.
	echo := echoServer(t)
	h.dial.routes = map[string]string{publicIP + ":443": echo}
	resp, _, tc := h.connect(t, "example.com:443")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(5 * time.Second); len(h.dial.Calls()) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("slow request never dialled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.srv.SetPolicy(compile(t, effective(map[string]string{"example.com": "deny", "*": "allow"})))
	close(release)
	if got := <-done; got != "slow" {
		t.Errorf("in-flight request got %q", got)
	}
	echoRoundTrip(t, tc, "still open")
	r2, body := h.do(t, "GET", "http://example.com/")
	wantBlock(t, r2, body, "blocked-by-denylist", "denied", "deny")
}

func TestShutdownDrainsThenCloses(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.dial.to = echoServer(t)
	_, _, c := h.connect(t, "example.com:443")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := h.srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown = %v, want deadline exceeded (a tunnel was open)", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("tunnel still open after Shutdown")
	}
	if _, err := net.DialTimeout("tcp", h.httpAddr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// An upgrade over an allowed unix socket (docker attach) becomes a byte
// tunnel too.
func TestUpgradeOverUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("unix sockets: %v", err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		io.Copy(c, br)
	}()
	h := newHarness(t, sockets(effective(nil), map[string]string{path: "allow"}))
	c, err := net.Dial("tcp", h.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST http://localhost/containers/x/attach HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nX-Unix-Socket: "+path+"\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v %v", resp, err)
	}
	io.WriteString(c, "stdin")
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "stdin" {
		t.Fatalf("echo %q %v", got, err)
	}
	wantNoDial(t, h)
}

// Request targets that try to smuggle a local host past the decision: the
// proxy decides on exactly the host it then dials.
func TestHostileRequestTargets(t *testing.T) {
	h := newHarness(t, effective(map[string]string{"example.com": "allow"}))
	h.res.forbid = true
	for _, target := range []string{
		"http://%31%32%37.0.0.1/",       // percent-encoded 127.0.0.1
		"http://example.com@127.0.0.1/", // userinfo before the real host
		"http://example.com:80@10.0.0.1/",
	} {
		resp, body := h.raw(t, "GET "+target+" HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 400 && resp.StatusCode != 403 {
			t.Errorf("%s: %d %q", target, resp.StatusCode, body)
		}
	}
	wantNoDial(t, h)
	// The other way round the host really is example.com: allowed, and
	// dialled at example.com's checked address.
	h.res.forbid = false
	resp, _ := h.raw(t, "GET http://127.0.0.1%2523@example.com/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	wantDials(t, h, publicIP+":80")
}

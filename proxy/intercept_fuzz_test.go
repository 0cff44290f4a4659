package proxy

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzInterceptedRequest sends arbitrary bytes inside an intercepted TLS
// tunnel (HTTP/1.1, or h2 when the first byte is odd) and checks that the
// proxy neither crashes nor lets a request with a method other than GET,
// HEAD or OPTIONS (or an override naming one) reach the origin.
func FuzzInterceptedRequest(f *testing.F) {
	const sanity = "\x00GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
	for _, seed := range []string{
		sanity,
		"\x00POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\n\r\nx",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\nX-HTTP-Method-Override: PUT\r\n\r\n",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\n\r\nDELETE / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPUT / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"\x00GET https://example.com/ HTTP/1.1\r\nHost: other.example\r\n\r\n",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"\x01PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
		// The HTTP/1.1 loop's own paths (interceptloop.go): framing an
		// old parser reads differently, a pipelined head cut short, a
		// chunk size line and trailers, 100-continue, folded and bare-LF
		// lines, a request after Connection: close.
		"\x00GET / HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nPUT /\r\n0\r\n\r\n",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nPOST / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabcGET / HTTP/1.1\r\nHost: example.com\r\n\r\nGET / HTTP/1.1\r\nHo",
		"\x00GET / HTTP/1.1\nHost: example.com\nX-A: a\n b\nX-HTTP-Method-Override:\n DELETE\n\n",
		"\x00GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\nDELETE / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	// f.Logf may not be called from inside the fuzz target.
	m := newMITMHarness(f, limitedMITM(map[string]string{"example.com": "allow"}), func(s *Server) { s.Logf = func(string, ...any) {} })
	bad := make(chan string, 100)
	var hits atomic.Int64
	m.origin.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := r.Method == "GET" || r.Method == "HEAD" || r.Method == "OPTIONS"
		for _, v := range [][]string{r.Header["X-Http-Method-Override"], r.Header["X-Http-Method"], r.Header["X-Method-Override"]} {
			for _, o := range v {
				if o = strings.ToUpper(strings.TrimSpace(o)); o != "" && o != "GET" && o != "HEAD" && o != "OPTIONS" {
					ok = false
				}
			}
		}
		if r.Host != "example.com" {
			ok = false
		}
		if !ok {
			select {
			case bad <- r.Method + " " + r.Host:
			default:
			}
		}
		hits.Add(1)
		io.WriteString(w, "ok")
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		protos := []string{"http/1.1"}
		if data[0]%2 == 1 {
			protos = []string{"h2"}
		}
		resp, _, c := m.connect(t, "example.com:443")
		if c == nil {
			t.Fatalf("CONNECT refused: %d", resp.StatusCode)
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{ServerName: "example.com", RootCAs: m.clientRoots, NextProtos: protos})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		before := hits.Load()
		// No half-close: Go's server takes EOF for a client that went
		// away and cancels the request. Read what comes back for a while.
		tc.Write(data[1:])
		tc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		io.Copy(io.Discard, tc)
		if string(data) == sanity && hits.Load() == before {
			t.Fatal("a plain GET did not reach the origin: the target checks nothing")
		}
		select {
		case b := <-bad:
			t.Fatalf("the origin got %s", b)
		default:
		}
	})
}

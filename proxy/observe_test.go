package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/netpolicy/netpolicy/telemetry"
)

// scrape reads the metrics as Prometheus text: every sample by its name
// with labels, as written ("name{a=\"x\",b=\"y\"}").
func scrape(t testing.TB, m *telemetry.Metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// decisionsKey is the sample of netpolicy_decisions_total for one audit
// event (labels in the order the text format sorts them).
func decisionsKey(decision, protocol, reason string) string {
	return `netpolicy_decisions_total{decision="` + decision + `",protocol="` + protocol + `",reason="` + reason + `"}`
}

// TestMetricsCountEveryAuditedDecision runs a scripted mix of every path
// (plain HTTP, an ask answered yes and one answered no, a refused unix
// socket, CONNECT, requests inside an intercepted tunnel over CONNECT and
// SOCKS5, an SNI that does not match), enforced and report-only, and checks that netpolicy_decisions_total per
// label set is exactly the audit log's count of events with those values,
// and netpolicy_decision_seconds holds one sample per audit event.
func TestMetricsCountEveryAuditedDecision(t *testing.T) {
	for _, reportOnly := range []bool{false, true} {
		name := "enforced"
		if reportOnly {
			name = "report-only"
		}
		t.Run(name, func(t *testing.T) {
			metrics := telemetry.NewMetrics()
			m := newMITMHarness(t, limitedMITM(map[string]string{
				"example.com": "allow", "other.example": "allow", "bad.example.com": "deny",
			}), func(s *Server) {
				s.Observer = metrics
				s.ReportOnly = reportOnly
				// A person says yes to asked.example, no to the rest.
				s.Ask = func(_ context.Context, q Question) Answer {
					if q.Host == "asked.example" {
						return AnswerOnce
					}
					return AnswerNo
				}
			})
			m.res.answer("other.example", publicIP)
			m.res.answer("asked.example", publicIP)
			c := m.h1Client()
			c.Transport.(*http.Transport).DisableKeepAlives = true

			// Plain HTTP: an unlisted host, a write method the mode
			// guard refuses, a unix socket that is not allowed.
			m.do(t, "GET", "http://unlisted.example/x")
			m.do(t, "GET", "http://asked.example/x")
			m.do(t, "POST", "http://example.com/x")
			m.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+filepath.Join(t.TempDir(), "d.sock"))
			// CONNECT to a denied host.
			resp, body, conn := m.connect(t, "bad.example.com:443")
			if conn != nil {
				conn.Close()
			}
			if !reportOnly {
				wantBlock(t, resp, body, "blocked-by-denylist", "denied", "deny")
			}
			// Inside an intercepted tunnel: a GET that goes through and a
			// POST the mode guard refuses (each also one CONNECT).
			resp, err := c.Get("https://example.com/in")
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Fatalf("intercepted GET: %d %q", resp.StatusCode, body)
			}
			resp, err = c.Post("https://example.com/in", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			body = readAll(t, resp)
			if !reportOnly {
				wantBlock(t, resp, body, "blocked-by-method-policy", "method_not_allowed", "deny")
			}
			// The same over SOCKS5.
			d, err := xproxy.SOCKS5("tcp", m.socksAddr, nil, xproxy.Direct)
			if err != nil {
				t.Fatal(err)
			}
			sc := &http.Client{Transport: &http.Transport{
				DialContext:       d.(xproxy.ContextDialer).DialContext,
				TLSClientConfig:   &tls.Config{RootCAs: m.clientRoots},
				DisableKeepAlives: true,
			}, Timeout: 10 * time.Second}
			resp, err = sc.Get("https://example.com/socks")
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			// A tunnel whose SNI names another host: refused on its first
			// bytes, after its CONNECT was allowed.
			if !reportOnly {
				if tc, err := tlsThrough(t, m.harness, "example.com:443", "other.example", m.clientRoots); err == nil {
					tc.Close()
					t.Fatal("handshake with another SNI succeeded")
				}
				waitAudit(t, m.audit, "host_mismatch")
			}

			events := m.audit.events(t)
			want := map[string]float64{}
			for _, ev := range events {
				k := decisionsKey(ev["network.policy.decision"].(string), ev["network.transport.protocol"].(string), ev["network.policy.reason"].(string))
				want[k]++
			}
			got := scrape(t, metrics)
			for k, n := range want {
				if _, ok := got[k]; !ok {
					t.Errorf("no sample %s (%v audit events)", k, n)
				}
			}
			var total float64
			for k, v := range got {
				if !strings.HasPrefix(k, "netpolicy_decisions_total{") {
					continue
				}
				total += v
				if v != want[k] {
					t.Errorf("%s = %v, audit log has %v", k, v, want[k])
				}
			}
			if total != float64(len(events)) {
				t.Errorf("decisions counted %v, audit events %d", total, len(events))
			}
			if n := got["netpolicy_decision_seconds_count"]; n != float64(len(events)) {
				t.Errorf("netpolicy_decision_seconds_count = %v, audit events %d", n, len(events))
			}
			// The requests inside the tunnels are counted as https: a GET
			// over CONNECT, one over SOCKS5, and the POST.
			if n := got[decisionsKey("allow", "https", "allowed")]; n != 2 {
				t.Errorf(`decisions_total{allow,https,allowed} = %v, want 2`, n)
			}
			if n := got[decisionsKey("deny", "https", "method_not_allowed")]; n != 1 {
				t.Errorf(`decisions_total{deny,https,method_not_allowed} = %v, want 1`, n)
			}
			if n := got[decisionsKey("allow", "https_connect", "allowed")]; n < 2 {
				t.Errorf(`decisions_total{allow,https_connect,allowed} = %v, want at least 2`, n)
			}
			if n := got[decisionsKey("allow", "socks5_tcp", "allowed")]; n != 1 {
				t.Errorf(`decisions_total{allow,socks5_tcp,allowed} = %v, want 1`, n)
			}
			if !reportOnly {
				if n := got[decisionsKey("deny", "https_connect", "host_mismatch")]; n != 1 {
					t.Errorf(`decisions_total{deny,https_connect,host_mismatch} = %v, want 1`, n)
				}
			}
			if !reportOnly {
				overrides := 0
				for _, ev := range events {
					if ev["network.policy.override"] == true {
						overrides++
					}
				}
				if overrides != 1 {
					t.Errorf("%d events of an answered ask, want 1: %v", overrides, events)
				}
			}
			if len(events) < 10 {
				t.Errorf("only %d audit events: %v", len(events), events)
			}
		})
	}
}

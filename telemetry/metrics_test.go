package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/netpolicy/netpolicy/policy"
)

// The metrics pass the library's linter (naming, help, units, counters
// ending in _total).
func TestMetricsLintClean(t *testing.T) {
	m := NewMetrics()
	for _, name := range []string{
		"netpolicy_decisions_total", "netpolicy_connections_active", "netpolicy_bytes_total",
		"netpolicy_decision_seconds", "netpolicy_dns_seconds", "netpolicy_reloads_total",
		"netpolicy_policy_rules", "netpolicy_mitm_certs_minted_total", "netpolicy_audit_dropped_total",
	} {
		problems, err := testutil.GatherAndLint(m.Registry(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// Every label value of the fixed sets is exported at 0 from the start.
func TestEveryLabelValueStartsAtZero(t *testing.T) {
	m := NewMetrics()
	want := map[string]int{
		"netpolicy_decisions_total":    len(Protocols) * (2 + len(Reasons) - 1),
		"netpolicy_connections_active": len(Protocols),
		"netpolicy_bytes_total":        len(Protocols) * len(Directions),
		"netpolicy_reloads_total":      len(ReloadResults),
		"netpolicy_policy_rules":       len(RuleOrigins) * len(RulePermissions),
	}
	for name, n := range want {
		if got := testutil.CollectAndCount(m.Registry(), name); got != n {
			t.Errorf("%s: %d series, want %d", name, got, n)
		}
	}
	for _, name := range []string{"netpolicy_mitm_certs_minted_total", "netpolicy_audit_dropped_total", "netpolicy_decision_seconds", "netpolicy_dns_seconds"} {
		if got := testutil.CollectAndCount(m.Registry(), name); got != 1 {
			t.Errorf("%s: %d series, want 1", name, got)
		}
	}
}

// Values outside the fixed sets never become labels of their own.
func TestLabelsStayInTheirSets(t *testing.T) {
	m := NewMetrics()
	m.Decided(policy.Decision{Verdict: "maybe", Reason: "secret.example.com"}, "gopher")
	m.Decided(policy.Decision{Verdict: policy.VerdictDeny, Reason: policy.ReasonDenied}, policy.ProtoHTTP)
	m.ConnOpened(policy.ProtoSOCKS5TCP)
	m.ConnOpened(policy.ProtoSOCKS5TCP)
	m.ConnClosed(policy.ProtoSOCKS5TCP)
	m.Moved(policy.ProtoHTTPSConnect, true, 100)
	m.Moved(policy.ProtoHTTPSConnect, false, 5000)
	if v := testutil.ToFloat64(m.decisions.WithLabelValues("other", "other", "other")); v != 1 {
		t.Errorf("other/other/other = %v", v)
	}
	if v := testutil.ToFloat64(m.decisions.WithLabelValues("deny", "denied", "http")); v != 1 {
		t.Errorf("deny/denied/http = %v", v)
	}
	if v := testutil.ToFloat64(m.connections.WithLabelValues("socks5_tcp")); v != 1 {
		t.Errorf("socks5 connections = %v", v)
	}
	if u, d := testutil.ToFloat64(m.bytes.WithLabelValues("to_upstream", "https_connect")), testutil.ToFloat64(m.bytes.WithLabelValues("to_client", "https_connect")); u != 100 || d != 5000 {
		t.Errorf("bytes = %v up, %v down", u, d)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "gopher") {
		t.Error("a value outside the fixed sets became a label")
	}
	m.DNSTook(3 * time.Millisecond)
	m.DecisionTook(4 * time.Millisecond)
}

func TestHealthz(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 503 || body != "starting\n" {
		t.Errorf("before ready: %d %q", code, body)
	}
	m.SetReady()
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Errorf("ready: %d %q", code, body)
	}
}

// Package telemetry is what the proxy tells the outside about itself
// (POLICY §9): Prometheus metrics on /metrics with liveness on /healthz,
// and the export of audit events as OpenTelemetry log records over
// OTLP/HTTP.
//
// Every label of every metric takes its values from a fixed set (never a
// host name, so the number of series stays bounded), and every value of
// those sets is exported as 0 from the start.
package telemetry

import (
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netpolicy/netpolicy/policy"
)

// The fixed label sets. A value outside them is counted as "other".
var (
	Decisions = []string{"allow", "deny", "ask"}
	Reasons   = []string{
		string(policy.ReasonAllowed), string(policy.ReasonNotAllowed), string(policy.ReasonNotAllowedLocal),
		string(policy.ReasonDenied), string(policy.ReasonMethodNotAllowed), string(policy.ReasonMITMRequired),
		string(policy.ReasonProxyDisabled), string(policy.ReasonHostMismatch), "loop_detected",
	}
	Protocols = []string{
		string(policy.ProtoHTTP), string(policy.ProtoHTTPSConnect), string(policy.ProtoSOCKS5TCP), string(policy.ProtoHTTPS),
	}
	// Directions of netpolicy_bytes_total: from the client to the
	// upstream, and back.
	Directions = []string{"to_upstream", "to_client"}
	// ReloadResults of netpolicy_reloads_total.
	ReloadResults = []string{"success", "failure"}
	// RuleOrigins and RulePermissions of netpolicy_policy_rules; "none" is
	// the unix-socket permission.
	RuleOrigins     = []string{"managed", "user"}
	RulePermissions = []string{"allow", "deny", "none"}
)

// Buckets of the two latency histograms, in seconds: from a cache hit
// (well under a millisecond) to the 2 s DNS budget.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}

// Metrics are the proxy's Prometheus metrics (POLICY §9). It implements
// the proxy's Observer. The zero value is not usable: call NewMetrics.
type Metrics struct {
	registry *prometheus.Registry
	ready    atomic.Bool

	decisions       *prometheus.CounterVec
	connections     *prometheus.GaugeVec
	bytes           *prometheus.CounterVec
	decisionSeconds prometheus.Histogram
	dnsSeconds      prometheus.Histogram
	reloads         *prometheus.CounterVec
	rules           *prometheus.GaugeVec
	certsMinted     prometheus.Counter
	auditDropped    prometheus.Counter
}

// NewMetrics registers every metric, with each label value of its fixed
// set at 0, and the Go runtime and process collectors, on a registry of
// its own.
func NewMetrics() *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netpolicy_decisions_total", Help: "Policy decisions taken, by verdict, reason and protocol.",
	}, []string{"decision", "reason", "protocol"})
	m.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "netpolicy_connections_active", Help: "Client connections open now: HTTP proxy connections (http), tunnels (https_connect; an upgraded HTTP request stays http) and SOCKS5 connections.",
	}, []string{"protocol"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netpolicy_bytes_total", Help: "Bytes relayed through tunnels (CONNECT, SOCKS5, upgraded requests), by direction and protocol.",
	}, []string{"direction", "protocol"})
	m.decisionSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "netpolicy_decision_seconds", Help: "Time to decide a request, DNS included.", Buckets: latencyBuckets,
	})
	m.dnsSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "netpolicy_dns_seconds", Help: "Time of DNS lookups that went to a server (cache and hosts-file answers are not counted).", Buckets: latencyBuckets,
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "netpolicy_reloads_total", Help: "Policy reloads, by result (a failed reload keeps the previous policy).",
	}, []string{"result"})
	m.rules = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "netpolicy_policy_rules", Help: "Rules of the effective policy in force (domain rules and unix-socket entries), by origin and permission.",
	}, []string{"origin", "permission"})
	m.certsMinted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "netpolicy_mitm_certs_minted_total", Help: "Leaf certificates minted for HTTPS interception.",
	})
	m.auditDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "netpolicy_audit_dropped_total", Help: "Audit events that could not be exported over OTLP (queue full or export failed).",
	})
	m.registry.MustRegister(m.decisions, m.connections, m.bytes, m.decisionSeconds, m.dnsSeconds,
		m.reloads, m.rules, m.certsMinted, m.auditDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// client_golang exports a *Vec only once it has a child.
	for _, p := range Protocols {
		m.decisions.WithLabelValues("allow", string(policy.ReasonAllowed), p)
		m.decisions.WithLabelValues("ask", string(policy.ReasonNotAllowed), p)
		for _, r := range Reasons[1:] {
			m.decisions.WithLabelValues("deny", r, p)
		}
		m.connections.WithLabelValues(p)
		for _, d := range Directions {
			m.bytes.WithLabelValues(d, p)
		}
	}
	for _, r := range ReloadResults {
		m.reloads.WithLabelValues(r)
	}
	for _, o := range RuleOrigins {
		for _, p := range RulePermissions {
			m.rules.WithLabelValues(o, p)
		}
	}
	return m
}

// Registry is the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// SetReady makes /healthz answer 200: the proxy's listeners accept.
func (m *Metrics) SetReady() { m.ready.Store(true) }

// Handler serves /metrics and /healthz (503 until SetReady).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !m.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("starting\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

func oneOf(v string, set []string) string {
	if slices.Contains(set, v) {
		return v
	}
	return "other"
}

// Decided counts one decision (the proxy calls it for every audit event).
func (m *Metrics) Decided(d policy.Decision, proto policy.Protocol) {
	m.decisions.WithLabelValues(oneOf(string(d.Verdict), Decisions), oneOf(string(d.Reason), Reasons), oneOf(string(proto), Protocols)).Inc()
}

// DecisionTook records how long one decision took.
func (m *Metrics) DecisionTook(d time.Duration) { m.decisionSeconds.Observe(d.Seconds()) }

// DNSTook records how long one DNS lookup took.
func (m *Metrics) DNSTook(d time.Duration) { m.dnsSeconds.Observe(d.Seconds()) }

// ConnOpened and ConnClosed track the client connections open now.
func (m *Metrics) ConnOpened(proto policy.Protocol) {
	m.connections.WithLabelValues(oneOf(string(proto), Protocols)).Inc()
}

// ConnClosed: see ConnOpened.
func (m *Metrics) ConnClosed(proto policy.Protocol) {
	m.connections.WithLabelValues(oneOf(string(proto), Protocols)).Dec()
}

// Moved counts n bytes relayed in one direction of a tunnel.
func (m *Metrics) Moved(proto policy.Protocol, toUpstream bool, n int64) {
	dir := "to_client"
	if toUpstream {
		dir = "to_upstream"
	}
	m.bytes.WithLabelValues(dir, oneOf(string(proto), Protocols)).Add(float64(n))
}

// Reloaded counts one reload.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
	} else {
		m.reloads.WithLabelValues("failure").Inc()
	}
}

// SetPolicy sets netpolicy_policy_rules from the effective policy in force.
func (m *Metrics) SetPolicy(e *policy.Effective) {
	counts := map[[2]string]int{}
	for _, rs := range [][]policy.Rule{e.Allow, e.Deny} {
		for _, r := range rs {
			counts[[2]string{r.Source.Origin.String(), r.Perm.String()}]++
		}
	}
	for _, s := range e.Sockets {
		counts[[2]string{s.Source.Origin.String(), s.Perm.String()}]++
	}
	for _, o := range RuleOrigins {
		for _, p := range RulePermissions {
			m.rules.WithLabelValues(o, p).Set(float64(counts[[2]string{o, p}]))
		}
	}
}

// CertMinted counts one leaf certificate minted for interception.
func (m *Metrics) CertMinted() { m.certsMinted.Inc() }

// AuditDropped counts n audit events the exporter dropped.
func (m *Metrics) AuditDropped(n int) { m.auditDropped.Add(float64(n)) }

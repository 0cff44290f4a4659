package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
	"github.com/netpolicy/netpolicy/telemetry"
	"github.com/netpolicy/netpolicy/telemetry/otlptest"
)

func noEnv(string) string { return "" }

func event(reason, rule string) proxy.AuditEvent {
	return proxy.AuditEvent{
		Name: proxy.EventDomainPolicyDecision, Timestamp: "2026-03-19T08:15:30.123Z",
		Scope: "domain_rule", Decision: "deny", Source: "baseline_policy", Reason: reason,
		Protocol: "https_connect", ServerAddress: "blocked.example.com", ServerPort: 443,
		Method: "CONNECT", ClientAddress: "127.0.0.1", Rule: rule,
	}
}

// Every audit event becomes one record: the event name, the timestamp,
// and each field as an attribute of the same name and type; a field left
// out of the JSON line (no rule) is left out of the record too.
func TestExportedRecords(t *testing.T) {
	rcv := otlptest.Start()
	defer rcv.Close()
	x, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: rcv.URL + "/base/", Getenv: noEnv, Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	x.Emit(event("denied", "blocked.example.com"))
	x.Emit(event("not_allowed", ""))
	if err := x.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := rcv.Records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	want := map[string]any{
		"network.policy.scope": "domain_rule", "network.policy.decision": "deny",
		"network.policy.source": "baseline_policy", "network.policy.reason": "denied",
		"network.transport.protocol": "https_connect", "server.address": "blocked.example.com",
		"server.port": int64(443), "http.request.method": "CONNECT", "client.address": "127.0.0.1",
		"network.policy.override": false, "network.policy.rule": "blocked.example.com",
		"event.timestamp": "2026-03-19T08:15:30.123Z",
	}
	r := recs[0]
	if r.Path != "/base/v1/logs" || r.EventName != proxy.EventDomainPolicyDecision || r.Service != "netpolicy" {
		t.Errorf("record on %s, event %q, service %q", r.Path, r.EventName, r.Service)
	}
	if !r.Time.Equal(time.Date(2026, 3, 19, 8, 15, 30, 123e6, time.UTC)) {
		t.Errorf("time %v", r.Time)
	}
	if d := cmp.Diff(want, r.Attrs); d != "" {
		t.Errorf("attributes (-want +got):\n%s", d)
	}
	if _, ok := recs[1].Attrs["network.policy.rule"]; ok || recs[1].Attrs["network.policy.reason"] != "not_allowed" {
		t.Errorf("second record %v", recs[1].Attrs)
	}
}

// The standard variables, with their specified meanings: the generic
// endpoint is a base (+ /v1/logs), the logs endpoint a full URL.
func TestEndpointVariables(t *testing.T) {
	rcv := otlptest.Start()
	defer rcv.Close()
	for _, tc := range []struct {
		name, value, path string
	}{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL + "/collector", "/collector/v1/logs"},
		{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", rcv.URL + "/exactly/here", "/exactly/here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			cfg := telemetry.ExportConfig{}
			if !cfg.Wanted() {
				t.Fatal("Wanted() = false with the variable set")
			}
			x, err := telemetry.NewExporter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			n := len(rcv.Records())
			x.Emit(event("denied", "x"))
			x.Shutdown(context.Background())
			recs := rcv.Records()
			if len(recs) != n+1 || recs[n].Path != tc.path {
				t.Errorf("records %v, want one on %s", recs[n:], tc.path)
			}
		})
	}
	if (telemetry.ExportConfig{Getenv: noEnv}).Wanted() {
		t.Error("Wanted() = true with no endpoint at all")
	}
	if _, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: "127.0.0.1:4318", Getenv: noEnv}); err == nil {
		t.Error("an endpoint without a scheme was accepted")
	}
}

// A collector that never answers costs an emitter nothing: the queue is
// bounded, what does not fit is counted as dropped, and Shutdown gives up
// at its deadline, counting what it could not send.
func TestDeadCollector(t *testing.T) {
	rcv := otlptest.StartDead()
	defer rcv.Close()
	var dropped atomic.Int64
	x, err := telemetry.NewExporter(telemetry.ExportConfig{
		Endpoint: rcv.URL, Getenv: noEnv, QueueSize: 100, BatchSize: 10, ExportEvery: 10 * time.Millisecond,
		Dropped: func(n int) { dropped.Add(int64(n)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var worst time.Duration
	start := time.Now()
	for range n {
		t0 := time.Now()
		x.Emit(event("denied", "blocked.example.com"))
		worst = max(worst, time.Since(t0))
	}
	total := time.Since(start)
	if worst > 100*time.Millisecond || total > 3*time.Second {
		t.Errorf("emitting %d events took %v (worst %v): a dead collector delays the emitter", n, total, worst)
	}
	if dropped.Load() < n-200 {
		t.Errorf("dropped %d of %d with a queue of 100 and a dead collector", dropped.Load(), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := x.Shutdown(ctx); err == nil {
		t.Error("Shutdown reported success with a dead collector")
	}
	if el := time.Since(t0); el > time.Second {
		t.Errorf("Shutdown took %v with a 200ms deadline", el)
	}
	if got := dropped.Load(); got != n {
		t.Errorf("dropped %d, want all %d (none was delivered)", got, n)
	}
	if rcv.Requests() == 0 {
		t.Error("the exporter never tried the collector")
	}
}

// Through the proxy: with a dead collector every request is still answered
// at once.
func TestDeadCollectorNeverDelaysARequest(t *testing.T) {
	rcv := otlptest.StartDead()
	defer rcv.Close()
	// An export waits a minute for the collector that never answers: a
	// request that waited for the export would take that long (and fail
	// at the client's 5 s timeout), so the bound below can leave a loaded
	// machine plenty of room and still tell the two apart.
	var dropped atomic.Int64
	x, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: rcv.URL, Getenv: noEnv, QueueSize: 64, BatchSize: 8,
		ExportEvery: 5 * time.Millisecond, ExportTimeout: time.Minute, Dropped: func(n int) { dropped.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		x.Shutdown(ctx)
	}()
	e := &policy.Effective{SessionMode: policy.ModeWorkspaceWrite, OnMiss: policy.Setting[policy.OnMiss]{Value: policy.MissAsk}}
	e.Enabled.Value, e.Mode.Value = true, "full"
	e.Deny = []policy.Rule{{Pattern: "blocked.example.com", Perm: policy.Deny}}
	c, err := policy.Compile(e)
	if err != nil {
		t.Fatal(err)
	}
	srv := &proxy.Server{Events: func(ev proxy.AuditEvent) { x.Emit(ev) }, Logf: t.Logf}
	srv.SetPolicy(c)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	pu, _ := url.Parse("http://" + l.Addr().String())
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 5 * time.Second}
	var worst time.Duration
	for range 300 {
		t0 := time.Now()
		resp, err := client.Get("http://blocked.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		worst = max(worst, time.Since(t0))
	}
	if worst > 2*time.Second {
		t.Errorf("slowest request took %v with a dead collector", worst)
	}
	if rcv.Requests() == 0 {
		t.Error("no export was attempted")
	}
	// The exporter was stuck while the requests went on: the queue filled
	// and the records past it were dropped, not waited for.
	if dropped.Load() == 0 {
		t.Error("no record was dropped: the exporter was not stuck, or the requests waited for it")
	}
}

func BenchmarkEmit(b *testing.B) {
	rcv := otlptest.Start()
	defer rcv.Close()
	x, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: rcv.URL, Getenv: noEnv})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Shutdown(context.Background())
	ev := event("denied", "blocked.example.com")
	b.ReportAllocs()
	for b.Loop() {
		x.Emit(ev)
	}
}

// The request path only queues: the worker is woken once a whole batch is
// waiting and sends it, and a part batch waits for the tick (or a flush).
// Queueing an event allocates nothing beyond the event itself.
func TestEmitQueuesBatches(t *testing.T) {
	rcv := otlptest.Start()
	defer rcv.Close()
	x, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: rcv.URL, Getenv: noEnv, BatchSize: 10, ExportEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Shutdown(context.Background())
	for range 25 {
		x.Emit(event("denied", "blocked.example.com"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rcv.Records()) < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a wrong third request
	if n, req := len(rcv.Records()), rcv.Requests(); n != 20 || req != 2 {
		t.Fatalf("before the tick: %d records in %d requests, want 20 in 2 (two whole batches)", n, req)
	}
	if err := x.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, req := len(rcv.Records()), rcv.Requests(); n != 25 || req != 3 {
		t.Errorf("after a flush: %d records in %d requests, want 25 in 3", n, req)
	}

	y, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: rcv.URL, Getenv: noEnv, QueueSize: 1 << 20, BatchSize: 1 << 20, ExportEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Shutdown(context.Background())
	var ev any = event("denied", "blocked.example.com")
	if a := testing.AllocsPerRun(1000, func() { y.Emit(ev) }); a > 0.1 {
		t.Errorf("Emit allocates %.2f times per event; the record is made in the background", a)
	}
}

// Shutdown returns within its deadline while events keep coming, and every
// event is either delivered or counted as dropped (a batch cut off at the
// deadline may have reached the collector all the same: it is counted as
// dropped, never lost).
func TestShutdownUnderLoad(t *testing.T) {
	rcv := otlptest.Start()
	defer rcv.Close()
	var dropped atomic.Int64
	x, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: rcv.URL, Getenv: noEnv, QueueSize: 1 << 14, BatchSize: 10,
		ExportEvery: time.Millisecond, Dropped: func(n int) { dropped.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	var emitted atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ev := event("denied", "blocked.example.com")
		for range 200000 {
			select {
			case <-stop:
				return
			default:
			}
			x.Emit(ev)
			emitted.Add(1)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	x.Shutdown(ctx)
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("Shutdown took %v under load with a 300ms deadline", el)
	}
	close(stop)
	<-done
	got := int64(len(rcv.Records()))
	if sum := got + dropped.Load(); sum < emitted.Load() || sum > emitted.Load()+10 {
		t.Errorf("emitted %d, delivered %d + dropped %d = %d, want the emitted count (at most one batch of 10 more)", emitted.Load(), got, dropped.Load(), sum)
	}
	if got == 0 {
		t.Error("nothing was delivered")
	}
}

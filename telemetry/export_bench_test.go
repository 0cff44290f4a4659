package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/netpolicy/netpolicy/proxy"
	"github.com/netpolicy/netpolicy/telemetry"
)

// theBenchEvent is the audit event of an allowed plain-HTTP request:
// twelve attributes.
var theBenchEvent = &proxy.AuditEvent{
	Name: proxy.EventDomainPolicyDecision, Timestamp: "2026-03-19T08:15:30.123Z",
	Scope: "domain_rule", Decision: "allow", Source: "baseline_policy", Reason: "allowed",
	Protocol: "http", ServerAddress: "registry.example.com", ServerPort: 80,
	Method: "GET", ClientAddress: "127.0.0.1:50123", Rule: "registry.example.com",
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// keepProcessor keeps the records the SDK hands it, for the export stage.
type keepProcessor struct{ recs []sdklog.Record }

func (p *keepProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (p *keepProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	if p.recs != nil {
		p.recs = append(p.recs, r.Clone())
	}
	return nil
}
func (p *keepProcessor) Shutdown(context.Context) error   { return nil }
func (p *keepProcessor) ForceFlush(context.Context) error { return nil }

// BenchmarkExportStages is what one audit event costs on its way to an
// OTLP/HTTP collector, stage by stage, in CPU time of the whole process per
// record (cpu-ns/record; the collector is an in-process server that reads
// and discards the body):
//
//   - record: our part, the event's fields made into a log record;
//   - sdk: the logs SDK taking that record (its lifecycle and copy of the
//     attributes) and handing it to a processor;
//   - export: the OTLP/HTTP exporter sending records in batches of 512
//     (its transform into the OTLP protobuf types, proto.Marshal, the POST);
//   - all: the Exporter of this package end to end, queue and worker
//     included, flushed every 512 events.
//
// Every event of a plain-HTTP request is one record; the request itself
// costs the proxy about 120 µs of CPU (bench/telemetry.sh), so this is the
// floor of what exporting every event can cost it.
func BenchmarkExportStages(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	perRecord := func(b *testing.B, cpu0 time.Duration, n int) {
		b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/record")
	}

	b.Run("record", func(b *testing.B) {
		b.ReportAllocs()
		now := time.Now()
		cpu0 := processCPU()
		n := 0
		for b.Loop() {
			r := telemetry.Record(theBenchEvent, now)
			if r.AttributesLen() != 12 {
				b.Fatalf("%d attributes, want 12", r.AttributesLen())
			}
			n++
		}
		perRecord(b, cpu0, n)
	})

	b.Run("sdk", func(b *testing.B) {
		provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(&keepProcessor{}), sdklog.WithAllowKeyDuplication())
		defer provider.Shutdown(context.Background())
		logger := provider.Logger("bench")
		r := telemetry.Record(theBenchEvent, time.Now())
		b.ReportAllocs()
		cpu0 := processCPU()
		n := 0
		for b.Loop() {
			logger.Emit(context.Background(), r)
			n++
		}
		perRecord(b, cpu0, n)
	})

	b.Run("export", func(b *testing.B) {
		exp, err := otlploghttp.New(context.Background(), otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"),
			otlploghttp.WithProxy(func(*http.Request) (*url.URL, error) { return nil, nil }))
		if err != nil {
			b.Fatal(err)
		}
		defer exp.Shutdown(context.Background())
		keep := &keepProcessor{recs: []sdklog.Record{}}
		provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(keep), sdklog.WithAllowKeyDuplication())
		defer provider.Shutdown(context.Background())
		logger := provider.Logger("bench")
		for range telemetry.DefaultBatchSize {
			logger.Emit(context.Background(), telemetry.Record(theBenchEvent, time.Now()))
		}
		b.ReportAllocs()
		cpu0 := processCPU()
		n := 0
		for b.Loop() {
			if err := exp.Export(context.Background(), keep.recs); err != nil {
				b.Fatal(err)
			}
			n += len(keep.recs)
		}
		perRecord(b, cpu0, n)
	})

	b.Run("all", func(b *testing.B) {
		x, err := telemetry.NewExporter(telemetry.ExportConfig{Endpoint: srv.URL, Getenv: func(string) string { return "" }, QueueSize: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		defer x.Shutdown(context.Background())
		var ev any = theBenchEvent
		b.ReportAllocs()
		cpu0 := processCPU()
		n := 0
		for b.Loop() {
			x.Emit(ev)
			if n++; n%telemetry.DefaultBatchSize == 0 {
				x.ForceFlush(context.Background())
			}
		}
		x.ForceFlush(context.Background())
		perRecord(b, cpu0, n)
	})
}

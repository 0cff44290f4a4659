package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
	"github.com/netpolicy/netpolicy/telemetry"
)

// telemetryFlags are serve's (and exec's) --metrics and --otlp-endpoint
// (POLICY §9).
func telemetryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on /metrics and liveness on /healthz at `ADDR` (host:port, clamped to loopback like the proxy listeners; unauthenticated)"},
		&cli.StringFlag{Name: "otlp-endpoint", Usage: "export audit events as OpenTelemetry log records over OTLP/HTTP to `URL`/v1/logs (default: the OTEL_EXPORTER_OTLP_* variables; none set: no export)"},
	}
}

// telemetryRun is the metrics and OTLP side of one proxy run.
type telemetryRun struct {
	export  *telemetry.Exporter // nil without an OTLP endpoint
	metrics *telemetry.Metrics  // nil without --metrics
	addr    string              // the clamped --metrics address
	l       net.Listener
	srv     *http.Server
	done    chan struct{}
}

// setupTelemetry creates the metrics of --metrics and the OTLP exporter
// of --otlp-endpoint (or the OpenTelemetry variables) and hooks them into
// the proxy; nothing listens yet.
func (s *server) setupTelemetry(c *cli.Context) error {
	if addr := c.String("metrics"); addr != "" {
		a, err := s.clampFlag("--metrics", addr, s.eff)
		if err != nil {
			return err
		}
		s.tel.addr = a
		s.tel.metrics = telemetry.NewMetrics()
		s.tel.metrics.SetPolicy(s.eff)
		s.proxy.Observer = s.tel.metrics
	}
	cfg := telemetry.ExportConfig{Endpoint: c.String("otlp-endpoint"), Getenv: s.e.getenv, Version: c.App.Version}
	if !cfg.Wanted() {
		return nil
	}
	if m := s.tel.metrics; m != nil {
		cfg.Dropped = m.AuditDropped
	}
	x, err := telemetry.NewExporter(cfg)
	if err != nil {
		return exitCode(exitUsage, "netpolicy %s: --otlp-endpoint: %v", s.name, err)
	}
	s.tel.export = x
	s.cleanup = append(s.cleanup, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		x.Shutdown(ctx) // a no-op after stopTelemetry's
	})
	s.proxy.Events = func(ev proxy.AuditEvent) { x.Emit(ev) }
	return nil
}

// dnsObserver is the resolver's hook for netpolicy_dns_seconds.
func (s *server) dnsObserver() func(time.Duration) {
	if s.tel.metrics == nil {
		return nil
	}
	return s.tel.metrics.DNSTook
}

// bindMetrics opens the metrics listener.
func (s *server) bindMetrics() error {
	if s.tel.metrics == nil {
		return nil
	}
	l, err := net.Listen("tcp", s.tel.addr)
	if err != nil {
		return exitCode(exitUsage, "netpolicy %s: metrics listener: %v", s.name, err)
	}
	s.tel.l = l
	s.cleanup = append(s.cleanup, func() { l.Close() })
	// The metrics listener is one of the proxy's own: a request for it
	// through the proxy is a loop (POLICY §5).
	if err := s.proxy.AddOwnListener(l.Addr().String()); err != nil {
		return exitCode(exitUsage, "netpolicy %s: %v", s.name, err)
	}
	return nil
}

// startMetrics serves /metrics and /healthz; /healthz answers 200 from now
// on, since the proxy's listeners are bound and served.
func (s *server) startMetrics() {
	if s.tel.l == nil {
		return
	}
	s.tel.srv = &http.Server{Handler: s.tel.metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.tel.done = make(chan struct{})
	go func() {
		defer close(s.tel.done)
		if err := s.tel.srv.Serve(s.tel.l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log("metrics listener: %v", err)
		}
	}()
	s.tel.metrics.SetReady()
}

// metricsAddr is the metrics listener's address, "" without one.
func (s *server) metricsAddr() string {
	if s.tel.l == nil {
		return ""
	}
	return s.tel.l.Addr().String()
}

// stopTelemetry sends the audit events still queued for OTLP within ctx
// (what is left of --grace) and stops the metrics listener, after the
// proxy stopped.
func (s *server) stopTelemetry(ctx context.Context) {
	if s.tel.export != nil {
		if err := s.tel.export.Shutdown(ctx); err != nil {
			s.log("OTLP export: could not send every queued audit event before the grace period ended: %v", err)
		}
	}
	if s.tel.srv != nil {
		_ = s.tel.srv.Shutdown(ctx)
		<-s.tel.done
	} else if s.tel.l != nil {
		s.tel.l.Close()
	}
}

// reloaded counts a reload and, when it took, the rules now in force.
func (s *server) reloaded(eff *policy.Effective, ok bool) {
	if m := s.tel.metrics; m != nil {
		m.Reloaded(ok)
		if ok {
			m.SetPolicy(eff)
		}
	}
}

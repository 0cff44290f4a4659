package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Defaults of the OTLP export.
const (
	DefaultQueueSize     = 4096
	DefaultBatchSize     = 512
	DefaultExportEvery   = time.Second
	DefaultExportTimeout = 10 * time.Second
)

// ExportConfig says where audit events go. The zero value of each field
// has the meaning documented on it.
type ExportConfig struct {
	// Endpoint is --otlp-endpoint: a base URL; records go to
	// Endpoint/v1/logs. If "", the OpenTelemetry variables decide
	// (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT as the full URL, else
	// OTEL_EXPORTER_OTLP_ENDPOINT + /v1/logs), read by the SDK with their
	// specified meanings, as are the other OTEL_EXPORTER_OTLP_* variables.
	Endpoint string
	// Getenv reads the environment (os.Getenv if nil); only to decide
	// whether the variables ask for an export at all.
	Getenv func(string) string
	// QueueSize bounds the records waiting for export (DefaultQueueSize
	// if zero); BatchSize is the most sent in one request
	// (DefaultBatchSize), ExportEvery how long a record may wait for a
	// fuller batch (DefaultExportEvery).
	QueueSize   int
	BatchSize   int
	ExportEvery time.Duration
	// ExportTimeout bounds one export request (DefaultExportTimeout).
	ExportTimeout time.Duration
	// Dropped, if set, is called with the number of records that were not
	// delivered: the queue was full, or an export failed.
	Dropped func(n int)
	// Version is the service.version of the records' resource.
	Version string
}

// Wanted reports whether cfg asks for an export: an endpoint, or one of
// the two endpoint variables.
func (cfg ExportConfig) Wanted() bool {
	get := cfg.Getenv
	if get == nil {
		get = os.Getenv
	}
	return cfg.Endpoint != "" || get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// LogsURL is the URL records go to for an --otlp-endpoint base URL.
func LogsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("want an http:// or https:// base URL, e.g. http://127.0.0.1:4318")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/logs"
	return u.String(), nil
}

// Exporter sends audit events as OpenTelemetry log records over OTLP/HTTP
// (POLICY §9): the event name is the record's event name, and each field of
// the event an attribute of the same name. Emit never blocks: records wait
// in a bounded queue and a background worker sends them in batches; what
// does not fit, or fails to send, is counted as dropped.
type Exporter struct {
	provider *sdklog.LoggerProvider
	logger   otellog.Logger
	proc     *queueProcessor
}

// NewExporter starts an exporter for cfg. It connects directly: the proxy
// variables (HTTP_PROXY…) of the environment are never used.
func NewExporter(cfg ExportConfig) (*Exporter, error) {
	opts := []otlploghttp.Option{
		otlploghttp.WithProxy(func(*http.Request) (*url.URL, error) { return nil, nil }),
	}
	if cfg.Endpoint != "" {
		u, err := LogsURL(cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlploghttp.WithEndpointURL(u))
	}
	timeout := cfg.ExportTimeout
	if timeout <= 0 {
		timeout = DefaultExportTimeout
	}
	opts = append(opts, otlploghttp.WithTimeout(timeout))
	exp, err := otlploghttp.New(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	proc := newQueueProcessor(exp, cfg, timeout)
	res := resource.NewSchemaless(semconv.ServiceName("netpolicy"), semconv.ServiceVersion(cfg.Version))
	// Field names are unique: the SDK need not look for duplicate keys.
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc), sdklog.WithResource(res), sdklog.WithAllowKeyDuplication())
	return &Exporter{provider: provider, logger: provider.Logger("github.com/netpolicy/netpolicy/proxy"), proc: proc}, nil
}

// Emit queues one audit event: ev is a struct whose fields carry json tags
// with the event's dotted names (proxy.AuditEvent); "event.name" becomes
// the record's event name, "event.timestamp" its timestamp, every other
// field an attribute. Fields tagged omitempty are left out when empty.
func (x *Exporter) Emit(ev any) {
	var r otellog.Record
	r.SetObservedTimestamp(time.Now())
	r.SetSeverity(otellog.SeverityInfo)
	var buf [16]attribute.KeyValue // an audit event has fewer fields
	attrs := buf[:0]
	walkEvent(ev, func(key string, v reflect.Value) {
		switch key {
		case "event.name":
			r.SetEventName(v.String())
			return
		case "event.timestamp":
			if t, err := time.Parse(time.RFC3339Nano, v.String()); err == nil {
				r.SetTimestamp(t)
			}
		}
		switch v.Kind() {
		case reflect.String:
			attrs = append(attrs, attribute.String(key, v.String()))
		case reflect.Int, reflect.Int64, reflect.Int32:
			attrs = append(attrs, attribute.Int64(key, v.Int()))
		case reflect.Bool:
			attrs = append(attrs, attribute.Bool(key, v.Bool()))
		}
	})
	r.AddAttributes(attrs...)
	x.logger.Emit(context.Background(), r)
}

// fieldsCache holds the json names of each event type's fields.
var fieldsCache sync.Map // reflect.Type → []eventField

type eventField struct {
	index     int
	name      string
	omitEmpty bool
}

// walkEvent calls f with the json name and value of each field of the
// struct ev (or *ev), dereferencing pointers and skipping nil ones and
// empty omitempty fields.
func walkEvent(ev any, f func(string, reflect.Value)) {
	v := reflect.ValueOf(ev)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	fields, ok := fieldsCache.Load(v.Type())
	if !ok {
		var fs []eventField
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" || name == "-" || !sf.IsExported() {
				continue
			}
			fs = append(fs, eventField{i, name, strings.Contains(opts, "omitempty")})
		}
		fields, _ = fieldsCache.LoadOrStore(v.Type(), fs)
	}
	for _, fd := range fields.([]eventField) {
		fv := v.Field(fd.index)
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				continue
			}
			fv = fv.Elem()
		}
		if fd.omitEmpty && fv.IsZero() {
			continue
		}
		f(fd.name, fv)
	}
}

// Shutdown sends what is queued, within ctx, and stops the exporter.
// Records still queued when ctx ends are counted as dropped.
func (x *Exporter) Shutdown(ctx context.Context) error {
	return x.provider.Shutdown(ctx)
}

// ForceFlush sends what is queued now, within ctx.
func (x *Exporter) ForceFlush(ctx context.Context) error {
	return x.provider.ForceFlush(ctx)
}

// queueProcessor is an sdklog.Processor with a bounded queue that never
// blocks the emitter and counts every record it does not deliver (the
// SDK's batch processor drops silently when its queue is full).
type queueProcessor struct {
	exp     sdklog.Exporter
	queue   chan sdklog.Record
	batch   int
	every   time.Duration
	timeout time.Duration
	dropped func(int)

	// ctx is cancelled when Shutdown's deadline has passed: it aborts an
	// export in flight, so that stopping never waits for a dead collector
	// longer than the caller allows.
	ctx    context.Context
	cancel context.CancelFunc
	flush  chan chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newQueueProcessor(exp sdklog.Exporter, cfg ExportConfig, timeout time.Duration) *queueProcessor {
	p := &queueProcessor{
		exp: exp, queue: make(chan sdklog.Record, orDefault(cfg.QueueSize, DefaultQueueSize)),
		batch: orDefault(cfg.BatchSize, DefaultBatchSize), every: cfg.ExportEvery, timeout: timeout,
		dropped: cfg.Dropped,
		flush:   make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if p.every <= 0 {
		p.every = DefaultExportEvery
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if p.dropped == nil {
		p.dropped = func(int) {}
	}
	go p.run()
	return p
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Enabled implements sdklog.Processor.
func (p *queueProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

// OnEmit implements sdklog.Processor: queue a copy, or count it dropped.
func (p *queueProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	select {
	case <-p.stop:
		p.dropped(1)
		return nil
	default:
	}
	select {
	case p.queue <- r.Clone():
	default:
		p.dropped(1)
	}
	return nil
}

func (p *queueProcessor) run() {
	defer close(p.done)
	t := time.NewTicker(p.every)
	defer t.Stop()
	buf := make([]sdklog.Record, 0, p.batch)
	send := func() {
		if len(buf) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
		err := p.exp.Export(ctx, buf)
		cancel()
		if err != nil {
			p.dropped(len(buf))
		}
		buf = buf[:0]
	}
	add := func(r sdklog.Record) {
		buf = append(buf, r)
		if len(buf) == p.batch {
			send()
		}
	}
	drain := func() {
		for {
			select {
			case r := <-p.queue:
				add(r)
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case r := <-p.queue:
			add(r)
		case <-t.C:
			send()
		case ack := <-p.flush:
			drain()
			close(ack)
		case <-p.stop:
			p.dropped(len(buf)) // taken from the queue after the flush
			return
		}
	}
}

// ForceFlush implements sdklog.Processor.
func (p *queueProcessor) ForceFlush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case p.flush <- ack:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown implements sdklog.Processor: flush within ctx, then stop; what
// could not be sent by then is counted as dropped.
func (p *queueProcessor) Shutdown(ctx context.Context) error {
	err := p.ForceFlush(ctx)
	p.cancel() // whatever is still being sent has had its time
	p.once.Do(func() { close(p.stop) })
	<-p.done
	if n := len(p.queue); n > 0 {
		p.dropped(n)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if serr := p.exp.Shutdown(sctx); err == nil {
		err = serr
	}
	return err
}

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
// the event an attribute of the same name. Emit never blocks: events wait
// in a bounded queue and a background worker makes them into records (the
// logs SDK) and sends them in batches; what does not fit, or fails to send,
// is counted as dropped.
//
// The request path only queues the event: turning it into a record (the
// SDK's lifecycle lock, the attribute copies, the clone a processor must
// keep) and encoding it all happen in the worker, which is woken once per
// batch rather than once per event.
type Exporter struct {
	provider *sdklog.LoggerProvider
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
	proc.start(provider.Logger("github.com/netpolicy/netpolicy/proxy"))
	return &Exporter{provider: provider, proc: proc}, nil
}

// Emit queues one audit event: ev is a struct whose fields carry json tags
// with the event's dotted names (proxy.AuditEvent); "event.name" becomes
// the record's event name, "event.timestamp" its timestamp, every other
// field an attribute. Fields tagged omitempty are left out when empty. The
// record's observed time is the time of the call.
func (x *Exporter) Emit(ev any) { x.proc.enqueue(ev, time.Now()) }

// record makes the log record of an event queued at observed.
func record(ev any, observed time.Time) otellog.Record {
	var r otellog.Record
	r.SetObservedTimestamp(observed)
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
	return r
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
// Events still queued when ctx ends are counted as dropped.
func (x *Exporter) Shutdown(ctx context.Context) error {
	// The SDK takes no record once its provider is shutting down: what is
	// queued goes through it first (the provider's own call of
	// proc.Shutdown then finds it stopped).
	err := x.proc.Shutdown(ctx)
	if perr := x.provider.Shutdown(ctx); err == nil {
		err = perr
	}
	return err
}

// ForceFlush sends what is queued now, within ctx.
func (x *Exporter) ForceFlush(ctx context.Context) error {
	return x.proc.ForceFlush(ctx)
}

// queueProcessor is the export's queue and worker, and the sdklog.Processor
// of its provider. Events wait in a bounded queue that never blocks the
// emitter and counts every event it does not deliver (the SDK's batch
// processor drops silently when its queue is full); the worker makes them
// into records through the SDK's logger, which hands each back to OnEmit,
// and sends the records in batches. Only the worker emits through that
// logger, so OnEmit and the batch are the worker's alone.
type queueProcessor struct {
	exp     sdklog.Exporter
	logger  otellog.Logger
	size    int // the most events queued
	batch   int
	every   time.Duration
	timeout time.Duration
	dropped func(int)

	mu      sync.Mutex
	pending []queued
	spare   []queued      // the worker's: the previous pending, emptied
	kick    chan struct{} // a batch is queued

	buf     []sdklog.Record // the worker's: records waiting for a send
	emitted int             // the worker's: records OnEmit got

	// ctx is cancelled when Shutdown's deadline has passed: it aborts an
	// export in flight, so that stopping never waits for a dead collector
	// longer than the caller allows.
	ctx      context.Context
	cancel   context.CancelFunc
	flush    chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	haltOnce sync.Once
}

// queued is an event waiting for the worker, with the time it was emitted.
type queued struct {
	ev any
	at time.Time
}

func newQueueProcessor(exp sdklog.Exporter, cfg ExportConfig, timeout time.Duration) *queueProcessor {
	p := &queueProcessor{
		exp: exp, size: orDefault(cfg.QueueSize, DefaultQueueSize),
		batch: orDefault(cfg.BatchSize, DefaultBatchSize), every: cfg.ExportEvery, timeout: timeout,
		dropped: cfg.Dropped, kick: make(chan struct{}, 1),
		flush: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if p.every <= 0 {
		p.every = DefaultExportEvery
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if p.dropped == nil {
		p.dropped = func(int) {}
	}
	return p
}

// start runs the worker, which emits through logger.
func (p *queueProcessor) start(logger otellog.Logger) {
	p.logger = logger
	go p.run()
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// enqueue queues an event, or counts it dropped when the queue is full or
// the exporter has stopped. It wakes the worker only when a whole batch is
// waiting; a part batch waits for the next tick.
func (p *queueProcessor) enqueue(ev any, at time.Time) {
	p.mu.Lock()
	if p.stopping() || len(p.pending) >= p.size {
		p.mu.Unlock()
		p.dropped(1)
		return
	}
	p.pending = append(p.pending, queued{ev, at})
	full := len(p.pending) >= p.batch
	p.mu.Unlock()
	if full {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// Enabled implements sdklog.Processor.
func (p *queueProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

// OnEmit implements sdklog.Processor: it is called in the worker (take),
// and keeps a copy of r for the next batch, sending the batch when full.
func (p *queueProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	p.emitted++
	p.buf = append(p.buf, r.Clone())
	if len(p.buf) >= p.batch {
		p.send()
	}
	return nil
}

// send exports the batch; a batch that fails is counted as dropped.
func (p *queueProcessor) send() {
	if len(p.buf) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	err := p.exp.Export(ctx, p.buf)
	cancel()
	if err != nil {
		p.dropped(len(p.buf))
	}
	clear(p.buf)
	p.buf = p.buf[:0]
}

// take makes every queued event into a record (sending full batches on
// the way), and, with all, sends the last part batch too. It goes on while
// a whole batch is queued again, until the exporter stops: everything
// queued when it was called is taken by its first pass.
func (p *queueProcessor) take(all bool) {
	for {
		p.mu.Lock()
		evs := p.pending
		p.pending, p.spare = p.spare, nil
		p.mu.Unlock()
		stopped := false
		for i := range evs {
			if stopped = p.stopping(); stopped {
				p.dropped(len(evs) - i) // Shutdown counts only what is still queued
				break
			}
			before := p.emitted
			p.logger.Emit(context.Background(), record(evs[i].ev, evs[i].at))
			if p.emitted == before {
				p.dropped(1) // the provider is shutting down
			}
		}
		clear(evs)
		p.spare = evs[:0]
		if stopped {
			return
		}
		p.mu.Lock()
		again := len(p.pending) >= p.batch
		p.mu.Unlock()
		if !again || p.stopping() {
			break
		}
	}
	if all {
		p.send()
	}
}

// stopping reports whether Shutdown has begun to stop the worker.
func (p *queueProcessor) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *queueProcessor) run() {
	defer close(p.done)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.kick:
			p.take(false)
		case <-t.C:
			p.take(true)
		case ack := <-p.flush:
			p.take(true)
			close(ack)
		case <-p.stop:
			p.dropped(len(p.buf)) // made into records after the flush
			return
		}
	}
}

// ForceFlush implements sdklog.Processor: everything queued is sent
// before it returns, unless ctx ends first.
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

// Shutdown implements sdklog.Processor: flush within ctx, then stop the
// worker, aborting an export in flight, and count what is left queued as
// dropped (later events are dropped at once); then shut the exporter down.
// Only the first call stops anything.
func (p *queueProcessor) Shutdown(ctx context.Context) error {
	err := p.ForceFlush(ctx)
	p.haltOnce.Do(func() {
		p.cancel() // whatever is still being sent has had its time
		close(p.stop)
		<-p.done
		p.mu.Lock()
		n := len(p.pending)
		p.pending = nil
		p.mu.Unlock()
		if n > 0 {
			p.dropped(n)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = p.exp.Shutdown(sctx)
	})
	return err
}

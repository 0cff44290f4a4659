// Package otlptest is an OTLP/HTTP logs receiver on a loopback address for
// tests: it decodes the protobuf requests an exporter sends and keeps the
// records, or, when told to, never answers (a dead collector).
package otlptest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Record is one received log record.
type Record struct {
	Path      string // the request path it came on
	EventName string
	Time      time.Time
	// Attrs holds the attributes: string, int64, bool or float64 values.
	Attrs map[string]any
	// Service is the resource's service.name.
	Service string
}

// Receiver is a running receiver.
type Receiver struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	records  []Record
	requests int
	hang     chan struct{} // non-nil: never answer until Close
	got      chan struct{}
}

// Start starts a receiver that answers every request with success.
func Start() *Receiver { return start(false) }

// StartDead starts a receiver that accepts connections and requests but
// never answers them (until Close).
func StartDead() *Receiver { return start(true) }

func start(dead bool) *Receiver {
	r := &Receiver{got: make(chan struct{}, 1)}
	if dead {
		r.hang = make(chan struct{})
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	return r
}

// Close stops the receiver (and releases the requests a dead one holds).
func (r *Receiver) Close() {
	if r.hang != nil {
		close(r.hang)
	}
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	r.mu.Unlock()
	if r.hang != nil {
		select {
		case <-r.hang:
		case <-req.Context().Done():
		}
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg collogs.ExportLogsServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var recs []Record
	for _, rl := range msg.ResourceLogs {
		service := ""
		for _, kv := range rl.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.Value.GetStringValue()
			}
		}
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				rec := Record{Path: req.URL.Path, EventName: lr.EventName, Time: time.Unix(0, int64(lr.TimeUnixNano)).UTC(), Attrs: map[string]any{}, Service: service}
				for _, kv := range lr.Attributes {
					rec.Attrs[kv.Key] = value(kv.Value)
				}
				recs = append(recs, rec)
			}
		}
	}
	r.mu.Lock()
	r.records = append(r.records, recs...)
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
	out, _ := proto.Marshal(&collogs.ExportLogsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func value(v *common.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *common.AnyValue_StringValue:
		return x.StringValue
	case *common.AnyValue_IntValue:
		return x.IntValue
	case *common.AnyValue_BoolValue:
		return x.BoolValue
	case *common.AnyValue_DoubleValue:
		return x.DoubleValue
	}
	return nil
}

// Records returns the records received so far.
func (r *Receiver) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.records...)
}

// Requests returns how many export requests came in (answered or not).
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// WaitRecords waits up to d until at least n records came in, and returns
// them.
func (r *Receiver) WaitRecords(n int, d time.Duration) []Record {
	deadline := time.Now().Add(d)
	for {
		recs := r.Records()
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		select {
		case <-r.got:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

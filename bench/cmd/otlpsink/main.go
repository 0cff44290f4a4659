// Command otlpsink is the benchmark's OpenTelemetry collector: an OTLP/HTTP
// logs receiver on a loopback address that decodes every export request
// (as a collector must) and counts its records, keeping nothing. The
// telemetry figure (bench/telemetry.sh) points netpolicy's --otlp-endpoint
// at it, and reads GET /count ({"requests":N,"records":M}) to check that
// the records of the measured requests did arrive.
//
// It writes {"otlp":"http://127.0.0.1:PORT"} to -ready-file once it
// answers, and its counts to stderr when stopped.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"sync/atomic"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/netpolicy/netpolicy/bench/internal/benchnet"
)

// maxBody bounds one export request (the exporter's batches are far
// smaller).
const maxBody = 64 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	ready := flag.String("ready-file", "", "write the base URL here as JSON once listening")
	flag.Parse()

	l, err := benchnet.ListenLoopback(*addr)
	if err != nil {
		log.Fatalf("otlpsink: %v", err)
	}
	var requests, records, bad atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		var msg collogs.ExportLogsServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &msg)
		}
		if err != nil {
			bad.Add(1)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := 0
		for _, rl := range msg.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				n += len(sl.LogRecords)
			}
		}
		records.Add(int64(n))
		out, _ := proto.Marshal(&collogs.ExportLogsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{"requests": requests.Load(), "records": records.Load(), "bad": bad.Load()})
	})
	go http.Serve(l, mux)
	if err := benchnet.Serve("otlpsink", *ready, map[string]string{"otlp": "http://" + l.Addr().String()}); err != nil {
		log.Fatal(err)
	}
	log.Printf("otlpsink: %d requests, %d records, %d undecodable", requests.Load(), records.Load(), bad.Load())
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/netpolicy/netpolicy/telemetry/otlptest"
)

// otlpReceivers holds the OTLP receiver of each running script.
var otlpReceivers sync.Map // *testscript.TestScript → *otlptest.Receiver

func init() {
	// otlpreceiver: start an OTLP/HTTP logs receiver on 127.0.0.1 for this
	// script and set $OTLP to its base URL.
	scriptCmds["otlpreceiver"] = func(ts *testscript.TestScript, neg bool, args []string) {
		r := otlptest.Start()
		ts.Defer(r.Close)
		otlpReceivers.Store(ts, r)
		ts.Defer(func() { otlpReceivers.Delete(ts) })
		ts.Setenv("OTLP", r.URL)
	}
	// otlprecords: print the records received, one per line: path, event
	// name, then the attributes as key=value in name order.
	scriptCmds["otlprecords"] = func(ts *testscript.TestScript, neg bool, args []string) {
		v, ok := otlpReceivers.Load(ts)
		if !ok {
			ts.Fatalf("otlprecords: no otlpreceiver in this script")
		}
		for _, r := range v.(*otlptest.Receiver).Records() {
			keys := make([]string, 0, len(r.Attrs))
			for k := range r.Attrs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s service=%s", r.Path, r.EventName, r.Service)
			for _, k := range keys {
				fmt.Fprintf(&b, " %s=%v", k, r.Attrs[k])
			}
			fmt.Fprintln(ts.Stdout(), b.String())
		}
	}
	// scrape URL: GET URL directly (not through the proxy) and print the
	// status code, then the body's lines that start with netpolicy_ (for
	// /metrics) or the whole body (anything else).
	scriptCmds["scrape"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: scrape URL")
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
		resp, err := c.Get(args[0])
		ts.Check(err)
		defer resp.Body.Close()
		fmt.Fprintf(ts.Stdout(), "%d\n", resp.StatusCode)
		if !strings.HasSuffix(args[0], "/metrics") {
			io.Copy(ts.Stdout(), resp.Body)
			return
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "netpolicy_") {
				fmt.Fprintln(ts.Stdout(), sc.Text())
			}
		}
	}
}

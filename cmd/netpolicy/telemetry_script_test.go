package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
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

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// httpClient is one keep-alive HTTP/1.1 connection along the route, written
// by hand so the client spends as little CPU as possible next to the proxy.
type httpClient struct {
	c          *config
	target     string // host:port the route is asked for
	conn       *conn
	br         *bufio.Reader
	req        []byte
	scratch    []byte
	deadline   time.Time // hard stop for every connection
	used       int       // responses read on the current connection
	reconnects int64     // connections opened after the first
}

// newHTTPClient is a client of the origin's path. In mode post it sends
// POSTs with a body of c.postBytes; with -name it reaches the origin by
// that name, for the proxy to resolve.
func newHTTPClient(c *config, path string) *httpClient {
	scheme := "http://"
	if c.tls != nil {
		scheme = "https://"
	}
	host := c.origin
	if c.name != "" {
		_, port, _ := net.SplitHostPort(c.origin)
		host = net.JoinHostPort(c.name, port)
	}
	target := scheme + host + path
	reqURI := path
	if c.route == "http" {
		reqURI = target // absolute-form, as a client of a forward proxy sends it
	}
	var req []byte
	if c.mode == "post" {
		req = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: netpolicy-bench\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", reqURI, host, c.postBytes)
		req = append(req, bytes.Repeat([]byte{'p'}, c.postBytes)...)
	} else {
		req = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: netpolicy-bench\r\n\r\n", reqURI, host)
	}
	return &httpClient{c: c, target: host, req: req, scratch: make([]byte, 256<<10)}
}

func (h *httpClient) connect(deadline time.Time) error {
	h.deadline = deadline
	cn, err := dialTarget(h.c, h.target)
	if err != nil {
		return err
	}
	if h.c.tls != nil {
		if err := cn.startTLS(h.c.tls); err != nil {
			cn.Close()
			return err
		}
	}
	cn.tcp.SetDeadline(deadline)
	h.conn = cn
	h.br = bufio.NewReaderSize(cn, 64<<10)
	h.used = 0
	return nil
}

func (h *httpClient) send() (*http.Response, error) {
	if _, err := h.conn.Write(h.req); err != nil {
		return nil, err
	}
	return http.ReadResponse(h.br, nil)
}

// isClosed reports errors that mean the peer had closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (h *httpClient) close() {
	if h.conn != nil {
		h.conn.Close()
		h.conn = nil
	}
}

// do sends the request and reads the whole response, returning the body
// size. reconnect reports that the server will close the connection.
//
// A server may close a keep-alive connection between two requests without
// saying so (tinyproxy serves one request per connection and sends no
// "Connection: close"): when a reused connection fails before any byte of
// the response, the request is retried once on a new connection, as
// net/http's Transport does. The retry is counted as a reconnect, not an
// error, and its time is part of the request's latency.
func (h *httpClient) do() (n int64, reconnect bool, err error) {
	resp, err := h.send()
	if err != nil && h.used > 0 && h.br.Buffered() == 0 && isClosed(err) {
		h.close()
		if err = h.connect(h.deadline); err != nil {
			return 0, true, err
		}
		h.reconnects++
		resp, err = h.send()
	}
	if err != nil {
		return 0, true, err
	}
	h.used++
	for {
		m, rerr := resp.Body.Read(h.scratch)
		n += int64(m)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			resp.Body.Close()
			return n, true, rerr
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return n, resp.Close, fmt.Errorf("status %s", resp.Status)
	}
	return n, resp.Close, nil
}

// runSmall measures keep-alive request rate and latency with c.conc
// connections, each running requests back to back.
func runSmall(c *config) (result, error) {
	var r result
	r.Conc = c.conc
	hardStop := time.Now().Add(c.duration + 30*time.Second) // connection deadline: nothing hangs
	clients := make([]*httpClient, c.conc)
	var firstErr atomic.Value
	var errs, reconnects, issued atomic.Int64
	noteErr := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}

	// Connect and warm up before the clock starts.
	var wg sync.WaitGroup
	for i := range clients {
		h := newHTTPClient(c, "/small")
		clients[i] = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.connect(hardStop); err != nil {
				noteErr(err)
				return
			}
			for range c.warmup {
				if _, re, err := h.do(); err != nil || re {
					h.close()
					if err := h.connect(hardStop); err != nil {
						noteErr(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if errs.Load() == int64(c.conc) {
		return r, fmt.Errorf("no connection could be made: %v", firstErr.Load())
	}
	if c.newConn {
		// Every measured request opens its own connection.
		for _, h := range clients {
			h.close()
		}
	}

	lat := make([][]time.Duration, c.conc)
	m := startMeter(c)
	start := time.Now()
	deadline := start.Add(c.duration)
	for i, h := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.close()
			h.reconnects = 0 // count only the measured phase
			l := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && issued.Add(1) <= c.maxRequests {
				t0 := time.Now() // with -new-conn, the connection is part of the request
				if h.conn == nil {
					if err := h.connect(hardStop); err != nil {
						noteErr(err)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if !c.newConn {
						reconnects.Add(1)
					}
				}
				if !c.newConn {
					t0 = time.Now()
				}
				_, re, err := h.do()
				if err != nil {
					noteErr(err)
					h.close()
					continue
				}
				l = append(l, time.Since(t0))
				if re || c.newConn {
					h.close()
				}
			}
			lat[i] = l
			reconnects.Add(h.reconnects)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r.Seconds = elapsed.Seconds()
	r.Requests = int64(len(all))
	r.Errors = errs.Load()
	r.Reconnects = reconnects.Load()
	r.RPS = float64(r.Requests) / r.Seconds
	r.P50ms = percentile(all, 0.50)
	r.P99ms = percentile(all, 0.99)
	if v := firstErr.Load(); v != nil {
		r.FirstErrorMsg = v.(string)
	}
	m.finish(&r)
	if r.Requests == 0 {
		return r, errors.New("no request completed: " + r.FirstErrorMsg)
	}
	return r, nil
}

func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

package main

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runBig downloads /big?size=c.bytes back to back on c.conc keep-alive
// connections and reports the body throughput.
func runBig(c *config) (result, error) {
	var r result
	r.Conc, r.BodySize = c.conc, c.bytes
	hardStop := time.Now().Add(c.duration + 60*time.Second)
	path := "/big?size=" + strconv.FormatInt(c.bytes, 10)
	var total, issued, done, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	m := startMeter(c)
	start := time.Now()
	deadline := start.Add(c.duration)
	for range c.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHTTPClient(c, path)
			defer h.close()
			for time.Now().Before(deadline) && issued.Add(1) <= c.maxRequests {
				if h.conn == nil {
					if err := h.connect(hardStop); err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				n, re, err := h.do()
				total.Add(n)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					h.close()
					continue
				}
				if n != c.bytes {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, "short body: "+strconv.FormatInt(n, 10))
				}
				done.Add(1)
				if re {
					h.close()
				}
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Bytes = total.Load()
	r.Requests = done.Load()
	r.Errors = errs.Load()
	r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
	if v := firstErr.Load(); v != nil {
		r.FirstErrorMsg = v.(string)
	}
	m.finish(&r)
	// CPU per request is meaningless here; per GB is the figure.
	r.CPUPerReqUs = 0
	if r.Bytes == 0 {
		return r, errors.New("no bytes received: " + r.FirstErrorMsg)
	}
	return r, nil
}

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Origin TCP modes (see bench/cmd/origin).
const (
	modeSink   = 'S'
	modeSource = 'R'
	modeBoth   = 'B'
	modeEcho   = 'E'
)

func originHeader(mode byte, count int64) []byte {
	h := make([]byte, 9)
	h[0] = mode
	binary.BigEndian.PutUint64(h[1:], uint64(count))
	return h
}

// runTunnel pushes bulk bytes through c.conc tunnels to the origin's TCP
// port for c.duration (or until c.bytes per stream and direction) and
// reports the total throughput.
func runTunnel(c *config) (result, error) {
	var r result
	r.Conc, r.Dir = c.conc, c.dir
	var mode byte
	switch c.dir {
	case "down":
		mode = modeSource
	case "up":
		mode = modeSink
	case "both":
		mode = modeBoth
	default:
		return r, fmt.Errorf("unknown -dir %q", c.dir)
	}
	if c.tcpOrigin == "" {
		return r, errors.New("-mode tunnel needs -tcp")
	}

	conns := make([]*conn, 0, c.conc)
	for range c.conc {
		cn, err := dialTarget(c, c.tcpOrigin)
		if err != nil {
			for _, x := range conns {
				x.Close()
			}
			return r, err
		}
		conns = append(conns, cn)
	}
	var total, errs atomic.Int64
	var firstErr atomic.Value
	noteErr := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	var wg sync.WaitGroup
	m := startMeter(c)
	start := time.Now()
	deadline := start.Add(c.duration)
	hardStop := deadline.Add(30 * time.Second)
	for _, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cn.Close()
			cn.tcp.SetDeadline(hardStop)
			if _, err := cn.Write(originHeader(mode, c.bytes)); err != nil {
				noteErr(err)
				return
			}
			switch mode {
			case modeSource:
				total.Add(readUntil(cn, deadline, c.bytes))
			case modeSink:
				n, err := sinkUntil(cn, deadline, c.bytes)
				if err != nil {
					noteErr(err)
				}
				total.Add(n)
			case modeBoth:
				done := make(chan int64)
				go func() {
					n := writeUntil(cn, deadline, c.bytes)
					cn.tcp.CloseWrite()
					done <- n
				}()
				total.Add(readUntil(cn, deadline, c.bytes))
				cn.tcp.SetWriteDeadline(time.Now()) // unblock a writer stuck on a full pipe
				total.Add(<-done)
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Bytes = total.Load()
	r.Errors = errs.Load()
	r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
	if v := firstErr.Load(); v != nil {
		r.FirstErrorMsg = v.(string)
	}
	m.finish(&r)
	if r.Bytes == 0 {
		return r, errors.New("no bytes moved: " + r.FirstErrorMsg)
	}
	return r, nil
}

// sinkUntil writes until the deadline or limit bytes while reading the
// origin's running acknowledgements (one at least every MiB), then waits
// for the acknowledgement that covers all but the last MiB: the result is
// what the origin received, not what sat in socket buffers, and it needs
// no half-close (tinyproxy and squid close the whole tunnel on one).
func sinkUntil(cn *conn, deadline time.Time, limit int64) (int64, error) {
	const ackEvery = 1 << 20
	var acked atomic.Int64
	want := atomic.Int64{}
	want.Store(-1)
	caughtUp := make(chan struct{})
	go func() {
		var b [8]byte
		signalled := false
		for {
			if _, err := readFull(cn, b[:]); err != nil {
				return
			}
			n := int64(binary.BigEndian.Uint64(b[:]))
			acked.Store(n)
			if w := want.Load(); !signalled && w >= 0 && n > w-ackEvery {
				close(caughtUp)
				signalled = true
			}
		}
	}()
	sent := writeUntil(cn, deadline, limit)
	want.Store(sent)
	if acked.Load() > sent-ackEvery {
		return acked.Load(), nil
	}
	select {
	case <-caughtUp:
		return acked.Load(), nil
	case <-time.After(5 * time.Second):
		n := acked.Load()
		return n, fmt.Errorf("origin acknowledged %d of %d bytes", n, sent)
	}
}

// readUntil reads until EOF, the deadline, or limit bytes.
func readUntil(cn *conn, deadline time.Time, limit int64) int64 {
	cn.tcp.SetReadDeadline(deadline)
	buf := make([]byte, 256<<10)
	var n int64
	for n < limit {
		m, err := cn.Read(buf)
		n += int64(m)
		if err != nil {
			break
		}
	}
	return n
}

// writeUntil writes until the deadline or limit bytes.
func writeUntil(cn *conn, deadline time.Time, limit int64) int64 {
	cn.tcp.SetWriteDeadline(deadline)
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	var n int64
	for n < limit {
		b := buf
		if rest := limit - n; rest < int64(len(b)) {
			b = b[:rest]
		}
		m, err := cn.Write(b)
		n += int64(m)
		if err != nil {
			break
		}
	}
	return n
}

func readFull(cn *conn, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := cn.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

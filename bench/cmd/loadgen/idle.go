package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle opens c.tunnels tunnels to the origin's TCP port, moves a few
// bytes each way on every one (so the proxy is in its steady copying state,
// not still in the handshake), leaves them idle (with -tls: HTTPS
// connections to the origin, each after one GET), and reports how much the
// proxy's resident memory grew per tunnel.
func runIdle(c *config) (result, error) {
	var r result
	if c.route != "connect" && c.route != "socks5" {
		return r, errors.New("-mode idle needs -route connect or socks5")
	}
	if c.pid <= 0 {
		return r, errors.New("-mode idle needs -pid")
	}
	if c.tunnels < 1 || c.tunnels > 20000 {
		return r, errors.New("-tunnels must be 1..20000")
	}
	before := sampleTree(c.pid)
	start := time.Now()
	stop := start.Add(c.duration + 60*time.Second) // the whole open phase is bounded

	conns := make([]*conn, c.tunnels)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	ping := append(originHeader(modeEcho, 0), "ping"...)
	for range 32 { // parallel openers; more would just queue in the accept backlog
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) || time.Now().After(stop) {
					return
				}
				if c.tls != nil {
					// An intercepted connection: TLS handshake and one GET,
					// then idle with the connection kept alive.
					h := newHTTPClient(c, "/small")
					err := h.connect(stop)
					if err == nil {
						_, _, err = h.do()
					}
					if err != nil {
						h.close()
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					h.conn.tcp.SetDeadline(time.Time{})
					conns[i] = h.conn
					continue
				}
				cn, err := dialTarget(c, c.tcpOrigin)
				if err == nil {
					cn.tcp.SetDeadline(time.Now().Add(dialTimeout))
					var b [4]byte
					if _, err = cn.Write(ping); err == nil {
						_, err = readFull(cn, b[:])
					}
					if err == nil && string(b[:]) != "ping" {
						err = fmt.Errorf("echo: got %q", b[:])
					}
					cn.tcp.SetDeadline(time.Time{})
					if err != nil {
						cn.Close()
					}
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				conns[i] = cn
			}
		}()
	}
	wg.Wait()
	opened := 0
	for _, cn := range conns {
		if cn != nil {
			opened++
		}
	}
	time.Sleep(c.settle)
	after := sampleTree(c.pid)
	r.Seconds = time.Since(start).Seconds()
	for _, cn := range conns {
		if cn != nil {
			cn.Close()
		}
	}
	r.Tunnels = opened
	r.Errors = errs.Load()
	r.RSSBeforeKiB = before.rssKiB
	r.RSSAfterKiB = after.rssKiB
	r.ProxyRSSKiB = after.rssKiB
	r.ProxyHWMKiB = after.hwmKiB
	if v := firstErr.Load(); v != nil {
		r.FirstErrorMsg = v.(string)
	}
	if opened == 0 {
		return r, errors.New("no tunnel opened: " + r.FirstErrorMsg)
	}
	r.RSSPerTunnel = float64(after.rssKiB-before.rssKiB) / float64(opened)
	return r, nil
}

// Command relay is the benchmark's baseline: the smallest reasonable Go
// forward proxy with no policy at all. HTTP absolute-form requests go through
// httputil.ReverseProxy on a Transport with an idle pool sized for the load,
// CONNECT tunnels copy between the raw *net.TCPConn values with io.Copy (so
// the runtime uses splice), and SOCKS5 is a bare armon/go-socks5 server.
//
// Whatever netpolicy serve costs on top of this is the price of the policy.
// It listens on loopback only and writes {"http":…,"socks":…} to -ready-file.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	socks5 "github.com/armon/go-socks5"

	"github.com/netpolicy/netpolicy/bench/internal/benchnet"
)

func main() {
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP proxy listen address (loopback only)")
	socksAddr := flag.String("socks", "127.0.0.1:0", "SOCKS5 listen address (loopback only)")
	ready := flag.String("ready-file", "", "write the listen addresses here as JSON once listening")
	idle := flag.Int("idle-per-host", 256, "upstream idle connections kept per host")
	flag.Parse()

	hl, err := benchnet.ListenLoopback(*httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	sl, err := benchnet.ListenLoopback(*socksAddr)
	if err != nil {
		log.Fatal(err)
	}

	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * *idle,
		MaxIdleConnsPerHost: *idle, // the default of 2 reconnects for most requests under load
		IdleConnTimeout:     90 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		// The request is already absolute-form: forward it as it is.
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.Host = pr.Out.URL.Host },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodConnect {
				connect(w, r)
				return
			}
			if r.URL.Host == "" {
				http.Error(w, "missing host", http.StatusBadRequest)
				return
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
	go srv.Serve(hl)

	ss, err := socks5.New(&socks5.Config{Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		log.Fatal(err)
	}
	go ss.Serve(sl)

	if err := benchnet.Serve("relay", *ready, map[string]string{"http": hl.Addr().String(), "socks": sl.Addr().String()}); err != nil {
		log.Fatal(err)
	}
}

// connect answers a CONNECT and splices bytes both ways until both sides
// have closed, propagating half-close.
func connect(w http.ResponseWriter, r *http.Request) {
	up, err := net.DialTimeout("tcp", r.URL.Host, 10*time.Second)
	if err != nil {
		http.Error(w, "upstream failure", http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	defer c.Close()
	defer up.Close()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// Bytes the client sent right behind its CONNECT are already buffered.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
	}
	client, upstream := c.(*net.TCPConn), up.(*net.TCPConn)
	done := make(chan struct{})
	go func() {
		io.Copy(upstream, client)
		upstream.CloseWrite()
		close(done)
	}()
	io.Copy(client, upstream)
	client.CloseWrite()
	<-done
}

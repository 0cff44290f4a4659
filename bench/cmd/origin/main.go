// Command origin is the benchmark's upstream server: an HTTP origin with a
// small keep-alive endpoint and a large streaming endpoint, plus a raw TCP
// port that sinks, sources or echoes bytes for tunnel throughput.
//
// It listens on loopback only and writes its addresses to -ready-file as
// {"http":"127.0.0.1:PORT","tcp":"127.0.0.1:PORT"} once both accept.
//
// HTTP endpoints:
//
//	/small          a 64-byte body, keep-alive
//	/big?size=N     N bytes (at most 16 GiB) streamed from memory
//
// TCP protocol: the client sends one mode byte and an 8-byte big-endian count.
//
//	'S' sink:   read until EOF; after every MiB received, and at EOF, write the
//	            running total (8 bytes), so the client learns what arrived
//	            without needing half-close (tinyproxy and squid drop it)
//	'R' source: write count bytes, then close
//	'B' both:   sink and source at the same time (full duplex)
//	'E' echo:   copy everything back until EOF
//
// A connection that sends nothing is simply held open until the client
// closes it, which is what the idle-tunnel figure needs.
//
// With -tls-ca FILE the same HTTP endpoints are also served over TLS on a
// third port ("https" in the ready file), with a certificate for 127.0.0.1
// signed by a throwaway CA made at start-up; the CA certificate is written
// to FILE so clients and proxies can trust it.
package main

import (
	"encoding/binary"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/netpolicy/netpolicy/bench/internal/benchnet"
)

const maxBig = 16 << 30

// chunk is the shared read-only payload every large response is cut from.
var chunk = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

var smallBody = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n")

func main() {
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address (loopback only)")
	tcpAddr := flag.String("tcp", "127.0.0.1:0", "raw TCP listen address (loopback only)")
	ready := flag.String("ready-file", "", "write the listen addresses here as JSON once listening")
	tlsCA := flag.String("tls-ca", "", "also serve HTTPS on 127.0.0.1 and write its CA certificate (PEM) to this file")
	flag.Parse()

	hl, err := benchnet.ListenLoopback(*httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	tl, err := benchnet.ListenLoopback(*tcpAddr)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(smallBody)))
		w.Write(smallBody)
	})
	mux.HandleFunc("/big", serveBig)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	go srv.Serve(hl)
	go serveTCP(tl)
	addrs := map[string]string{"http": hl.Addr().String(), "tcp": tl.Addr().String()}
	if *tlsCA != "" {
		cfg, err := testTLS(*tlsCA)
		if err != nil {
			log.Fatal(err)
		}
		sl, err := benchnet.ListenLoopback("127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		tsrv := &http.Server{Handler: mux, TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
		go tsrv.ServeTLS(sl, "", "")
		addrs["https"] = sl.Addr().String()
	}

	if err := benchnet.Serve("origin", *ready, addrs); err != nil {
		log.Fatal(err)
	}
}

func serveBig(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || size < 0 || size > maxBig {
		http.Error(w, "bad size", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	for size > 0 {
		n := int64(len(chunk))
		if n > size {
			n = size
		}
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		size -= n
	}
}

func serveTCP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			// Out of file descriptors and the like: back off instead of spinning.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go handleTCP(c.(*net.TCPConn))
	}
}

func handleTCP(c *net.TCPConn) {
	defer c.Close()
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return // idle tunnel closed, or a short header
	}
	count := int64(binary.BigEndian.Uint64(hdr[1:]))
	switch hdr[0] {
	case 'S':
		sinkWithAcks(c)
	case 'R':
		source(c, count)
	case 'B':
		done := make(chan struct{})
		go func() {
			defer close(done)
			source(c, count)
			c.CloseWrite()
		}()
		drain(c)
		<-done
	case 'E':
		// Echo holds thousands of idle tunnels: keep its buffer small.
		buf := make([]byte, 4<<10)
		io.CopyBuffer(c, readerOnly{c}, buf)
	}
}

// drain reads until EOF or error with a large buffer (io.Discard's own
// ReadFrom would read 8 KiB at a time) and returns the byte count.
func drain(c *net.TCPConn) int64 {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, err := c.Read(buf)
		n += int64(m)
		if err != nil {
			return n
		}
	}
}

const ackEvery = 1 << 20

func sinkWithAcks(c *net.TCPConn) {
	buf := make([]byte, 256<<10)
	var n, acked int64
	var out [8]byte
	ack := func() error {
		binary.BigEndian.PutUint64(out[:], uint64(n))
		acked = n
		_, err := c.Write(out[:])
		return err
	}
	for {
		m, err := c.Read(buf)
		n += int64(m)
		if err != nil {
			ack()
			return
		}
		if n-acked >= ackEvery {
			if ack() != nil {
				return
			}
		}
	}
}

// readerOnly hides WriteTo so echo goes through the plain buffer path.
type readerOnly struct{ io.Reader }

func source(c *net.TCPConn, count int64) {
	for count > 0 {
		n := int64(len(chunk))
		if n > count {
			n = count
		}
		if _, err := c.Write(chunk[:n]); err != nil {
			return
		}
		count -= n
	}
}

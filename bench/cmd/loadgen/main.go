// Command loadgen drives the benchmark: it sends load to the origin either
// directly or through a proxy, measures it, and prints one JSON object per
// run. Every loop is bounded by a duration and by a count, so a run always
// ends by itself.
//
// Modes (-mode):
//
//	small     keep-alive GET /small from -c connections: req/s, p50, p99
//	post      small, with POSTs of a -post-bytes body
//	newconn   small with -new-conn: a new connection (tunnel) per request
//	big       GET /big?size=-bytes repeatedly: MB/s (1 MB = 10^6 bytes)
//	tunnel    bulk bytes through a tunnel to the origin's TCP port: MB/s
//	          (-dir down = origin to client, up = client to origin, both)
//	idle      open -tunnels idle tunnels and report the proxy's RSS per tunnel
//	startup   run a command -n times and report time to first output
//	freeport  print a free loopback TCP port and exit
//
// Routes (-route): direct, http (absolute-form request to the HTTP proxy),
// connect (CONNECT tunnel through the HTTP proxy), socks5. With -tls (and
// -origin the origin's HTTPS address) small, big and idle speak HTTPS, end to
// end or to an intercepting proxy; -new-conn makes small open a connection
// per request. With -pid, the CPU
// time and memory of that process and its descendants are reported too.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

// config is everything a run needs, straight from the flags.
type config struct {
	mode, route, label string
	proxy              string // host:port of the proxy listener for the route
	origin             string // host:port of the origin's HTTP listener
	tcpOrigin          string // host:port of the origin's raw TCP listener
	socksHostname      bool   // send the target to SOCKS5 as a name, not an IP
	conc               int
	duration           time.Duration
	maxRequests        int64
	bytes              int64
	dir                string
	pid                int
	clkTck             int
	tunnels            int
	settle             time.Duration
	round              int
	warmup             int
	runs               int
	tls                *tls.Config // -tls: HTTPS to the origin, verified against -ca
	newConn            bool        // small: a new connection for every request
	postBytes          int         // post: body size of each POST
	name               string      // the origin is reached by this name (the proxy resolves it)
}

// result is one line of output; unused figures are omitted.
type result struct {
	Mode       string  `json:"mode"`
	Route      string  `json:"route"`
	Label      string  `json:"label"`
	Round      int     `json:"round"`
	Conc       int     `json:"c,omitempty"`
	Dir        string  `json:"dir,omitempty"`
	Seconds    float64 `json:"seconds"`
	Requests   int64   `json:"requests,omitempty"`
	Errors     int64   `json:"errors"`
	Reconnects int64   `json:"reconnects,omitempty"`
	RPS        float64 `json:"rps,omitempty"`
	P50ms      float64 `json:"p50_ms,omitempty"`
	P99ms      float64 `json:"p99_ms,omitempty"`
	Bytes      int64   `json:"bytes,omitempty"`
	BodySize   int64   `json:"body_size,omitempty"`
	MBps       float64 `json:"mbps,omitempty"`

	// Proxy process figures, present with -pid.
	ProxyCPU      float64 `json:"proxy_cpu_s,omitempty"`
	CPUPerReqUs   float64 `json:"cpu_per_req_us,omitempty"`
	CPUPerGB      float64 `json:"cpu_per_gb_s,omitempty"`
	ProxyRSSKiB   int64   `json:"proxy_rss_kib,omitempty"`
	ProxyHWMKiB   int64   `json:"proxy_hwm_kib,omitempty"`
	ClientCPU     float64 `json:"client_cpu_s,omitempty"`
	Tunnels       int     `json:"tunnels,omitempty"`
	RSSBeforeKiB  int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB   int64   `json:"rss_after_kib,omitempty"`
	RSSPerTunnel  float64 `json:"rss_per_tunnel_kib,omitempty"`
	StartupMs     float64 `json:"startup_ms,omitempty"`
	StartupMinMs  float64 `json:"startup_min_ms,omitempty"`
	StartupMaxMs  float64 `json:"startup_max_ms,omitempty"`
	Command       string  `json:"command,omitempty"`
	FirstErrorMsg string  `json:"error,omitempty"`  // first error seen, even in a run that completed
	Failed        bool    `json:"failed,omitempty"` // the run produced no usable figure
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "small", "small | big | tunnel | idle | startup | freeport")
	flag.StringVar(&c.route, "route", "direct", "direct | http | connect | socks5")
	flag.StringVar(&c.label, "label", "", "name of the system under test, copied into the result")
	flag.StringVar(&c.proxy, "proxy", "", "proxy listener host:port (HTTP proxy for http/connect, SOCKS5 for socks5)")
	flag.StringVar(&c.origin, "origin", "", "origin HTTP host:port")
	flag.StringVar(&c.tcpOrigin, "tcp", "", "origin raw TCP host:port")
	flag.BoolVar(&c.socksHostname, "socks-hostname", false, "send SOCKS5 targets as names (address type 3)")
	flag.IntVar(&c.conc, "c", 1, "concurrent connections or streams")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measuring time (every run also stops at its count limit)")
	flag.Int64Var(&c.maxRequests, "max-requests", 5_000_000, "stop after this many requests (small, big)")
	flag.Int64Var(&c.bytes, "bytes", 64<<20, "big: body size per GET; tunnel: at most this many bytes per stream and direction")
	flag.StringVar(&c.dir, "dir", "down", "tunnel direction: down | up | both")
	flag.IntVar(&c.pid, "pid", 0, "proxy process to measure (with its descendants)")
	flag.IntVar(&c.clkTck, "clk-tck", 100, "kernel clock ticks per second (getconf CLK_TCK)")
	flag.IntVar(&c.tunnels, "tunnels", 2000, "idle: tunnels to open")
	flag.DurationVar(&c.settle, "settle", 2*time.Second, "idle: wait this long before reading RSS")
	flag.IntVar(&c.round, "round", 0, "round number, copied into the result")
	flag.IntVar(&c.warmup, "warmup", 20, "small: requests per connection before the clock starts")
	flag.IntVar(&c.runs, "n", 20, "startup: runs of the command")
	useTLS := flag.Bool("tls", false, "small, big, idle: HTTPS to -origin (its TLS address), through a CONNECT tunnel for -route connect")
	caFile := flag.String("ca", "", "with -tls: PEM file of the roots to trust (the origin's CA, intercepting proxies' CAs)")
	flag.BoolVar(&c.newConn, "new-conn", false, "small: open a new connection (and TLS handshake) for every request")
	flag.IntVar(&c.postBytes, "post-bytes", 4096, "post: body size of each POST")
	flag.StringVar(&c.name, "name", "", "small, post, newconn: reach the origin's HTTP port by this name (resolved by the proxy; not for -route direct)")
	flag.Parse()
	if c.mode == "newconn" {
		c.newConn = true
	}

	if *useTLS {
		cfg, err := clientTLS(*caFile)
		if err != nil {
			fatalf("%v", err)
		}
		c.tls = cfg
	}
	if c.mode == "freeport" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatalf("%v", err)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		return
	}
	if err := c.check(); err != nil {
		fatalf("%v", err)
	}
	if c.tls != nil {
		host, _, _ := net.SplitHostPort(c.origin)
		c.tls.ServerName = host // verified as an IP SAN for a literal
	}

	var r result
	var err error
	switch c.mode {
	case "small", "post", "newconn":
		r, err = runSmall(&c)
	case "big":
		r, err = runBig(&c)
	case "tunnel":
		r, err = runTunnel(&c)
	case "idle":
		r, err = runIdle(&c)
	case "startup":
		r, err = runStartup(&c, flag.Args())
	default:
		fatalf("unknown -mode %q", c.mode)
	}
	r.Mode, r.Route, r.Label, r.Round = c.mode, c.route, c.label, c.round
	if r.Label == "" {
		r.Label = c.route
	}
	if err != nil {
		// Still print the line: the report shows failed runs instead of
		// silently dropping them.
		r.FirstErrorMsg = err.Error()
		r.Failed = true
		json.NewEncoder(os.Stdout).Encode(r)
		fatalf("%v", err)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

// clientTLS is the client side of -tls: HTTP/1.1 only, no session cache
// (every new connection is a full handshake), roots from caFile.
func clientTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, fmt.Errorf("-tls needs -ca")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}, nil
}

func (c *config) check() error {
	switch c.route {
	case "direct":
	case "http", "connect", "socks5":
		if c.proxy == "" {
			return fmt.Errorf("-route %s needs -proxy", c.route)
		}
		if err := loopbackOnly(c.proxy); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -route %q", c.route)
	}
	if c.name != "" && c.route == "direct" {
		// The name is the proxy's to resolve: this program never looks
		// a name up (nothing may reach a real nameserver).
		return errors.New("-name needs a proxy route")
	}
	if c.tls != nil && c.route != "direct" && c.route != "connect" {
		return fmt.Errorf("-tls needs -route direct or connect")
	}
	for _, a := range []string{c.origin, c.tcpOrigin} {
		if a != "" {
			if err := loopbackOnly(a); err != nil {
				return err
			}
		}
	}
	if c.conc < 1 || c.conc > 10000 {
		return fmt.Errorf("-c must be 1..10000")
	}
	if c.duration <= 0 || c.duration > time.Hour {
		return fmt.Errorf("-duration must be in (0, 1h]")
	}
	return nil
}

// loopbackOnly keeps every byte of the benchmark on this machine.
func loopbackOnly(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: only loopback addresses are allowed", hostport)
	}
	return nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(1)
}

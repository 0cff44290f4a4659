// Command dnsd is the benchmark's DNS server: it answers A queries for one
// name with 127.0.0.1 after a fixed delay, with a fixed TTL (AAAA queries
// get an empty answer after the same delay; other names NXDOMAIN), over UDP
// and TCP. Proxies under test are pointed at it, so that a lookup costs
// what a nearby recursive resolver costs and a cache shows.
//
// It listens on loopback only (127.0.0.1:53 by default, since squid's
// dns_nameservers takes no port) and writes {"dns":"127.0.0.1:PORT"} to
// -ready-file once it answers.
package main

import (
	"flag"
	"log"
	"net/netip"
	"time"

	"github.com/netpolicy/netpolicy/bench/internal/benchnet"
	"github.com/netpolicy/netpolicy/resolve/dnstest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:53", "UDP and TCP listen address (loopback only)")
	name := flag.String("name", "registry.bench.test", "the name answered")
	delay := flag.Duration("delay", 20*time.Millisecond, "how long each answer is held back")
	ttl := flag.Uint("ttl", 60, "TTL of the answer, in seconds")
	ready := flag.String("ready-file", "", "write the listen address here as JSON once listening")
	flag.Parse()

	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().IsLoopback() {
		log.Fatalf("dnsd: -addr %q: want a loopback IP and port", *addr)
	}
	s, err := dnstest.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	s.Set(*name, dnstest.Answer{Addrs: []string{"127.0.0.1"}, TTL: uint32(*ttl), Delay: *delay})
	if err := benchnet.Serve("dnsd", *ready, map[string]string{"dns": s.Addr}); err != nil {
		log.Fatal(err)
	}
	log.Printf("dnsd: %d queries", len(s.Queries()))
}

// Package dnstest runs a small DNS server on a loopback address for tests
// and benchmarks: it answers A and AAAA queries from a table set by the
// caller, with chosen TTLs, delays, error codes and truncation, and counts
// the queries it gets. It serves UDP and TCP on the same port.
package dnstest

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Answer is how the server answers one name.
type Answer struct {
	// Addrs are the name's addresses; A queries get the IPv4 ones, AAAA
	// queries the IPv6 ones (none: NODATA).
	Addrs []string
	// TTL of the records.
	TTL uint32
	// Rcode, if not zero (NOERROR), is answered with no records
	// (dns.RcodeNameError for NXDOMAIN, dns.RcodeServerFailure…).
	Rcode int
	// SOA adds an SOA record with this MINIMUM (and TTL) to empty answers.
	SOA *uint32
	// Delay holds the answer back.
	Delay time.Duration
	// Truncate answers UDP queries with the TC bit and no records, so the
	// client must ask again over TCP.
	Truncate bool
	// Drop never answers.
	Drop bool
}

// Query is one query the server got.
type Query struct {
	Name string // lower case, with the trailing dot
	Type uint16
	Net  string // "udp" or "tcp"
}

// Server is a running DNS server. Set answers with Set.
type Server struct {
	// Addr is the "127.0.0.1:port" it listens on (UDP and TCP).
	Addr string

	mu      sync.Mutex
	zone    map[string]Answer
	queries []Query
	udp     *dns.Server
	tcp     *dns.Server
}

// Start listens on host:0 (host an IP literal, usually 127.0.0.1), UDP and
// TCP on one port, and serves until Close. Names not set are NXDOMAIN.
func Start(host string) (*Server, error) {
	var err error
	for range 20 { // the TCP port may be taken; try another
		var s *Server
		var tcpTaken bool
		if s, tcpTaken, err = listen(net.JoinHostPort(host, "0")); err == nil || !tcpTaken {
			return s, err
		}
	}
	return nil, errors.Join(errors.New("dnstest: no port free for UDP and TCP"), err)
}

// Listen is Start on one chosen address, UDP and TCP (a resolver that
// cannot be told a port, such as squid's, needs 127.0.0.1:53). Port 0 is
// Start's search for a port free for both.
func Listen(addr string) (*Server, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		return Start(host)
	}
	s, _, err := listen(addr)
	return s, err
}

// listen serves on addr over UDP and on the port UDP got over TCP;
// tcpTaken reports that the TCP half failed.
func listen(addr string) (s *Server, tcpTaken bool, err error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, false, err
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, true, err
	}
	s = &Server{zone: map[string]Answer{}, Addr: pc.LocalAddr().String()}
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	s.serve()
	return s, false, nil
}

// serve starts both servers and returns once they run.
func (s *Server) serve() {
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	<-started
	<-started
}

// Close stops the server.
func (s *Server) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// Set makes the server answer name (with or without the trailing dot) so.
func (s *Server) Set(name string, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[dns.Fqdn(strings.ToLower(name))] = a
}

// Queries returns the queries received so far.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Count returns how many queries for name of type qtype (0: any) came in.
func (s *Server) Count(name string, qtype uint16) int {
	name = dns.Fqdn(strings.ToLower(name))
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name && (qtype == 0 || q.Type == qtype) {
			n++
		}
	}
	return n
}

// Reset forgets the queries received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.queries = nil
	s.mu.Unlock()
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	netw := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		netw = "tcp"
	}
	s.mu.Lock()
	if len(s.queries) < 100000 {
		s.queries = append(s.queries, Query{name, q.Qtype, netw})
	}
	a, known := s.zone[name]
	s.mu.Unlock()
	if a.Drop {
		return
	}
	if a.Delay > 0 {
		time.Sleep(a.Delay)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch {
	case !known:
		m.Rcode = dns.RcodeNameError
	case a.Rcode != 0:
		m.Rcode = a.Rcode
	case a.Truncate && netw == "udp":
		m.Truncated = true
	default:
		for _, s := range a.Addrs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: a.TTL}
			switch {
			case q.Qtype == dns.TypeA && ip.Is4():
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
			case q.Qtype == dns.TypeAAAA && ip.Is6():
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
			}
		}
	}
	if len(m.Answer) == 0 && a.SOA != nil {
		m.Ns = append(m.Ns, &dns.SOA{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: *a.SOA},
			Ns:  "ns.test.", Mbox: "hostmaster.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: *a.SOA,
		})
	}
	w.WriteMsg(m)
}

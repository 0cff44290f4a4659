package dnstest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestListenAnswersOnItsAddress(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Set("registry.bench.test", Answer{Addrs: []string{"127.0.0.1"}, TTL: 60, Delay: 20 * time.Millisecond})
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("registry.bench.test.", dns.TypeA)
		c := &dns.Client{Net: network, Timeout: 5 * time.Second}
		r, rtt, err := c.Exchange(m, s.Addr)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 60 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
			t.Errorf("%s: answer %v", network, r.Answer)
		}
		if rtt < 20*time.Millisecond {
			t.Errorf("%s: answered in %v, before the 20 ms delay", network, rtt)
		}
	}
	if n := s.Count("registry.bench.test", dns.TypeA); n != 2 {
		t.Errorf("counted %d A queries, want 2", n)
	}
	if _, err := Listen(s.Addr); err == nil {
		t.Error("a second Listen on a taken address succeeded")
	}
}

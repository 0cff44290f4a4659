package main

import (
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/netpolicy/netpolicy/resolve/dnstest"
)

// dnsServers holds the DNS server of each running script.
var dnsServers sync.Map // *testscript.TestScript → *dnstest.Server

func init() {
	// dnsserver NAME=ANSWER...: start a DNS server on 127.0.0.1 for this
	// script and set $DNS to its address. ANSWER is a comma-separated
	// list of addresses (TTL 60 s), nxdomain, servfail or drop.
	scriptCmds["dnsserver"] = func(ts *testscript.TestScript, neg bool, args []string) {
		srv, err := dnstest.Start("127.0.0.1")
		ts.Check(err)
		ts.Defer(srv.Close)
		for _, a := range args {
			name, answer, ok := strings.Cut(a, "=")
			if !ok {
				ts.Fatalf("dnsserver: %q: want NAME=ANSWER", a)
			}
			switch answer {
			case "nxdomain":
				srv.Set(name, dnstest.Answer{Rcode: dns.RcodeNameError})
			case "servfail":
				srv.Set(name, dnstest.Answer{Rcode: dns.RcodeServerFailure})
			case "drop":
				srv.Set(name, dnstest.Answer{Drop: true})
			default:
				srv.Set(name, dnstest.Answer{Addrs: strings.Split(answer, ","), TTL: 60})
			}
		}
		dnsServers.Store(ts, srv)
		ts.Defer(func() { dnsServers.Delete(ts) })
		ts.Setenv("DNS", srv.Addr)
	}
	// dnsqueries NAME N: the script's DNS server got exactly N A queries
	// for NAME.
	scriptCmds["dnsqueries"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: dnsqueries NAME N")
		}
		v, ok := dnsServers.Load(ts)
		if !ok {
			ts.Fatalf("dnsqueries: no dnsserver in this script")
		}
		want, err := strconv.Atoi(args[1])
		ts.Check(err)
		got := v.(*dnstest.Server).Count(args[0], dns.TypeA)
		if (got == want) == neg {
			ts.Fatalf("%s: %d A queries, want %d", args[0], got, want)
		}
	}
}

package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/resolve"
)

// dnsFlag is --dns of serve and check (POLICY §4.1).
func dnsFlag() cli.Flag {
	return &cli.StringFlag{Name: "dns", Usage: "DNS server `ADDR` (IP, or IP:port) for allowed names (default: the nameservers of /etc/resolv.conf)"}
}

// newResolver builds the caching resolver check and serve decide with:
// /etc/hosts first, then the --dns server or the nameservers of
// /etc/resolv.conf, whose search, ndots, timeout and attempts apply either
// way. An unreadable resolv.conf means the local server, as in glibc.
// observe, if not nil, gets the duration of every lookup that went to DNS.
func newResolver(c *cli.Context, e *env, observe func(time.Duration)) (policy.Resolver, error) {
	if e.resolver != nil {
		return e.resolver, nil // injected by the test harness
	}
	cfg, err := resolve.SystemConfig("")
	if err != nil {
		cfg = resolve.Config{Servers: []string{"127.0.0.1:53"}, Ndots: 1, HostsFile: resolve.DefaultHostsFile}
	}
	if s := c.String("dns"); s != "" {
		addr, err := resolve.ServerAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--dns: %w", err)
		}
		cfg.Servers, cfg.FixedServers = []string{addr}, true
	}
	cfg.Observe = observe
	return resolve.New(cfg), nil
}

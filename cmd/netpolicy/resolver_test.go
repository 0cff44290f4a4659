package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// testResolverEnv names the variable the scripts set to answer DNS from a
// table (see parseTestResolver); the test binary's netpolicy command reads
// it into env.resolver. The shipped binary knows nothing of it.
const testResolverEnv = "SCRIPT_FAKE_RESOLVER"

// testResolver answers from a fixed table (the SCRIPT_FAKE_RESOLVER variable of the scripts).
// Syntax: "name=ip,ip;name2=error;name3=timeout"; a name not listed fails
// to resolve; timeout waits for the lookup's context to end.
type testResolver map[string]string

func parseTestResolver(spec string) (testResolver, error) {
	r := testResolver{}
	for _, item := range strings.Split(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, answer, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("entry %q: want name=answer", item)
		}
		if answer != "error" && answer != "timeout" {
			for _, a := range strings.Split(answer, ",") {
				if _, err := netip.ParseAddr(strings.TrimSpace(a)); err != nil {
					return nil, fmt.Errorf("entry %q: %v", item, err)
				}
			}
		}
		r[strings.ToLower(strings.TrimSpace(name))] = answer
	}
	return r, nil
}

// LookupNetIP implements policy.Resolver.
func (r testResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	answer, ok := r[host]
	switch {
	case !ok || answer == "error":
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	case answer == "timeout":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var out []netip.Addr
	for _, a := range strings.Split(answer, ",") {
		out = append(out, netip.MustParseAddr(strings.TrimSpace(a)))
	}
	return out, nil
}

package proxy

import "github.com/netpolicy/netpolicy/policy"

// isLiteral reports whether a request host is an IP literal in any spelling.
func isLiteral(host string) bool {
	_, ok := policy.ParseHostIP(policy.NormalizeHost(host))
	return ok
}

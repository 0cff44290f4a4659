package proxy

import (
	"context"
	"net"

	"github.com/netpolicy/netpolicy/policy"
)

// Listen opens a TCP listener for Serve or ServeSOCKS on addr. On a
// loopback address (an IP literal or "localhost", as the listener clamp
// counts them) the accepted connections get no TCP keep-alive probes: the
// peer is a process on this machine, whose sockets the kernel closes when
// it dies and answers for while it lives, so probes could never tell
// anything, and setting them up costs four system calls per connection.
// Elsewhere the connections keep Go's default probes.
func Listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	if host, _, err := net.SplitHostPort(addr); err == nil && (policy.Listener{Host: policy.NormalizeHost(host)}).Loopback() {
		lc.KeepAlive = -1
	}
	return lc.Listen(context.Background(), "tcp", addr)
}

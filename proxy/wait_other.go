//go:build !unix

package proxy

import "net"

// waitReadable is a no-op where MSG_PEEK|MSG_DONTWAIT is not available: the
// copy itself waits.
func waitReadable(net.Conn) error { return nil }

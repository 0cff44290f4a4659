//go:build !unix

package proxy

import "net"

// waitReadable is a no-op where MSG_PEEK|MSG_DONTWAIT is not available: the
// copy itself waits.
func (*srcWatch) waitReadable() error { return nil }

// readable cannot tell without reading here: an idle conn is assumed fine.
func readable(net.Conn) bool { return false }

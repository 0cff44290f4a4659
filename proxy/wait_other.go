//go:build !unix

package proxy

import "net"

// waitReadable is a no-op where MSG_PEEK|MSG_DONTWAIT is not available: the
// copy itself waits.
func (*srcWatch) waitReadable() error { return nil }

// idleProbe cannot tell without reading here: an idle conn is assumed fine
// (a request on a conn the origin closed meanwhile is retried when it can
// be, as everywhere).
type idleProbe struct{}

func (*idleProbe) init(net.Conn)  {}
func (*idleProbe) readable() bool { return false }

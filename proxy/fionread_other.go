//go:build !linux

package proxy

// queuedBytes cannot tell here: the tunnel copies in whole chunks (there is
// no splice pipe to hold outside Linux).
func (*srcWatch) queuedBytes() int { return -1 }

// Package testnet has the loopback servers that the tests of several
// packages share: a TCP server on 127.0.0.1 that hands each connection to
// a function of the test, and the accept loop under it. Nothing here ever
// listens on or connects to another address.
package testnet

import (
	"net"
	"testing"
)

// Serve listens on 127.0.0.1, port 0, until the test ends and hands each
// connection to handle in a goroutine of its own; handle closes it. It
// returns the listener's address.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go Accept(l, handle)
	return l.Addr().String()
}

// Accept hands each connection l accepts to handle in a goroutine of its
// own, until l is closed.
func Accept(l net.Listener, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go handle(c)
	}
}

// Echo serves (as Serve) a TCP echo that copies through a user-space
// buffer of size bytes, never splicing: the descriptors and memory a test
// measures around it are the proxy's and the sockets' only.
func Echo(t testing.TB, size int) string {
	t.Helper()
	return Serve(t, func(c net.Conn) {
		defer c.Close()
		b := make([]byte, size)
		for {
			n, err := c.Read(b)
			if n > 0 {
				if _, err := c.Write(b[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

package proxy

import (
	"net"
	"syscall"
	"testing"
)

// soKeepAlive reports whether c has SO_KEEPALIVE set.
func soKeepAlive(t *testing.T, c net.Conn) bool {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v != 0
}

// Connections accepted on a loopback listener get no keep-alive probes;
// a listener opened the plain way (what any other address gets) still
// sets them, so the check below does see the option.
func TestListenLoopbackWithoutKeepAlive(t *testing.T) {
	accepted := func(l net.Listener) net.Conn {
		t.Helper()
		defer l.Close()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		a, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		l, err := Listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		if soKeepAlive(t, accepted(l)) {
			t.Errorf("Listen(%q): accepted conn has SO_KEEPALIVE", addr)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !soKeepAlive(t, accepted(l)) {
		t.Error("net.Listen: accepted conn has no SO_KEEPALIVE; the check sees nothing")
	}
}

package proxy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// queuedBytes is how many bytes c has received and not yet read (FIONREAD),
// or -1 when that cannot be known. It never waits.
func queuedBytes(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	if err := rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ); err == nil {
			n = v
		}
	}); err != nil {
		return -1
	}
	return n
}

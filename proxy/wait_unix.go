//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// waitReadable blocks until w's conn has data to read, has reached EOF or
// has failed, or its read deadline passes, without reading anything. A conn
// that is not a socket is reported ready at once.
//
// It peeks with MSG_DONTWAIT inside RawConn.Read: the callback returns
// false only when the socket has nothing, so the runtime's poller waits for
// the next readiness edge and calls it again. Readiness is always checked
// by the syscall first, so no edge can be missed. w.eof is set when the
// peek found the end of the stream (a read of 0 bytes, no error).
func (w *srcWatch) waitReadable() error {
	w.eof = false
	if w.rc == nil {
		return nil
	}
	if w.peek == nil {
		w.peek = func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), w.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EAGAIN || err == syscall.EINTR {
				return false
			}
			w.eof = err == nil && n == 0
			return true
		}
	}
	return w.rc.Read(w.peek)
}

// readable reports, without waiting, whether c has data to read, has reached
// EOF or has failed: for an idle pooled conn, any of these means it cannot
// carry another request.
func readable(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var b [1]byte
	ready := false
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ready = err != syscall.EAGAIN && err != syscall.EINTR
		return true
	})
	return ready || err != nil
}

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
			empty, eof := peekSocket(fd, &w.b)
			w.eof = eof
			return !empty
		}
	}
	return w.rc.Read(w.peek)
}

// peekSocket looks at the socket fd without waiting and without taking
// anything from it: empty when it has nothing to read yet, eof when it has
// reached the end of the stream (a read of 0 bytes, no error); an error is
// neither.
func peekSocket(fd uintptr, b *[1]byte) (empty, eof bool) {
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return true, false
	}
	return false, err == nil && n == 0
}

// idleProbe tells, without waiting or reading, whether an idle pooled conn
// has data to read, has reached EOF or has failed: any of these means it
// cannot carry another request (bytes an origin sent while nothing was
// asked would be read as the answer to the next request). It is set up
// once per conn, so a check costs one system call and no allocation. It is
// used by one goroutine at a time (the pool's lock).
type idleProbe struct {
	rc     syscall.RawConn // nil: not a socket, never readable
	broken bool            // the conn gave no RawConn: never usable
	ready  bool
	b      [1]byte
	peek   func(fd uintptr) bool
}

// init sets p up for c (the TCP conn, under any TLS).
func (p *idleProbe) init(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		p.broken = true
		return
	}
	p.rc = rc
	p.peek = func(fd uintptr) bool {
		empty, _ := peekSocket(fd, &p.b)
		p.ready = !empty
		return true
	}
}

// readable reports whether the conn has something to read, EOF or an
// error, now.
func (p *idleProbe) readable() bool {
	if p.rc == nil {
		return p.broken
	}
	p.ready = false
	err := p.rc.Read(p.peek)
	return p.ready || err != nil
}

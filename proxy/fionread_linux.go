package proxy

import "golang.org/x/sys/unix"

// queuedBytes is how many bytes w's conn has received and not yet read
// (FIONREAD), or -1 when that cannot be known. It never waits.
func (w *srcWatch) queuedBytes() int {
	if w.rc == nil {
		return -1
	}
	if w.ioctl == nil {
		w.ioctl = func(fd uintptr) {
			w.n = -1
			if v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ); err == nil {
				w.n = v
			}
		}
	}
	if err := w.rc.Control(w.ioctl); err != nil {
		return -1
	}
	return w.n
}

package proxy

import (
	"errors"
	"io/fs"
	"os"

	"github.com/netpolicy/netpolicy/policy"
)

// socketHandle is the file a unix socket request names, opened once: the
// decision checks its identity (policy.Request.SocketFile) and the dial
// connects through it (dialPath), so that a symlink swapped in between the
// check and the connect cannot redirect the request (POLICY §5).
type socketHandle struct {
	f        *os.File    // the O_PATH handle, where the platform has one
	fi       fs.FileInfo // else the file's stat, taken once
	err      error       // why there is no file to check: the decision refuses
	dialPath string      // what to connect to
}

// errSocketPath marks a socket path the proxy does not even look up (not
// absolute, or holding NUL); the decision refuses it anyway.
var errSocketPath = errors.New("proxy: socket path not absolute")

// Stat describes the opened file (policy.SocketFile).
func (h *socketHandle) Stat() (fs.FileInfo, error) {
	switch {
	case h.err != nil:
		return nil, h.err
	case h.f != nil:
		return h.f.Stat()
	}
	return h.fi, nil
}

// Close releases the handle; the connection made through it stays open.
func (h *socketHandle) Close() {
	if h.f != nil {
		h.f.Close()
	}
}

// openSocket opens the file of a requested socket path, following
// symlinks; the open itself never fails the request, an error handle is
// refused by the decision.
func openSocket(path string) *socketHandle {
	if !policy.ValidSocketPath(path) {
		return &socketHandle{err: errSocketPath}
	}
	return openSocketFile(path)
}

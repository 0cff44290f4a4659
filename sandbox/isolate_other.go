//go:build !linux

package sandbox

import "runtime"

// InitCommand is the hidden first argument of the isolated init process
// (Linux only).
const InitCommand = "__netpolicy-sandbox-init"

// StartIsolated is only available on Linux: elsewhere it returns an
// *UnavailableError.
func StartIsolated(Spec) (*Run, error) {
	return nil, &UnavailableError{Cause: "isolation needs Linux namespaces; this is " + runtime.GOOS}
}

// InitMain is only used on Linux.
func InitMain() int { return 2 }

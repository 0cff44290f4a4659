//go:build !unix

package sandbox

import "syscall"

// ownSessionAttr: there are no sessions to start here; the command keeps
// the terminal it inherits.
func ownSessionAttr() *syscall.SysProcAttr { return nil }

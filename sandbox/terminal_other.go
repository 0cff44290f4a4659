//go:build !unix

package sandbox

import "syscall"

// ownTerminalAttr is nil: sessions and controlling terminals are Unix's.
func ownTerminalAttr() *syscall.SysProcAttr { return nil }

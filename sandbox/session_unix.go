//go:build unix

package sandbox

import "syscall"

// ownSessionAttr starts the command in a new session with its terminal
// (stdin, fd 0) as the controlling terminal.
func ownSessionAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}

//go:build unix

package sandbox

import "syscall"

// ownTerminalAttr starts a command in a new session whose controlling
// terminal is its stdin (Spec.OwnTerminal).
func ownTerminalAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}

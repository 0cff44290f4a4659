//go:build unix

package sandbox

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals are passed on to the command (POLICY §7).
var forwardedSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT,
}

// fromKeyboard reports whether sig is one the terminal sends to its whole
// foreground process group (SIGINT, SIGQUIT) while netpolicy — and so the
// command, which shares its process group — is that group: then the
// command has had it already and forwarding it would deliver it twice.
// Go does not show a signal's sender, so a `kill -INT` aimed at netpolicy
// while it is in a terminal's foreground is taken for a keyboard signal
// too; the command got the keyboard's copy either way.
func fromKeyboard(sig os.Signal, stdio []*os.File) bool {
	if sig != syscall.SIGINT && sig != syscall.SIGQUIT {
		return false
	}
	pgrp := unix.Getpgrp()
	for _, f := range stdio {
		if foreground(f) == pgrp {
			return true
		}
	}
	return false
}

// foreground is the foreground process group of the terminal f, or -1.
// It goes through SyscallConn, as Fd would switch f to blocking mode.
func foreground(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fg := -1
	rc.Control(func(fd uintptr) {
		if n, err := unix.IoctlGetInt(int(fd), unix.TIOCGPGRP); err == nil {
			fg = n
		}
	})
	return fg
}

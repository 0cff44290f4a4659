//go:build linux || darwin

package proxy

import "golang.org/x/sys/unix"

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit, as Go's
// runtime does at start on these systems (so this usually finds nothing to
// do), and returns the soft limit in force.
func RaiseFileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = want.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, err
		}
		rl = want
	}
	return rl.Cur, nil
}

func fileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

//go:build !(linux || darwin)

package proxy

// RaiseFileLimit does nothing where there is no RLIMIT_NOFILE to read.
func RaiseFileLimit() (uint64, error) { return 0, nil }

func fileLimit() uint64 { return 0 }

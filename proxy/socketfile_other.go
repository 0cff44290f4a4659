//go:build !linux

package proxy

import (
	"os"
	"path/filepath"
)

// openSocketFile stats the cleaned path; the dial connects to that path.
// Without O_PATH and /proc/self/fd there is no handle to connect through,
// so a symlink swapped in between check and connect is not caught here.
func openSocketFile(path string) *socketHandle {
	clean := filepath.Clean(path)
	fi, err := os.Stat(clean)
	if err != nil {
		return &socketHandle{err: err}
	}
	return &socketHandle{fi: fi, dialPath: clean}
}

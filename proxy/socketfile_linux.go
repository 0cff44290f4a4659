package proxy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// openSocketFile opens path with O_PATH (no access to the file itself is
// needed, and opening a socket any other way fails) and connects through
// /proc/self/fd/N of that handle: the kernel resolves that magic link to
// the very inode that was checked.
//
// A path that leads through a magic link to something that is not a file
// of the filesystem (another process's descriptors, an unbound socket
// inode) or into /proc is refused: readlink of the handle shows where the
// open really led.
func openSocketFile(path string) *socketHandle {
	clean := filepath.Clean(path)
	fd, err := unix.Open(clean, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &socketHandle{err: &os.PathError{Op: "open", Path: clean, Err: err}}
	}
	f := os.NewFile(uintptr(fd), clean)
	link := "/proc/self/fd/" + strconv.Itoa(fd)
	real, err := os.Readlink(link)
	if err != nil || !strings.HasPrefix(real, "/") || real == "/proc" || strings.HasPrefix(real, "/proc/") {
		f.Close()
		if err == nil {
			err = &os.PathError{Op: "open", Path: clean, Err: os.ErrPermission}
		}
		return &socketHandle{err: err}
	}
	return &socketHandle{f: f, dialPath: link}
}

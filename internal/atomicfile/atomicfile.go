// Package atomicfile writes files so that a reader, a failure or a crash
// sees either the old content or the new, never a mix: user configuration
// (migrate, edit), the CA's files, the ready file and the exec summary.
package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
)

// Hooks for tests to make a write fail half-way; nil means the real call.
var (
	syncHook   func(*os.File) error
	renameHook func(oldpath, newpath string) error
)

// WriteFile replaces the file at path with data, safely: the data goes to a
// temporary file in the same directory, which is synced and renamed over
// the original, so a crash or a failure leaves either the old or the new
// file, never a mix. A symlink is followed (its target is rewritten, the
// link kept); the file's permission bits are kept. When the file already
// holds data it is not touched at all (its mtime stays).
func WriteFile(path string, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(target); err == nil && bytes.Equal(old, data) {
		return nil
	}
	perm := st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	return writeSynced(target, data, perm, rename)
}

// ReplaceFile writes data to path with permission bits perm, as safely as
// WriteFile, creating the file or replacing whatever is there: for the
// files netpolicy itself owns (the CA's files, the ready file, the exec
// summary), which have no mode or link to keep and may be read by another
// process as soon as they appear.
func ReplaceFile(path string, data []byte, perm os.FileMode) error {
	return writeSynced(path, data, perm, rename)
}

// CreateFile writes data to a new file at path with permission bits perm,
// as safely as WriteFile: the data is written and synced under a temporary
// name in the same directory, then linked into place, which fails rather
// than replace a file that appeared meanwhile. Missing parent directories
// are created (0700: they hold a person's configuration).
func CreateFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeSynced(path, data, perm, func(tmp, path string) error {
		err := os.Link(tmp, path)
		os.Remove(tmp) // the file keeps its new name, or was never placed
		return err
	})
}

// writeSynced writes data with permission bits perm to a temporary file in
// path's directory, syncs it and hands it to place, which puts it at path
// (a rename replaces, a link does not); then it syncs the directory. On a
// failure the temporary file is removed and path is untouched.
func writeSynced(path string, data []byte, perm os.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".netpolicy-*")
	if err != nil {
		return err
	}
	placed := false
	defer func() {
		if !placed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	// CreateTemp makes the file 0600.
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	sync := (*os.File).Sync
	if syncHook != nil {
		sync = syncHook
	}
	if err := sync(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := place(tmp.Name(), path); err != nil {
		return err
	}
	placed = true
	// Make the rename or link itself durable; not every system can sync a
	// directory, and the data is already safe, so errors are ignored.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func rename(oldpath, newpath string) error {
	if renameHook != nil {
		return renameHook(oldpath, newpath)
	}
	return os.Rename(oldpath, newpath)
}

package migrate

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
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".netpolicy-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; give it the original's mode.
	if err := tmp.Chmod(st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)); err != nil {
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
	rename := os.Rename
	if renameHook != nil {
		rename = renameHook
	}
	if err := rename(tmp.Name(), target); err != nil {
		return err
	}
	done = true
	// Make the rename itself durable; not every system can sync a
	// directory, and the data is already safe, so errors are ignored.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// CreateFile writes data to a new file at path with permission bits perm,
// as safely as WriteFile: the data is written and synced under a temporary
// name in the same directory, then linked into place, which fails rather
// than replace a file that appeared meanwhile. Missing parent directories
// are created (0700: they hold a person's configuration).
func CreateFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".netpolicy-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

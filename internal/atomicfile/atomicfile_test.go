package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeTemp(t *testing.T, dir, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // not subject to the umask
		t.Fatal(err)
	}
	return p
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// leftovers lists the files of dir other than want (a temporary file left
// behind would show here).
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{}
	for _, w := range want {
		keep[w] = true
	}
	var out []string
	for _, e := range ents {
		if !keep[e.Name()] {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteFileKeepsMode(t *testing.T) {
	dir := t.TempDir()
	p := writeTemp(t, dir, "config.toml", "old\n", 0o640)
	if err := WriteFile(p, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, p); got != "new\n" {
		t.Errorf("content %q", got)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want 640", st.Mode().Perm())
	}
	if l := leftovers(t, dir, "config.toml"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestWriteFileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := writeTemp(t, filepath.Join(dir, "real"), "config.toml", "old\n", 0o600)
	link := filepath.Join(dir, "config.toml")
	if err := os.Symlink("real/config.toml", link); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	if err := WriteFile(link, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, target); got != "new\n" {
		t.Errorf("target holds %q", got)
	}
	st, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if l, _ := os.Readlink(link); l != "real/config.toml" {
		t.Errorf("link points to %q", l)
	}
	// The temporary file was made next to the target, not the link.
	if l := leftovers(t, filepath.Join(dir, "real"), "config.toml"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestWriteFileUnchangedNotTouched(t *testing.T) {
	dir := t.TempDir()
	p := writeTemp(t, dir, "config.toml", "same\n", 0o644)
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(p, past, past); err != nil {
		t.Fatal(err)
	}
	// A failing rename would show if WriteFile tried to write.
	renameHook = func(string, string) error { return errors.New("must not rename") }
	defer func() { renameHook = nil }()
	if err := WriteFile(p, []byte("same\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(past) {
		t.Errorf("mtime changed to %v", st.ModTime())
	}
}

// TestWriteFileFailureKeepsOriginal makes the write fail at each step after
// the temporary file exists (fsync, rename) and in a directory that cannot
// take a new file; the original must be intact and nothing left behind.
// The hooks make the test meaningful when running as root, where a
// read-only directory is writable anyway.
func TestWriteFileFailureKeepsOriginal(t *testing.T) {
	boom := errors.New("injected failure")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"fsync", func(t *testing.T, dir string) {
			syncHook = func(*os.File) error { return boom }
			t.Cleanup(func() { syncHook = nil })
		}},
		{"rename", func(t *testing.T, dir string) {
			renameHook = func(string, string) error { return boom }
			t.Cleanup(func() { renameHook = nil })
		}},
		{"read-only directory", func(t *testing.T, dir string) {
			if os.Geteuid() == 0 {
				t.Skip("root writes into read-only directories; the hooks above cover the failure")
			}
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeTemp(t, dir, "config.toml", "original\n", 0o644)
			tc.setup(t, dir)
			if err := WriteFile(p, []byte("migrated\n")); err == nil {
				t.Fatal("WriteFile succeeded")
			}
			if got := readString(t, p); got != "original\n" {
				t.Errorf("the original now holds %q", got)
			}
			if l := leftovers(t, dir, "config.toml"); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
}

// TestWriteFileDirReplaced: the file's directory is gone (replaced by a
// plain file) between reading and writing; the write fails cleanly, as
// root too.
func TestWriteFileDirReplaced(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "conf")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	p := writeTemp(t, sub, "config.toml", "original\n", 0o644)
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sub, []byte("a file now"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("migrated\n")); err == nil {
		t.Fatal("WriteFile succeeded")
	}
	if got := readString(t, sub); got != "a file now" {
		t.Errorf("the file that replaced the directory now holds %q", got)
	}
}

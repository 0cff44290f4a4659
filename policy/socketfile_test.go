package policy

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// statFile is a SocketFile for a path, stat'ed as the proxy's handle would
// be (symlinks followed).
type statFile string

func (p statFile) Stat() (fs.FileInfo, error) { return os.Stat(string(p)) }

// errFile is a SocketFile the proxy could not open.
type errFile struct{}

func (errFile) Stat() (fs.FileInfo, error) { return nil, fs.ErrNotExist }

// TestDecideSocketAsFiles: with a SocketFile, sockets are compared as files
// (POLICY §5). Every other name of a socket with a none entry is refused
// even with allow-all; an allow entry admits only its own file.
func TestDecideSocketAsFiles(t *testing.T) {
	dir := t.TempDir()
	sock := func(name string) string {
		p := filepath.Join(dir, name)
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Skipf("unix sockets: %v", err)
		}
		t.Cleanup(func() { l.Close() })
		return p
	}
	app, other := sock("app.sock"), sock("other.sock")
	symlink := filepath.Join(dir, "link.sock")
	if err := os.Symlink(app, symlink); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.sock")
	if err := os.Link(app, hard); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	linkToFile := filepath.Join(dir, "tofile.sock")
	if err := os.Symlink(regular, linkToFile); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.sock")
	if err := os.Symlink(filepath.Join(dir, "gone.sock"), dangling); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(dir, "dirlink")
	if err := os.Symlink(dir, dirLink); err != nil {
		t.Fatal(err)
	}
	viaDir := filepath.Join(dirLink, "app.sock")

	noneAllowAll := pol(allowAllSockets, sockets(app, "none"))
	allowApp := pol(sockets(app, "allow"))
	allowLink := pol(sockets(symlink, "allow"))
	for _, tc := range []struct {
		id     string
		policy *Effective
		path   string
		file   SocketFile // nil: statFile(path)
		want   Reason
		rule   string // the entry that decided, "" for none
	}{
		{"none-direct", noneAllowAll, app, nil, ReasonNotAllowed, app},
		{"none-symlink", noneAllowAll, symlink, nil, ReasonNotAllowed, app},
		{"none-hard-link", noneAllowAll, hard, nil, ReasonNotAllowed, app},
		{"none-dir-symlink", noneAllowAll, viaDir, nil, ReasonNotAllowed, app},
		{"none-other-socket", noneAllowAll, other, nil, ReasonAllowed, ""},
		{"none-via-rule-symlink", pol(allowAllSockets, sockets(symlink, "none")), app, nil, ReasonNotAllowed, symlink},
		{"allow-direct", allowApp, app, nil, ReasonAllowed, app},
		{"allow-symlink", allowApp, symlink, nil, ReasonAllowed, app},
		{"allow-hard-link", allowApp, hard, nil, ReasonAllowed, app},
		{"allow-other-socket", allowApp, other, nil, ReasonNotAllowed, ""},
		// The request names the allowed path, but what was opened is
		// another file (a symlink swapped in): the file decides.
		{"allow-path-other-file", allowApp, app, statFile(other), ReasonNotAllowed, ""},
		{"allow-rule-is-symlink", allowLink, app, nil, ReasonAllowed, symlink},
		{"allow-none-same-file", pol(sockets(app, "allow", hard, "none")), app, nil, ReasonNotAllowed, hard},
		{"not-a-socket", pol(allowAllSockets), regular, nil, ReasonNotAllowed, ""},
		{"symlink-to-file", pol(allowAllSockets), linkToFile, nil, ReasonNotAllowed, ""},
		{"missing", pol(allowAllSockets), filepath.Join(dir, "missing.sock"), errFile{}, ReasonNotAllowed, ""},
		{"dangling", pol(allowAllSockets), dangling, nil, ReasonNotAllowed, ""},
		{"directory", pol(allowAllSockets), dir, nil, ReasonNotAllowed, ""},
		{"allow-all-ok", pol(allowAllSockets), app, nil, ReasonAllowed, ""},
	} {
		t.Run(tc.id, func(t *testing.T) {
			c := mustCompile(t, tc.policy)
			f := tc.file
			if f == nil {
				f = statFile(tc.path)
			}
			req := Request{Host: "localhost", Port: 80, Protocol: ProtoHTTP, Method: "GET", UnixSocket: tc.path, SocketFile: f}
			d := c.Decide(context.Background(), req, newStub(t, nil))
			if d.Reason != tc.want {
				t.Fatalf("reason %s, want %s", d.Reason, tc.want)
			}
			if tc.want == ReasonNotAllowed && d.Verdict != VerdictDeny {
				t.Errorf("verdict %s, want deny", d.Verdict)
			}
			got := ""
			if d.Socket != nil {
				got = d.Socket.Path
			}
			if got != tc.rule {
				t.Errorf("deciding entry %q, want %q", got, tc.rule)
			}
		})
	}
}

// TestDecideSocketStatError: a file that cannot be described is refused,
// whatever the rules say.
func TestDecideSocketStatError(t *testing.T) {
	c := mustCompile(t, pol(allowAllSockets))
	d := c.DecideSocket(Request{Host: "localhost", Protocol: ProtoHTTP, UnixSocket: "/run/x.sock", SocketFile: errFile{}})
	if d.Allowed() || d.Reason != ReasonNotAllowed {
		t.Fatalf("decision %s/%s, want deny/not_allowed", d.Verdict, d.Reason)
	}
}

package proxy

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestUnixSocketComparedAsFiles is issue 9's defect 1: with allow-all on and
// a none entry for a socket, every other name of that socket — a symlink, a
// hard link, /proc/self/root<path>, /proc/<pid>/root<path> — used to reach
// it. Each is refused now, and allow entries admit exactly their own file.
func TestUnixSocketComparedAsFiles(t *testing.T) {
	app, appOrigin := unixOrigin(t, "app.sock")
	other, otherOrigin := unixOrigin(t, "other.sock")
	dir := t.TempDir()
	symlink := filepath.Join(dir, "link.sock")
	if err := os.Symlink(app, symlink); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(filepath.Dir(app), "hard.sock")
	if err := os.Link(app, hard); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	spellings := map[string]string{
		"symlink":        symlink,
		"hard-link":      hard,
		"proc-self-root": "/proc/self/root" + app,
		"proc-pid-root":  "/proc/" + strconv.Itoa(os.Getpid()) + "/root" + app,
		"dot-segments":   filepath.Dir(app) + "/./../" + filepath.Base(filepath.Dir(app)) + "//app.sock",
	}

	t.Run("none-with-allow-all", func(t *testing.T) {
		e := sockets(effective(nil), map[string]string{app: "none"})
		e.DangerouslyAllowAllUnixSockets.Value = true
		h := newHarness(t, e)
		for name, p := range spellings {
			resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+p)
			b := wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "deny")
			if b.Host != "unix-socket" || b.Port != 0 || b.Path != p {
				t.Errorf("%s: block body host %q port %d path %q", name, b.Host, b.Port, b.Path)
			}
		}
		if n := appOrigin.count(); n != 0 {
			t.Errorf("the none socket was reached %d times", n)
		}
		if d := h.UnixDials(); len(d) != 0 {
			t.Errorf("unix dials %v, want none", d)
		}
		// allow-all still reaches other sockets, but not files that are
		// not sockets, nor missing ones.
		resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+other)
		if resp.StatusCode != 200 || body != "OK from socket" || otherOrigin.count() != 1 {
			t.Errorf("other socket: %d %q", resp.StatusCode, body)
		}
		for _, p := range []string{regular, filepath.Join(dir, "missing.sock"), dir, "/proc/self/root" + other} {
			resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+p)
			wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "deny")
		}
		if d := h.UnixDials(); len(d) != 1 {
			t.Errorf("unix dials %v, want one", d)
		}
		for _, ev := range h.audit.events(t) {
			if ev["server.address"] != "unix-socket" || ev["server.port"] != float64(0) {
				t.Errorf("audit event %v", ev)
			}
		}
	})

	t.Run("allow-entry", func(t *testing.T) {
		h := newHarness(t, sockets(effective(nil), map[string]string{app: "allow"}))
		before := appOrigin.count()
		for _, name := range []string{"symlink", "hard-link", "dot-segments"} {
			resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+spellings[name])
			if resp.StatusCode != 200 || body != "OK from socket" {
				t.Errorf("%s: %d %q, want the allowed socket's answer", name, resp.StatusCode, body)
			}
		}
		if got := appOrigin.count() - before; got != 3 {
			t.Errorf("allowed socket reached %d times, want 3", got)
		}
		for _, p := range []string{other, "/proc/self/root" + app} {
			resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+p)
			wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "deny")
		}
	})
}

// TestUnixSocketSymlinkSwap: the file that was checked is the file
// connected to. The dial hook swaps the requested symlink to a socket the
// policy does not allow after the decision; the request still reaches the
// checked socket.
func TestUnixSocketSymlinkSwap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("connecting through the checked handle needs /proc/self/fd")
	}
	app, appOrigin := unixOrigin(t, "app.sock")
	evil, evilOrigin := unixOrigin(t, "evil.sock")
	link := filepath.Join(t.TempDir(), "link.sock")
	if err := os.Symlink(app, link); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, sockets(effective(nil), map[string]string{app: "allow"}), func(s *Server) {
		s.DialUnix = func(ctx context.Context, path string) (net.Conn, error) {
			if !strings.HasPrefix(path, "/proc/self/fd/") {
				t.Errorf("dialled %q, want the checked handle", path)
			}
			tmp := link + ".new"
			if err := os.Symlink(evil, tmp); err != nil {
				return nil, err
			}
			if err := os.Rename(tmp, link); err != nil {
				return nil, err
			}
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	})
	resp, body := h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+link)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if appOrigin.count() != 1 || evilOrigin.count() != 0 {
		t.Fatalf("checked socket reached %d times, swapped-in socket %d times", appOrigin.count(), evilOrigin.count())
	}
	// The swapped link now names the evil socket: refused.
	resp, body = h.do(t, "GET", "http://localhost/_ping", "X-Unix-Socket: "+link)
	wantBlock(t, resp, body, "blocked-by-allowlist", "not_allowed", "deny")
}

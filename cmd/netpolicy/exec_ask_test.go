//go:build linux

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/netpolicy/netpolicy/internal/syncio"
)

// askSession is `netpolicy exec` running on a pseudo-terminal that plays
// the person's terminal: keys are typed into it, the screen read from it.
type askSession struct {
	t      *testing.T
	cmd    *exec.Cmd
	tty    *os.File
	screen syncio.Buffer
	done   chan struct{}
	cfg    string
	port   string // the origin's
}

// startAsk runs exec with a config that asks on a miss (workspace-write,
// no managed file); new.example.net resolves to the origin on 127.0.0.1,
// which allow_local_binding lets through once a person allows the name.
func startAsk(t *testing.T, askArgs []string, cmdArgs ...string) *askSession {
	t.Helper()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello from origin\n"))
	}))
	t.Cleanup(origin.Close)
	_, port, _ := strings.Cut(origin.Listener.Addr().String(), "127.0.0.1:")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte("# mine\n[network]\nenabled = true\nallow_local_binding = true\n"), 0o644)
	args := []string{"exec", "--config", cfg, "--requirements="}
	if !slices.Contains(askArgs, "--isolate") {
		args = append(args, "--isolate", "off")
	}
	args = append(args, askArgs...)
	args = append(args, "--")
	for _, a := range cmdArgs {
		args = append(args, strings.ReplaceAll(a, "PORT", port))
	}
	cmd := exec.Command("netpolicy", args...)
	cmd.Env = append(os.Environ(), "SCRIPT_FAKE_RESOLVER=new.example.net=127.0.0.1;other.example.net=127.0.0.1", "NO_COLOR=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 120})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	s := &askSession{t: t, cmd: cmd, tty: tty, done: make(chan struct{}), cfg: cfg, port: port}
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := tty.Read(b)
			s.screen.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		tty.Close()
	})
	return s
}

func (s *askSession) text() string {
	return s.screen.String()
}

// waitFor waits until the screen shows want (after offset from) and
// returns the offset after it.
func (s *askSession) waitFor(from int, want string) int {
	s.t.Helper()
	next, ok := s.screen.Await(from, want, 15*time.Second)
	if !ok {
		s.t.Fatalf("screen never showed %q; it shows %q", want, s.text())
	}
	return next
}

// exit waits for exec to end and returns its exit code.
func (s *askSession) exit() int {
	s.t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- s.cmd.Wait() }()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		s.t.Fatalf("exec did not end; screen: %q", s.text())
	}
	return s.cmd.ProcessState.ExitCode()
}

const askQuestion = `allow new.example.net (http PORT)? [o]nce [s]ession [N]o, or type "always": `

func question(port string) string { return strings.ReplaceAll(askQuestion, "PORT", port) }

func originPort(s *askSession) string { return s.port }

// TestExecAsks drives the questions of exec through a terminal.
func TestExecAsks(t *testing.T) {
	t.Run("once", func(t *testing.T) {
		audit := filepath.Join(t.TempDir(), "audit.log")
		s := startAsk(t, []string{"--audit-log", audit}, "nphelper", "get", "http://new.example.net:PORT/")
		off := s.waitFor(0, question(originPort(s)))
		s.tty.WriteString("o\r")
		s.waitFor(off, "200 \r\nhello from origin")
		if code := s.exit(); code != 0 {
			t.Fatalf("exit %d: %q", code, s.text())
		}
		// The person's allow is audited as an override.
		log, _ := os.ReadFile(audit)
		if !bytes.Contains(log, []byte(`"network.policy.decision":"allow"`)) || !bytes.Contains(log, []byte(`"network.policy.override":true`)) {
			t.Fatalf("audit log: %s", log)
		}
	})
	t.Run("once isolated", func(t *testing.T) {
		// In the namespaces the command's session and controlling
		// terminal are the relayed pseudo-terminal too.
		s := startAsk(t, []string{"--isolate", "on"}, "sh", "-c", "nphelper get http://new.example.net:PORT/; tty; ps -o pid,sess,tty,comm 2>/dev/null | head -3")
		off := s.waitFor(0, question(originPort(s)))
		s.tty.WriteString("o\r")
		s.waitFor(off, "hello from origin")
		code := s.exit()
		if strings.Contains(s.text(), "cannot isolate") || code == 2 {
			t.Skipf("no isolation here: %q", s.text())
		}
		t.Logf("screen: %q", s.text())
		if !strings.Contains(s.text(), "/dev/pts/") {
			t.Fatalf("command's terminal: %q", s.text())
		}
	})
	t.Run("no", func(t *testing.T) {
		s := startAsk(t, nil, "nphelper", "get", "http://new.example.net:PORT/")
		off := s.waitFor(0, question(originPort(s)))
		s.tty.WriteString("n\r")
		s.waitFor(off, "403 blocked-by-allowlist")
		s.exit()
	})
	t.Run("timeout", func(t *testing.T) {
		s := startAsk(t, []string{"--ask-timeout", "300ms"}, "nphelper", "get", "http://new.example.net:PORT/")
		off := s.waitFor(0, question(originPort(s)))
		s.waitFor(off, "403 blocked-by-allowlist")
		s.exit()
	})
	t.Run("always", func(t *testing.T) {
		s := startAsk(t, nil, "nphelper", "get", "http://new.example.net:PORT/")
		off := s.waitFor(0, question(originPort(s)))
		s.tty.WriteString("always\r")
		s.waitFor(off, "200 \r\nhello from origin")
		s.exit()
		got, _ := os.ReadFile(s.cfg)
		want := "# mine\n[network]\nenabled = true\nallow_local_binding = true\n\n[network.domains]\n\"new.example.net\" = \"allow\"\n"
		if string(got) != want {
			t.Fatalf("config after always:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("session asks once per host", func(t *testing.T) {
		s := startAsk(t, nil, "sh", "-c", "nphelper get http://new.example.net:PORT/a; nphelper get http://new.example.net:PORT/b; nphelper get http://other.example.net:PORT/c")
		off := s.waitFor(0, question(originPort(s)))
		s.tty.WriteString("s\r")
		off = s.waitFor(off, "hello from origin")
		// The second request to the same host is not asked about; the
		// other host is. The second answer may show after that question:
		// the relay holds the command's output while a question is on
		// the screen, and it may not have shown the answer yet when the
		// third request asks.
		off = s.waitFor(off, "allow other.example.net")
		s.tty.WriteString("\r")
		s.waitFor(off, "403 blocked-by-allowlist")
		s.exit()
		if n := strings.Count(s.text(), "allow new.example.net"); n != 1 {
			t.Fatalf("asked %d times about new.example.net: %q", n, s.text())
		}
		if n := strings.Count(s.text(), "200 \r\nhello from origin"); n != 2 {
			t.Fatalf("%d answers from the origin, want 2: %q", n, s.text())
		}
	})
	t.Run("no-ask", func(t *testing.T) {
		s := startAsk(t, []string{"--no-ask"}, "nphelper", "get", "http://new.example.net:PORT/")
		s.waitFor(0, "403 blocked-by-allowlist")
		s.exit()
		if strings.Contains(s.text(), "allow new.example.net (") {
			t.Fatal("asked with --no-ask")
		}
	})
}

//go:build linux

package prompt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/netpolicy/netpolicy/internal/syncio"
	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
)

// The test binary doubles as the sandboxed command: with PROMPT_TEST_CMD
// set it runs one of these behaviours on its terminal instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("PROMPT_TEST_CMD") {
	case "":
		os.Exit(m.Run())
	case "echo":
		fmt.Println("ready")
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Printf("got: %s\n", sc.Text())
		}
	case "tiocsti":
		// Try to type "always" and Enter into the terminal, the way a
		// hostile program would answer a question for the person.
		fmt.Println("ready")
		time.Sleep(300 * time.Millisecond)
		for _, c := range []byte("always\r") {
			b := c
			_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, os.Stdin.Fd(), syscall.TIOCSTI, uintptr(unsafePointer(&b)))
			if errno != 0 {
				fmt.Printf("TIOCSTI: %v\n", errno)
				break
			}
		}
		fmt.Println("injected")
		time.Sleep(3 * time.Second)
	case "writealways":
		fmt.Println("ready")
		for i := 0; i < 20; i++ {
			fmt.Print("always\r\n")
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
	}
	os.Exit(0)
}

// screen collects what the person's terminal shows.
type screen struct{ syncio.Buffer }

// waitFor waits until the screen shows want after offset from.
func (s *screen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	next, ok := s.Await(from, want, 5*time.Second)
	if !ok {
		t.Fatalf("screen never showed %q; it shows %q", want, s.String())
	}
	return next
}

// terminal is a person's terminal (a pty: keys go in at keyboard, the
// screen is read from it) with a relay on it.
type terminal struct {
	keyboard *os.File
	screen   *screen
	relay    *Relay
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	pm, ps, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	withFd(pm, func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}) })
	r, err := Open(ps)
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{keyboard: pm, screen: &screen{}, relay: r}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := pm.Read(b)
			term.screen.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		r.Close()
		ps.Close()
		pm.Close()
		<-done
	})
	return term
}

// run starts the test binary as the command in behaviour mode, on the
// relay's terminal, as its session leader.
func (term *terminal) run(t *testing.T, mode string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PROMPT_TEST_CMD="+mode)
	s := term.relay.Slave()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	term.screen.waitFor(t, 0, "ready")
}

// ask asks in the background and returns the channel of the answer.
func (term *terminal) ask(host string) chan proxy.Answer {
	ch := make(chan proxy.Answer, 1)
	go func() {
		ch <- term.relay.Ask(context.Background(), proxy.Question{Host: host, Port: 443, Protocol: policy.ProtoHTTPSConnect})
	}()
	return ch
}

func wantAnswer(t *testing.T, ch chan proxy.Answer, want proxy.Answer) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("answer %s, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
}

const question = `allow api.example.com (https_connect 443)? [o]nce [s]ession [N]o, or type "always": `

// TestAnswers types each answer on the person's terminal.
func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		keys   string
		want   proxy.Answer
		always error // what writing the rule returns
		wrote  bool
	}{
		{"o\r", proxy.AnswerOnce, nil, false},
		{"once\r", proxy.AnswerOnce, nil, false},
		{"s\r", proxy.AnswerSession, nil, false},
		{"always\r", proxy.AnswerAlways, nil, true},
		{"always\r", proxy.AnswerOnce, errors.New("disk full"), true},
		{"alw\r", proxy.AnswerNo, nil, false},
		{"a\r", proxy.AnswerNo, nil, false},
		{"\r", proxy.AnswerNo, nil, false},
		{"n\r", proxy.AnswerNo, nil, false},
		{"sx\x7f\r", proxy.AnswerSession, nil, false},
		{"o\x03", proxy.AnswerNo, nil, false},
	} {
		t.Run(fmt.Sprintf("%q", tc.keys), func(t *testing.T) {
			term := newTerminal(t)
			var wrote []string
			term.relay.Always = func(host string) error {
				wrote = append(wrote, host)
				return tc.always
			}
			ch := term.ask("api.example.com")
			term.screen.waitFor(t, 0, question)
			term.keyboard.WriteString(tc.keys)
			wantAnswer(t, ch, tc.want)
			if tc.wrote != (len(wrote) == 1 && wrote[0] == "api.example.com") {
				t.Fatalf("rule written for %v", wrote)
			}
			if tc.always != nil {
				term.screen.waitFor(t, 0, "could not write the rule (disk full): allowed once")
			}
			// The question's line is given back: cleared, cursor restored.
			term.screen.waitFor(t, 0, "\x1b[2K\x1b8")
		})
	}
}

// TestTimeout: nobody answers, the answer is no.
func TestTimeout(t *testing.T) {
	term := newTerminal(t)
	term.relay.Timeout = 200 * time.Millisecond
	start := time.Now()
	wantAnswer(t, term.ask("api.example.com"), proxy.AnswerNo)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	term.screen.waitFor(t, 0, "no answer in time: blocked")
}

// TestRelay: the command gets the keys and the screen gets its output;
// input typed before a question goes to the command, not to the answer.
func TestRelay(t *testing.T) {
	term := newTerminal(t)
	term.run(t, "echo")
	term.keyboard.WriteString("hello\r")
	off := term.screen.waitFor(t, 0, "got: hello")
	term.keyboard.WriteString("s\r")
	off = term.screen.waitFor(t, off, "got: s")
	term.relay.Timeout = 300 * time.Millisecond
	wantAnswer(t, term.ask("api.example.com"), proxy.AnswerNo)
	// After the question the keyboard is the command's again.
	term.keyboard.WriteString("after\r")
	term.screen.waitFor(t, off, "got: after")
}

// TestCommandCannotAnswer: a command that injects "always" into its
// terminal with TIOCSTI, or prints it, does not answer the question.
func TestCommandCannotAnswer(t *testing.T) {
	for _, mode := range []string{"tiocsti", "writealways"} {
		t.Run(mode, func(t *testing.T) {
			term := newTerminal(t)
			called := false
			term.relay.Always = func(string) error { called = true; return nil }
			term.relay.Timeout = 1500 * time.Millisecond
			ch := term.ask("api.example.com")
			term.screen.waitFor(t, 0, question)
			term.run(t, mode)
			wantAnswer(t, ch, proxy.AnswerNo)
			if called {
				t.Fatal("a rule was written")
			}
			if mode == "tiocsti" {
				term.screen.waitFor(t, 0, "injected")
			}
			if mode == "writealways" {
				// What the command printed during the question is shown
				// only once the question gave its line back.
				end := term.screen.waitFor(t, 0, "\x1b[2K\x1b8")
				first := term.screen.waitFor(t, 0, "ready\r\nalways\r")
				if first < end {
					t.Fatalf("command output written into the question's line: %q", term.screen.String())
				}
			}
		})
	}
}

// TestNeverShowsControlCharacters: a host that is not a valid name is
// never asked about, and Printable escapes what it is given.
func TestNeverShowsControlCharacters(t *testing.T) {
	term := newTerminal(t)
	wantAnswer(t, term.ask("evil\x1b[2J.example"), proxy.AnswerNo)
	time.Sleep(50 * time.Millisecond)
	if s := term.screen.String(); strings.Contains(s, "allow ") || strings.Contains(s, "\x1b[2J") {
		t.Fatalf("screen shows %q", s)
	}
	if got := Printable("a\x1b[31m\x07\r\nb\xff"); got != `a\x1b[31m\x07\x0d\x0ab\xff` {
		t.Fatalf("Printable = %q", got)
	}
}

// The terminal is back in its own mode after Close.
func TestCloseRestores(t *testing.T) {
	pm, ps, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer pm.Close()
	defer ps.Close()
	var before *unix.Termios
	withFd(ps, func(fd int) (err error) { before, err = unix.IoctlGetTermios(fd, unix.TCGETS); return err })
	r, err := Open(ps)
	if err != nil {
		t.Fatal(err)
	}
	var during *unix.Termios
	withFd(ps, func(fd int) (err error) { during, err = unix.IoctlGetTermios(fd, unix.TCGETS); return err })
	if during.Lflag&unix.ECHO != 0 {
		t.Fatal("not raw while relaying")
	}
	r.Close()
	var after *unix.Termios
	withFd(ps, func(fd int) (err error) { after, err = unix.IoctlGetTermios(fd, unix.TCGETS); return err })
	if *after != *before {
		t.Fatalf("terminal mode not restored")
	}
}

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }

// TestWindowSize: the command's terminal follows the person's size.
func TestWindowSize(t *testing.T) {
	term := newTerminal(t)
	size := func(f *os.File) (rows, cols uint16) {
		var ws *unix.Winsize
		withFd(f, func(fd int) (err error) { ws, err = unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); return err })
		return ws.Row, ws.Col
	}
	if r, c := size(term.relay.Slave()); r != 30 || c != 100 {
		t.Fatalf("command's terminal is %dx%d, want 30x100", r, c)
	}
	withFd(term.keyboard, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 132})
	})
	syscall.Kill(os.Getpid(), syscall.SIGWINCH)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, c := size(term.relay.Slave()); r == 50 && c == 132 {
			return
		}
		if time.Now().After(deadline) {
			r, c := size(term.relay.Slave())
			t.Fatalf("after SIGWINCH the command's terminal is %dx%d, want 50x132", r, c)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

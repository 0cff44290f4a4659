//go:build linux

package prompt

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/proxy"
)

// Relay owns the person's terminal while a command runs on its own
// pseudo-terminal: it copies keystrokes to the command and the command's
// output to the screen, and takes the keyboard over for questions.
type Relay struct {
	// Timeout is how long a question waits for an answer ("no" after it).
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Always writes an allow rule for host (as `netpolicy allow` does)
	// when the answer is "always". If nil, or when it fails, the answer
	// counts as "once" and the error is shown.
	Always func(host string) error

	tty    *os.File // the person's terminal
	master *os.File // the command's pseudo-terminal, our side
	slave  *os.File // the command's side: its stdin, stdout and stderr
	saved  *unix.Termios

	askMu sync.Mutex // one question on the terminal at a time

	mu      sync.Mutex
	shown   *sync.Cond  // on mu: signalled when a question leaves the screen
	holding bool        // a question holds the screen
	answer  chan []byte // set while a question reads the keyboard
	closed  bool
	outDone chan struct{}
	winch   chan os.Signal
}

// Open starts a relay on the person's terminal tty (a terminal the
// command does not hold, such as /dev/tty opened by the caller): it makes
// a pseudo-terminal of the terminal's size for the command, puts tty in
// raw mode and starts copying. The command gets Slave as stdin, stdout and
// stderr. Close restores the terminal.
func Open(tty *os.File) (*Relay, error) {
	var saved *unix.Termios
	err := withFd(tty, func(fd int) (err error) { saved, err = unix.IoctlGetTermios(fd, unix.TCGETS); return err })
	if err != nil {
		return nil, fmt.Errorf("not a terminal: %w", err)
	}
	master, slave, err := openPTY()
	if err != nil {
		return nil, err
	}
	r := &Relay{tty: tty, master: master, slave: slave, saved: saved, outDone: make(chan struct{})}
	r.shown = sync.NewCond(&r.mu)
	r.syncSize()
	raw := *saved
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := withFd(tty, func(fd int) error { return unix.IoctlSetTermios(fd, unix.TCSETS, &raw) }); err != nil {
		master.Close()
		slave.Close()
		return nil, err
	}
	go r.input()
	go r.output()
	r.watchSize()
	return r, nil
}

// Slave is the command's terminal.
func (r *Relay) Slave() *os.File { return r.slave }

// openPTY opens a new pseudo-terminal pair (Linux /dev/ptmx).
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var n int
	err = withFd(m, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN)
		return err
	})
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// syncSize gives the command's terminal the size of the person's.
func (r *Relay) syncSize() {
	var ws *unix.Winsize
	if withFd(r.tty, func(fd int) (err error) { ws, err = unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); return err }) == nil {
		withFd(r.master, func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) })
	}
}

// input copies keystrokes to the command, or to the question being asked.
func (r *Relay) input() {
	buf := make([]byte, 4096)
	for {
		n, err := r.tty.Read(buf)
		if n > 0 {
			r.mu.Lock()
			ch := r.answer
			r.mu.Unlock()
			if ch != nil {
				b := append([]byte(nil), buf[:n]...)
				select {
				case ch <- b:
				default: // the question is not reading: dropped, never the command's
				}
			} else if _, werr := r.master.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// output copies the command's output to the screen. The screen lock is the
// question lock's sibling: a question's line is never interleaved with it.
func (r *Relay) output() {
	defer close(r.outDone)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.master.Read(buf)
		if n > 0 {
			r.mu.Lock()
			// The command's output waits while a question holds the
			// screen, so that it is not written into the question's line.
			for r.holding && !r.closed {
				r.shown.Wait()
			}
			r.tty.Write(buf[:n])
			r.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// Close restores the person's terminal and closes the pseudo-terminal,
// after the command's last output has been shown (or after a second).
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.shown.Broadcast()
	r.mu.Unlock()
	r.stopSize()
	r.slave.Close()
	select {
	case <-r.outDone:
	case <-time.After(time.Second):
	}
	r.master.Close()
	return withFd(r.tty, func(fd int) error { return unix.IoctlSetTermios(fd, unix.TCSETS, r.saved) })
}

// Ask asks the person about q and returns the answer; it is the proxy's
// Ask hook. One question is on the terminal at a time; a question that
// waits longer than Timeout, or whose terminal fails, is "no".
func (r *Relay) Ask(ctx context.Context, q proxy.Question) proxy.Answer {
	if !policy.ValidHost(q.Host) {
		return proxy.AnswerNo
	}
	r.askMu.Lock()
	keys := make(chan []byte, 64)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.askMu.Unlock()
		return proxy.AnswerNo
	}
	r.holding = true
	// Whatever was typed before the question is not an answer to it.
	withFd(r.tty, func(fd int) error { return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH) })
	r.answer = keys
	rows := r.rows()
	prompt := fmt.Sprintf("allow %s (%s %d)? [o]nce [s]ession [N]o, or type \"always\": ", Printable(q.Host), Printable(string(q.Protocol)), q.Port)
	// Save the cursor, take the last line, and give both back afterwards.
	fmt.Fprintf(r.tty, "\x1b7\x1b[%d;1H\x1b[2K%s", rows, prompt)
	r.mu.Unlock()

	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ans, note := r.read(ctx, keys, timeout)
	if ans == proxy.AnswerAlways {
		if r.Always == nil {
			ans, note = proxy.AnswerOnce, "no config to write: allowed once"
		} else if err := r.Always(q.Host); err != nil {
			ans, note = proxy.AnswerOnce, "could not write the rule ("+Printable(err.Error())+"): allowed once"
		}
	}
	r.mu.Lock()
	r.answer = nil
	if note == "" {
		r.release()
		return ans
	}
	// Leave the outcome on that line for a moment; the request does not
	// wait for it, the next question and the command's output do.
	fmt.Fprintf(r.tty, "\x1b[%d;1H\x1b[2K%s", rows, Printable(note))
	r.mu.Unlock()
	go func() {
		time.Sleep(noteTime)
		r.mu.Lock()
		r.release()
	}()
	return ans
}

// noteTime is how long the outcome of a question stays on its line.
const noteTime = 1500 * time.Millisecond

// release gives the question's line back (mu held; it unlocks mu and then
// the question lock).
func (r *Relay) release() {
	if !r.closed {
		fmt.Fprint(r.tty, "\x1b[2K\x1b8")
	}
	r.holding = false
	r.shown.Broadcast()
	r.mu.Unlock()
	r.askMu.Unlock()
}

// rows is the height of the person's terminal (24 when unknown).
func (r *Relay) rows() int {
	var ws *unix.Winsize
	if withFd(r.tty, func(fd int) (err error) { ws, err = unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); return err }) == nil && ws.Row > 0 {
		return int(ws.Row)
	}
	return 24
}

// read reads one answer line: "o"/"once", "s"/"session", "always" in full,
// anything else (and Enter alone) is no. Typed letters are echoed; the
// caller holds the question.
func (r *Relay) read(ctx context.Context, keys chan []byte, timeout time.Duration) (proxy.Answer, string) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var line []byte
	for {
		select {
		case <-timer.C:
			return proxy.AnswerNo, "no answer in time: blocked"
		case <-ctx.Done():
			return proxy.AnswerNo, ""
		case b := <-keys:
			for _, c := range b {
				switch {
				case c == '\r' || c == '\n':
					return parseAnswer(string(line)), ""
				case c == 0x7f || c == 0x08:
					if len(line) > 0 {
						line = line[:len(line)-1]
						r.echo("\b \b")
					}
				case c == 0x03 || c == 0x1b: // Ctrl-C, Escape: no
					return proxy.AnswerNo, ""
				case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
					if len(line) < 16 {
						line = append(line, c)
						r.echo(string(c))
					}
				}
			}
		}
	}
}

func (r *Relay) echo(s string) {
	r.mu.Lock()
	io.WriteString(r.tty, s)
	r.mu.Unlock()
}

// watchSize keeps the command's terminal the size of the person's.
func (r *Relay) watchSize() {
	r.winch = make(chan os.Signal, 1)
	signal.Notify(r.winch, unix.SIGWINCH)
	go func() {
		for range r.winch {
			r.syncSize()
		}
	}()
}

func (r *Relay) stopSize() {
	signal.Stop(r.winch)
	close(r.winch)
}

// withFd runs f on the descriptor of file without (*os.File).Fd, which
// would switch the file to blocking mode: a blocked Read could then not be
// interrupted by Close.
func withFd(file *os.File, f func(fd int) error) error {
	rc, err := file.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	return withFd(f, func(fd int) error {
		_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	}) == nil
}

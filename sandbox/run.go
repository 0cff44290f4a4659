package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// Mode is the --isolate setting.
type Mode string

// The isolation modes.
const (
	// Auto isolates where the kernel allows it and otherwise runs the
	// command without isolation after one warning.
	Auto Mode = "auto"
	// On isolates or fails.
	On Mode = "on"
	// Off never isolates.
	Off Mode = "off"
)

// ParseMode accepts auto, on and off.
func ParseMode(s string) (Mode, bool) {
	switch m := Mode(s); m {
	case Auto, On, Off:
		return m, true
	}
	return "", false
}

// Spec is the command to run and how.
type Spec struct {
	// Argv is the command and its arguments; Argv[0] is looked up in PATH.
	Argv []string
	// Env is the command's environment without the proxy variables, which
	// Start and StartIsolated add (ProxyEnv).
	Env []string
	// Dir is the working directory; "" means the caller's.
	Dir string
	// Stdin, Stdout and Stderr are the command's; an *os.File is passed
	// as it is (a terminal stays a terminal), anything else through a
	// pipe. Nil means the null device.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// SOCKS asks StartIsolated for a SOCKS5 listener as well as the HTTP
	// one. (Start takes the proxy's addresses instead.)
	SOCKS bool
	// OwnTerminal says Stdin is a terminal of the command's own (the
	// pseudo-terminal netpolicy relays when it may ask questions): the
	// command starts in a new session with it as the controlling terminal,
	// so that /dev/tty inside is that terminal, never the person's.
	OwnTerminal bool
	// Hide says what the mount namespace hides (isolation only).
	Hide Hide
}

// Hide is what an isolated command must not see of the filesystem.
type Hide struct {
	// Dirs are covered with an empty tmpfs when they exist (symlinks are
	// followed, so /var/run and /run are covered once).
	Dirs []string
	// ScanDirs are searched at start for unix sockets, each of which is
	// covered with /dev/null: every socket under them that a process of
	// this network namespace has bound (from /proc/net/unix, at any depth),
	// and every socket file within scanDepth levels.
	ScanDirs []string
	// Keep are unix sockets that stay reachable at their paths even when
	// under Dirs or ScanDirs (the policy allows them).
	Keep []string
}

// Status is how the command ended.
type Status struct {
	Code   int            // exit code when it exited
	Signal syscall.Signal // the signal that killed it, or 0
}

// ExitCode is the status for netpolicy to exit with: the command's exit
// code, or 128 plus the number of the signal that killed it.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// StartError says that the command could not be started (not found, not
// executable); netpolicy then exits 2.
type StartError struct {
	Name string
	Err  error
}

func (e *StartError) Error() string { return fmt.Sprintf("cannot run %s: %v", e.Name, e.Err) }
func (e *StartError) Unwrap() error { return e.Err }

// UnavailableError says that isolation is not possible here, and why.
type UnavailableError struct{ Cause string }

func (e *UnavailableError) Error() string { return "cannot isolate the command: " + e.Cause }

// Run is a started command.
type Run struct {
	// Isolated is true when the command runs in its own namespaces.
	Isolated bool
	// HTTP and SOCKS are, under isolation, the listening sockets on the
	// namespace's loopback that the proxy outside must serve (SOCKS is nil
	// unless Spec.SOCKS). Both are nil without isolation.
	HTTP, SOCKS net.Listener

	files  []*os.File // the command's stdio, where they are files
	sigs   chan os.Signal
	signal func(os.Signal) error
	wait   func() (Status, error)
	kill   func()
}

// Kill ends the command (and, isolated, its namespaces) at once and waits
// for it; for when netpolicy cannot go on after starting it.
func (r *Run) Kill() {
	r.kill()
	r.wait()
	r.stop()
}

// Start runs spec's command without isolation, with its proxy variables
// pointing at httpAddr and socksAddr ("" when SOCKS5 is off).
func Start(spec Spec, httpAddr, socksAddr string) (*Run, error) {
	if len(spec.Argv) == 0 {
		return nil, &StartError{Name: "", Err: errors.New("no command")}
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	if cmd.Err != nil {
		return nil, &StartError{Name: spec.Argv[0], Err: unwrapExec(cmd.Err)}
	}
	cmd.Env = ProxyEnv(spec.Env, httpAddr, socksAddr, false)
	cmd.Dir = spec.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = spec.Stdin, spec.Stdout, spec.Stderr
	if spec.OwnTerminal {
		cmd.SysProcAttr = ownSessionAttr()
	}
	// When stdio are pipes, do not wait forever for a background child of
	// the command that still holds them.
	cmd.WaitDelay = time.Second
	r := newRun(spec)
	if err := cmd.Start(); err != nil {
		r.stop()
		return nil, &StartError{Name: spec.Argv[0], Err: unwrapExec(err)}
	}
	r.signal = cmd.Process.Signal
	r.kill = func() { cmd.Process.Kill() }
	r.wait = func() (Status, error) {
		err := cmd.Wait()
		if cmd.ProcessState == nil {
			return Status{}, err
		}
		return statusOf(cmd.ProcessState), nil
	}
	return r, nil
}

// unwrapExec drops os/exec's "exec: "NAME": " prefix, which StartError
// already says.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func statusOf(ps *os.ProcessState) Status {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Status{Signal: ws.Signal()}
	}
	return Status{Code: ps.ExitCode()}
}

func newRun(spec Spec) *Run {
	r := &Run{sigs: make(chan os.Signal, 16)}
	for _, s := range []any{spec.Stdin, spec.Stdout, spec.Stderr} {
		if f, ok := s.(*os.File); ok {
			r.files = append(r.files, f)
		}
	}
	// Catch the forwarded signals from before the command starts, so
	// that none sent during start-up kills netpolicy instead.
	signal.Notify(r.sigs, forwardedSignals...)
	return r
}

func (r *Run) stop() { signal.Stop(r.sigs) }

// Wait waits for the command to end, forwarding to it the signals
// netpolicy receives meanwhile (SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2,
// SIGINT), except a keyboard signal the terminal has already sent to the
// command itself.
func (r *Run) Wait() (Status, error) {
	defer r.stop()
	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := r.wait()
		done <- result{st, err}
	}()
	for {
		select {
		case sig := <-r.sigs:
			if !fromKeyboard(sig, r.files) {
				r.signal(sig)
			}
		case res := <-done:
			return res.st, res.err
		}
	}
}

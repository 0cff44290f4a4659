//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// execModes are the --isolate values the terminal tests run with; "on"
// only where user namespaces are available.
func execModes(t *testing.T) []string {
	modes := []string{"off"}
	if ok, _ := scriptConds["userns"](); ok {
		modes = append(modes, "on")
	} else {
		t.Log("user namespaces unavailable: testing --isolate off only")
	}
	return modes
}

// startOnTerminal runs `netpolicy exec --isolate MODE -- ARGS...` as the
// session leader of a new pseudo-terminal, as a shell would run it in the
// foreground. It returns the command and the terminal's master side.
func startOnTerminal(t *testing.T, mode string, args ...string) (*exec.Cmd, *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	// netpolicy and nphelper are in PATH: testscript.Main put them there.
	cmd := exec.Command("netpolicy", append([]string{"exec", "--isolate", mode, "--"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, ptmx
}

// readAll reads the terminal's output until the slave side is gone.
func readAll(ptmx *os.File) <-chan string {
	ch := make(chan string, 1)
	go func() {
		var buf bytes.Buffer
		io.Copy(&buf, ptmx) // EIO once every slave descriptor is closed
		ch <- strings.ReplaceAll(buf.String(), "\r", "")
	}()
	return ch
}

// CMD's stdin and stdout are the caller's terminal, with and without
// isolation (POLICY §7): `netpolicy exec -- vim` must work.
func TestExecKeepsTerminal(t *testing.T) {
	for _, mode := range execModes(t) {
		t.Run("isolate-"+mode, func(t *testing.T) {
			cmd, ptmx := startOnTerminal(t, mode, "nphelper", "istty")
			out := readAll(ptmx)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exec: %v", err)
			}
			got := <-out
			for _, want := range []string{"fd 0 tty true", "fd 1 tty true"} {
				if !strings.Contains(got, want) {
					t.Errorf("output %q lacks %q", got, want)
				}
			}
		})
	}
}

// Ctrl-C on the terminal reaches CMD once: the terminal sends SIGINT to
// the whole foreground process group (netpolicy, the init process, CMD),
// and netpolicy must not pass its copy on as a second one.
func TestExecKeyboardSignalOnce(t *testing.T) {
	for _, mode := range execModes(t) {
		t.Run("isolate-"+mode, func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			cmd, ptmx := startOnTerminal(t, mode, "nphelper", "countint", ready)
			out := readAll(ptmx)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("nphelper did not start")
				}
			}
			if _, err := ptmx.Write([]byte{3}); err != nil { // Ctrl-C (VINTR)
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exec: %v (CMD should have exited 0)", err)
			}
			if got := <-out; !strings.Contains(got, "sigint 1\n") {
				t.Errorf("CMD saw %q, want exactly one SIGINT", got)
			}
		})
	}
}

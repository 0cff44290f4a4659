package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// runStartup runs argv c.runs times (bounded also by c.duration in total)
// and reports the median time from exec to its first output: the first
// byte on stdout or stderr, or its exit when it prints nothing.
func runStartup(c *config, argv []string) (result, error) {
	var r result
	if len(argv) == 0 {
		return r, errors.New("-mode startup needs a command after the flags")
	}
	r.Command = strings.Join(argv, " ")
	stop := time.Now().Add(c.duration)
	var times []time.Duration
	for i := 0; i < c.runs && time.Now().Before(stop); i++ {
		cmd := exec.Command(argv[0], argv[1:]...)
		pr, pw, err := os.Pipe()
		if err != nil {
			return r, err
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			pr.Close()
			pw.Close()
			return r, err
		}
		pw.Close() // the child holds the only write end: EOF means it exited
		var b [1]byte
		pr.Read(b[:]) // first byte, or EOF at exit
		first := time.Since(t0)
		io.Copy(io.Discard, pr)
		pr.Close()
		werr := cmd.Wait()
		var ee *exec.ExitError
		if werr != nil && !errors.As(werr, &ee) {
			return r, werr // lint exits 1 on findings: that still counts as output
		}
		times = append(times, first)
	}
	if len(times) == 0 {
		return r, errors.New("no run completed")
	}
	slices.Sort(times)
	r.Requests = int64(len(times))
	r.StartupMs = float64(times[len(times)/2]) / float64(time.Millisecond)
	r.StartupMinMs = float64(times[0]) / float64(time.Millisecond)
	r.StartupMaxMs = float64(times[len(times)-1]) / float64(time.Millisecond)
	return r, nil
}

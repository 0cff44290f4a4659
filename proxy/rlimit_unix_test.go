//go:build linux || darwin

package proxy

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestRaiseFileLimit: a soft descriptor limit below the hard one is raised
// to it, and the connection cap fitted afterwards uses the raised limit.
func TestRaiseFileLimit(t *testing.T) {
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &orig) })
	if orig.Max < 1024 {
		t.Skipf("hard limit %d: no room to lower the soft one", orig.Max)
	}
	low := unix.Rlimit{Cur: 512, Max: orig.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	if n, limit := FitConnCap(); limit != 512 || n != (512-fdReserve)/fdsPerConn {
		t.Fatalf("FitConnCap at a soft limit of 512 = %d, %d", n, limit)
	}
	got, err := RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	var now unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if got != orig.Max || now.Cur != orig.Max {
		t.Errorf("RaiseFileLimit = %d, soft limit now %d; want the hard limit %d", got, now.Cur, orig.Max)
	}
	if _, limit := FitConnCap(); limit != orig.Max {
		t.Errorf("FitConnCap fitted to %d after the raise, want %d", limit, orig.Max)
	}
}

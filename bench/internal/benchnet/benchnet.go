// Package benchnet holds what the benchmark's own servers (origin, relay)
// share: loopback-only listeners and atomically written ready files.
package benchnet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/netpolicy/netpolicy/internal/atomicfile"
)

// ListenLoopback refuses anything but a loopback address: the benchmark
// never serves beyond this machine.
func ListenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s: only loopback addresses are allowed", addr)
	}
	return net.Listen("tcp", addr)
}

// Serve announces a started server: it writes addrs to the ready file (if
// path is set) and to stderr, then blocks until SIGINT or SIGTERM.
func Serve(name, readyPath string, addrs map[string]string) error {
	if readyPath != "" {
		// Written whole or not at all: run.sh polls for it.
		b, err := json.Marshal(addrs)
		if err != nil {
			return err
		}
		if err := atomicfile.ReplaceFile(readyPath, b, 0o644); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(addrs))
	for k := range addrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	line := name + " listening"
	for _, k := range keys {
		line += " " + k + "=" + addrs[k]
	}
	fmt.Fprintln(os.Stderr, line)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

// Package benchnet holds what the benchmark's own servers (origin, relay)
// share: loopback-only listeners and atomically written ready files.
package benchnet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
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

// WriteReady writes v as JSON to path through a temporary file and a
// rename, so run.sh never reads half of it.
func WriteReady(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Serve announces a started server: it writes addrs to the ready file (if
// path is set) and to stderr, then blocks until SIGINT or SIGTERM.
func Serve(name, readyPath string, addrs map[string]string) error {
	if readyPath != "" {
		if err := WriteReady(readyPath, addrs); err != nil {
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

// Package benchnet holds what the benchmark's own servers (origin, relay)
// share: loopback-only listeners and atomically written ready files.
package benchnet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
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

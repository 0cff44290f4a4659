package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A policy file changed while serve is starting is served once it has
// settled, however the change falls against the steps of the start
// (reading the policy, binding, the ready file, the first look of the
// watcher): the change is never taken for what was loaded. The sweep moves
// the change through the start in small steps until it comes after the
// ready file.
func TestServeSeesChangeDuringStart(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	target := "http://" + origin.Listener.Addr().String() + "/"
	const (
		allow = "[network]\nenabled = true\ndomains = { \"127.0.0.1\" = \"allow\" }\n"
		deny  = "[network]\nenabled = true\ndomains = { \"127.0.0.1\" = \"deny\" }\n"
	)
	const step = time.Millisecond
	for i := 0; i < 40; i++ {
		cfg := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(cfg, []byte(allow), 0o600); err != nil {
			t.Fatal(err)
		}
		written := make(chan time.Time, 1)
		go func() {
			time.Sleep(time.Duration(i) * step)
			os.WriteFile(cfg, []byte(deny), 0o600)
			written <- time.Now()
		}()
		httpAddr, _, stop := startServe(t, "--config", cfg, "--watch-interval", "10ms")
		ready := time.Now()
		late := (<-written).After(ready)
		pu, _ := url.Parse("http://" + httpAddr)
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableKeepAlives: true}, Timeout: 5 * time.Second}
		deadline := time.Now().Add(settleTime + 5*time.Second)
		for {
			resp, err := client.Get(target)
			if err != nil {
				t.Fatalf("change after %v: %v", time.Duration(i)*step, err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden && resp.Header.Get("x-proxy-error") == "blocked-by-denylist" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("change after %v: still %d %q %v after serve was ready; the new policy was never served",
					time.Duration(i)*step, resp.StatusCode, resp.Header.Get("x-proxy-error"), time.Since(ready))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if code := stop(); code != 0 {
			t.Fatalf("serve exited %d", code)
		}
		if late {
			t.Logf("the change came after the ready file at step %d", i)
			return
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netpolicy/netpolicy/internal/syncio"
	"github.com/netpolicy/netpolicy/internal/testnet"
)

// The soak test runs `netpolicy serve` as a real process (this test binary,
// which testscript puts on $PATH as netpolicy) and holds it under load,
// reloads, slow clients, a stop with transfers in flight and many idle
// tunnels, measuring the process from outside (/proc, its /metrics). It is
// off by default: `go test ./cmd/netpolicy -run Soak -soak short` (a few
// seconds, CI) or `-soak full` (about a minute and a half); NETPOLICY_SOAK
// works as well. Everything listens and connects on 127.0.0.1.
var soakFlag = flag.String("soak", "", "run TestSoak at scale `short` or `full` (default $NETPOLICY_SOAK)")

type soakScale struct {
	clients int           // concurrent clients of the mixed load
	load    time.Duration // how long the mixed load runs
	slow    int           // slowloris connections per listener
	tunnels int           // idle tunnels
}

var soakScales = map[string]soakScale{
	"short": {clients: 8, load: 3 * time.Second, slow: 20, tunnels: 300},
	"full":  {clients: 32, load: 20 * time.Second, slow: 200, tunnels: 8000},
}

func soakScaleOrSkip(t *testing.T) soakScale {
	mode := *soakFlag
	if mode == "" {
		mode = os.Getenv("NETPOLICY_SOAK")
	}
	if mode == "" {
		t.Skip("soak test: run with -soak short|full or NETPOLICY_SOAK=short|full")
	}
	sc, ok := soakScales[mode]
	if !ok {
		t.Fatalf("-soak %q: want short or full", mode)
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("soak test measures through /proc")
	}
	return sc
}

const soakConfig = `[network]
enabled = true
domains = { "127.0.0.1" = "allow", "denied.example" = "deny" }
`

// serveProc is one `netpolicy serve` process.
type serveProc struct {
	cmd                   *exec.Cmd
	http, socks, metrics  string
	stderr                *syncio.Buffer
	exited                chan struct{}
	exitErr               error
	dir, config, auditLog string
}

func startServeProc(t *testing.T, args ...string) *serveProc {
	t.Helper()
	return startServeProcLimited(t, 0, args...)
}

// startServeProcLimited starts serve with at most nofile descriptors (its
// soft and hard limit; 0: inherited).
func startServeProcLimited(t *testing.T, nofile int, args ...string) *serveProc {
	t.Helper()
	bin, err := exec.LookPath("netpolicy")
	if err != nil {
		t.Fatalf("netpolicy not on $PATH (testscript puts this test binary there): %v", err)
	}
	dir := t.TempDir()
	p := &serveProc{dir: dir, config: filepath.Join(dir, "config.toml"), auditLog: filepath.Join(dir, "audit.log"),
		stderr: &syncio.Buffer{}, exited: make(chan struct{})}
	if err := os.WriteFile(p.config, []byte(soakConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready.json")
	argv := append([]string{"serve", "--config", p.config, "--http", "127.0.0.1:0", "--socks", "127.0.0.1:0",
		"--metrics", "127.0.0.1:0", "--ready-file", ready, "--audit-log", p.auditLog}, args...)
	p.cmd = exec.Command(bin, argv...)
	if nofile > 0 {
		p.cmd = exec.Command("/bin/sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), bin}, argv...)...)
	}
	p.cmd.Env = append(os.Environ(), "NETPOLICY_REQUIREMENTS=", "GOTRACEBACK=all")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			var r struct{ HTTP, SOCKS, Metrics string }
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			p.http, p.socks, p.metrics = r.HTTP, r.SOCKS, r.Metrics
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("serve exited early (%v):\n%s", p.exitErr, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 20s:\n%s", p.stderr)
		}
	}
}

func (p *serveProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to limit for the process to exit and returns how long it
// took and its exit code.
func (p *serveProc) wait(t *testing.T, limit time.Duration) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("serve did not exit within %v:\n%s", limit, p.stderr)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		code = ee.ExitCode()
	} else if p.exitErr != nil {
		t.Fatal(p.exitErr)
	}
	return time.Since(start), code
}

func (p *serveProc) fds(t *testing.T) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fdKinds counts the open descriptors that are pipes, and all others.
func (p *serveProc) fdKinds() (pipes, others int) {
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join(dir, e.Name())); strings.HasPrefix(l, "pipe:") {
			pipes++
		} else {
			others++
		}
	}
	return pipes, others
}

// fdList describes the open descriptors, for failure messages.
func (p *serveProc) fdList() string {
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+" → "+l)
	}
	return strings.Join(out, "\n")
}

// rssKiB is the process's resident set (VmRSS).
func (p *serveProc) rssKiB(t *testing.T) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// goroutines reads go_goroutines from the process's /metrics, on a
// connection that is closed at once.
func (p *serveProc) goroutines(t *testing.T) int {
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatal("no go_goroutines in /metrics")
	return 0
}

// settle waits (up to 10 s) until f returns at most want, and returns the
// last value seen.
func settle(f func() int, want int) int {
	var n int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n = f(); n <= want || time.Now().After(deadline) {
			return n
		}
	}
}

func (p *serveProc) auditLines(t *testing.T) int {
	b, err := os.ReadFile(p.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

func dialCONNECT(proxyAddr, target string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	// Read the head byte by byte: what follows belongs to the tunnel.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, fmt.Errorf("CONNECT: %v after %q", err, head)
		}
		head = append(head, b[0])
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
		c.Close()
		return nil, fmt.Errorf("CONNECT: %q", head)
	}
	return c, nil
}

func dialSOCKS(proxyAddr, target string) (net.Conn, error) {
	host, portText, _ := net.SplitHostPort(target)
	port, _ := strconv.Atoi(portText)
	c, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := []byte{5, 1, 0, 5, 1, 0, 1}
	req = append(req, net.ParseIP(host).To4()...)
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	reply := make([]byte, 2+10)
	if _, err := io.ReadFull(c, reply); err != nil {
		c.Close()
		return nil, fmt.Errorf("SOCKS5: %v", err)
	}
	if reply[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("SOCKS5 reply %d", reply[3])
	}
	return c, nil
}

func echoOnce(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

func TestSoak(t *testing.T) {
	sc := soakScaleOrSkip(t)
	t.Run("mixed-load-with-reloads", func(t *testing.T) { soakMixed(t, sc) })
	t.Run("slowloris", func(t *testing.T) { soakSlowloris(t, sc) })
	t.Run("graceful-stop", func(t *testing.T) { soakGrace(t) })
	t.Run("idle-tunnels", func(t *testing.T) { soakIdleTunnels(t, sc) })
	t.Run("descriptor-exhaustion", func(t *testing.T) { soakExhaustion(t) })
}

// With `ulimit -n 256`, a client opens far more connections than serve
// can hold and leaves them unfinished; serve must stay up, and once the
// client goes, a normal request is served again at once (the recovery
// time is measured).
func soakExhaustion(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer origin.Close()
	p := startServeProcLimited(t, 256)
	target := "http://" + origin.Listener.Addr().String() + "/"
	pu, _ := url.Parse("http://" + p.http)
	get := func() error {
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableKeepAlives: true}, Timeout: 2 * time.Second}
		resp, err := client.Get(target)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("before the attack: %v", err)
	}
	const attack = 600
	var held []net.Conn
	for range attack {
		c, err := net.DialTimeout("tcp", p.http, time.Second)
		if err != nil {
			break // the listen backlog is full
		}
		c.Write([]byte("GET " + target + " HTTP/1.1\r\nX-Hold: "))
		held = append(held, c)
	}
	time.Sleep(500 * time.Millisecond)
	during := get()
	atCap := p.fds(t)
	for _, c := range held {
		c.Close()
	}
	start := time.Now()
	var err error
	for time.Since(start) < 10*time.Second {
		if err = get(); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovery := time.Since(start)
	t.Logf("ulimit -n 256: %d unfinished connections opened, serve at %d descriptors; a request during the attack: %v; served again %v after the client left",
		len(held), atCap, errOrOK(during), recovery.Round(time.Millisecond))
	if err != nil {
		t.Fatalf("not served 10s after the attack ended: %v\n%s", err, p.stderr)
	}
	if recovery > 2*time.Second {
		t.Errorf("recovery took %v", recovery)
	}
	p.signal(t, syscall.SIGTERM)
	if _, code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, p.stderr)
	}
}

func errOrOK(err error) string {
	if err == nil {
		return "200"
	}
	return err.Error()
}

// N clients mix keep-alive GETs, denied GETs, CONNECT and SOCKS5 tunnels
// while serve gets SIGHUP every 100 ms and its config is rewritten (as an
// editor does) every second. No request may fail; afterwards descriptors
// and goroutines return to where they were, and every request left one
// audit line.
func soakMixed(t *testing.T, sc soakScale) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer origin.Close()
	echo := testnet.Echo(t, 2048)
	p := startServeProc(t, "--watch-interval", "50ms")
	basePipes, baseOthers := p.fdKinds()
	baseG := p.goroutines(t)

	var requests, failures atomic.Int64
	var mu sync.Mutex
	firstFailures := map[string]string{}
	fail := func(op string, err error) {
		failures.Add(1)
		mu.Lock()
		if _, ok := firstFailures[op]; !ok {
			firstFailures[op] = err.Error()
		}
		mu.Unlock()
	}
	pu, _ := url.Parse("http://" + p.http)
	stop := time.Now().Add(sc.load)
	var wg sync.WaitGroup
	for i := range sc.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			msg := bytes.Repeat([]byte{byte('a' + i%26)}, 1024)
			for op := i; time.Now().Before(stop); op++ {
				requests.Add(1)
				switch op % 4 {
				case 0:
					resp, err := client.Get("http://" + origin.Listener.Addr().String() + "/")
					if err != nil {
						fail("get", err)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "ok" {
						fail("get", fmt.Errorf("%d %q", resp.StatusCode, body))
					}
				case 1:
					resp, err := client.Get("http://denied.example/")
					if err != nil {
						fail("denied", err)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 403 || resp.Header.Get("x-proxy-error") != "blocked-by-denylist" {
						fail("denied", fmt.Errorf("%d %s", resp.StatusCode, resp.Header.Get("x-proxy-error")))
					}
				case 2, 3:
					dial, name := dialCONNECT, "connect"
					if op%4 == 3 {
						dial, name = dialSOCKS, "socks5"
					}
					c, err := dial(map[string]string{"connect": p.http, "socks5": p.socks}[name], echo)
					if err != nil {
						fail(name, err)
						continue
					}
					if err := echoOnce(c, msg); err != nil {
						fail(name, err)
					}
					c.Close()
				}
			}
		}()
	}
	// SIGHUP every 100 ms; every tenth time, rewrite the file first in
	// two pieces, as an editor does.
	hups, rewrites := 0, 0
	for tick := time.NewTicker(100 * time.Millisecond); time.Now().Before(stop); <-tick.C {
		if hups%10 == 5 {
			f, err := os.OpenFile(p.config, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("[network]\nenabled = true\n")
			time.Sleep(10 * time.Millisecond)
			fmt.Fprintf(f, "# rewrite %d\n%s", rewrites, soakConfig[len("[network]\nenabled = true\n"):])
			f.Close()
			rewrites++
		}
		p.signal(t, syscall.SIGHUP)
		hups++
	}
	wg.Wait()
	loadFDs := p.fds(t)
	// Sockets and files go back to the baseline. Pipes may not at once:
	// the runtime pools the pipes splice used (at most one per direction
	// that was splicing at the same time) and closes them at the next
	// collection, which an idle process may not run for two minutes.
	others := settle(func() int { _, o := p.fdKinds(); return o }, baseOthers)
	pipes, _ := p.fdKinds()
	g := settle(func() int { return p.goroutines(t) }, baseG)
	leftFDs := p.fdList()
	p.signal(t, syscall.SIGTERM)
	if _, code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve exited %d", code)
	}
	lines := p.auditLines(t)
	reloads := strings.Count(p.stderr.String(), "reloaded the policy")
	t.Logf("%d clients × %v: %d requests, %d failed; %d SIGHUPs, %d rewrites, %d reloads; descriptors %d → %d (end of load) → %d + %d pooled splice pipe ends, goroutines %d → %d; %d audit lines",
		sc.clients, sc.load, requests.Load(), failures.Load(), hups, rewrites, reloads, basePipes+baseOthers, loadFDs, others+basePipes, pipes-basePipes, baseG, g, lines)
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed; first of each kind: %v", failures.Load(), requests.Load(), firstFailures)
	}
	if strings.Contains(p.stderr.String(), "reload failed") {
		t.Errorf("a reload failed:\n%s", p.stderr)
	}
	if reloads < hups/2 {
		t.Errorf("%d reloads for %d SIGHUPs", reloads, hups)
	}
	if others > baseOthers || pipes-basePipes > 4*sc.clients {
		t.Errorf("after the load: %d pipe ends and %d other descriptors; before: %d and %d; now open:\n%s", pipes, others, basePipes, baseOthers, leftFDs)
	}
	if g > baseG {
		t.Errorf("goroutines %d after the load, %d before", g, baseG)
	}
	if int64(lines) != requests.Load() {
		t.Errorf("%d audit lines for %d requests", lines, requests.Load())
	}
}

// Clients that send their request head (HTTP) or greeting (SOCKS5) a byte
// at a time are cut at the header / handshake timeout, and a normal client
// is served meanwhile.
func soakSlowloris(t *testing.T, sc soakScale) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer origin.Close()
	const timeout = time.Second
	p := startServeProc(t, "--read-header-timeout", timeout.String(), "--socks-handshake-timeout", timeout.String())
	type result struct {
		proto string
		held  time.Duration
		err   error
	}
	results := make(chan result, 2*sc.slow)
	slow := func(proto, addr string, drip []byte) {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			results <- result{proto, 0, err}
			return
		}
		defer c.Close()
		// One byte every 100 ms; the proxy closes the conn when its
		// timeout is up, which the next write or the final read sees.
		for i := 0; ; i = (i + 1) % len(drip) {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(drip[i : i+1]); err != nil {
				break
			}
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Read(make([]byte, 512)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if time.Since(start) > 10*timeout {
				results <- result{proto, time.Since(start), errors.New("never cut")}
				return
			}
		}
		results <- result{proto, time.Since(start), nil}
	}
	// A greeting that offers 255 methods and never finishes listing them.
	socksDrip := append([]byte{5, 255}, bytes.Repeat([]byte{1}, 255)...)
	for range sc.slow {
		go slow("http", p.http, []byte("GET http://127.0.0.1/ HTTP/1.1\r\nX-Slow: "))
		go slow("socks5", p.socks, socksDrip)
	}
	// A normal client while they drip.
	time.Sleep(timeout / 2)
	pu, _ := url.Parse("http://" + p.http)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + origin.Listener.Addr().String() + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("a normal request during the slowloris: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	worst := map[string]time.Duration{}
	for range 2 * sc.slow {
		r := <-results
		if r.err != nil {
			t.Errorf("%s slow client: %v after %v", r.proto, r.err, r.held)
			continue
		}
		worst[r.proto] = max(worst[r.proto], r.held)
	}
	t.Logf("%d slow clients per listener, timeout %v: longest held http %v, socks5 %v", sc.slow, timeout, worst["http"], worst["socks5"])
	for proto, d := range worst {
		if d > timeout+time.Second {
			t.Errorf("%s slow client held for %v; the timeout is %v", proto, d, timeout)
		}
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 15*time.Second)
}

// SIGTERM with downloads in flight: those that finish within --grace
// complete whole, and serve exits 0 once they have; a download longer than
// the grace period is cut when it ends.
func soakGrace(t *testing.T) {
	// The origin streams 40 × 8 KiB over `pace` per request line.
	const chunks, chunk = 40, 8 << 10
	stream := func(pace time.Duration) string {
		return testnet.Serve(t, func(c net.Conn) {
			defer c.Close()
			if _, err := c.Read(make([]byte, 1)); err != nil {
				return
			}
			b := bytes.Repeat([]byte("x"), chunk)
			for range chunks {
				if _, err := c.Write(b); err != nil {
					return
				}
				time.Sleep(pace / chunks)
			}
		})
	}
	short, long := stream(time.Second), stream(10*time.Second)
	const grace = 3 * time.Second
	p := startServeProc(t, "--grace", grace.String())
	type got struct {
		n   int64
		err error
	}
	start := func(target string, socks bool) chan got {
		ch := make(chan got, 1)
		var c net.Conn
		var err error
		if socks {
			c, err = dialSOCKS(p.socks, target)
		} else {
			c, err = dialCONNECT(p.http, target)
		}
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte("go"))
		go func() {
			defer c.Close()
			n, err := io.Copy(io.Discard, c)
			ch <- got{n, err}
		}()
		return ch
	}
	var inFlight []chan got
	for i := range 8 {
		inFlight = append(inFlight, start(short, i%2 == 1))
	}
	cut := start(long, false)
	time.Sleep(100 * time.Millisecond)
	p.signal(t, syscall.SIGTERM)
	took, code := p.wait(t, grace+5*time.Second)
	for i, ch := range inFlight {
		if g := <-ch; g.n != chunks*chunk {
			t.Errorf("transfer %d: %d of %d bytes (%v)", i, g.n, chunks*chunk, g.err)
		}
	}
	g := <-cut
	t.Logf("SIGTERM with 8 one-second transfers and one ten-second transfer in flight, --grace %v: exit %d after %v; the long one got %d of %d bytes",
		grace, code, took, g.n, chunks*chunk)
	if code != 0 {
		t.Errorf("exit code %d", code)
	}
	if g.n >= chunks*chunk {
		t.Error("the transfer longer than the grace period was not cut")
	}
	if took < grace-500*time.Millisecond || took > grace+2*time.Second {
		t.Errorf("serve took %v to stop; --grace is %v and one transfer outlasts it", took, grace)
	}
}

// Many tunnels carry data and then go idle: each holds two descriptors in
// the proxy (its two sockets, no pipe) and at most 32 KiB.
func soakIdleTunnels(t *testing.T, sc soakScale) {
	echo := testnet.Echo(t, 2048)
	p := startServeProc(t, "--max-conns", strconv.Itoa(sc.tunnels+100))
	msg := bytes.Repeat([]byte("y"), 6000)
	// Warm up both paths so that what the runtime starts once is in the
	// baseline.
	for _, c := range []struct {
		dial  func(string, string) (net.Conn, error)
		proxy string
	}{{dialCONNECT, p.http}, {dialSOCKS, p.socks}} {
		conn, err := c.dial(c.proxy, echo)
		if err != nil {
			t.Fatal(err)
		}
		echoOnce(conn, msg)
		conn.Close()
	}
	time.Sleep(200 * time.Millisecond)
	baseFDs, baseRSS := p.fds(t), p.rssKiB(t)
	conns := make([]net.Conn, 0, sc.tunnels)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range sc.tunnels {
		var c net.Conn
		var err error
		if i%2 == 0 {
			c, err = dialCONNECT(p.http, echo)
		} else {
			c, err = dialSOCKS(p.socks, echo)
		}
		if err != nil {
			t.Fatalf("tunnel %d: %v", i, err)
		}
		conns = append(conns, c)
		if err := echoOnce(c, msg); err != nil {
			t.Fatalf("tunnel %d: %v", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	fds, rss := p.fds(t), p.rssKiB(t)
	perFD := float64(fds-baseFDs) / float64(sc.tunnels)
	perKiB := float64(rss-baseRSS) / float64(sc.tunnels)
	t.Logf("%d idle tunnels after 6 KB each way: %.2f descriptors and %.1f KiB RSS per tunnel in serve (descriptors %d → %d, RSS %d → %d KiB)",
		sc.tunnels, perFD, perKiB, baseFDs, fds, baseRSS, rss)
	if fds-baseFDs > 2*sc.tunnels+4 {
		t.Errorf("%.2f descriptors per idle tunnel; want 2", perFD)
	}
	if perKiB > 32 {
		t.Errorf("%.1f KiB per idle tunnel; want at most 32", perKiB)
	}
	// They are still working tunnels.
	for _, c := range conns[:min(20, len(conns))] {
		if err := echoOnce(c, []byte("again")); err != nil {
			t.Errorf("idle tunnel after the measure: %v", err)
		}
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 15*time.Second)
}

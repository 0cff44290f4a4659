// Command attack measures how netpolicy serve holds up under two of the
// hostile shapes of issue 9, against a proxy on 127.0.0.1, and prints one
// JSON object per run. Every loop is bounded by a count and a deadline.
//
// Modes (-mode):
//
//	headers   open -n connections that each send an unfinished request head
//	          of -size bytes; report the proxy's RSS before, once every
//	          head is written (or refused), and how the proxy answered
//	selfloop  write -n pipelined "CONNECT <proxy address>" requests in one
//	          write on one connection, -rounds times, while another client
//	          sends a GET to an origin every 50 ms; report what the attacker
//	          got and how long the unrelated client waited
//
// With -pid, the proxy's RSS and open descriptors are read from /proc.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type result struct {
	Mode    string `json:"mode"`
	N       int    `json:"n"`
	Size    int    `json:"size,omitempty"`
	Rounds  int    `json:"rounds,omitempty"`
	Seconds string `json:"seconds"`

	RSSBeforeKiB int64 `json:"rss_before_kib,omitempty"`
	RSSDuringKiB int64 `json:"rss_during_kib,omitempty"`
	RSSAfterKiB  int64 `json:"rss_after_kib,omitempty"`
	HWMKiB       int64 `json:"rss_peak_kib,omitempty"`
	FDsBefore    int   `json:"fds_before,omitempty"`
	FDsDuring    int   `json:"fds_during,omitempty"`
	FDsAfter     int   `json:"fds_after,omitempty"`

	Answers map[string]int `json:"answers,omitempty"`

	Unrelated      int     `json:"unrelated_requests,omitempty"`
	UnrelatedFail  int     `json:"unrelated_failures"`
	UnrelatedP50ms float64 `json:"unrelated_p50_ms,omitempty"`
	UnrelatedMaxms float64 `json:"unrelated_max_ms,omitempty"`
}

func main() {
	mode := flag.String("mode", "", "headers or selfloop")
	proxy := flag.String("proxy", "", "host:port of the proxy's HTTP listener")
	n := flag.Int("n", 200, "connections (headers) or pipelined CONNECTs (selfloop)")
	size := flag.Int("size", 1<<20, "bytes of each unfinished head (headers)")
	pid := flag.Int("pid", 0, "the proxy's process id, for RSS and descriptors")
	rounds := flag.Int("rounds", 10, "attacks one after the other, each on a new connection (selfloop)")
	settle := flag.Duration("settle", time.Second, "wait after the heads are written before reading RSS (headers)")
	flag.Parse()
	if *proxy == "" || *n < 1 || *n > 10000 {
		fmt.Fprintln(os.Stderr, "attack: -proxy is required, 1 <= -n <= 10000")
		os.Exit(2)
	}
	var r result
	var err error
	switch *mode {
	case "headers":
		r, err = headers(*proxy, *n, *size, *pid, *settle)
	case "selfloop":
		r, err = selfloop(*proxy, *n, *rounds, *pid)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

// headers opens n connections, each sending the start of a request and a
// header value of size bytes that never ends.
func headers(proxy string, n, size, pid int, settle time.Duration) (result, error) {
	r := result{Mode: "headers", N: n, Size: size, Answers: map[string]int{}}
	r.RSSBeforeKiB, r.FDsBefore = rss(pid), fds(pid)
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	chunk := []byte(strings.Repeat("a", 32<<10))
	for range n {
		c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
		if err != nil {
			return r, err
		}
		conns = append(conns, c)
		c.SetDeadline(deadline)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var outcome string
			_, err := io.WriteString(c, "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Big: ")
			for left := size; left > 0 && err == nil; left -= len(chunk) {
				_, err = c.Write(chunk[:min(left, len(chunk))])
			}
			// Whatever comes back within 2 s: a 431, a close, or nothing.
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			switch {
			case err == nil:
				outcome = strings.TrimSpace(line)
			case os.IsTimeout(err):
				outcome = "open, no answer yet"
			default:
				outcome = "closed by the proxy"
			}
			c.SetReadDeadline(deadline)
			mu.Lock()
			r.Answers[outcome]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	time.Sleep(settle)
	r.RSSDuringKiB, r.FDsDuring = rss(pid), fds(pid)
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	time.Sleep(settle)
	r.RSSAfterKiB, r.FDsAfter = rss(pid), fds(pid)
	r.HWMKiB = procKiB(pid, "VmHWM:")
	r.Seconds = fmt.Sprintf("%.2f", time.Since(start).Seconds())
	return r, nil
}

// selfloop writes n pipelined CONNECTs to the proxy's own address, cycling
// through spellings of it, and reads the answers, rounds times on a new
// connection each, while an unrelated client GETs an origin through the
// proxy every 50 ms.
func selfloop(proxy string, n, rounds, pid int) (result, error) {
	r := result{Mode: "selfloop", N: n, Rounds: rounds, Answers: map[string]int{}}
	host, port, err := net.SplitHostPort(proxy)
	if err != nil {
		return r, err
	}
	if host != "127.0.0.1" {
		return r, fmt.Errorf("-proxy must be on 127.0.0.1")
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	r.FDsBefore, r.RSSBeforeKiB = fds(pid), rss(pid)

	spellings := []string{"127.0.0.1", "127.1", "localhost", "[::ffff:127.0.0.1]", "0x7f.1", "2130706433"}
	var req strings.Builder
	for i := range n {
		a := spellings[i%len(spellings)] + ":" + port
		fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", a, a)
	}
	start := time.Now()
	// The unrelated client: a new connection per request, like a tool
	// that starts while the attack runs.
	stop := make(chan struct{})
	var lat []float64
	var fails int
	done := make(chan struct{})
	go func() {
		defer close(done)
		pu, _ := url.Parse("http://" + proxy)
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableKeepAlives: true}, Timeout: 10 * time.Second}
		for i := 0; i < 1200; i++ {
			t0 := time.Now()
			resp, err := client.Get(origin.URL + "/")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != 200 {
				fails++
			} else {
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	for round := range rounds {
		c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
		if err != nil {
			return r, err
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		go io.WriteString(c, req.String())
		br := bufio.NewReader(c)
		for i := range n {
			resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
			if err != nil {
				r.Answers["connection ended: "+err.Error()]++
				break
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			key := strconv.Itoa(resp.StatusCode)
			var block struct{ Reason string }
			if json.Unmarshal(body, &block) == nil && block.Reason != "" {
				key += " " + block.Reason
			}
			r.Answers[key]++
			if round == rounds/2 && i == n/2 {
				r.FDsDuring, r.RSSDuringKiB = fds(pid), rss(pid)
			}
		}
		c.Close()
	}
	r.Seconds = fmt.Sprintf("%.3f", time.Since(start).Seconds())
	// Keep the unrelated client going a little past the attack.
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	time.Sleep(200 * time.Millisecond)
	r.FDsAfter, r.RSSAfterKiB = fds(pid), rss(pid)
	r.HWMKiB = procKiB(pid, "VmHWM:")
	r.Unrelated, r.UnrelatedFail = len(lat)+fails, fails
	if len(lat) > 0 {
		slices.Sort(lat)
		r.UnrelatedP50ms, r.UnrelatedMaxms = lat[len(lat)/2], lat[len(lat)-1]
	}
	return r, nil
}

// rss is VmRSS of pid in KiB (0 without a pid).
func rss(pid int) int64 { return procKiB(pid, "VmRSS:") }

// procKiB reads a KiB field (VmRSS:, VmHWM:) of /proc/pid/status.
func procKiB(pid int, field string) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// fds is the number of descriptors pid has open (0 without a pid).
func fds(pid int) int {
	if pid == 0 {
		return 0
	}
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

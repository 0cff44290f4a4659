package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands for the serve_*.txtar scripts. Everything they touch is
// on 127.0.0.1.
func init() {
	// waitfile PATH: wait (up to 10 s) until PATH exists and is not empty.
	scriptCmds["waitfile"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: waitfile PATH")
		}
		waitFile(ts, ts.MkAbs(args[0]))
	}
	// waitexists PATH: wait (up to 10 s) until PATH exists, even empty.
	scriptCmds["waitexists"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: waitexists PATH")
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("waitexists: %s did not appear in 10s", args[0])
			}
		}
	}
	// ready PATH: waitfile, then set $NP_HTTP and $NP_SOCKS from the
	// ready file of `serve --ready-file`.
	scriptCmds["ready"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: ready PATH")
		}
		b := waitFile(ts, ts.MkAbs(args[0]))
		var r struct {
			HTTP    string  `json:"http"`
			SOCKS   *string `json:"socks"`
			Metrics string  `json:"metrics"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			ts.Fatalf("ready file %q: %v", b, err)
		}
		ts.Setenv("NP_HTTP", r.HTTP)
		ts.Setenv("NP_METRICS", r.Metrics)
		if r.SOCKS != nil {
			ts.Setenv("NP_SOCKS", *r.SOCKS)
		}
	}
	// freeport VAR...: set each VAR to a port that was free on 127.0.0.1 a
	// moment ago, for a script that must name a listener's port before
	// serve binds it.
	scriptCmds["freeport"] = func(ts *testscript.TestScript, neg bool, args []string) {
		var ls []net.Listener
		defer func() {
			for _, l := range ls {
				l.Close()
			}
		}()
		for _, v := range args {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				ts.Fatalf("freeport: %v", err)
			}
			ls = append(ls, l)
			ts.Setenv(v, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		}
	}
	// origin: start an HTTP server on 127.0.0.1 for this script and set
	// $ORIGIN to its host:port. It answers "origin: METHOD URI host=HOST".
	scriptCmds["origin"] = func(ts *testscript.TestScript, neg bool, args []string) {
		o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "origin: %s %s host=%s\n", r.Method, r.RequestURI, r.Host)
		}))
		ts.Defer(o.Close)
		ts.Setenv("ORIGIN", o.Listener.Addr().String())
		ts.Setenv("ORIGIN_PORT", strconv.Itoa(o.Listener.Addr().(*net.TCPAddr).Port))
	}
	// httpget [-method M] [-wait CODE] [-pad N] PROXY URL [HEADER: VALUE...]:
	// send a request through the HTTP proxy at PROXY and print
	// "CODE x-proxy-error" and the body. With -wait, retry for up to 10 s
	// until the status is CODE (for reloads, which are asynchronous). With
	// -pad, add a header X-Pad of N bytes.
	scriptCmds["httpget"] = func(ts *testscript.TestScript, neg bool, args []string) {
		method, wait, pad := "GET", 0, 0
		for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args) > 1 {
			switch args[0] {
			case "-method":
				method = args[1]
			case "-wait":
				wait, _ = strconv.Atoi(args[1])
			case "-pad":
				pad, _ = strconv.Atoi(args[1])
			default:
				ts.Fatalf("httpget: unknown flag %s", args[0])
			}
			args = args[2:]
		}
		if len(args) < 2 {
			ts.Fatalf("usage: httpget [-method M] [-wait CODE] [-pad N] PROXY URL [HEADER: VALUE...]")
		}
		pu, err := url.Parse("http://" + args[0])
		if err != nil {
			ts.Fatalf("httpget: %v", err)
		}
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableKeepAlives: true}, Timeout: 10 * time.Second}
		deadline := time.Now().Add(10 * time.Second)
		for {
			req, err := http.NewRequest(method, args[1], nil)
			if err != nil {
				ts.Fatalf("httpget: %v", err)
			}
			for _, h := range args[2:] {
				k, v, _ := strings.Cut(h, ":")
				req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if pad > 0 {
				req.Header.Set("X-Pad", strings.Repeat("p", pad))
			}
			resp, err := client.Do(req)
			if err != nil {
				if neg {
					return // ! httpget: no HTTP answer at all, as wanted
				}
				ts.Fatalf("httpget: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if wait != 0 && resp.StatusCode != wait && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if neg {
				ts.Fatalf("httpget: got an answer (%d), want the request to fail", resp.StatusCode)
			}
			fmt.Fprintf(ts.Stdout(), "%d %s\n%s", resp.StatusCode, resp.Header.Get("x-proxy-error"), body)
			return
		}
	}
	// connect PROXY HOST:PORT: CONNECT through the proxy; print the status
	// line, and on 200 send an HTTP/1.0 GET / through the tunnel and print
	// its status line and body.
	scriptCmds["connect"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: connect PROXY HOST:PORT")
		}
		c := dialLocal(ts, args[0])
		defer c.Close()
		br, resp, err := connectThrough(c, args[1])
		switch {
		case err != nil && neg:
			return // ! connect: no answer to the CONNECT, as wanted
		case err != nil:
			ts.Fatalf("connect: %v", err)
		case neg:
			ts.Fatalf("connect: got an answer (%s), want none", resp.Status)
		}
		fmt.Fprintf(ts.Stdout(), "CONNECT %s %s\n", resp.Status, resp.Header.Get("x-proxy-error"))
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			ts.Stdout().Write(body)
			return
		}
		tunnelGet(ts, c, br, args[1])
	}
	// httpsget PROXY HOST:PORT CAFILE: CONNECT through the proxy, then TLS
	// for HOST trusting only the certificates in CAFILE, and GET / on it;
	// print "CONNECT status" and, once through, "https CODE" and the body.
	// With !, the TLS handshake must fail (the tunnel is not intercepted
	// with that CA).
	scriptCmds["httpsget"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: httpsget PROXY HOST:PORT CAFILE")
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(ts.ReadFile(args[2]))) {
			ts.Fatalf("httpsget: no certificate in %s", args[2])
		}
		c := dialLocal(ts, args[0])
		defer c.Close()
		br, resp, err := connectThrough(c, args[1])
		if err != nil {
			ts.Fatalf("httpsget: CONNECT: %v", err)
		}
		fmt.Fprintf(ts.Stdout(), "CONNECT %s\n", resp.Status)
		if resp.StatusCode != 200 || br.Buffered() > 0 {
			ts.Fatalf("httpsget: CONNECT answered %s", resp.Status)
		}
		host, _, _ := net.SplitHostPort(args[1])
		tc := tls.Client(c, &tls.Config{ServerName: host, RootCAs: roots})
		err = tc.Handshake()
		switch {
		case err != nil && neg:
			return // ! httpsget: not intercepted with that CA, as wanted
		case err != nil:
			ts.Fatalf("httpsget: TLS: %v", err)
		case neg:
			ts.Fatalf("httpsget: TLS handshake succeeded, want it to fail")
		}
		fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", args[1])
		resp, err = http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			ts.Fatalf("httpsget: GET: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(ts.Stdout(), "https %d\n%s", resp.StatusCode, body)
	}
	// socks PROXY HOST PORT: SOCKS5 CONNECT to a domain name; print
	// "reply N", and on success GET / through the tunnel as connect does.
	scriptCmds["socks"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: socks PROXY HOST PORT")
		}
		port, _ := strconv.Atoi(args[2])
		c := dialLocal(ts, args[0])
		defer c.Close()
		req := []byte{5, 1, 0, 5, 1, 0, 3, byte(len(args[1]))}
		req = append(req, args[1]...)
		req = binary.BigEndian.AppendUint16(req, uint16(port))
		c.Write(req)
		br := bufio.NewReader(c)
		head := make([]byte, 2+10)
		_, err := io.ReadFull(br, head)
		switch {
		case err != nil && neg:
			return // ! socks: no reply, as wanted
		case err != nil:
			ts.Fatalf("socks: %v", err)
		case neg:
			ts.Fatalf("socks: got reply %d, want none", head[3])
		}
		fmt.Fprintf(ts.Stdout(), "reply %d\n", head[3])
		if head[3] == 0 {
			tunnelGet(ts, c, br, args[1])
		}
	}
	// rawhttp PROXY FILE: send FILE as is (after expanding $VARS and turning
	// each line end into CR LF) on one connection, and print what comes
	// back, then "<closed>" if the proxy closed the connection within 3 s
	// or "<open>" if not. Date headers are left out.
	scriptCmds["rawhttp"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: rawhttp PROXY FILE")
		}
		req := strings.ReplaceAll(os.Expand(ts.ReadFile(args[1]), ts.Getenv), "\n", "\r\n")
		c := dialLocal(ts, args[0])
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		io.WriteString(c, req)
		got, err := io.ReadAll(c)
		end := "<closed>"
		if err != nil {
			end = "<open>"
		}
		for _, line := range strings.SplitAfter(string(got), "\n") {
			if !strings.HasPrefix(line, "Date: ") {
				fmt.Fprint(ts.Stdout(), strings.ReplaceAll(line, "\r", ""))
			}
		}
		fmt.Fprintf(ts.Stdout(), "\n%s\n", end)
	}
	// signal NAME: send SIGNAME (HUP, TERM, INT) to the background commands.
	scriptCmds["signal"] = sendSignal
	// sighup: signal HUP.
	scriptCmds["sighup"] = func(ts *testscript.TestScript, neg bool, args []string) {
		sendSignal(ts, neg, []string{"HUP"})
	}
}

func sendSignal(ts *testscript.TestScript, neg bool, args []string) {
	sigs := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT}
	if len(args) != 1 || sigs[args[0]] == 0 {
		ts.Fatalf("usage: signal HUP|TERM|INT")
	}
	bg := ts.BackgroundCmds()
	if len(bg) == 0 {
		ts.Fatalf("signal: no background command")
	}
	for _, c := range bg {
		if err := c.Process.Signal(sigs[args[0]]); err != nil {
			ts.Fatalf("signal: %v", err)
		}
	}
}

func waitFile(ts *testscript.TestScript, path string) []byte {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return b
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile %s: not there after 10s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialLocal(ts *testscript.TestScript, addr string) net.Conn {
	if h, _, _ := net.SplitHostPort(addr); h != "127.0.0.1" {
		ts.Fatalf("refusing to connect to %s: scripts use 127.0.0.1 only", addr)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		ts.Fatalf("%v", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// connectThrough sends CONNECT target on c, a connection to the proxy,
// and reads its answer.
func connectThrough(c net.Conn, target string) (*bufio.Reader, *http.Response, error) {
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	return br, resp, err
}

func tunnelGet(ts *testscript.TestScript, c net.Conn, br *bufio.Reader, host string) {
	fmt.Fprintf(c, "GET /via-tunnel HTTP/1.0\r\nHost: %s\r\n\r\n", host)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		ts.Fatalf("GET through tunnel: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(ts.Stdout(), "tunnel %s\n%s", resp.Status, body)
}

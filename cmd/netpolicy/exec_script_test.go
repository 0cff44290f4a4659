//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/net/proxy"
	"golang.org/x/sys/unix"
)

// Programs, commands and conditions of the exec_*.txtar scripts. The
// scripts' CMD is nphelper, a small client built into the test binary, so
// the tests need no curl and no network beyond 127.0.0.1.
func init() {
	scriptPrograms["nphelper"] = func() { os.Exit(nphelper(os.Args[1:])) }

	// [userns]: this machine lets an unprivileged process create user,
	// network, mount and PID namespaces (exec's isolation).
	// (Ubuntu's AppArmor restriction lets the namespaces be created but
	// not used by an unprivileged user: that counts as unavailable.)
	scriptConds["userns"] = func() (bool, error) {
		if b, _ := os.ReadFile("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); strings.TrimSpace(string(b)) == "1" && os.Getuid() != 0 {
			return false, nil
		}
		cmd := exec.Command("true")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}},
		}
		return cmd.Run() == nil, nil
	}

	// tlsorigin: an HTTPS origin on 127.0.0.1 for this script; sets
	// $TLSORIGIN to its host:port and writes its certificate to
	// $WORK/origin-cert.pem (for SSL_CERT_FILE). It answers
	// "origin-tls: METHOD URI".
	scriptCmds["tlsorigin"] = func(ts *testscript.TestScript, neg bool, args []string) {
		o := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "origin-tls: %s %s\n", r.Method, r.RequestURI)
		}))
		ts.Defer(o.Close)
		der := o.Certificate().Raw
		pemText := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := os.WriteFile(ts.MkAbs("origin-cert.pem"), pemText, 0o644); err != nil {
			ts.Fatalf("tlsorigin: %v", err)
		}
		ts.Setenv("TLSORIGIN", o.Listener.Addr().String())
	}

	// unixserve PATH: serve "hello from unix" on a unix socket at PATH
	// (on the host, outside any namespace) until the script ends.
	scriptCmds["unixserve"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: unixserve PATH")
		}
		l, err := net.Listen("unix", ts.MkAbs(args[0]))
		if err != nil {
			ts.Fatalf("unixserve: %v", err)
		}
		ts.Defer(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, "hello from unix\n")
				c.Close()
			}
		}()
	}

	// hostpids TOKEN: set $PIDS to the processes (seen from here) whose
	// command line has TOKEN, leaving out the background commands
	// themselves; fails when there are none.
	scriptCmds["hostpids"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: hostpids TOKEN")
		}
		skip := map[int]bool{os.Getpid(): true}
		for _, c := range ts.BackgroundCmds() {
			skip[c.Process.Pid] = true
		}
		var pids []string
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || skip[pid] {
				continue
			}
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if strings.Contains(string(b), args[0]) {
				pids = append(pids, e.Name())
			}
		}
		if len(pids) == 0 {
			ts.Fatalf("hostpids: no process has %q", args[0])
		}
		fmt.Fprintf(ts.Stdout(), "pids %s\n", strings.Join(pids, " "))
		ts.Setenv("PIDS", strings.Join(pids, " "))
	}

	// gone PID...: wait (up to 5 s) until none of the processes exists
	// (a zombie counts as gone).
	scriptCmds["gone"] = func(ts *testscript.TestScript, neg bool, args []string) {
		deadline := time.Now().Add(5 * time.Second)
		for _, a := range strings.Fields(strings.Join(args, " ")) {
			for {
				b, err := os.ReadFile("/proc/" + a + "/stat")
				if err != nil || strings.Contains(string(b), ") Z ") {
					break
				}
				if time.Now().After(deadline) {
					ts.Fatalf("gone: process %s still runs: %s", a, b)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}

	// bgsignal NAME: send SIGNAME (KILL, TERM, INT, HUP, USR1) to the
	// background commands.
	scriptCmds["bgsignal"] = func(ts *testscript.TestScript, neg bool, args []string) {
		sigs := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1}
		if len(args) != 1 || sigs[args[0]] == 0 {
			ts.Fatalf("usage: bgsignal KILL|TERM|INT|HUP|USR1")
		}
		for _, c := range ts.BackgroundCmds() {
			if err := c.Process.Signal(sigs[args[0]]); err != nil {
				ts.Fatalf("bgsignal: %v", err)
			}
		}
	}
}

// nphelper is the command exec runs in the scripts. It prints what it saw
// and exits 0, or 1 when its probe failed.
func nphelper(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: nphelper env|get|socksget|dial|unix|ifaces|trap|spawn|sleep|countint|istty ...")
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Printf(format+"\n", a...)
		return 1
	}
	switch args[0] {
	case "env": // env NAME...: NAME=VALUE or "NAME unset"
		for _, n := range args[1:] {
			if v, ok := os.LookupEnv(n); ok {
				fmt.Printf("%s=%s\n", n, v)
			} else {
				fmt.Printf("%s unset\n", n)
			}
		}
	case "get": // get URL: GET through $HTTP_PROXY
		pu, err := url.Parse(os.Getenv("HTTP_PROXY"))
		if err != nil || pu.Host == "" {
			return fail("no HTTP_PROXY")
		}
		return printGet(&http.Transport{Proxy: http.ProxyURL(pu)}, args[1])
	case "socksget": // socksget URL: GET through $ALL_PROXY (socks5h)
		pu, err := url.Parse(os.Getenv("ALL_PROXY"))
		if err != nil || pu.Scheme != "socks5h" {
			return fail("no socks5h ALL_PROXY")
		}
		d, err := proxy.SOCKS5("tcp", pu.Host, nil, &net.Dialer{Timeout: 5 * time.Second})
		if err != nil {
			return fail("socks: %v", err)
		}
		return printGet(&http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return d.Dial(network, addr)
		}}, args[1])
	case "dial": // dial HOST:PORT: connect directly, ignoring the proxy
		c, err := net.DialTimeout("tcp", args[1], 2*time.Second)
		if err != nil {
			return fail("dial failed: %v", err)
		}
		c.Close()
		fmt.Println("dial connected")
	case "unix": // unix PATH: connect to a unix socket, print its line
		c, err := net.DialTimeout("unix", args[1], 2*time.Second)
		if err != nil {
			return fail("unix failed: %v", err)
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Printf("unix connected: %s", line)
	case "ifaces": // the interfaces that are up
		ifs, err := net.Interfaces()
		if err != nil {
			return fail("interfaces: %v", err)
		}
		for _, i := range ifs {
			if i.Flags&net.FlagUp != 0 {
				fmt.Printf("up %s\n", i.Name)
			}
		}
	case "trap": // trap READY: wait for SIGTERM/SIGHUP/SIGUSR1/SIGINT, print it, exit 3
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGINT)
		os.WriteFile(args[1], []byte("ready\n"), 0o644)
		select {
		case sig := <-ch:
			fmt.Printf("got %v\n", sig)
			return 3
		case <-time.After(20 * time.Second):
			return fail("no signal")
		}
	case "spawn": // spawn TOKEN READY: start a grandchild, then sleep
		child := exec.Command(os.Args[0], "sleep", args[1])
		if err := child.Start(); err != nil {
			return fail("spawn: %v", err)
		}
		os.WriteFile(args[2], []byte("ready\n"), 0o644)
		time.Sleep(30 * time.Second)
	case "sleep": // sleep TOKEN
		time.Sleep(30 * time.Second)
	case "countint": // countint READY: count the SIGINTs of one second after the first
		ch := make(chan os.Signal, 8)
		signal.Notify(ch, syscall.SIGINT)
		os.WriteFile(args[1], []byte("ready\n"), 0o644)
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			return fail("no SIGINT")
		}
		n := 1
		for end := time.After(time.Second); ; {
			select {
			case <-ch:
				n++
				continue
			case <-end:
			}
			break
		}
		fmt.Printf("sigint %d\n", n)
	case "istty": // whether stdin and stdout are terminals
		for _, fd := range []int{0, 1} {
			_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
			fmt.Printf("fd %d tty %v\n", fd, err == nil)
		}
	default:
		return fail("nphelper: unknown %q", args[0])
	}
	return 0
}

func printGet(tr *http.Transport, u string) int {
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		fmt.Printf("get failed: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s\n%s", resp.StatusCode, resp.Header.Get("x-proxy-error"), body)
	return 0
}

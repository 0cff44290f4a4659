package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// scanDepth is how deep below each of Hide.ScanDirs socket files are
// looked for by walking (/tmp/x/sock is depth 2); deeper sockets are found
// through /proc/net/unix when bound in the caller's network namespace.
// maxScan bounds the entries looked at, so that a huge /tmp cannot stall
// the start.
const (
	scanDepth = 2
	maxScan   = 20000
)

// InitMain is the init process of an isolated command: PID 1 of its PID
// namespace, root of its user namespace (mapped to the caller's ids). It
// reads the configuration from the control socket, brings lo up, hides
// what Hide says, opens the listeners and hands them to the proxy outside,
// starts the command, forwards the signals the outside asks for, and
// reports the command's end. When it returns, the kernel ends every other
// process of the namespace. It returns the process exit code.
func InitMain() int {
	f := os.NewFile(controlFD, "sandbox-control")
	if f == nil {
		return 2
	}
	conn, err := net.FileConn(f) // a close-on-exec copy
	f.Close()
	if err != nil {
		return 2
	}
	ctl := conn.(*net.UnixConn)
	send := func(m initMsg, files ...*os.File) error {
		b, _ := json.Marshal(m)
		var oob []byte
		if len(files) > 0 {
			fds := make([]int, len(files))
			for i, f := range files {
				fds[i] = int(f.Fd())
			}
			oob = unix.UnixRights(fds...)
		}
		_, _, err := ctl.WriteMsgUnix(b, oob, nil)
		return err
	}
	fail := func(stage string, err error) int {
		send(initMsg{Error: err.Error(), Stage: stage})
		return 1
	}

	buf := make([]byte, 1<<20)
	n, err := ctl.Read(buf)
	if err != nil {
		return 2
	}
	var cfg initConfig
	if err := json.Unmarshal(buf[:n], &cfg); err != nil || len(cfg.Argv) == 0 {
		return fail(stageIsolate, fmt.Errorf("bad configuration: %v", err))
	}

	// Signals from the terminal reach this process as well as the
	// command; the command has its own copy, so they are dropped here.
	// (Without a handler Go would exit on them.) Forwarded signals come
	// over the control socket.
	drop := make(chan os.Signal, 16)
	signal.Notify(drop, forwardedSignals...)
	go func() {
		for range drop {
		}
	}()

	if err := loopbackUp(); err != nil {
		return fail(stageIsolate, fmt.Errorf("bringing up lo: %w", err))
	}
	if err := hide(cfg.Hide, cfg.Bound); err != nil {
		return fail(stageIsolate, err)
	}
	if cfg.Dir != "" {
		os.Chdir(cfg.Dir) // the same directory, seen through the new mounts
	}

	var listeners []*net.TCPListener
	listen := func() (string, error) {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return "", err
		}
		listeners = append(listeners, l)
		return l.Addr().String(), nil
	}
	httpAddr, err := listen()
	if err != nil {
		return fail(stageIsolate, fmt.Errorf("HTTP listener: %w", err))
	}
	socksAddr := ""
	if cfg.SOCKS {
		if socksAddr, err = listen(); err != nil {
			return fail(stageIsolate, fmt.Errorf("SOCKS5 listener: %w", err))
		}
	}
	env := ProxyEnv(cfg.Env, httpAddr, socksAddr, true)
	path, err := lookPath(cfg.Argv[0], env)
	if err != nil {
		return fail(stageStart, err)
	}

	files := make([]*os.File, len(listeners))
	for i, l := range listeners {
		if files[i], err = l.File(); err != nil {
			return fail(stageIsolate, err)
		}
	}
	if err := send(initMsg{Ready: true, HTTP: httpAddr, SOCKS: socksAddr}, files...); err != nil {
		return 2
	}
	// The proxy outside holds the listening sockets now.
	for i, l := range listeners {
		files[i].Close()
		l.Close()
	}

	pid, err := startCommand(path, cfg.Argv, env)
	if err != nil {
		return fail(stageStart, err)
	}

	// The outside asks for signals; its end (netpolicy exited or was
	// killed) ends this process and with it the namespace.
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ctl.Read(b)
			if err != nil || n == 0 {
				os.Exit(1)
			}
			var m ctlMsg
			if json.Unmarshal(b[:n], &m) == nil && m.Signal > 0 {
				syscall.Kill(pid, syscall.Signal(m.Signal))
			}
		}
	}()

	// As PID 1 this process inherits every orphan of the namespace: reap
	// them all until the command itself ends.
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fail(stageIsolate, fmt.Errorf("waiting for the command: %w", err))
		}
		if wpid != pid {
			continue
		}
		m := initMsg{Exited: true, Code: ws.ExitStatus()}
		if ws.Signaled() {
			m.Code, m.Signal = 0, int(ws.Signal())
		}
		send(m)
		return 0
	}
}

// lookPath finds argv0 as a shell would, with the PATH of env.
func lookPath(argv0 string, env []string) (string, error) {
	if filepath.Base(argv0) != argv0 {
		fi, err := os.Stat(argv0)
		if err != nil {
			return "", unwrapExec(err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", syscall.EACCES
		}
		return argv0, nil
	}
	pathVar := ""
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			pathVar = kv[5:]
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // never run a program from a relative PATH entry
		}
		p := filepath.Join(dir, argv0)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// startCommand starts the command from a thread whose capability bounding
// set is empty and which has no_new_privs set, so that the command gains
// no capability in the user namespace (not even when the caller's id is
// 0) and setuid programs gain nothing. The thread is never given back to
// the Go scheduler: it ends with its goroutine.
func startCommand(path string, argv, env []string) (int, error) {
	type result struct {
		pid int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Ambient capabilities (this process's own, see StartIsolated)
		// would survive the exec; inheritable ones could combine with a
		// file's.
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
			ch <- result{err: fmt.Errorf("clearing ambient capabilities: %w", err)}
			return
		}
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			ch <- result{err: fmt.Errorf("capabilities: %w", err)}
			return
		}
		data[0].Inheritable, data[1].Inheritable = 0, 0
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			ch <- result{err: fmt.Errorf("clearing inheritable capabilities: %w", err)}
			return
		}
		for c := 0; c <= 63; c++ {
			err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
			if errors.Is(err, unix.EINVAL) {
				break // past the last capability
			}
			if err != nil {
				ch <- result{err: fmt.Errorf("dropping capabilities: %w", err)}
				return
			}
		}
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			ch <- result{err: fmt.Errorf("no_new_privs: %w", err)}
			return
		}
		pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
			Env:   env,
			Files: []uintptr{0, 1, 2},
		})
		ch <- result{pid, err}
	}()
	r := <-ch
	return r.pid, r.err
}

// findSockets lists the socket files within scanDepth levels below root.
func findSockets(root string) []string {
	var socks []string
	seen := 0
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		f, err := os.Open(dir)
		if err != nil {
			return
		}
		ents, _ := f.ReadDir(-1) // unsorted: no need to sort
		f.Close()
		for _, e := range ents {
			if seen++; seen > maxScan {
				return
			}
			p := filepath.Join(dir, e.Name())
			switch t := e.Type(); {
			case t&fs.ModeSocket != 0:
				socks = append(socks, p)
			case t.IsDir() && depth < scanDepth:
				walk(p, depth+1)
			}
		}
	}
	walk(root, 1)
	return socks
}

// loopbackUp sets IFF_UP on lo, the namespace's only interface.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// hide applies h in the new mount namespace, then mounts a /proc of the
// new PID namespace (the old one would show processes outside, and their
// /proc/PID/root would lead around every mount made here).
func hide(h Hide, bound []string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mounts private: %w", err)
	}
	// Open the sockets to keep before anything covers them.
	type kept struct {
		path string
		fd   int
		st   unix.Stat_t
	}
	var keep []kept
	defer func() {
		for _, k := range keep {
			unix.Close(k.fd)
		}
	}()
	for _, p := range h.Keep {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		k := kept{path: p, fd: fd}
		if unix.Fstat(fd, &k.st) != nil || k.st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			unix.Close(fd)
			continue
		}
		keep = append(keep, k)
	}
	isKept := func(st *unix.Stat_t) bool {
		for _, k := range keep {
			if k.st.Dev == st.Dev && k.st.Ino == st.Ino {
				return true
			}
		}
		return false
	}

	var existed []string
	covered := map[string]bool{}
	for _, d := range h.Dirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			continue
		}
		existed = append(existed, d)
		if covered[real] {
			continue
		}
		if err := unix.Mount("tmpfs", real, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=4m"); err != nil {
			return fmt.Errorf("hiding %s: %w", real, err)
		}
		covered[real] = true
	}
	socks := append([]string(nil), bound...)
	for _, root := range h.ScanDirs {
		socks = append(socks, findSockets(root)...)
	}
	done := map[string]bool{}
	for _, p := range socks {
		if done[p] {
			continue
		}
		done[p] = true
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK || isKept(&st) {
			continue
		}
		err := unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("hiding %s: %w", p, err)
		}
	}
	// A directory hidden inside another (XDG_RUNTIME_DIR in /run) is
	// there again, empty, so that programs that expect it work.
	for _, d := range existed {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			os.MkdirAll(d, 0o700)
		}
	}
	for _, k := range keep {
		var st unix.Stat_t
		if unix.Stat(k.path, &st) == nil && st.Dev == k.st.Dev && st.Ino == k.st.Ino {
			continue // still reachable
		}
		if err := os.MkdirAll(filepath.Dir(k.path), 0o755); err != nil {
			return fmt.Errorf("keeping %s: %w", k.path, err)
		}
		if f, err := os.OpenFile(k.path, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			f.Close()
		}
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", k.fd), k.path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("keeping %s: %w", k.path, err)
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc of the PID namespace: %w", err)
	}
	return nil
}

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// InitCommand is the hidden first argument with which netpolicy re-executes
// itself as the PID 1 of an isolated command's namespaces; the program's
// main must hand such a run to InitMain before parsing anything else.
const InitCommand = "__netpolicy-sandbox-init"

// controlFD is the inherited socket pair end of the process InitMain runs in.
const controlFD = 3

// readyTimeout bounds the set-up of the namespaces, from the start of the
// init process to its listeners.
const readyTimeout = 10 * time.Second

// initConfig is the first message on the control socket, outer to inner.
type initConfig struct {
	Argv  []string `json:"argv"`
	Env   []string `json:"env"`
	Dir   string   `json:"dir"`
	SOCKS bool     `json:"socks"`
	Hide  Hide     `json:"hide"`
	// Bound are the sockets under Hide.ScanDirs bound in the caller's
	// network namespace, which the init process can no longer list.
	Bound []string `json:"bound"`
}

// initMsg is what the init process reports, inner to outer: ready (with
// the listening sockets attached), a failure, or the command's end.
type initMsg struct {
	Ready  bool   `json:"ready,omitempty"`
	HTTP   string `json:"http,omitempty"`
	SOCKS  string `json:"socks,omitempty"`
	Error  string `json:"error,omitempty"`
	Stage  string `json:"stage,omitempty"` // stageIsolate or stageStart
	Exited bool   `json:"exited,omitempty"`
	Code   int    `json:"code,omitempty"`
	Signal int    `json:"signal,omitempty"`
}

// ctlMsg is what the outer process sends after the configuration.
type ctlMsg struct {
	Signal int `json:"signal"`
}

const (
	stageIsolate = "isolate" // setting up the namespaces failed
	stageStart   = "start"   // the command could not be started
)

// StartIsolated runs spec's command in new user, network, mount and PID
// namespaces (POLICY §7). The returned Run's HTTP (and SOCKS) listeners
// are on the namespace's loopback; the caller must serve them with the
// proxy: the command's proxy variables point at them. An
// *UnavailableError means the kernel does not allow isolation here; a
// *StartError that the command could not be started.
func StartIsolated(spec Spec) (*Run, error) {
	if len(spec.Argv) == 0 {
		return nil, &StartError{Err: errors.New("no command")}
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	outerFile := os.NewFile(uintptr(fds[0]), "sandbox-control")
	innerFile := os.NewFile(uintptr(fds[1]), "sandbox-control")
	defer outerFile.Close()

	uid, gid := os.Getuid(), os.Getgid()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"netpolicy", InitCommand},
		Env:        spec.Env,
		Dir:        spec.Dir,
		Stdin:      spec.Stdin,
		Stdout:     spec.Stdout,
		Stderr:     spec.Stderr,
		ExtraFiles: []*os.File{innerFile},
		WaitDelay:  time.Second,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET |
				syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
			GidMappingsEnableSetgroups: false,
			// The init process is the caller's uid, not root, inside
			// too: without ambient capabilities the exec of
			// /proc/self/exe would drop what the new user namespace
			// gave it. It needs these to mount, to bring lo up and to
			// empty the command's bounding set.
			AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_SETPCAP},
			// A second line of defence: the init process also exits
			// when the control socket reaches end of file.
			Pdeathsig: syscall.SIGKILL,
			// A terminal of the command's own becomes the controlling
			// terminal of the namespace's session (Spec.OwnTerminal).
			Setsid:  spec.OwnTerminal,
			Setctty: spec.OwnTerminal,
		},
	}
	r := newRun(spec)
	err = cmd.Start()
	innerFile.Close()
	if err != nil {
		r.stop()
		return nil, &UnavailableError{Cause: diagnose("creating user namespaces: " + err.Error())}
	}
	fail := func(err error) (*Run, error) {
		cmd.Process.Kill()
		cmd.Wait()
		r.stop()
		return nil, err
	}
	conn, err := net.FileConn(outerFile)
	if err != nil {
		return fail(err)
	}
	ctl := conn.(*net.UnixConn)
	// Listed while the init process starts up.
	bound := boundSockets(spec.Hide.ScanDirs)
	cfg, _ := json.Marshal(initConfig{Argv: spec.Argv, Env: spec.Env, Dir: spec.Dir, SOCKS: spec.SOCKS, Hide: spec.Hide, Bound: bound})
	if _, err := ctl.Write(cfg); err != nil {
		ctl.Close()
		return fail(fmt.Errorf("sandbox: sending the configuration: %w", err))
	}
	ctl.SetReadDeadline(time.Now().Add(readyTimeout))
	msg, files, err := readInitMsg(ctl)
	ctl.SetReadDeadline(time.Time{})
	if err != nil {
		ctl.Close()
		return fail(&UnavailableError{Cause: "the namespace's init process: " + err.Error()})
	}
	switch {
	case msg.Error != "" && msg.Stage == stageStart:
		ctl.Close()
		return fail(&StartError{Name: spec.Argv[0], Err: errors.New(msg.Error)})
	case msg.Error != "":
		ctl.Close()
		return fail(&UnavailableError{Cause: diagnose(msg.Error)})
	case !msg.Ready || len(files) < 1 || spec.SOCKS != (len(files) == 2):
		for _, f := range files {
			f.Close()
		}
		ctl.Close()
		return fail(errors.New("sandbox: unexpected message from the init process"))
	}
	r.Isolated = true
	ls := make([]net.Listener, len(files))
	for i, f := range files {
		ls[i], err = net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range ls[:i] {
				l.Close()
			}
			ctl.Close()
			return fail(err)
		}
	}
	r.HTTP = ls[0]
	if len(ls) == 2 {
		r.SOCKS = ls[1]
	}
	r.kill = func() { cmd.Process.Kill() }
	r.signal = func(sig os.Signal) error {
		n, _ := sig.(syscall.Signal)
		b, _ := json.Marshal(ctlMsg{Signal: int(n)})
		_, err := ctl.Write(b)
		return err
	}
	r.wait = func() (Status, error) {
		defer ctl.Close()
		var end *initMsg
		for {
			m, fs, err := readInitMsg(ctl)
			for _, f := range fs {
				f.Close()
			}
			if err != nil {
				break
			}
			if m.Exited || m.Error != "" {
				end = &m
				break
			}
		}
		werr := cmd.Wait()
		switch {
		case end != nil && end.Error != "":
			return Status{}, &StartError{Name: spec.Argv[0], Err: errors.New(end.Error)}
		case end != nil:
			return Status{Code: end.Code, Signal: syscall.Signal(end.Signal)}, nil
		case cmd.ProcessState != nil:
			st := statusOf(cmd.ProcessState)
			if st.Signal == 0 {
				return st, fmt.Errorf("sandbox: the init process ended without the command's status (exit %d)", st.Code)
			}
			return st, nil // the init process was killed: so was the command
		}
		return Status{}, werr
	}
	return r, nil
}

// boundSockets lists the paths of the unix sockets bound in this network
// namespace (/proc/net/unix) that lie under one of dirs. Walking a busy
// /tmp to any depth costs tens of milliseconds; this costs one read.
func boundSockets(dirs []string) []string {
	if len(dirs) == 0 {
		return nil
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return nil
	}
	return parseProcNetUnix(string(b), dirs)
}

// parseProcNetUnix is boundSockets on the text of /proc/net/unix.
func parseProcNetUnix(text string, dirs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n")[1:] {
		// Num RefCount Protocol Flags Type St Inode Path; the path may
		// hold spaces, so it is everything after the seventh field.
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		rest := line
		for i := 0; i < 7; i++ {
			rest = strings.TrimLeft(rest, " ")
			rest = rest[strings.IndexByte(rest, ' ')+1:]
		}
		p := strings.TrimLeft(rest, " ")
		if !strings.HasPrefix(p, "/") || seen[p] {
			continue // abstract or unnamed
		}
		for _, d := range dirs {
			if strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
				seen[p] = true
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// readInitMsg reads one message and the files attached to it.
func readInitMsg(c *net.UnixConn) (initMsg, []*os.File, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return initMsg{}, nil, err
	}
	if n == 0 {
		return initMsg{}, nil, errors.New("closed the control socket")
	}
	var files []*os.File
	if oobn > 0 {
		cms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, cm := range cms {
				fds, err := unix.ParseUnixRights(&cm)
				if err != nil {
					continue
				}
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "sandbox-listener"))
				}
			}
		}
	}
	var m initMsg
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		for _, f := range files {
			f.Close()
		}
		return initMsg{}, nil, err
	}
	return m, files, nil
}

// diagnose names why the kernel refused the namespaces, where a known
// setting says so.
func diagnose(err string) string {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	switch {
	case read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
		return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0): " + err
	case read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
		return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): " + err
	case read("/proc/sys/user/max_user_namespaces") == "0":
		return "user namespaces are disabled (user.max_user_namespaces=0): " + err
	}
	return err
}

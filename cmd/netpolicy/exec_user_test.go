//go:build linux

package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Isolation works for an ordinary user, whose init process is not root in
// the namespace (it needs ambient capabilities across the re-exec), and
// the command ends up with no capability at all. When the tests run as
// root, the run is made as nobody.
func TestExecIsolatedAsUser(t *testing.T) {
	if ok, _ := scriptConds["userns"](); !ok {
		t.Skip("user namespaces unavailable")
	}
	dir, err := os.MkdirTemp("", "netpolicy-user-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "netpolicy")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, self, bin)
	for _, p := range []string{dir, bin} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "exec", "--isolate", "on", "--", "sh", "-c", "id -u; grep -E '^Cap(Eff|Prm|Bnd|Amb):' /proc/self/status")
	cmd.Args[0] = "netpolicy" // testscript.Main runs the netpolicy program by this name
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "CODEX_HOME=" + dir, "NETPOLICY_CONFIG=", "NETPOLICY_REQUIREMENTS="}
	want := os.Getuid()
	if want == 0 {
		want = 65534
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("exec as uid %d: %v\n%s", want, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 || lines[0] != strconv.Itoa(want) {
		t.Fatalf("output %q, want uid %d and four capability lines", out, want)
	}
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, "0000000000000000") {
			t.Errorf("CMD has capabilities: %s", l)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

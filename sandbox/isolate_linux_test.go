package sandbox

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProcNetUnix(t *testing.T) {
	const text = `Num       RefCount Protocol Flags    Type St Inode Path
000000009786492f: 00000002 00000000 00010000 0001 01 1528874 /tmp/a/b/c/deep.sock
000000009c631ffa: 00000003 00000000 00000000 0001 03  1645
0000000011111111: 00000002 00000000 00010000 0001 01 1528875 @/tmp/abstract
0000000022222222: 00000002 00000000 00010000 0001 01 1528876 /tmp/with space/x.sock
0000000033333333: 00000002 00000000 00010000 0001 01 1528877 /run/user/1000/bus
0000000044444444: 00000002 00000000 00010000 0001 01 1528878 /var/tmp/v.sock
0000000055555555: 00000002 00000000 00010000 0001 01 1528879 /tmpfoo/not-under.sock
0000000066666666: 00000002 00000000 00010000 0001 01 1528874 /tmp/a/b/c/deep.sock
`
	got := parseProcNetUnix(text, []string{"/tmp", "/var/tmp/"})
	want := []string{"/tmp/a/b/c/deep.sock", "/tmp/with space/x.sock", "/var/tmp/v.sock"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parseProcNetUnix (-want +got):\n%s", d)
	}
}

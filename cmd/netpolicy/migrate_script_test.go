package main

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// oldTime is the mtime setmtime gives a file, so a script can tell that a
// command did not touch it.
var oldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func init() {
	// setmtime FILE... sets the files' mtime to a fixed time in the past.
	scriptCmds["setmtime"] = func(ts *testscript.TestScript, neg bool, args []string) {
		for _, a := range args {
			ts.Check(os.Chtimes(ts.MkAbs(a), oldTime, oldTime))
		}
	}
	// mtimekept FILE... asserts the files still have that mtime (with !:
	// that they do not).
	scriptCmds["mtimekept"] = func(ts *testscript.TestScript, neg bool, args []string) {
		for _, a := range args {
			st, err := os.Stat(ts.MkAbs(a))
			ts.Check(err)
			if kept := st.ModTime().Equal(oldTime); kept == neg {
				ts.Fatalf("%s: mtime %v, kept=%v", a, st.ModTime(), kept)
			}
		}
	}
	// crlf FILE... turns the files' LF line endings into CRLF (txtar
	// archives hold text with LF only).
	scriptCmds["crlf"] = func(ts *testscript.TestScript, neg bool, args []string) {
		for _, a := range args {
			p := ts.MkAbs(a)
			b, err := os.ReadFile(p)
			ts.Check(err)
			ts.Check(os.WriteFile(p, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")), 0o644))
		}
	}
	// chopnl FILE... removes the files' final line ending.
	scriptCmds["chopnl"] = func(ts *testscript.TestScript, neg bool, args []string) {
		for _, a := range args {
			p := ts.MkAbs(a)
			b, err := os.ReadFile(p)
			ts.Check(err)
			b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
			ts.Check(os.WriteFile(p, b, 0o644))
		}
	}
	// perm FILE MODE asserts the file's permission bits (octal).
	scriptCmds["perm"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: perm FILE MODE")
		}
		want, err := strconv.ParseUint(args[1], 8, 32)
		ts.Check(err)
		st, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		if got := st.Mode().Perm(); (uint64(got) == want) == neg {
			ts.Fatalf("%s: mode %o, want %o", args[0], got, want)
		}
	}
}

package main

import (
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, the module version of a `go install …@vX.Y.Z` build is used.
var version = ""

// devVersion names a build that carries no version of its own.
const devVersion = "devel"

// readBuildInfo is debug.ReadBuildInfo; tests replace it.
var readBuildInfo = debug.ReadBuildInfo

// versionString identifies the build: the version (from -ldflags, else the
// module version go install recorded, else "devel") and, when the binary
// was built from a VCS checkout, the revision, its time and whether the
// tree had local changes: "v1.2.0", "devel (rev 1a2b3c4d5e6f, 2026-12-03T08:00:00Z, modified)".
func versionString() string {
	v := version
	info, ok := readBuildInfo()
	if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = devVersion
	}
	if !ok {
		return v
	}
	var rev, when string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var extra []string
	if rev != "" {
		extra = append(extra, "rev "+rev[:min(12, len(rev))])
	}
	if when != "" {
		extra = append(extra, when)
	}
	if modified {
		extra = append(extra, "modified")
	}
	if len(extra) == 0 {
		return v
	}
	return v + " (" + strings.Join(extra, ", ") + ")"
}

package main

import (
	"runtime/debug"
)

// version is what "nat64br version", the start log line, the status
// command and the build_info metric call this build. The Makefile sets it
// with -ldflags "-X main.version=$(git describe --tags --always --dirty)";
// when it is left empty, init takes it from the build information.
var version string

func init() {
	info, _ := debug.ReadBuildInfo()
	version = versionOf(version, info)
}

// versionOf returns the version of a build: the one set at link time if
// any; else the main module's version, which "go install
// github.com/nat64br/nat64br/cmd/nat64br@v0.1.0" records (and a build in a
// checkout, from its tags, since Go 1.24); else the VCS revision a build in
// a checkout records, 12 hex digits with "-dirty" when the tree had
// changes; else "dev". info may be nil.
func versionOf(linked string, info *debug.BuildInfo) string {
	if linked != "" {
		return linked
	}
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

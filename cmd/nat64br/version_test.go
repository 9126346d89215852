package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

// TestVersionOf checks where a build's version comes from: the linker
// flag first, then the module version, then the VCS revision, and "dev"
// only when none of them says anything.
func TestVersionOf(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "5132a69c0ffee0123456789abcdef0123456789a"
	for _, tc := range []struct {
		name   string
		linked string
		info   *debug.BuildInfo
		want   string
	}{
		{name: "make build, tagged", linked: "v0.1.0", info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, want: "v0.1.0"},
		{name: "make build, commits after the tag, dirty", linked: "v0.1.0-3-g5132a69-dirty", info: &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}}, want: "v0.1.0-3-g5132a69-dirty"},
		{name: "make build, no tag", linked: "5132a69", want: "5132a69"},
		{name: "go install module@v0.1.0", info: &debug.BuildInfo{Main: debug.Module{Path: "github.com/nat64br/nat64br", Version: "v0.1.0"}}, want: "v0.1.0"},
		{name: "go build in a checkout, Go 1.24+ pseudo-version", info: &debug.BuildInfo{Main: debug.Module{Version: "v0.1.1-0.20261203140945-5132a69c0ffe+dirty"}, Settings: vcs(rev, "true")}, want: "v0.1.1-0.20261203140945-5132a69c0ffe+dirty"},
		{name: "go build in a checkout, clean", info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, want: "5132a69c0ffe"},
		{name: "go build in a checkout, dirty", info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, want: "5132a69c0ffe-dirty"},
		{name: "-buildvcs=false", info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, want: "dev"},
		{name: "no build information", want: "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionOf(tc.linked, tc.info); got != tc.want {
				t.Errorf("versionOf(%q, …) = %q, want %q", tc.linked, got, tc.want)
			}
		})
	}
}

// TestVersionCommand checks that "nat64br version" prints the resolved
// version (this test binary's).
func TestVersionCommand(t *testing.T) {
	info, _ := debug.ReadBuildInfo()
	want := "nat64br " + versionOf("", info) + "\n"
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 || stdout.String() != want {
		t.Errorf("version: exit %d, %q, want %q", code, stdout.String(), want)
	}
}

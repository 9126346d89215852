package main

import (
	"slices"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// TestSeccompNames checks the allow-list against the filter library's
// tables: every name is a system call of some architecture (a typo would
// be left out everywhere, silently), and each architecture with a table
// keeps the calls nat64br cannot run without.
func TestSeccompNames(t *testing.T) {
	var tables []*arch.Info
	for _, a := range []string{"amd64", "arm64", "386", "arm"} {
		info, err := arch.GetInfo(a)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		tables = append(tables, info)
	}
	for _, n := range seccompAllowed {
		known := false
		for _, info := range tables {
			_, ok := info.SyscallNames[n]
			known = known || ok
		}
		if !known {
			t.Errorf("%q is no system call of amd64, arm64, 386 or arm", n)
		}
	}
	for _, info := range tables {
		names := filterNames(seccompAllowed, info)
		for _, need := range []string{"futex", "read", "write", "close", "sendmmsg", "recvmmsg", "epoll_ctl", "setsockopt", "accept4", "connect", "rt_sigreturn", "exit_group"} {
			if !slices.Contains(names, need) {
				t.Errorf("%s: %s is not allowed", info.Name, need)
			}
		}
	}
}

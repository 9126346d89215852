package main

import (
	"strings"
	"testing"

	"github.com/nat64br/nat64br/config"
)

// TestLookupSandboxUser covers sandbox.user and sandbox.group: names,
// numbers without a passwd entry (a container's 65532), a missing default
// (not an error: nat64br stays who it is) and a missing name asked for.
func TestLookupSandboxUser(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sb       config.Sandbox
		uid, gid int // -1: not checked (who the test runs as)
		err      string
	}{
		{name: "root by name", sb: config.Sandbox{Drop: true, User: "root"}, uid: 0, gid: 0},
		{name: "a number with no user", sb: config.Sandbox{Drop: true, User: "65532"}, uid: 65532, gid: 65532},
		{name: "a number and a group number", sb: config.Sandbox{Drop: true, User: "65532", Group: "65533"}, uid: 65532, gid: 65533},
		{name: "a user asked for that does not exist", sb: config.Sandbox{Drop: true, User: "no-such-nat64br-user"}, err: "sandbox.user: user: unknown user no-such-nat64br-user"},
		{name: "a group that does not exist", sb: config.Sandbox{Drop: true, User: "root", Group: "no-such-nat64br-group"}, err: "sandbox.group:"},
		{name: "drop off", sb: config.Sandbox{User: "65532"}, uid: -1, gid: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := lookupSandboxUser(tc.sb)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.uid >= 0 && (u.uid != tc.uid || u.gid != tc.gid) {
				t.Errorf("uid %d gid %d, want %d %d", u.uid, u.gid, tc.uid, tc.gid)
			}
			if tc.uid == 0 && u.switchTo {
				t.Errorf("switches to root")
			}
		})
	}
}

package main

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/config"
)

// inHostNetns runs f on a locked thread in a new network namespace that
// holds one veth, up, with 192.0.2.10/24 and 2001:db8:1::10/64 and default
// routes of both families through it (a one-armed TAYGA box), then moves
// the thread back. It skips the test when not root.
func inHostNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and a veth")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			t.Error(err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		defer func() {
			// Back to the test's namespace; if that fails the thread
			// stays locked and dies with this goroutine.
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
				runtime.UnlockOSThread()
			}
		}()
		if err := hostNetnsSetup(); err != nil {
			t.Errorf("setting up the namespace: %v", err)
			return
		}
		f()
	}()
	<-done
}

// hostNetnsSetup gives the current namespace its veth, addresses and
// default routes.
func hostNetnsSetup() error {
	la := netlink.NewLinkAttrs()
	la.Name = "up0"
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "up0-peer"}
	if err := netlink.LinkAdd(veth); err != nil {
		return err
	}
	for _, name := range []string{"lo", "up0", "up0-peer"} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
	}
	l, err := netlink.LinkByName("up0")
	if err != nil {
		return err
	}
	for _, s := range []string{"192.0.2.10/24", "2001:db8:1::10/64"} {
		a, err := netlink.ParseAddr(s)
		if err != nil {
			return err
		}
		a.Flags = unix.IFA_F_NODAD
		if err := netlink.AddrAdd(l, a); err != nil {
			return err
		}
	}
	for _, gw := range []string{"192.0.2.1", "2001:db8:1::1"} {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(gw)}
		if err := netlink.RouteAdd(r); err != nil {
			return err
		}
	}
	return nil
}

// TestReadHostNet reads a one-armed host's network through netlink.
func TestReadHostNet(t *testing.T) {
	inHostNetns(t, func() {
		h, err := readHostNet()
		if err != nil {
			t.Errorf("readHostNet: %v", err)
			return
		}
		want := config.HostNet{
			IPv6Interface: "up0", IPv4Interface: "up0",
			IPv4Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
			IPv6Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::10/64")},
			Gateway:   netip.MustParseAddr("192.0.2.1"), Gateway6: netip.MustParseAddr("2001:db8:1::1"),
		}
		if h.IPv6Interface != want.IPv6Interface || h.IPv4Interface != want.IPv4Interface ||
			!slices.Equal(h.IPv4Addrs, want.IPv4Addrs) || !slices.Equal(h.IPv6Addrs, want.IPv6Addrs) ||
			h.Gateway != want.Gateway || h.Gateway6 != want.Gateway6 {
			t.Errorf("readHostNet:\n %+v\nwant\n %+v", *h, want)
		}
		for _, a := range []string{"192.0.2.10", "2001:db8:1::10", "127.0.0.1"} {
			if !slices.Contains(h.Addrs, netip.MustParseAddr(a)) {
				t.Errorf("the host's addresses %v lack %s", h.Addrs, a)
			}
		}
	})
}

// TestImportTAYGAFromHost runs import-tayga --from-host on seed 004's
// appliance (a one-armed box with the CGNAT pool behind MASQUERADE): the
// output names the veth for both sides with its subnets and routers,
// passes the command's own Parse, and the notes say what to do.
func TestImportTAYGAFromHost(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tayga.conf")
	conf := "tun-device nat64\nipv4-addr 100.64.0.1\nprefix 64:ff9b::/96\ndynamic-pool 100.64.0.0/10\ndata-dir /var/spool/tayga\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stdout []string
		stderr []string
	}{
		{
			name: "pool",
			stdout: []string{"ipv6-interface: up0\nipv4-interface: up0\n", `ipv4-subnet: "192.0.2.0/24"`, `gateway: "192.0.2.1"`,
				"ipv6-subnets:\n  - \"2001:db8:1::/64\"\n", `gateway6: "2001:db8:1::1"`, `dynamic-pool: "100.64.0.0/10"`},
			stderr: []string{"WARNING: " + p + ":4: dynamic-pool 100.64.0.0/10 is shared CGNAT space", "192.0.2.0/24", "192.0.2.10"},
		},
		{
			name:   "masquerade",
			args:   []string{"--masquerade", "192.0.2.20"},
			stdout: []string{"mode: nat64\n", `pool4: ["192.0.2.20/32"]`, "ipv6-interface: up0\nipv4-interface: up0\n", `gateway: "192.0.2.1"`},
		},
		{
			name:   "masquerade as the host",
			args:   []string{"--masquerade", "192.0.2.10"},
			stderr: []string{"WARNING: --masquerade: ipv4-addr 192.0.2.10 is the host's own address"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inHostNetns(t, func() {
				var stdout, stderr bytes.Buffer
				args := append(append([]string{"import-tayga", "--from-host"}, tc.args...), p)
				if code := run(args, &stdout, &stderr); code != 0 {
					t.Errorf("exit %d: %s", code, stderr.String())
					return
				}
				wantOutput(t, "stdout", stdout.String(), tc.stdout)
				wantOutput(t, "stderr", stderr.String(), tc.stderr)
				if t.Failed() {
					t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
				}
			})
		})
	}
}

package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestTakeOver runs the runner's kernel check on a veth that holds IPv4 and
// IPv6 addresses, in a fresh network namespace, with no ip tool involved:
// take-over must leave the kernel no address there, ARP requests ignored
// (arp_ignore 8) and IPv6 off, logging each change; without take-over it
// only warns. The read-only row plays a container's /proc/sys.
func TestTakeOver(t *testing.T) {
	for _, tc := range []struct {
		name     string
		takeOver bool
		readOnly bool   // /proc/sys writes fail with EROFS
		disabled string // disable_ipv6 afterwards
		logs     []string
	}{
		{name: "warn only", disabled: "0", logs: []string{"the kernel is also on this port", "192.0.2.10/24"}},
		{name: "take-over", takeOver: true, disabled: "1", logs: []string{
			`msg="take-over: set" path=/proc/sys/net/ipv6/conf/up0/disable_ipv6 value=1`,
			`msg="take-over: set" path=/proc/sys/net/ipv4/conf/up0/arp_ignore value=8`,
			`msg="take-over: flushed addresses" interface=up0 addresses=192.0.2.10/24,2001:db8:1::10/64`}},
		{name: "take-over, /proc/sys read-only", takeOver: true, readOnly: true, disabled: "0", logs: []string{
			`msg="take-over: cannot set" path=/proc/sys/net/ipv6/conf/up0/disable_ipv6`,
			`none generated (addrgenmode none) through netlink" interface=up0`,
			`msg="take-over: set through netlink" sysctl=net.ipv4.conf.up0.arp_ignore value=8`,
			`msg="take-over: flushed addresses" interface=up0 addresses=192.0.2.10/24`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.readOnly {
				defer func(f func(string, string) error) { writeSysctl = f }(writeSysctl)
				writeSysctl = func(string, string) error { return &os.PathError{Op: "open", Err: syscall.EROFS} }
			}
			inHostNetns(t, func() {
				var logs bytes.Buffer
				r := &runner{log: slog.New(slog.NewTextHandler(&logs, nil)), takeOver: tc.takeOver}
				if err := r.kernelCheck("up0"); err != nil {
					t.Errorf("kernelCheck: %v", err)
					return
				}
				defer func() {
					if t.Failed() {
						t.Logf("log:\n%s", logs.String())
					}
				}()
				wantOutput(t, "log", logs.String(), tc.logs)
				link, err := netlink.LinkByName("up0")
				if err != nil {
					t.Error(err)
					return
				}
				v4, _ := netlink.AddrList(link, unix.AF_INET)
				v6, _ := netlink.AddrList(link, unix.AF_INET6)
				if tc.takeOver && len(v4)+len(v6) > 0 {
					t.Errorf("addresses left on up0: %v %v", v4, v6)
				}
				if !tc.takeOver && len(v4) == 0 {
					t.Errorf("without take-over the IPv4 address went")
				}
				if got := sysctl(t, "/proc/sys/net/ipv6/conf/up0/disable_ipv6"); got != tc.disabled {
					t.Errorf("disable_ipv6 = %s, want %s", got, tc.disabled)
				}
				wantARP := "0"
				if tc.takeOver {
					wantARP = "8"
				}
				if got := sysctl(t, "/proc/sys/net/ipv4/conf/up0/arp_ignore"); got != wantARP {
					t.Errorf("arp_ignore = %s, want %s", got, wantARP)
				}
				if !tc.readOnly {
					return
				}
				// Down and up again: with addrgenmode none the kernel
				// makes no new link-local address.
				if err := errors.Join(netlink.LinkSetDown(link), netlink.LinkSetUp(link)); err != nil {
					t.Error(err)
				}
				if v6, _ := netlink.AddrList(link, unix.AF_INET6); len(v6) > 0 {
					t.Errorf("IPv6 addresses back after down/up: %v", v6)
				}
			})
		})
	}
}

// sysctl reads a /proc/sys file of the calling thread's namespace.
func sysctl(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
	}
	return strings.TrimSpace(string(b))
}

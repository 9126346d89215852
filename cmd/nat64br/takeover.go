package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// writeSysctl writes a /proc/sys file; tests replace it to play a
// container whose /proc/sys is read-only.
var writeSysctl = func(path, v string) error { return os.WriteFile(path, []byte(v), 0o644) }

// ipv4DevconfARPIgnore is IPV4_DEVCONF_ARP_IGNORE of linux/ip.h, the
// netlink name of net.ipv4.conf.<port>.arp_ignore, and in6AddrGenModeNone
// is IN6_ADDR_GEN_MODE_NONE of linux/if_link.h (x/sys exports neither).
const (
	ipv4DevconfARPIgnore = 19
	in6AddrGenModeNone   = 1
)

// takeOver turns the kernel off the port called name, as --take-over
// promises: its IPv6 disabled (which removes its IPv6 addresses), ARP
// requests ignored (arp_ignore 8) and its IPv4 addresses flushed; addrs are
// the addresses it had, for the log. Each change is logged; none is undone
// at stop. It needs CAP_NET_ADMIN and no tool: the sysctls are written in
// /proc/sys, the rest goes through netlink (rtnetlink), so it works in a
// container image that holds only nat64br. Where /proc/sys is read-only, as
// containers mount it, arp_ignore is set through netlink instead and, since
// netlink cannot disable IPv6, the kernel is kept from IPv6 on the port by
// removing its IPv6 addresses and making it generate none (addrgenmode
// none). A step that fails is logged as a warning and the others still run.
func takeOver(log *slog.Logger, name string, addrs []string) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		log.Warn("take-over: cannot find the interface through netlink", "interface", name, "err", err)
		return
	}
	v6 := filepath.Join("/proc/sys/net/ipv6/conf", name, "disable_ipv6")
	if err := writeSysctl(v6, "1"); err != nil {
		log.Warn("take-over: cannot set", "path", v6, "err", err)
		if err := keepIPv6Off(link); err != nil {
			log.Warn("take-over: cannot keep the kernel's IPv6 off through netlink either", "interface", name, "err", err)
		} else {
			log.Info("take-over: kernel IPv6 addresses removed and none generated (addrgenmode none) through netlink", "interface", name)
		}
	} else {
		log.Info("take-over: set", "path", v6, "value", "1")
	}
	arp := filepath.Join("/proc/sys/net/ipv4/conf", name, "arp_ignore")
	if err := writeSysctl(arp, "8"); err != nil {
		if nerr := setARPIgnore(link, 8); nerr != nil {
			log.Warn("take-over: cannot set", "path", arp, "err", err, "netlink_err", nerr)
		} else {
			log.Info("take-over: set through netlink", "sysctl", "net.ipv4.conf."+name+".arp_ignore", "value", "8", "proc_sys_err", err)
		}
	} else {
		log.Info("take-over: set", "path", arp, "value", "8")
	}
	if err := flushAddrs(link, unix.AF_INET); err != nil {
		log.Warn("take-over: cannot flush IPv4 addresses", "interface", name, "err", err)
	} else if len(addrs) > 0 {
		log.Info("take-over: flushed addresses", "interface", name, "addresses", strings.Join(addrs, ","))
	}
}

// flushAddrs removes every address of family fam from link, as
// "ip -4 addr flush dev NAME" does.
func flushAddrs(link netlink.Link, fam int) error {
	addrs, err := netlink.AddrList(link, fam)
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	var errs []error
	for i := range addrs {
		if err := netlink.AddrDel(link, &addrs[i]); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", addrs[i].IPNet, err))
		}
	}
	return errors.Join(errs...)
}

// keepIPv6Off stops the kernel from generating IPv6 addresses on link
// (IN6_ADDR_GEN_MODE_NONE) and removes those it has: without addresses it
// answers no Neighbor Solicitation and sends nothing from them.
func keepIPv6Off(link netlink.Link) error {
	if err := netlink.LinkSetIP6AddrGenMode(link, in6AddrGenModeNone); err != nil {
		return fmt.Errorf("addrgenmode none: %w", err)
	}
	return flushAddrs(link, unix.AF_INET6)
}

// setARPIgnore sets net.ipv4.conf.<link>.arp_ignore through rtnetlink:
// RTM_SETLINK with IFLA_AF_SPEC → AF_INET → IFLA_INET_CONF, the attribute
// the kernel's inet_set_link_af reads (net/ipv4/devinet.c).
func setARPIgnore(link netlink.Link, v uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(link.Attrs().Index)
	req.AddData(msg)
	conf := nl.NewRtAttr(unix.IFLA_INET_CONF, nil)
	conf.AddRtAttr(ipv4DevconfARPIgnore, nl.Uint32Attr(v))
	inet := nl.NewRtAttr(unix.AF_INET, conf.Serialize())
	req.AddData(nl.NewRtAttr(unix.IFLA_AF_SPEC, inet.Serialize()))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

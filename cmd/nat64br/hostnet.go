package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/config"
)

// hostNet is readHostNet; tests replace it.
var hostNet = readHostNet

// readHostNet reads, through netlink, what import-tayga --from-host needs
// of this host: the interface of the default route of each family, its
// addresses and router, and every address of the host.
func readHostNet() (*config.HostNet, error) {
	h := &config.HostNet{}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		link, gw, err := defaultRoute(fam)
		if err != nil {
			return nil, err
		}
		if link == nil {
			continue
		}
		addrs, err := netlink.AddrList(link, fam)
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", link.Attrs().Name, err)
		}
		var ps []netip.Prefix
		for _, a := range addrs {
			if p, ok := prefixOf(a.IPNet); ok && (fam == unix.AF_INET || a.Scope == unix.RT_SCOPE_UNIVERSE) {
				ps = append(ps, p)
			}
		}
		if fam == unix.AF_INET {
			h.IPv4Interface, h.Gateway, h.IPv4Addrs = link.Attrs().Name, gw, ps
		} else {
			h.IPv6Interface, h.Gateway6, h.IPv6Addrs = link.Attrs().Name, gw, ps
		}
	}
	if h.IPv4Interface == "" && h.IPv6Interface == "" {
		return nil, errors.New("the host has no default route")
	}
	all, err := netlink.AddrList(nil, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("addresses: %w", err)
	}
	for _, a := range all {
		if p, ok := prefixOf(a.IPNet); ok {
			h.Addrs = append(h.Addrs, p.Addr())
		}
	}
	return h, nil
}

// defaultRoute returns the link and the router of the preferred default
// route of family fam in the main table, or a nil link if there is none.
func defaultRoute(fam int) (netlink.Link, netip.Addr, error) {
	routes, err := netlink.RouteList(nil, fam)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("routes: %w", err)
	}
	var best *netlink.Route
	for i := range routes {
		r := &routes[i]
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if r.Type != unix.RTN_UNICAST && r.Type != 0 {
			continue
		}
		if best == nil || r.Priority < best.Priority {
			best = r
		}
	}
	if best == nil {
		return nil, netip.Addr{}, nil
	}
	index, gwIP := best.LinkIndex, best.Gw
	if index == 0 && len(best.MultiPath) > 0 {
		index, gwIP = best.MultiPath[0].LinkIndex, best.MultiPath[0].Gw
	}
	link, err := netlink.LinkByIndex(index)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("link %d of the default route: %w", index, err)
	}
	gw, _ := netip.AddrFromSlice(gwIP)
	return link, gw.Unmap(), nil
}

// prefixOf converts an address with its mask.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

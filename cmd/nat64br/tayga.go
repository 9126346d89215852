package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/nat64br/nat64br/config"
)

// cmdImportTAYGA converts a tayga.conf into a nat64br configuration
// (config.ImportTAYGA), checks it, and prints it, with its notes on stderr.
func cmdImportTAYGA(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-tayga", flag.ContinueOnError)
	fs.SetOutput(stderr)
	masq := fs.String("masquerade", "", "the IPv4 `address` iptables MASQUERADE hid the dynamic pool behind: makes a stateful NAT64 sharing it (pool4) instead of the pool")
	v6if := fs.String("ipv6-interface", "eth0", "the port on the IPv6-only segment (with --from-host: that of the IPv6 default route)")
	v4if := fs.String("ipv4-interface", "eth1", "the port on the IPv4 segment (with --from-host: that of the IPv4 default route)")
	fromHost := fs.Bool("from-host", false, "read this host's default routes and addresses (netlink) for the ports, subnets and gateways, and check nat64br's addresses against the host's")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nat64br import-tayga [--from-host] [--masquerade ADDR] [--ipv6-interface IF] [--ipv4-interface IF] /etc/tayga.conf")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	opts := config.TAYGAOptions{IPv6Interface: *v6if, IPv4Interface: *v4if}
	if *fromHost {
		// The host's interfaces, unless named on the command line.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["ipv6-interface"] {
			opts.IPv6Interface = ""
		}
		if !set["ipv4-interface"] {
			opts.IPv4Interface = ""
		}
		h, err := hostNet()
		if err != nil {
			fmt.Fprintf(stderr, "nat64br: --from-host: %v\n", err)
			return 1
		}
		opts.Host = h
	}
	if *masq != "" {
		var err error
		if opts.Masquerade, err = netip.ParseAddr(*masq); err != nil || !opts.Masquerade.Is4() {
			fmt.Fprintf(stderr, "nat64br: --masquerade %q is not an IPv4 address\n", *masq)
			return 2
		}
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	out, notes, err := config.ImportTAYGA(f, path, opts)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	// What comes out must be a valid configuration.
	if _, err := config.Parse(path+" (converted)", out); err != nil {
		printConfigError(stderr, err)
		return 1
	}
	stdout.Write(out)
	for _, n := range notes {
		if w, ok := strings.CutPrefix(n, "WARNING: "); ok {
			fmt.Fprintf(stderr, "WARNING: %s\n", w)
			continue
		}
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	return 0
}

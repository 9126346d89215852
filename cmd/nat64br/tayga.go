package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/nat64br/nat64br/config"
)

// cmdImportTAYGA converts a tayga.conf into a nat64br configuration
// (config.ImportTAYGA), checks it, and prints it, with its notes on stderr.
func cmdImportTAYGA(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-tayga", flag.ContinueOnError)
	fs.SetOutput(stderr)
	masq := fs.String("masquerade", "", "the IPv4 `address` iptables MASQUERADE hid the dynamic pool behind: makes a stateful NAT64 sharing it (pool4) instead of the pool")
	v6if := fs.String("ipv6-interface", "eth0", "the port on the IPv6-only segment")
	v4if := fs.String("ipv4-interface", "eth1", "the port on the IPv4 segment")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nat64br import-tayga [--masquerade ADDR] [--ipv6-interface IF] [--ipv4-interface IF] /etc/tayga.conf")
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
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	return 0
}

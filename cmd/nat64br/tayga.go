package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/nat64br/nat64br/config"
)

// cmdImportTAYGA converts a tayga.conf into a nat64br configuration
// (config.ImportTAYGA), checks it, and prints it, with its notes on stderr.
func cmdImportTAYGA(in *invocation) int {
	stdout, stderr := in.stdout, in.stderr
	opts := config.TAYGAOptions{IPv6Interface: in.str("ipv6-interface"), IPv4Interface: in.str("ipv4-interface")}
	if in.bool("from-host") {
		// The host's interfaces, unless named on the command line.
		if !in.isSet("ipv6-interface") {
			opts.IPv6Interface = ""
		}
		if !in.isSet("ipv4-interface") {
			opts.IPv4Interface = ""
		}
		h, err := hostNet()
		if err != nil {
			fmt.Fprintf(stderr, "nat64br: --from-host: %v\n", err)
			return 1
		}
		opts.Host = h
	}
	if masq := in.str("masquerade"); masq != "" {
		var err error
		if opts.Masquerade, err = netip.ParseAddr(masq); err != nil || !opts.Masquerade.Is4() {
			fmt.Fprintf(stderr, "nat64br: --masquerade %q is not an IPv4 address\n", masq)
			return 2
		}
	}
	path := in.args[0]
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

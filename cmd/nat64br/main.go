// Command nat64br is a NAT64/SIIT translator that sits in the wire between
// an IPv6-only and an IPv4 segment.
//
//	nat64br run --config FILE [--take-over]
//	nat64br replay --config FILE [--in6 PCAP] [--in4 PCAP] --out6 PCAP --out4 PCAP
//	nat64br check-config FILE
//	nat64br import-tayga [--masquerade ADDR] /etc/tayga.conf
//	nat64br status|stats|bib|sessions|neighbors|pool|reload [--config FILE] [--json]
//	nat64br trace --pcap FILE [--config FILE] [--reason R] [--count N]
//	nat64br version
//
// The commands and their flags are one table (cli.go) that help, the
// shell completions and the man page read.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status: 0, 1
// when the command failed, 2 when the command line is wrong.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "--version", "-version":
		name = "version"
	case "-h", "--help", "-help":
		name = "help"
	}
	c := lookupCommand(name)
	if c == nil {
		fmt.Fprintf(stderr, "nat64br: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	in, code := c.parse(args[1:], stdout, stderr)
	if in == nil {
		return code
	}
	return c.run(in)
}

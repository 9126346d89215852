// Command nat64br is a NAT64/SIIT translator that sits in the wire between
// an IPv6-only and an IPv4 segment.
//
//	nat64br run --config FILE [--take-over]
//	nat64br replay --config FILE [--in6 PCAP] [--in4 PCAP] --out6 PCAP --out4 PCAP
//	nat64br check-config FILE
//	nat64br import-tayga [--masquerade ADDR] /etc/tayga.conf
//	nat64br status|stats|bib|sessions|neighbors|pool|reload [--json]
//	nat64br version
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: nat64br <command> [arguments]

commands:
  run           run in the wire between two interfaces: nat64br run --config FILE [--take-over]
  replay        translate pcap files: nat64br replay --config FILE [--in6 PCAP] [--in4 PCAP] --out6 PCAP --out4 PCAP
  check-config  validate a configuration file and print every problem: nat64br check-config FILE
  import-tayga  convert a tayga.conf into a configuration: nat64br import-tayga [--masquerade ADDR] FILE
  version       print the version

operator commands, through the running daemon's control socket (root; --json for JSON):
  status        ports, link state, addresses answered for, uptime, configuration file and its hash
  stats         every counter (--explain: what each drop reason means)
  bib, sessions NAT64 BIB entries and sessions (--proto tcp|udp|icmp, --addr ADDR)
  neighbors     the neighbor caches of both ports
  pool          pool4 ports in use per address and protocol, the dynamic pool
  reload        validate and apply the configuration file, print what changed or why not
  trace         the next dropped frames into a pcapng file: nat64br trace --pcap FILE [--reason R] [--count N]

Run "nat64br <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "import-tayga":
		return cmdImportTAYGA(args[1:], stdout, stderr)
	case "status", "stats", "bib", "sessions", "neighbors", "pool", "reload":
		return cmdCtl(args[0], args[1:], stdout, stderr)
	case "trace":
		return cmdTrace(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "nat64br %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "nat64br: unknown command %q\n\n%s", args[0], usage)
	return 2
}

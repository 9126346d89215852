package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nat64br/nat64br/config"
)

// cmdImportTAYGA converts a tayga.conf into a nat64br configuration: every
// TAYGA directive has its key (docs/tayga.md), and what TAYGA needed from
// the kernel (TUN device, routes, forwarding, iptables) is not needed.
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
	var pub netip.Addr
	if *masq != "" {
		var err error
		if pub, err = netip.ParseAddr(*masq); err != nil || !pub.Is4() {
			fmt.Fprintf(stderr, "nat64br: --masquerade %q is not an IPv4 address\n", *masq)
			return 2
		}
	}
	out, notes, err := importTAYGA(fs.Arg(0), pub, *v6if, *v4if)
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	// What comes out must be a valid configuration.
	if _, err := config.Parse(fs.Arg(0)+" (converted)", []byte(out)); err != nil {
		printConfigError(stderr, err)
		return 1
	}
	fmt.Fprint(stdout, out)
	for _, n := range notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	return 0
}

// importTAYGA reads a tayga.conf and returns the nat64br YAML and notes
// about directives that need nothing, or a choice, on nat64br's side.
func importTAYGA(path string, masquerade netip.Addr, v6if, v4if string) (string, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	type mapping struct{ v4, v6, from string }
	var (
		keys     = map[string]string{}
		order    []string
		maps     []mapping
		mapFiles []string
		notes    []string
	)
	set := func(k, v string) {
		if _, ok := keys[k]; !ok {
			order = append(order, k)
		}
		keys[k] = v
	}
	parse := func(name string, r io.Reader, mapsOnly bool) error {
		sc := bufio.NewScanner(r)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			w := strings.Fields(line)
			if len(w) == 0 {
				continue
			}
			at := fmt.Sprintf("%s:%d", name, n)
			bad := func(format string, a ...any) error {
				return fmt.Errorf("%s: %s: %s", at, w[0], fmt.Sprintf(format, a...))
			}
			arg := func() (string, error) {
				if len(w) != 2 {
					return "", bad("needs exactly one argument")
				}
				return w[1], nil
			}
			if mapsOnly && w[0] != "map" {
				return bad("a map-file holds map lines only")
			}
			switch w[0] {
			case "map":
				if len(w) != 3 {
					return bad("needs an IPv4 and an IPv6 address or prefix")
				}
				maps = append(maps, mapping{w[1], w[2], at})
			case "ipv4-addr", "ipv6-addr", "prefix", "dynamic-pool", "data-dir":
				v, err := arg()
				if err != nil {
					return err
				}
				set(w[0], v)
			case "wkpf-strict":
				v, err := arg()
				if err != nil {
					return err
				}
				switch v {
				case "yes", "true", "on":
					set("wkpf-strict", "true")
				case "no", "false", "off":
					set("wkpf-strict", "false")
				default:
					return bad("%q is not yes or no", v)
				}
			case "udp-cksum-mode":
				v, err := arg()
				if err != nil {
					return err
				}
				m := map[string]string{"drop": "drop", "fwd": "forward", "calc": "calculate"}[v]
				if m == "" {
					return bad("%q is not drop, fwd or calc", v)
				}
				set("udp-zero-checksum", m)
			case "offlink-mtu":
				v, err := arg()
				if err != nil {
					return err
				}
				if _, err := strconv.Atoi(v); err != nil {
					return bad("%q is not a number", v)
				}
				set("lowest-ipv6-mtu", v)
			case "map-file":
				v, err := arg()
				if err != nil {
					return err
				}
				mapFiles = append(mapFiles, v)
			case "tun-device", "tun-up", "tun-ip", "tun-route":
				notes = append(notes, fmt.Sprintf("%s: %s: not needed, nat64br uses no TUN device, routes or addresses in the kernel", at, w[0]))
			case "log":
				notes = append(notes, fmt.Sprintf("%s: log: nat64br counts every drop and reply by reason (SIGUSR1 logs them) instead of logging packets", at))
			case "strict-frag-hdr":
				notes = append(notes, fmt.Sprintf("%s: strict-frag-hdr: not needed, fragments follow RFC 7915", at))
			default:
				return bad("not a TAYGA directive")
			}
		}
		return sc.Err()
	}
	if err := parse(path, f, false); err != nil {
		return "", nil, err
	}
	for _, mf := range mapFiles {
		p := mf
		if !filepath.IsAbs(p) && keys["data-dir"] != "" {
			p = filepath.Join(keys["data-dir"], p)
		}
		r, err := os.Open(p)
		if err != nil {
			return "", nil, fmt.Errorf("map-file: %w", err)
		}
		err = parse(p, r, true)
		r.Close()
		if err != nil {
			return "", nil, err
		}
		notes = append(notes, fmt.Sprintf("map-file %s: its entries are inlined under eam; SIGHUP reloads them from this file", p))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Converted from %s by nat64br import-tayga.\n", path)
	nat := masquerade.IsValid()
	if nat {
		fmt.Fprintf(&b, "# TAYGA's dynamic pool behind iptables MASQUERADE to %s is a stateful NAT64\n# sharing that address.\nmode: nat64\npool4: [\"%s/32\"]\n", masquerade, masquerade)
	} else {
		b.WriteString("mode: siit\n")
	}
	for _, k := range order {
		v := keys[k]
		switch {
		case k == "dynamic-pool" && nat:
			fmt.Fprintf(&b, "# dynamic-pool %s: replaced by pool4\n", v)
			continue
		case k == "data-dir" && nat:
			fmt.Fprintf(&b, "# data-dir %s: nothing to keep with pool4\n", v)
			continue
		case k == "ipv4-addr" && nat:
			// TAYGA's own address lived inside the internal pool; the
			// public address answers now.
			fmt.Fprintf(&b, "# ipv4-addr %s was inside TAYGA's internal pool\nipv4-addr: \"%s\"\n", v, masquerade)
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", k, yamlValue(k, v))
	}
	if len(maps) > 0 {
		b.WriteString("eam:\n")
		for _, m := range maps {
			fmt.Fprintf(&b, "  - {ipv4: \"%s\", ipv6: \"%s\"}   # %s\n", m.v4, m.v6, m.from)
		}
	}
	fmt.Fprintf(&b, "# nat64br sits between two ports instead of a TUN device: set them.\nipv6-interface: %s\nipv4-interface: %s\n", v6if, v4if)
	if nat && keys["dynamic-pool"] != "" {
		notes = append(notes, "the iptables MASQUERADE rule, the routes and the forwarding sysctls are not needed any more")
	}
	return b.String(), notes, nil
}

// yamlValue quotes what YAML could read as something else.
func yamlValue(key, v string) string {
	switch key {
	case "wkpf-strict", "lowest-ipv6-mtu", "udp-zero-checksum":
		return v
	}
	return strconv.Quote(v)
}

package config

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TAYGAOptions are what ImportTAYGA cannot read from a tayga.conf. The zero
// value converts TAYGA's stateless setup and leaves the ports unset.
type TAYGAOptions struct {
	// Masquerade is the IPv4 address that iptables MASQUERADE hid TAYGA's
	// dynamic pool behind. When it is set, the result is a stateful NAT64
	// (mode nat64) sharing that address as pool4, instead of the pool.
	Masquerade netip.Addr

	// IPv6Interface and IPv4Interface name the ports on the IPv6-only and
	// the IPv4 segment, which take the place of TAYGA's TUN device. They
	// are written as they are; "" writes the key with no value, which
	// Parse reads as unset (enough for replay, not for run).
	IPv6Interface, IPv4Interface string

	// Host is the network of the host TAYGA ran on (import-tayga
	// --from-host). When set, it fills the interfaces left "", the
	// subnets and the routers of the segments, and the notes check
	// nat64br's addresses against the host's.
	Host *HostNet

	// Open opens the file of a map-file directive, by its name as written
	// or joined to data-dir when relative and data-dir is set. Nil means
	// os.Open.
	Open func(name string) (io.ReadCloser, error)
}

// HostNet is what nat64br needs to know of the host that ran TAYGA: the
// interfaces of its default routes, their addresses and the routers. On a
// one-armed host both interfaces are the same.
type HostNet struct {
	IPv6Interface, IPv4Interface string

	// IPv4Addrs and IPv6Addrs are the addresses of IPv4Interface and the
	// global addresses of IPv6Interface, with their on-link prefixes.
	IPv4Addrs, IPv6Addrs []netip.Prefix

	// Gateway and Gateway6 are the default routers; either may be unset.
	Gateway, Gateway6 netip.Addr

	// Addrs are all the host's addresses, on any interface.
	Addrs []netip.Addr
}

// owns reports whether a is one of the host's addresses.
func (h *HostNet) owns(a netip.Addr) bool {
	for _, b := range h.Addrs {
		if b == a.Unmap().WithZone("") {
			return true
		}
	}
	return false
}

// subnet4 returns the on-link IPv4 subnet of the host, or the zero prefix.
func (h *HostNet) subnet4() netip.Prefix {
	for _, p := range h.IPv4Addrs {
		if p.Addr().Is4() {
			return p.Masked()
		}
	}
	return netip.Prefix{}
}

// subnets6 returns the host's on-link IPv6 subnets, without duplicates.
func (h *HostNet) subnets6() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range h.IPv6Addrs {
		if !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		p = p.Masked()
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// ImportTAYGA converts the tayga.conf read from r into a nat64br YAML
// document, mapping every TAYGA directive to its key (docs/tayga.md); name
// is the file's name, used in comments and messages. The files of map-file
// directives are read through opts.Open and their entries inlined under eam.
//
// notes are about directives that need nothing, or a choice, on nat64br's
// side (the TUN device, routes, log, map-file, MASQUERADE), each starting
// with "file:line: directive:" where it has one.
//
// A directive ImportTAYGA does not understand is an *Error (errors.Is
// ErrInvalid) naming the file, line and directive, such as
// "tayga.conf:2: frobnicate: not a TAYGA directive"; I/O errors are
// returned as they are, those of a map-file prefixed with "map-file: ".
// The document is not validated: pass it to Parse.
func ImportTAYGA(r io.Reader, name string, opts TAYGAOptions) (doc []byte, notes []string, err error) {
	if opts.Masquerade.IsValid() && !opts.Masquerade.Is4() {
		return nil, nil, fmt.Errorf("config: masquerade %s is not an IPv4 address: %w", opts.Masquerade, ErrInvalid)
	}
	if opts.Open == nil {
		opts.Open = func(name string) (io.ReadCloser, error) { return os.Open(name) }
	}
	t := &taygaImport{keys: map[string]string{}, at: map[string]string{}}
	if err := t.parse(name, r, false); err != nil {
		return nil, nil, err
	}
	for _, mf := range t.mapFiles {
		p := mf
		if !filepath.IsAbs(p) && t.keys["data-dir"] != "" {
			p = filepath.Join(t.keys["data-dir"], p)
		}
		f, err := opts.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("map-file: %w", err)
		}
		err = t.parse(p, f, true)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		t.notes = append(t.notes, fmt.Sprintf("map-file %s: its entries are inlined under eam; SIGHUP reloads them from this file", p))
	}
	doc = t.yaml(name, opts)
	return doc, t.notes, nil
}

// taygaImport collects the directives of a tayga.conf and its map-files.
type taygaImport struct {
	keys     map[string]string // nat64br key -> value as TAYGA wrote it
	at       map[string]string // nat64br key -> "file:line" of its directive
	order    []string          // keys in the order of their first directive
	maps     []taygaMap
	mapFiles []string
	notes    []string
}

// taygaMap is a map directive and where it was.
type taygaMap struct{ v4, v6, from string }

// set records key k, keeping the place of its first directive.
func (t *taygaImport) set(at, k, v string) {
	if _, ok := t.keys[k]; !ok {
		t.order = append(t.order, k)
	}
	t.keys[k] = v
	t.at[k] = at
}

// parse reads the directives of the file name from r; a map-file
// (mapsOnly) may hold map lines only.
func (t *taygaImport) parse(name string, r io.Reader, mapsOnly bool) error {
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
		if err := t.directive(fmt.Sprintf("%s:%d", name, n), w, mapsOnly); err != nil {
			return err
		}
	}
	return sc.Err()
}

// directive handles the words w of one line, found at "file:line".
func (t *taygaImport) directive(at string, w []string, mapsOnly bool) error {
	bad := func(format string, a ...any) error {
		return &Error{Problems: []string{fmt.Sprintf("%s: %s: %s", at, w[0], fmt.Sprintf(format, a...))}, Count: 1}
	}
	if mapsOnly && w[0] != "map" {
		return bad("a map-file holds map lines only")
	}
	switch w[0] {
	case "ipv4-addr", "ipv6-addr", "prefix", "dynamic-pool", "data-dir", "wkpf-strict", "udp-cksum-mode", "offlink-mtu", "map-file":
		if len(w) != 2 {
			return bad("needs exactly one argument")
		}
	}
	switch w[0] {
	case "map":
		if len(w) != 3 {
			return bad("needs an IPv4 and an IPv6 address or prefix")
		}
		t.maps = append(t.maps, taygaMap{w[1], w[2], at})
	case "ipv4-addr", "ipv6-addr", "prefix", "dynamic-pool", "data-dir":
		t.set(at, w[0], w[1])
	case "wkpf-strict":
		switch w[1] {
		case "yes", "true", "on":
			t.set(at, "wkpf-strict", "true")
		case "no", "false", "off":
			t.set(at, "wkpf-strict", "false")
		default:
			return bad("%q is not yes or no", w[1])
		}
	case "udp-cksum-mode":
		switch w[1] {
		case "drop":
			t.set(at, "udp-zero-checksum", "drop")
		case "fwd":
			t.set(at, "udp-zero-checksum", "forward")
		case "calc":
			t.set(at, "udp-zero-checksum", "calculate")
		default:
			return bad("%q is not drop, fwd or calc", w[1])
		}
	case "offlink-mtu":
		n, err := strconv.Atoi(w[1])
		if err != nil {
			return bad("%q is not a number", w[1])
		}
		// Written as YAML reads it: "01300" would be octal there.
		t.set(at, "lowest-ipv6-mtu", strconv.Itoa(n))
	case "map-file":
		t.mapFiles = append(t.mapFiles, w[1])
	case "tun-device", "tun-up", "tun-ip", "tun-route":
		t.notes = append(t.notes, fmt.Sprintf("%s: %s: not needed, nat64br uses no TUN device, routes or addresses in the kernel", at, w[0]))
	case "log":
		// TAYGA logs the kinds listed: drop, reject, icmp, self, dyn.
		var other []string
		for _, k := range w[1:] {
			if k == "dyn" {
				t.set(at, "mapping-log", "true")
			} else {
				other = append(other, k)
			}
		}
		if len(other) > 0 {
			t.notes = append(t.notes, fmt.Sprintf("%s: log %s: nat64br counts every drop and reply by reason (SIGUSR1 logs them) instead of logging packets", at, strings.Join(other, " ")))
		}
	case "strict-frag-hdr":
		t.notes = append(t.notes, fmt.Sprintf("%s: strict-frag-hdr: not needed, fragments follow RFC 7915", at))
	default:
		return bad("not a TAYGA directive")
	}
	return nil
}

// StateDir is where nat64br's systemd unit keeps its state
// (StateDirectory=nat64br): the data-dir of a converted configuration.
const StateDir = "/var/lib/nat64br"

// yaml writes the configuration of the directives read, converted from the
// file name, and adds the notes on addresses, pools and routes.
func (t *taygaImport) yaml(name string, opts TAYGAOptions) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Converted from %s by nat64br import-tayga.\n", printable(name))
	masq := opts.Masquerade
	nat := masq.IsValid()
	if nat {
		fmt.Fprintf(&b, "# TAYGA's dynamic pool behind iptables MASQUERADE to %s is a stateful NAT64\n# sharing that address.\nmode: nat64\npool4: [\"%s/32\"]\n", masq, masq)
	} else {
		b.WriteString("mode: siit\n")
	}
	for _, k := range t.order {
		v := t.keys[k]
		switch {
		case k == "dynamic-pool" && nat:
			fmt.Fprintf(&b, "# dynamic-pool %s: replaced by pool4\n", printable(v))
			continue
		case k == "data-dir" && nat:
			fmt.Fprintf(&b, "# data-dir %s: nat64br keeps its NAT64 sessions (nat64.state) in its unit's StateDirectory\ndata-dir: %q\n", printable(v), StateDir)
			continue
		case k == "data-dir":
			fmt.Fprintf(&b, "# data-dir %s: nat64br keeps dynamic.map in its unit's StateDirectory\ndata-dir: %q\n", printable(v), StateDir)
			if path.Clean(v) != StateDir && t.keys["dynamic-pool"] != "" {
				t.notes = append(t.notes, fmt.Sprintf("%s: data-dir: copy %s to %s before nat64br first starts, so that hosts keep their dynamic-pool addresses", t.at[k], path.Join(v, "dynamic.map"), path.Join(StateDir, "dynamic.map")))
			}
			continue
		case k == "ipv4-addr" && nat:
			// TAYGA's own address lived inside the internal pool; the
			// public address answers now.
			fmt.Fprintf(&b, "# ipv4-addr %s was inside TAYGA's internal pool\nipv4-addr: \"%s\"\n", printable(v), masq)
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", k, taygaValue(k, v))
	}
	if len(t.maps) > 0 {
		b.WriteString("eam:\n")
		for _, m := range t.maps {
			fmt.Fprintf(&b, "  - {ipv4: %s, ipv6: %s}   # %s\n", strconv.Quote(m.v4), strconv.Quote(m.v6), printable(m.from))
		}
	}
	v6if, v4if := opts.IPv6Interface, opts.IPv4Interface
	if h := opts.Host; h != nil {
		if v6if == "" {
			v6if = h.IPv6Interface
		}
		if v4if == "" {
			v4if = h.IPv4Interface
		}
	}
	if opts.Host == nil {
		fmt.Fprintf(&b, "# nat64br sits between two ports instead of a TUN device: set them.\nipv6-interface: %s\nipv4-interface: %s\n", v6if, v4if)
	} else {
		t.host(&b, opts.Host, v6if, v4if, masq)
	}
	if nat && t.keys["dynamic-pool"] != "" {
		t.notes = append(t.notes, "the iptables MASQUERADE rule, the routes and the forwarding sysctls are not needed any more")
	}
	t.masqueradeWarning(opts)
	return []byte(b.String())
}

// host writes the ports, subnets and routers of the host h and notes what
// the router and nat64br's own addresses need.
func (t *taygaImport) host(b *strings.Builder, h *HostNet, v6if, v4if string, masq netip.Addr) {
	if v6if == v4if && v6if != "" {
		fmt.Fprintf(b, "# The host's default routes of both families leave through %s: nat64br shares\n# that port (one-armed), next to the host's own addresses.\n", v6if)
	} else {
		b.WriteString("# The ports of the host's default routes, in place of TAYGA's TUN device.\n")
	}
	fmt.Fprintf(b, "ipv6-interface: %s\nipv4-interface: %s\n", v6if, v4if)
	sub4 := h.subnet4()
	if v4if == h.IPv4Interface {
		if sub4.IsValid() {
			fmt.Fprintf(b, "ipv4-subnet: \"%s\"\n", sub4)
		}
		if h.Gateway.IsValid() {
			fmt.Fprintf(b, "gateway: \"%s\"\n", h.Gateway)
		}
	} else {
		sub4 = netip.Prefix{}
	}
	sub6 := h.subnets6()
	if v6if == h.IPv6Interface {
		if len(sub6) > 0 {
			b.WriteString("ipv6-subnets:\n")
			for _, p := range sub6 {
				fmt.Fprintf(b, "  - \"%s\"\n", p)
			}
		}
		if h.Gateway6.IsValid() {
			fmt.Fprintf(b, "gateway6: \"%s\"\n", h.Gateway6.WithZone(""))
		}
	} else {
		sub6 = nil
	}

	var own []string
	for _, a := range h.Addrs {
		if !a.IsLinkLocalUnicast() && !a.IsLoopback() {
			own = append(own, a.String())
		}
	}
	t.notes = append(t.notes, fmt.Sprintf("nat64br answers ARP and ND for its own addresses (ipv4-addr, ipv6-addr, pool): they must be free addresses, distinct from the host's (%s)", strings.Join(own, ", ")))

	v4 := t.keys["ipv4-addr"]
	if masq.IsValid() {
		v4 = masq.String()
	}
	route := []string{}
	if p := t.keys["prefix"]; p != "" {
		if a := t.keys["ipv6-addr"]; a != "" {
			route = append(route, fmt.Sprintf("%s to nat64br's ipv6-addr %s", p, a))
		} else {
			route = append(route, fmt.Sprintf("%s to nat64br's ipv6-addr (set one, a free address of %s)", p, joinPrefixes(sub6)))
		}
	}
	if p := t.keys["dynamic-pool"]; p != "" && !masq.IsValid() {
		route = append(route, fmt.Sprintf("the pool %s back to nat64br's ipv4-addr %s", p, v4))
	}
	var off []string
	for _, m := range t.maps {
		if p, ok := mapPrefix(m.v4); ok && !(sub4.IsValid() && sub4.Overlaps(p)) {
			off = append(off, m.v4)
		}
	}
	if len(off) > 0 {
		route = append(route, fmt.Sprintf("the map addresses %s back to nat64br's ipv4-addr %s", strings.Join(off, ", "), v4))
	}
	if len(route) > 0 {
		t.notes = append(t.notes, "the router must route "+strings.Join(route, ", and ")+" (TAYGA's routes pointed at this host, whose addresses nat64br does not take over)")
	}

	// Loud: an address of the host's taken by nat64br steals its traffic.
	at4 := t.at["ipv4-addr"]
	if masq.IsValid() {
		at4 = "--masquerade"
	}
	if a, err := netip.ParseAddr(v4); err == nil {
		if h.owns(a) {
			t.notes = append(t.notes, fmt.Sprintf("WARNING: %s: ipv4-addr %s is the host's own address: nat64br would answer ARP for it and take the host's traffic; pick a free address of %s", at4, a, joinPrefixes([]netip.Prefix{sub4})))
		} else if sub4.IsValid() && a.Is4() && !sub4.Contains(a) && (masq.IsValid() || t.keys["dynamic-pool"] != "" || len(off) > 0) {
			t.notes = append(t.notes, fmt.Sprintf("%s: ipv4-addr %s is not on the host's subnet %s: the router reaches nat64br only through an address of that subnet; set ipv4-addr to a free one", at4, a, sub4))
		}
	}
	if a, err := netip.ParseAddr(v4); err == nil && a == h.Gateway {
		t.notes = append(t.notes, fmt.Sprintf("WARNING: %s: ipv4-addr %s is the router's address: pick a free address of %s", at4, a, joinPrefixes([]netip.Prefix{sub4})))
	}
	if a, err := netip.ParseAddr(t.keys["ipv6-addr"]); err == nil && a == h.Gateway6.WithZone("") {
		t.notes = append(t.notes, fmt.Sprintf("WARNING: %s: ipv6-addr %s is the router's address: pick a free address of %s", t.at["ipv6-addr"], a, joinPrefixes(sub6)))
	}
	for _, m := range t.maps {
		p, ok := mapPrefix(m.v4)
		for _, a := range h.Addrs {
			if !ok {
				break
			}
			if a.Is4() && p.Contains(a) {
				t.notes = append(t.notes, fmt.Sprintf("WARNING: %s: map %s holds the host's own address %s: nat64br would answer ARP for it and take the host's traffic", m.from, m.v4, a))
				break
			}
		}
	}
	if a, err := netip.ParseAddr(t.keys["ipv6-addr"]); err == nil && h.owns(a) {
		t.notes = append(t.notes, fmt.Sprintf("WARNING: %s: ipv6-addr %s is the host's own address: nat64br would answer ND for it and take the host's traffic; pick a free address of %s", t.at["ipv6-addr"], a, joinPrefixes(sub6)))
	}
}

// mapPrefix parses the IPv4 side of a map directive, an address or a
// prefix.
func mapPrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
		return p, true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	return netip.Prefix{}, false
}

// joinPrefixes lists ps, or says that the subnet is unknown.
func joinPrefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		if p.IsValid() {
			s = append(s, p.String())
		}
	}
	if len(s) == 0 {
		return "the segment"
	}
	return strings.Join(s, " or ")
}

// sharedSpace are the IPv4 prefixes a TAYGA pool was hidden behind
// iptables MASQUERADE when it used them: RFC 1918 and RFC 6598.
var sharedSpace = []struct {
	p    netip.Prefix
	name string
}{
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared CGNAT space (RFC 6598)"},
}

// masqueradeWarning warns when the dynamic pool cannot have reached the
// Internet as it was, and no --masquerade said what it was hidden behind.
func (t *taygaImport) masqueradeWarning(opts TAYGAOptions) {
	v := t.keys["dynamic-pool"]
	p, err := netip.ParsePrefix(v)
	if opts.Masquerade.IsValid() || err != nil || !p.Addr().Is4() {
		return
	}
	for _, s := range sharedSpace {
		if !s.p.Overlaps(p) {
			continue
		}
		how := "--masquerade and the IPv4 address of the uplink it left through"
		if h := opts.Host; h != nil {
			if sub := h.subnet4(); sub.IsValid() {
				var host string
				for _, a := range h.IPv4Addrs {
					if a.Addr().Is4() {
						host = a.Addr().String()
						break
					}
				}
				how = fmt.Sprintf("--masquerade and a free address of %s (TAYGA's traffic left as %s's %s, which nat64br cannot share with the host)", sub, h.IPv4Interface, host)
			}
		}
		t.notes = append(t.notes, fmt.Sprintf("WARNING: %s: dynamic-pool %s is %s, so iptables MASQUERADE surely hid it: convert with %s, which makes a stateful NAT64 sharing that address", t.at["dynamic-pool"], p, s.name, how))
		return
	}
}

// printable returns s for a YAML comment: quoted if it holds what YAML
// does not allow there (control characters, invalid UTF-8) or reads as a
// line break (U+0085, U+2028).
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// taygaValue quotes what YAML could read as something else.
func taygaValue(key, v string) string {
	switch key {
	case "wkpf-strict", "lowest-ipv6-mtu", "udp-zero-checksum", "mapping-log":
		return v
	}
	return strconv.Quote(v)
}

package config

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

	// Open opens the file of a map-file directive, by its name as written
	// or joined to data-dir when relative and data-dir is set. Nil means
	// os.Open.
	Open func(name string) (io.ReadCloser, error)
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
	t := &taygaImport{keys: map[string]string{}}
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
	order    []string          // keys in the order of their first directive
	maps     []taygaMap
	mapFiles []string
	notes    []string
}

// taygaMap is a map directive and where it was.
type taygaMap struct{ v4, v6, from string }

// set records key k, keeping the place of its first directive.
func (t *taygaImport) set(k, v string) {
	if _, ok := t.keys[k]; !ok {
		t.order = append(t.order, k)
	}
	t.keys[k] = v
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
		return &Error{Problems: []string{fmt.Sprintf("%s: %s: %s", at, w[0], fmt.Sprintf(format, a...))}}
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
		t.set(w[0], w[1])
	case "wkpf-strict":
		switch w[1] {
		case "yes", "true", "on":
			t.set("wkpf-strict", "true")
		case "no", "false", "off":
			t.set("wkpf-strict", "false")
		default:
			return bad("%q is not yes or no", w[1])
		}
	case "udp-cksum-mode":
		switch w[1] {
		case "drop":
			t.set("udp-zero-checksum", "drop")
		case "fwd":
			t.set("udp-zero-checksum", "forward")
		case "calc":
			t.set("udp-zero-checksum", "calculate")
		default:
			return bad("%q is not drop, fwd or calc", w[1])
		}
	case "offlink-mtu":
		if _, err := strconv.Atoi(w[1]); err != nil {
			return bad("%q is not a number", w[1])
		}
		t.set("lowest-ipv6-mtu", w[1])
	case "map-file":
		t.mapFiles = append(t.mapFiles, w[1])
	case "tun-device", "tun-up", "tun-ip", "tun-route":
		t.notes = append(t.notes, fmt.Sprintf("%s: %s: not needed, nat64br uses no TUN device, routes or addresses in the kernel", at, w[0]))
	case "log":
		t.notes = append(t.notes, fmt.Sprintf("%s: log: nat64br counts every drop and reply by reason (SIGUSR1 logs them) instead of logging packets", at))
	case "strict-frag-hdr":
		t.notes = append(t.notes, fmt.Sprintf("%s: strict-frag-hdr: not needed, fragments follow RFC 7915", at))
	default:
		return bad("not a TAYGA directive")
	}
	return nil
}

// yaml writes the configuration of the directives read, converted from the
// file name, and adds the MASQUERADE note when it applies.
func (t *taygaImport) yaml(name string, opts TAYGAOptions) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Converted from %s by nat64br import-tayga.\n", name)
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
			fmt.Fprintf(&b, "# dynamic-pool %s: replaced by pool4\n", v)
			continue
		case k == "data-dir" && nat:
			fmt.Fprintf(&b, "# data-dir %s: nothing to keep with pool4\n", v)
			continue
		case k == "ipv4-addr" && nat:
			// TAYGA's own address lived inside the internal pool; the
			// public address answers now.
			fmt.Fprintf(&b, "# ipv4-addr %s was inside TAYGA's internal pool\nipv4-addr: \"%s\"\n", v, masq)
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", k, taygaValue(k, v))
	}
	if len(t.maps) > 0 {
		b.WriteString("eam:\n")
		for _, m := range t.maps {
			fmt.Fprintf(&b, "  - {ipv4: \"%s\", ipv6: \"%s\"}   # %s\n", m.v4, m.v6, m.from)
		}
	}
	fmt.Fprintf(&b, "# nat64br sits between two ports instead of a TUN device: set them.\nipv6-interface: %s\nipv4-interface: %s\n", opts.IPv6Interface, opts.IPv4Interface)
	if nat && t.keys["dynamic-pool"] != "" {
		t.notes = append(t.notes, "the iptables MASQUERADE rule, the routes and the forwarding sysctls are not needed any more")
	}
	return []byte(b.String())
}

// taygaValue quotes what YAML could read as something else.
func taygaValue(key, v string) string {
	switch key {
	case "wkpf-strict", "lowest-ipv6-mtu", "udp-zero-checksum":
		return v
	}
	return strconv.Quote(v)
}

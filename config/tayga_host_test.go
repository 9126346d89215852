package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// oneArmed is the host of the seeds: one NIC carrying both default routes,
// as import-tayga --from-host reads it (documentation addresses).
func oneArmed() *HostNet {
	return &HostNet{
		IPv6Interface: "eth0", IPv4Interface: "eth0",
		IPv4Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
		IPv6Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::10/64"), netip.MustParsePrefix("2001:db8:1::11/64")},
		Gateway:   netip.MustParseAddr("192.0.2.1"), Gateway6: netip.MustParseAddr("fe80::1"),
		Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("::1"),
			netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:1::11"), netip.MustParseAddr("fe80::10")},
	}
}

func TestImportTAYGAFromHost(t *testing.T) {
	twoArmed := oneArmed()
	twoArmed.IPv4Interface = "eth1"
	noV6 := oneArmed()
	noV6.IPv6Interface, noV6.IPv6Addrs, noV6.Gateway6 = "", nil, netip.Addr{}
	linkLocal := oneArmed()
	linkLocal.IPv6Addrs = []netip.Prefix{netip.MustParsePrefix("fe80::10/64")}
	const pool = "prefix 64:ff9b::/96\nipv4-addr 192.0.2.20\nipv6-addr 2001:db8:1::20\ndynamic-pool 100.65.0.0/16\n"
	for _, tc := range []struct {
		name, conf string
		opts       TAYGAOptions
		has        []string // substrings of the document
		hasNot     []string
		notes      []string // substrings of some note each
		noteNot    []string // substrings of no note
		check      func(*Config) bool
	}{
		{
			name: "one-armed",
			conf: pool,
			opts: TAYGAOptions{Host: oneArmed()},
			has: []string{"one-armed", "ipv6-interface: eth0\nipv4-interface: eth0\nipv4-subnet: \"192.0.2.0/24\"\ngateway: \"192.0.2.1\"\n",
				"ipv6-subnets:\n  - \"2001:db8:1::/64\"\ngateway6: \"fe80::1\"\n"},
			notes: []string{"distinct from the host's (192.0.2.10, 2001:db8:1::10, 2001:db8:1::11)",
				"the router must route 64:ff9b::/96 to nat64br's ipv6-addr 2001:db8:1::20, and the pool 100.65.0.0/16 back to nat64br's ipv4-addr 192.0.2.20",
				"WARNING: tayga.conf:4: dynamic-pool 100.65.0.0/16 is shared CGNAT space (RFC 6598), so iptables MASQUERADE surely hid it: convert with --masquerade and a free address of 192.0.2.0/24 (TAYGA's traffic left as eth0's 192.0.2.10"},
			noteNot: []string{"127.0.0.1", "fe80::10", "is the host's own address", "not on the host's subnet"},
			check: func(c *Config) bool {
				return c.IPv6Interface == "eth0" && c.IPv4Interface == "eth0" && c.IPv4Subnet.String() == "192.0.2.0/24" &&
					c.Gateway.String() == "192.0.2.1" && len(c.IPv6Subnets) == 1 && c.Gateway6.String() == "fe80::1"
			},
		},
		{
			name:  "two-armed",
			conf:  pool,
			opts:  TAYGAOptions{Host: twoArmed},
			has:   []string{"ipv6-interface: eth0\nipv4-interface: eth1\nipv4-subnet:"},
			notes: []string{"left as eth1's 192.0.2.10"},
			check: func(c *Config) bool { return c.IPv4Interface == "eth1" && c.IPv6Interface == "eth0" },
		},
		{
			name:   "flags name other ports",
			conf:   pool,
			opts:   TAYGAOptions{Host: oneArmed(), IPv4Interface: "wan", IPv6Interface: "eth0"},
			has:    []string{"ipv6-interface: eth0\nipv4-interface: wan\nipv6-subnets:"},
			hasNot: []string{"ipv4-subnet", "gateway:", "one-armed"},
			check: func(c *Config) bool {
				return c.IPv4Interface == "wan" && !c.IPv4Subnet.IsValid() && len(c.IPv6Subnets) == 1
			},
		},
		{
			name:   "no IPv6 default route",
			conf:   "prefix 64:ff9b::/96\n",
			opts:   TAYGAOptions{Host: noV6},
			has:    []string{"ipv6-interface: \nipv4-interface: eth0\n"},
			hasNot: []string{"ipv6-subnets", "gateway6"},
			notes:  []string{"to nat64br's ipv6-addr (set one, a free address of the segment)"},
			check:  func(c *Config) bool { return c.IPv6Interface == "" },
		},
		{
			name:   "link-local only",
			conf:   "prefix 64:ff9b::/96\n",
			opts:   TAYGAOptions{Host: linkLocal},
			hasNot: []string{"ipv6-subnets"},
			check:  func(c *Config) bool { return len(c.IPv6Subnets) == 0 },
		},
		{
			// TurnKey's TAYGA_IPV6 is the host's own address.
			name: "host's addresses taken",
			conf: "prefix 64:ff9b::/96\nipv4-addr 192.0.2.10\nipv6-addr 2001:db8:1::10\n",
			opts: TAYGAOptions{Host: oneArmed()},
			notes: []string{"WARNING: tayga.conf:2: ipv4-addr 192.0.2.10 is the host's own address: nat64br would answer ARP for it and take the host's traffic; pick a free address of 192.0.2.0/24",
				"WARNING: tayga.conf:3: ipv6-addr 2001:db8:1::10 is the host's own address: nat64br would answer ND for it and take the host's traffic; pick a free address of 2001:db8:1::/64"},
			check: func(c *Config) bool { return true },
		},
		{
			name:    "masquerade to the host's address",
			conf:    pool,
			opts:    TAYGAOptions{Host: oneArmed(), Masquerade: netip.MustParseAddr("192.0.2.10")},
			has:     []string{"mode: nat64\n", "ipv4-addr: \"192.0.2.10\"\n"},
			notes:   []string{"WARNING: --masquerade: ipv4-addr 192.0.2.10 is the host's own address"},
			noteNot: []string{"surely hid it", "back to nat64br's ipv4-addr"},
			check:   func(c *Config) bool { return c.Mode == ModeNAT64 },
		},
		{
			name: "map addresses",
			conf: "prefix 64:ff9b::/96\nipv4-addr 192.0.2.20\nmap 192.0.2.10 2001:db8:6::10\nmap 198.51.100.0/30 2001:db8:6::/126\nmap 192.0.2.1 2001:db8:6::1\n",
			opts: TAYGAOptions{Host: oneArmed()},
			notes: []string{"WARNING: tayga.conf:3: map 192.0.2.10 holds the host's own address 192.0.2.10",
				"the map addresses 198.51.100.0/30 back to nat64br's ipv4-addr 192.0.2.20"},
			noteNot: []string{"WARNING: tayga.conf:4", "WARNING: tayga.conf:5"},
			check:   func(c *Config) bool { return len(c.EAM) == 3 },
		},
		{
			name:  "router's addresses taken",
			conf:  "prefix 64:ff9b::/96\nipv4-addr 192.0.2.1\nipv6-addr fe80::1\n",
			opts:  TAYGAOptions{Host: oneArmed()},
			notes: []string{"WARNING: tayga.conf:2: ipv4-addr 192.0.2.1 is the router's address", "WARNING: tayga.conf:3: ipv6-addr fe80::1 is the router's address"},
			check: func(c *Config) bool { return true },
		},
		{
			name:    "masquerade to a free address",
			conf:    pool,
			opts:    TAYGAOptions{Host: oneArmed(), Masquerade: netip.MustParseAddr("192.0.2.30")},
			noteNot: []string{"WARNING", "not on the host's subnet"},
			check:   func(c *Config) bool { return c.Pool4[0].String() == "192.0.2.30/32" },
		},
		{
			name:  "masquerade off the subnet",
			conf:  pool,
			opts:  TAYGAOptions{Host: oneArmed(), Masquerade: netip.MustParseAddr("198.51.100.7")},
			notes: []string{"--masquerade: ipv4-addr 198.51.100.7 is not on the host's subnet 192.0.2.0/24"},
			check: func(c *Config) bool { return true },
		},
		{
			name:  "pool's own address off the subnet",
			conf:  "prefix 64:ff9b::/96\nipv4-addr 100.65.0.1\ndynamic-pool 100.65.0.0/16\n",
			opts:  TAYGAOptions{Host: oneArmed()},
			notes: []string{"tayga.conf:2: ipv4-addr 100.65.0.1 is not on the host's subnet 192.0.2.0/24: the router reaches nat64br only through an address of that subnet"},
			check: func(c *Config) bool { return true },
		},
		{
			name:    "public pool is not masqueraded",
			conf:    "prefix 64:ff9b::/96\nipv4-addr 198.51.100.1\ndynamic-pool 198.51.100.0/24\n",
			noteNot: []string{"WARNING"},
			check:   func(c *Config) bool { return true },
		},
		{
			name:  "private pool",
			conf:  "prefix 64:ff9b::/96\ndynamic-pool 192.168.255.0/24\n",
			notes: []string{"WARNING: tayga.conf:2: dynamic-pool 192.168.255.0/24 is private (RFC 1918), so iptables MASQUERADE surely hid it: convert with --masquerade and the IPv4 address of the uplink"},
			check: func(c *Config) bool { return true },
		},
		{
			name:    "log dyn",
			conf:    "prefix 64:ff9b::/96\nlog dyn\n",
			has:     []string{"mapping-log: true\n"},
			noteNot: []string{"log"},
			check:   func(c *Config) bool { return c.MappingLog },
		},
		{
			name:   "log without dyn",
			conf:   "prefix 64:ff9b::/96\nlog drop icmp\n",
			hasNot: []string{"mapping-log"},
			notes:  []string{"tayga.conf:2: log drop icmp: nat64br counts"},
			check:  func(c *Config) bool { return !c.MappingLog },
		},
		{
			name:    "data-dir moves to the state directory",
			conf:    "prefix 64:ff9b::/96\ndynamic-pool 198.51.100.0/24\ndata-dir /var/spool/tayga/\n",
			has:     []string{"# data-dir /var/spool/tayga/: nat64br keeps dynamic.map in its unit's StateDirectory\ndata-dir: \"/var/lib/nat64br\"\n"},
			notes:   []string{"tayga.conf:3: data-dir: copy /var/spool/tayga/dynamic.map to /var/lib/nat64br/dynamic.map before nat64br first starts"},
			noteNot: []string{"WARNING"},
			check:   func(c *Config) bool { return c.DataDir == StateDir },
		},
		{
			name:    "data-dir already there",
			conf:    "prefix 64:ff9b::/96\ndynamic-pool 198.51.100.0/24\ndata-dir /var/lib/nat64br\n",
			noteNot: []string{"copy"},
			check:   func(c *Config) bool { return c.DataDir == StateDir },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, notes, err := ImportTAYGA(strings.NewReader(tc.conf), "tayga.conf", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(doc), s) {
					t.Errorf("document lacks %q:\n%s", s, doc)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(string(doc), s) {
					t.Errorf("document has %q:\n%s", s, doc)
				}
			}
			all := strings.Join(notes, "\n")
			for _, s := range tc.notes {
				if !strings.Contains(all, s) {
					t.Errorf("notes lack %q:\n%s", s, all)
				}
			}
			for _, s := range tc.noteNot {
				if strings.Contains(all, s) {
					t.Errorf("notes have %q:\n%s", s, all)
				}
			}
			c, err := Parse("out.yaml", doc)
			if err != nil || !tc.check(c) {
				t.Errorf("converted configuration %+v, %v:\n%s", c, err, doc)
			}
		})
	}
}

// TestImportTAYGATranscripts converts the tayga.conf of seeds 000 and 004
// on the seeds' one-armed host, as import-tayga --from-host does, and
// compares document and notes with testdata/tayga/*.from-host.txt (go test
// -update rewrites them). Parse must accept every document.
func TestImportTAYGATranscripts(t *testing.T) {
	// Seed 000's host sits on another subnet than its map addresses.
	servers := &HostNet{
		IPv6Interface: "eth0", IPv4Interface: "eth0",
		IPv4Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.10/24")},
		IPv6Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8:2::10/64")},
		Gateway:   netip.MustParseAddr("203.0.113.1"), Gateway6: netip.MustParseAddr("fe80::1"),
		Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8:2::10")},
	}
	for _, tc := range []struct {
		name string
		host *HostNet
	}{{"servers", servers}, {"turnkey", oneArmed()}} {
		name := tc.name
		t.Run(name, func(t *testing.T) {
			conf := filepath.Join("testdata", "tayga", name+".conf")
			f, err := os.Open(conf)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			doc, notes, err := ImportTAYGA(f, name+".conf", TAYGAOptions{Host: tc.host})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(name+".yaml", doc); err != nil {
				t.Errorf("the document does not validate: %v\n%s", err, doc)
			}
			got := string(doc) + "# notes:\n# " + strings.Join(notes, "\n# ") + "\n"
			golden := filepath.Join("testdata", "tayga", name+".from-host.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("transcript:\n%s\nwant (%s):\n%s", got, golden, want)
			}
		})
	}
}

// FuzzImportTAYGAFromHost converts arbitrary tayga.conf contents on
// arbitrary hosts (addresses of the right family, as readHostNet returns
// them): it must not panic, the notes must be well formed, and Parse must
// accept the document or reject it with an *Error.
func FuzzImportTAYGAFromHost(f *testing.F) {
	f.Add("tun-device nat64\nipv4-addr 100.64.0.1\nprefix 64:ff9b::/96\ndynamic-pool 100.64.0.0/10\ndata-dir /var/spool/tayga\nlog dyn\n", "192.0.2.10/24", "2001:db8:1::10/64", "192.0.2.1", "fe80::1", "", false)
	f.Add("ipv4-addr 192.0.2.10\nipv6-addr 2001:db8:1::10\nprefix 2001:db8:64::/96\nmap 192.0.2.0/24 2001:db8::/120\n", "192.0.2.10/24", "2001:db8:1::10/64", "192.0.2.10", "2001:db8:1::10", "wan", true)
	f.Add("prefix 64:ff9b::/96\n", "", "fe80::1/64", "", "", "", false)
	files, _ := filepath.Glob("testdata/tayga/*.conf")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(string(b), "192.0.2.10/24", "2001:db8:1::10/64", "192.0.2.1", "fe80::1", "", false)
		}
	}
	f.Fuzz(func(t *testing.T, conf, v4, v6, gw, gw6, v4if string, masquerade bool) {
		h := &HostNet{IPv6Interface: "eth0", IPv4Interface: "eth0", Addrs: []netip.Addr{netip.MustParseAddr("::1")}}
		if p, err := netip.ParsePrefix(v4); err == nil && p.Addr().Is4() {
			h.IPv4Addrs, h.Addrs = append(h.IPv4Addrs, p), append(h.Addrs, p.Addr())
		}
		if p, err := netip.ParsePrefix(v6); err == nil && p.Addr().Is6() && p.Addr().Zone() == "" {
			h.IPv6Addrs, h.Addrs = append(h.IPv6Addrs, p), append(h.Addrs, p.Addr())
		}
		if a, err := netip.ParseAddr(gw); err == nil && a.Is4() {
			h.Gateway = a
		}
		if a, err := netip.ParseAddr(gw6); err == nil && a.Is6() && !a.Is4In6() {
			h.Gateway6 = a
		}
		opts := TAYGAOptions{Host: h, IPv4Interface: strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, v4if), Open: taygaFiles(nil)}
		if masquerade {
			opts.Masquerade = netip.MustParseAddr("192.0.2.10")
		}
		doc, notes, err := ImportTAYGA(strings.NewReader(conf), "f.conf", opts)
		if err != nil {
			return
		}
		masq := ""
		if masquerade {
			masq = opts.Masquerade.String()
		}
		checkTAYGAValues(t, conf, "", masq, doc)
		for _, n := range notes {
			if strings.Contains(n, "%!") || strings.Contains(n, "\n") {
				t.Fatalf("malformed note %q", n)
			}
		}
		if _, err := Parse("f.yaml", doc); err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse of the converted document: %v (%T), not an *Error:\n%s", err, err, doc)
			}
		}
	})
}

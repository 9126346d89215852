package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// taygaFiles is an Open for ImportTAYGA that serves map-files from memory.
func taygaFiles(files map[string]string) func(string) (io.ReadCloser, error) {
	return func(name string) (io.ReadCloser, error) {
		body, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return io.NopCloser(strings.NewReader(body)), nil
	}
}

func TestImportTAYGA(t *testing.T) {
	files := map[string]string{
		"/etc/tayga/maps.conf":   "map 192.0.2.12 2001:db8:6::12\n",
		"/var/spool/tayga/rel":   "map 192.0.2.13 2001:db8:6::13 # relative to data-dir\n",
		"/etc/tayga/nomaps.conf": "prefix 64:ff9b::/96\n",
	}
	masq := TAYGAOptions{Masquerade: netip.MustParseAddr("198.51.100.7"), IPv6Interface: "eth0", IPv4Interface: "eth1"}
	for _, tc := range []struct {
		name, conf string
		opts       TAYGAOptions
		want       string   // the whole document, when set
		has        []string // substrings of the document
		notes      []string // substrings of the notes, in order
		err        string   // the error, when one is expected
		errIs      error
		check      func(*Config) bool // the document parses and passes this
		parseErr   string             // or Parse rejects it with this
	}{
		{
			// Seed 001: TAYGA with a dynamic pool that iptables
			// MASQUERADE hides behind one public address.
			name: "dynamic pool behind masquerade",
			conf: "tun-device nat64\nipv4-addr 100.65.0.1\nipv6-addr 2001:db8:1000::4\nprefix 64:ff9b::/96\ndynamic-pool 100.65.0.0/16\ndata-dir /var/spool/tayga\n",
			opts: masq,
			want: `# Converted from tayga.conf by nat64br import-tayga.
# TAYGA's dynamic pool behind iptables MASQUERADE to 198.51.100.7 is a stateful NAT64
# sharing that address.
mode: nat64
pool4: ["198.51.100.7/32"]
# ipv4-addr 100.65.0.1 was inside TAYGA's internal pool
ipv4-addr: "198.51.100.7"
ipv6-addr: "2001:db8:1000::4"
prefix: "64:ff9b::/96"
# dynamic-pool 100.65.0.0/16: replaced by pool4
# data-dir /var/spool/tayga: nat64br keeps its NAT64 sessions (nat64.state) in its unit's StateDirectory
data-dir: "/var/lib/nat64br"
# nat64br sits between two ports instead of a TUN device: set them.
ipv6-interface: eth0
ipv4-interface: eth1
`,
			notes: []string{"tayga.conf:1: tun-device: not needed", "the iptables MASQUERADE rule"},
			check: func(c *Config) bool {
				return c.Mode == ModeNAT64 && len(c.Pool4) == 1 && c.Prefix.String() == "64:ff9b::/96" && !c.DynamicPool.IsValid()
			},
		},
		{
			name: "dynamic pool routed",
			conf: "tun-device nat64\nipv4-addr 100.65.0.1\nprefix 64:ff9b::/96\ndynamic-pool 100.65.0.0/16\ndata-dir /var/spool/tayga\n",
			has:  []string{"mode: siit\n", "dynamic-pool: \"100.65.0.0/16\"\n", "data-dir: \"/var/lib/nat64br\"\n"},
			notes: []string{"tayga.conf:1: tun-device",
				"tayga.conf:5: data-dir: copy /var/spool/tayga/dynamic.map to /var/lib/nat64br/dynamic.map",
				"WARNING: tayga.conf:4: dynamic-pool 100.65.0.0/16 is shared CGNAT space (RFC 6598), so iptables MASQUERADE surely hid it: convert with --masquerade and the IPv4 address of the uplink"},
			check: func(c *Config) bool {
				return c.DynamicPool.String() == "100.65.0.0/16" && c.DataDir == "/var/lib/nat64br"
			},
		},
		{
			// Seed 000: IPv6-only servers reachable from IPv4 through map
			// lines, one of them from a map-file.
			name: "maps",
			conf: "tun-device nat64\nipv4-addr 192.0.2.1\nprefix 2001:db8:64::/96\nwkpf-strict no\nudp-cksum-mode calc\nofflink-mtu 1400\nmap 192.0.2.10 2001:db8:6::10 # server 1\nmap-file /etc/tayga/maps.conf\nlog drop reject\n",
			has: []string{"wkpf-strict: false\n", "udp-zero-checksum: calculate\n", "lowest-ipv6-mtu: 1400\n",
				"eam:\n  - {ipv4: \"192.0.2.10\", ipv6: \"2001:db8:6::10\"}   # tayga.conf:7\n  - {ipv4: \"192.0.2.12\", ipv6: \"2001:db8:6::12\"}   # /etc/tayga/maps.conf:1\n"},
			notes: []string{"tayga.conf:1: tun-device", "tayga.conf:9: log drop reject: nat64br counts", "map-file /etc/tayga/maps.conf: its entries are inlined"},
			check: func(c *Config) bool {
				return len(c.EAM) == 2 && !c.WKPFStrict && c.LowestIPv6MTU == 1400
			},
		},
		{
			name:  "map-file relative to data-dir",
			conf:  "map-file rel\ndata-dir /var/spool/tayga\nprefix 64:ff9b::/96\n",
			has:   []string{"# /var/spool/tayga/rel:1\n"},
			notes: []string{"map-file /var/spool/tayga/rel:"},
			check: func(c *Config) bool { return len(c.EAM) == 1 },
		},
		{
			name:  "other spellings",
			conf:  "prefix 64:ff9b::/96\nwkpf-strict on\nudp-cksum-mode fwd\nudp-cksum-mode drop\nstrict-frag-hdr 1\ntun-route 192.0.2.0/24\n",
			has:   []string{"wkpf-strict: true\nudp-zero-checksum: drop\n"},
			notes: []string{"tayga.conf:5: strict-frag-hdr: not needed", "tayga.conf:6: tun-route: not needed"},
			check: func(c *Config) bool { return c.WKPFStrict && c.UDPZeroChecksum == UDPZeroDrop },
		},
		{
			name:  "interfaces",
			conf:  "prefix 64:ff9b::/96\n",
			opts:  TAYGAOptions{IPv6Interface: "v6", IPv4Interface: "v4"},
			has:   []string{"ipv6-interface: v6\nipv4-interface: v4\n"},
			check: func(c *Config) bool { return c.IPv6Interface == "v6" && c.IPv4Interface == "v4" },
		},
		{
			name:  "comments and blank lines only",
			conf:  "\n  # nothing\n\t\n",
			want:  "# Converted from tayga.conf by nat64br import-tayga.\nmode: siit\n# nat64br sits between two ports instead of a TUN device: set them.\nipv6-interface: \nipv4-interface: \n",
			check: func(c *Config) bool { return len(c.Warnings) == 1 && c.IPv6Interface == "" && c.IPv4Interface == "" },
		},
		{
			// Seed 004's pool: accepted as it is (its memory follows the
			// hosts), with the warning that MASQUERADE surely hid it.
			name:  "cgnat pool of a /10",
			conf:  "prefix 64:ff9b::/96\ndynamic-pool 100.64.0.0/10\n",
			notes: []string{"WARNING: tayga.conf:2: dynamic-pool 100.64.0.0/10 is shared CGNAT space"},
			check: func(c *Config) bool { return c.DynamicPool.String() == "100.64.0.0/10" },
		},
		{
			name: "quoted values stay strings",
			conf: "ipv4-addr \"x\n",
			has:  []string{"ipv4-addr: \"\\\"x\"\n"},
			// Parse names the key, as for any other bad value.
			parseErr: `ipv4-addr: "\"x" is not an IPv4 address`,
		},
		{
			// Fuzz crasher (FuzzImportTAYGA): TAYGA reads offlink-mtu in
			// decimal, YAML read the copied "01300" as octal 704.
			name:  "offlink-mtu with a leading zero",
			conf:  "prefix 64:ff9b::/96\nipv4-addr 192.0.2.1\nofflink-mtu 01300\n",
			has:   []string{"lowest-ipv6-mtu: 1300\n"},
			check: func(c *Config) bool { return c.LowestIPv6MTU == 1300 },
		},
		{
			// Fuzz crasher (FuzzImportTAYGA): a map's words were copied
			// between quotes unescaped, so a quote broke the YAML and a
			// backslash was read as an escape.
			name:     "map words with a quote and a backslash",
			conf:     "map 192.0.2.1\" \\x32\n",
			has:      []string{`{ipv4: "192.0.2.1\"", ipv6: "\\x32"}`},
			parseErr: `eam[0].ipv4: "192.0.2.1\"/32" is not an IPv4 prefix`,
		},
		{
			// Fuzz crasher (FuzzImportTAYGA): a value copied into a
			// comment with a control character made the whole document
			// unreadable YAML.
			name:  "data-dir with a control character",
			conf:  "prefix 64:ff9b::/96\ndata-dir /var/spool/\x00tayga\n",
			has:   []string{"# data-dir \"/var/spool/\\x00tayga\": "},
			check: func(c *Config) bool { return c.DataDir == StateDir },
		},
		{name: "unknown directive", conf: "tun-device nat64\nfrobnicate yes\n", err: "tayga.conf:2: frobnicate: not a TAYGA directive", errIs: ErrInvalid},
		{name: "map needs two", conf: "map 2001:db8::10\n", err: "tayga.conf:1: map: needs an IPv4 and an IPv6 address or prefix", errIs: ErrInvalid},
		{name: "one argument", conf: "\nprefix 64:ff9b::/96 2001:db8::/96\n", err: "tayga.conf:2: prefix: needs exactly one argument", errIs: ErrInvalid},
		{name: "bad wkpf-strict", conf: "wkpf-strict maybe\n", err: `tayga.conf:1: wkpf-strict: "maybe" is not yes or no`, errIs: ErrInvalid},
		{name: "bad udp-cksum-mode", conf: "udp-cksum-mode calculate\n", err: `tayga.conf:1: udp-cksum-mode: "calculate" is not drop, fwd or calc`, errIs: ErrInvalid},
		{name: "bad offlink-mtu", conf: "offlink-mtu big\n", err: `tayga.conf:1: offlink-mtu: "big" is not a number`, errIs: ErrInvalid},
		{name: "map-file of other directives", conf: "map-file /etc/tayga/nomaps.conf\n", err: "/etc/tayga/nomaps.conf:1: prefix: a map-file holds map lines only", errIs: ErrInvalid},
		{name: "map-file missing", conf: "map-file /etc/tayga/none\n", err: "map-file: open /etc/tayga/none: file does not exist", errIs: fs.ErrNotExist},
		{name: "masquerade not IPv4", conf: "", opts: TAYGAOptions{Masquerade: netip.MustParseAddr("2001:db8::1")}, err: "config: masquerade 2001:db8::1 is not an IPv4 address: invalid configuration", errIs: ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Open = taygaFiles(files)
			doc, notes, err := ImportTAYGA(strings.NewReader(tc.conf), "tayga.conf", tc.opts)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, tc.errIs) {
					t.Fatalf("error %v, want %q (errors.Is %v)", err, tc.err, tc.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && string(doc) != tc.want {
				t.Errorf("document:\n%s\nwant:\n%s", doc, tc.want)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(doc), s) {
					t.Errorf("document lacks %q:\n%s", s, doc)
				}
			}
			if len(notes) != len(tc.notes) {
				t.Errorf("notes %q, want %d", notes, len(tc.notes))
			}
			for i := 0; i < len(notes) && i < len(tc.notes); i++ {
				if !strings.Contains(notes[i], tc.notes[i]) {
					t.Errorf("note %d is %q, want %q in it", i, notes[i], tc.notes[i])
				}
			}
			c, err := Parse("out.yaml", doc)
			if tc.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.parseErr) {
					t.Fatalf("Parse: %v, want %q", err, tc.parseErr)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Errorf("converted configuration %+v, %v:\n%s", c, err, doc)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite testdata/tayga/*.yaml")

// TestImportTAYGAFiles converts the tayga.conf files of testdata/tayga, as
// written in the seeds, and compares the documents with the .yaml beside
// them (go test -update rewrites those).
func TestImportTAYGAFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts TAYGAOptions
	}{
		{"servers", TAYGAOptions{IPv6Interface: "eth0", IPv4Interface: "eth1"}},
		{"masquerade-pool", TAYGAOptions{Masquerade: netip.MustParseAddr("198.51.100.7"), IPv6Interface: "lan6", IPv4Interface: "wan4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join("testdata", "tayga", tc.name+".conf")
			f, err := os.Open(conf)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			doc, _, err := ImportTAYGA(f, tc.name+".conf", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(tc.name+".yaml", doc); err != nil {
				t.Fatalf("the document does not validate: %v\n%s", err, doc)
			}
			golden := strings.TrimSuffix(conf, ".conf") + ".yaml"
			if *update {
				if err := os.WriteFile(golden, doc, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(doc, want) {
				t.Errorf("document:\n%s\nwant (%s):\n%s", doc, golden, want)
			}
		})
	}
}

// FuzzImportTAYGA converts arbitrary tayga.conf and map-file contents
// without a host (import-tayga without --from-host): it must not panic,
// its errors must be *Errors naming the file or a map-file's I/O error, two
// imports must agree, the notes must be well formed, the document must
// carry every value as TAYGA read it (checkTAYGAValues), and Parse must
// accept it or reject it with an *Error.
func FuzzImportTAYGA(f *testing.F) {
	f.Add("tun-device nat64\nipv4-addr 100.65.0.1\nprefix 64:ff9b::/96\ndynamic-pool 100.65.0.0/16\ndata-dir /var/spool/tayga\n", "", true)
	f.Add("ipv4-addr 192.0.2.1\nprefix 2001:db8:64::/96\nwkpf-strict no\nudp-cksum-mode calc\nofflink-mtu 1400\nmap 192.0.2.10 2001:db8:6::10 # s1\nmap-file maps\nlog drop\n", "map 192.0.2.12 2001:db8:6::12\n", false)
	f.Add("map-file maps\n", "map 192.0.2.0/24 2001:db8::/120\nmap \"x: [y 1\n", false)
	f.Add("ipv4-addr 'x\nprefix {a\ndata-dir \"\\\n", "", true)
	f.Add("offlink-mtu 0x10\noffline-mtu 1\n", "", false)
	f.Add("prefix 64:ff9b::/96\nipv4-addr 192.0.2.1\nofflink-mtu 01300\n", "", false)
	f.Add("map 192.0.2.1\" 2001:db8::1\nmap \\x31 \\u0032\n", "", false)
	files, _ := filepath.Glob("testdata/tayga/*.conf")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(string(b), "", false)
			f.Add(string(b), "", true)
		}
	}
	f.Fuzz(func(t *testing.T, conf, mapFile string, masquerade bool) {
		opts := TAYGAOptions{Open: taygaFiles(map[string]string{"maps": mapFile})}
		masq := ""
		if masquerade {
			opts.Masquerade = netip.MustParseAddr("198.51.100.7")
			masq = opts.Masquerade.String()
		}
		doc, notes, err := ImportTAYGA(strings.NewReader(conf), "f.conf", opts)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				if !strings.HasPrefix(err.Error(), "map-file: ") {
					t.Fatalf("error neither an *Error nor a map-file's: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("*Error %v is not ErrInvalid", err)
			}
			for _, p := range ce.Problems {
				if !strings.HasPrefix(p, "f.conf:") && !strings.HasPrefix(p, "maps:") {
					t.Fatalf("problem without the file name: %q", p)
				}
			}
			return
		}
		for _, n := range notes {
			if strings.Contains(n, "%!") || strings.Contains(n, "\n") {
				t.Fatalf("malformed note %q", n)
			}
		}
		doc2, notes2, _ := ImportTAYGA(strings.NewReader(conf), "f.conf", opts)
		if !bytes.Equal(doc, doc2) || strings.Join(notes, "\n") != strings.Join(notes2, "\n") {
			t.Fatalf("two imports differ:\n%s\n%s", doc, doc2)
		}
		checkTAYGAValues(t, conf, mapFile, masq, doc)
		if _, err := Parse("f.yaml", doc); err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse of the converted document: %v (%T), not an *Error:\n%s", err, err, doc)
			}
		}
	})
}

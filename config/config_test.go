package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := Default()
	switch {
	case c.Mode != ModeSIIT, c.MTU4 != 1500, c.MTU6 != 1500, c.LowestIPv6MTU != 1280:
		t.Fatalf("defaults: %+v", c)
	case c.UDPZeroChecksum != UDPZeroDrop, c.EAMHairpinMode != HairpinIntrinsic, !c.WKPFStrict:
		t.Fatalf("defaults: %+v", c)
	case !c.SourceICMPv6ErrorsBetter, c.MaximumSimultaneousOpens != 10, c.Prefix.IsValid():
		t.Fatalf("defaults: %+v", c)
	case c.DataPath != (DataPath{IO: "ring", BusyPoll: 50 * time.Microsecond, HotWait: 2 * time.Second, PinWorkers: "auto", Spread: "ports", QdiscBypass: true, PassGSO: true}):
		t.Fatalf("data-path defaults: %+v", c.DataPath)
	}
}

// TestConformanceKeys parses a configuration with every key of the
// conformance contract (../shared/conformance/README.md), as its runner
// writes them: quoted strings, block style, nulls.
func TestConformanceKeys(t *testing.T) {
	doc := `# tayga/addressing-004
mode: "siit"
prefix: "2001:db8:100::/40"
pool4: ["192.0.2.2/32"]
eam:
  - ipv4: "1.0.0.0/24"
    ipv6: "2001:db8:3::/120"
  - ipv4: "192.0.2.0/24"
    ipv6: "2001:db8:1c0:2::/72"
ipv4-addr: "198.51.100.1"
ipv6-addr: "2001:db8:1c0:2:1::"
mtu:
  ipv6: 1500
  ipv4: 2153
lowest-ipv6-mtu: 1402
udp-zero-checksum: "calculate"
rfc6791v4-prefix: "203.0.113.8/32"
rfc6791v6-prefix: null
eam-hairpin-mode: "simple"
zeroize-traffic-class: true
wkpf-strict: false
dynamic-pool: "172.16.0.0/24"
pool4-ports:
  tcp: "1-3000"
  udp: "1-3000"
  icmp: "1-3000"
static-bib:
  - proto: "tcp"
    ipv6: "2001:db8::5"
    ipv6-port: 2000
    ipv4: "192.0.2.2"
    ipv4-port: 2000
address-dependent-filtering: false
drop-icmpv6-info: false
drop-externally-initiated-tcp: false
source-icmpv6-errors-better: false
maximum-simultaneous-opens: 10
replay-drain-seconds: 10
`
	c, err := Parse("conf.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.Prefix != netip.MustParsePrefix("2001:db8:100::/40"), len(c.EAM) != 2, c.MTU4 != 2153, c.LowestIPv6MTU != 1402:
		t.Fatalf("parsed: %+v", c)
	case c.UDPZeroChecksum != UDPZeroCalculate, c.EAMHairpinMode != HairpinSimple, !c.ZeroizeTrafficClass, c.WKPFStrict:
		t.Fatalf("parsed: %+v", c)
	case c.RFC6791v4 != netip.MustParsePrefix("203.0.113.8/32"), c.RFC6791v6.IsValid():
		t.Fatalf("parsed: %+v", c)
	case len(c.StaticBIB) != 1 || c.StaticBIB[0].IPv4Port != 2000, c.Pool4Ports.TCP != (PortRange{1, 3000}):
		t.Fatalf("parsed: %+v", c)
	case c.ReplayDrain != 10*time.Second, c.SourceICMPv6ErrorsBetter, c.DynamicPool != netip.MustParsePrefix("172.16.0.0/24"):
		t.Fatalf("parsed: %+v", c)
	}
	if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "conf.yaml:4: pool4: pool4 is used in mode nat64 only") ||
		!strings.Contains(c.Warnings[1], "conf.yaml:27: static-bib: static-bib is used in mode nat64 only") {
		t.Fatalf("warnings: %q", c.Warnings)
	}
}

// TestErrors checks that each mistake is reported with file, line and key.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "mode: siit\nprefx: 64:ff9b::/96\n", []string{"c.yaml:2: prefx: unknown key"}},
		{"unknown nested key", "mtu:\n  ipv6: 1500\n  ipv5: 1\n", []string{"c.yaml:3: mtu.ipv5: unknown key"}},
		{"not an integer", "mtu:\n  ipv4: lots\n", []string{`c.yaml:2: mtu.ipv4: "lots" is not an integer`}},
		{"bad prefix", "prefix: 64:ff9b::/33\n", []string{"c.yaml:1: prefix: 64:ff9b::/33: RFC 6052 allows prefix lengths 32, 40, 48, 56, 64 and 96 only"}},
		{"host bits", "prefix: 64:ff9b::1/96\n", []string{"c.yaml:1: prefix: 64:ff9b::1/96 has bits set beyond the prefix length (did you mean 64:ff9b::/96?)"}},
		{"ipv4 as prefix", "prefix: 192.0.2.0/24\n", []string{`c.yaml:1: prefix: "192.0.2.0/24" is not an IPv6 prefix`}},
		{"mode", "mode: nat46\n", []string{`c.yaml:1: mode: "nat46" is not a mode: use siit or nat64`}},
		{"nat64 without pool4", "mode: nat64\nprefix: 64:ff9b::/96\n", []string{"c.yaml: pool4: mode nat64 needs pool4"}},
		{"nat64 without prefix", "mode: nat64\npool4: [192.0.2.1/32]\n", []string{"c.yaml: prefix: mode nat64 needs"}},
		{"static bib outside pool4", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\nstatic-bib:\n  - {proto: tcp, ipv6: \"2001:db8::1\", ipv6-port: 80, ipv4: 192.0.2.2, ipv4-port: 80}\n", []string{"c.yaml:5: static-bib[0].ipv4: 192.0.2.2 is not in pool4"}},
		{"static bib twice", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\nstatic-bib:\n  - {proto: tcp, ipv6: \"2001:db8::1\", ipv6-port: 80, ipv4: 192.0.2.1, ipv4-port: 80}\n  - {proto: tcp, ipv6: \"2001:db8::2\", ipv6-port: 80, ipv4: 192.0.2.1, ipv4-port: 80}\n", []string{"c.yaml:6: static-bib[1]: binds 192.0.2.1#80, which static-bib[0] binds already"}},
		{"gateway in pool4", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.0/24]\ngateway: 192.0.2.1\n", []string{"c.yaml:3: pool4[0]: 192.0.2.0/24 holds gateway 192.0.2.1"}},
		{"pool4 in eam", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.0/24]\neam: [{ipv4: 192.0.2.10, ipv6: \"2001:db8::10\"}]\n", []string{"c.yaml:3: pool4[0]: 192.0.2.0/24 overlaps eam[0]"}},
		{"timeout below rfc", "timeouts: {udp: 30s}\n", []string{"c.yaml:1: timeouts.udp: 30s is"}},
		{"reassembly timeout below FRAGMENT_MIN", "reassembly:\n  timeout: 1s\n", []string{"c.yaml:2: reassembly.timeout: 1s is outside 2s..1m0s"}},
		{"reassembly timeout not a duration", "reassembly: {timeout: 5}\n", []string{`c.yaml:1: reassembly.timeout: "5" is not a duration`}},
		{"reassembly max-bytes below a datagram", "reassembly:\n  max-bytes: 4096\n", []string{"c.yaml:2: reassembly.max-bytes: 4096 is outside"}},
		{"reassembly per source above total", "reassembly:\n  max-bytes: 100000\n  max-bytes-per-source: 200000\n", []string{"c.yaml:3: reassembly.max-bytes-per-source: max-bytes-per-source 200000 is above max-bytes 100000"}},
		{"reassembly total below default per source", "reassembly:\n  max-bytes: 100000\n", []string{"c.yaml:2: reassembly.max-bytes: max-bytes-per-source 262144 is above max-bytes 100000"}},
		{"dynamic pool with nat64", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\ndynamic-pool: 198.51.100.0/24\n", []string{"c.yaml:4: dynamic-pool: the dynamic pool is TAYGA's stateless model"}},
		{"sandbox user with a colon", "sandbox: {user: \"nat64br:nat64br\"}\n", []string{`c.yaml:1: sandbox.user: "nat64br:nat64br" is not a user or group name or number`}},
		{"sandbox group empty", "sandbox:\n  group: \"\"\n", []string{`c.yaml:2: sandbox.group: "" is not a user or group name or number`}},
		{"dynamic pool too big", "dynamic-pool: 10.0.0.0/7\n", []string{"c.yaml:1: dynamic-pool: 10.0.0.0/7: use a prefix from /8 to /31"}},
		{"dynamic pool of one address", "dynamic-pool: 192.0.2.1/32\n", []string{"c.yaml:1: dynamic-pool: 192.0.2.1/32: use a prefix from /8 to /31"}},
		{"data dir relative", "data-dir: var/lib\n", []string{"c.yaml:1: data-dir: \"var/lib\" is not an absolute"}},
		{"state interval", "state-interval: 10ms\n", []string{"c.yaml:1: state-interval: 10ms: use 0 (only at stop) or at least 1s"}},
		{"state interval not a duration", "state-interval: often\n", []string{`c.yaml:1: state-interval: "often" is not a duration`}},
		{"data path io", "data-path:\n  io: xdp\n", []string{`c.yaml:2: data-path.io: "xdp" is not a data path: use ring or mmsg`}},
		{"data path workers", "data-path: {workers: 0}\n", []string{`c.yaml:1: data-path.workers: "0" is not auto or a number of workers from 1 to 64`}},
		{"data path spread", "data-path: {spread: rss}\n", []string{`c.yaml:1: data-path.spread: "rss" is not a way to spread frames over the workers: use ports or hash`}},
		{"data path pinning", "data-path: {pin-workers: yes}\n", []string{`c.yaml:1: data-path.pin-workers: "yes" is not auto, true or false`}},
		{"metrics listen", "metrics:\n  listen: 9464\n", []string{`c.yaml:2: metrics.listen: "9464" is not host:port`}},
		{"mtu range", "mtu:\n  ipv6: 1000\n", []string{"c.yaml:2: mtu.ipv6: 1000 is outside 1280..65535"}},
		{"eam suffix", "eam:\n  - ipv4: 192.0.2.0/24\n    ipv6: 2001:db8::/128\n", []string{"c.yaml:2: eam[0]: the IPv4 suffix of 192.0.2.0/24 (8 bits) does not fit the IPv6 suffix of 2001:db8::/128 (0 bits)"}},
		{"eam missing half", "eam:\n  - ipv4: 192.0.2.1\n", []string{"c.yaml:2: eam[0]: ipv6 is missing"}},
		{"eam duplicate", "eam:\n  - {ipv4: 192.0.2.1, ipv6: \"2001:db8::1\"}\n  - {ipv4: 192.0.2.1, ipv6: \"2001:db8::2\"}\n", []string{"c.yaml:3: eam[1].ipv4: 192.0.2.1/32 is already mapped by eam[0]"}},
		{"policy", "udp-zero-checksum: compute\n", []string{`c.yaml:1: udp-zero-checksum: "compute" is not a policy: use drop, reject, calculate or forward`}},
		{"bool", "wkpf-strict: sometimes\n", []string{`c.yaml:1: wkpf-strict: "sometimes" is not true or false`}},
		{"ports", "pool4-ports:\n  tcp: 3000-1\n", []string{`c.yaml:2: pool4-ports.tcp: "3000-1" is not a range lo-hi of 0..65535`}},
		{"duplicate key", "mode: siit\nmode: siit\n", []string{`c.yaml:2: mapping key "mode" already defined at line 1`}},
		{"duplicate nested key", "mtu:\n  ipv6: 1500\n  ipv6: 1400\n", []string{`c.yaml:3: mapping key "ipv6" already defined at line 2`}},
		{"unknown key in a list", "eam:\n  - {ipv4: 192.0.2.1/32, ipv6: \"2001:db8::1/128\", ipv5: x}\n", []string{"c.yaml:2: eam[0].ipv5: unknown key"}},
		{"unknown key and a bad value", "prefx: 1\nmtu:\n  ipv4: lots\n", []string{"c.yaml:1: prefx: unknown key", `c.yaml:3: mtu.ipv4: "lots" is not an integer`}},
		{"syntax", "mode: [siit\n", []string{"c.yaml:"}},
		{"vlan range", "ipv6-vlan: 4095\n", []string{"c.yaml:1: ipv6-vlan: 4095 is outside 1..4094"}},
		{"vlan zero", "ipv4-vlan: 0\n", []string{"c.yaml:1: ipv4-vlan: 0 is outside 1..4094"}},
		{"not a mapping", "- a\n- b\n", []string{"c.yaml:1: the document must be a mapping of keys to values"}},
		{"client not IPv6", "clients:\n  - 2001:db8:1::/64\n  - 192.0.2.0/24\n", []string{`c.yaml:3: clients[1]: "192.0.2.0/24" is not an IPv6 prefix`}},
		{"client host bits", "clients: [\"2001:db8:1::1/64\"]\n", []string{"c.yaml:1: clients[0]: 2001:db8:1::1/64 has bits set beyond the prefix length (did you mean 2001:db8:1::/64?)"}},
		{"clients not a list", "clients: everyone\n", []string{`c.yaml:1: clients: "everyone" is not a list`}},
		{"clients refusal", "clients-refusal: reject\n", []string{`c.yaml:1: clients-refusal: "reject" is not a policy: use icmp or drop`}},
		{"denylist4 not IPv4", "denylist4:\n  - 10.0.0.0/8\n  - \"2001:db8::/32\"\n", []string{`c.yaml:3: denylist4[1]: "2001:db8::/32" is not an IPv4 prefix`}},
		{"denylist4 host bits", "denylist4: [10.0.0.1/8]\n", []string{"c.yaml:1: denylist4[0]: 10.0.0.1/8 has bits set beyond the prefix length (did you mean 10.0.0.0/8?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.doc))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("errors.Is(err, ErrInvalid) is false")
			}
			if len(ce.Problems) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant %d", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ce.Problems[i], w) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, ce.Problems[i], w)
				}
			}
		})
	}
}

// TestThreeMistakes is the acceptance check of check-config: a file with
// three mistakes reports all three, with their lines.
func TestThreeMistakes(t *testing.T) {
	doc := "mode: siit\nprefix: 64:ff9b::/97\neam:\n  - ipv4: 192.0.2.300/32\n    ipv6: 2001:db8::1/128\nmtu:\n  ipv4: 1500\n  ipv6: 9\n"
	path := filepath.Join(t.TempDir(), "three.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 3 {
		t.Fatalf("err = %v, want 3 problems", err)
	}
	for i, line := range []string{":2: prefix:", ":4: eam[0].ipv4:", ":8: mtu.ipv6:"} {
		if !strings.HasPrefix(ce.Problems[i], path+line) {
			t.Errorf("problem %d = %q, want prefix %q", i, ce.Problems[i], path+line)
		}
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("mode: siit\nprefix: 64:ff9b::/96\n")
	f.Add("eam:\n  - ipv4: 192.0.2.0/24\n    ipv6: 2001:db8::/120\nmtu: {ipv4: 1500, ipv6: 1280}\n")
	f.Add("static-bib:\n  - {proto: tcp, ipv6: \"2001:db8::5\", ipv6-port: 80, ipv4: 192.0.2.2, ipv4-port: 80}\n")
	f.Add("a: &x [*x]\n")
	f.Add("clients: [\"2001:db8:1::/64\", \"2001:db8:2::5\"]\nclients-refusal: drop\ndenylist4: [10.0.0.0/8, 198.51.100.7]\n")
	f.Add("mtu: !!binary aGVsbG8=\n")
	f.Add("mode: siit\nmode: nat64\nmtu: {ipv4: 1500, ipv4: 1400, ipv5: 1}\n<<: {mode: siit}\n")
	files, _ := filepath.Glob("../testdata/golden/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse("f.yaml", []byte(doc))
		if err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				if len(ce.Problems) > MaxProblems+1 || ce.Count < len(ce.Problems)-1 {
					t.Fatalf("%d problems listed of %d", len(ce.Problems), ce.Count)
				}
				for _, p := range ce.Problems {
					if !strings.HasPrefix(p, "f.yaml") {
						t.Fatalf("problem without the file name: %q", p)
					}
				}
			}
			return
		}
		if c.MTU6 < 1280 || c.MTU4 < 68 || c.LowestIPv6MTU < 1280 {
			t.Fatalf("accepted MTUs %d/%d/%d", c.MTU4, c.MTU6, c.LowestIPv6MTU)
		}
		for _, p := range c.Clients {
			if !p.Addr().Is6() || p.Addr().Is4In6() || p != p.Masked() {
				t.Fatalf("accepted client prefix %v", p)
			}
		}
		for _, p := range c.Denylist4 {
			if !p.Addr().Is4() || p != p.Masked() {
				t.Fatalf("accepted denylist4 prefix %v", p)
			}
		}
		if c.ClientsRefusal != RefusalICMP && c.ClientsRefusal != RefusalDrop {
			t.Fatalf("accepted clients-refusal %q", c.ClientsRefusal)
		}
	})
}

// TestOnePort: both sides may name one interface (one-armed), untagged or
// as two VLANs of a trunk.
func TestOnePort(t *testing.T) {
	for _, doc := range []string{
		"ipv6-interface: eth0\nipv4-interface: eth0\n",
		"ipv6-interface: eth0\nipv4-interface: eth0\nipv6-vlan: 10\nipv4-vlan: 20\n",
	} {
		c, err := Parse("c.yaml", []byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.IPv6Interface != "eth0" || c.IPv4Interface != "eth0" {
			t.Errorf("%q: interfaces %q %q", doc, c.IPv6Interface, c.IPv4Interface)
		}
	}
	c, _ := Parse("c.yaml", []byte("ipv6-vlan: 10\nipv4-vlan: 20\n"))
	if c.IPv6VLAN != 10 || c.IPv4VLAN != 20 {
		t.Errorf("vlans %d %d", c.IPv6VLAN, c.IPv4VLAN)
	}
}

// TestAccessControl parses clients, clients-refusal and denylist4: typed
// prefixes (a bare address is one host), and their defaults.
func TestAccessControl(t *testing.T) {
	c := Default()
	if len(c.Clients) != 0 || len(c.Denylist4) != 0 || c.ClientsRefusal != RefusalICMP {
		t.Fatalf("defaults: clients %v, denylist4 %v, clients-refusal %q", c.Clients, c.Denylist4, c.ClientsRefusal)
	}
	doc := "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\n" +
		"clients:\n  - 2001:db8:1::/64\n  - \"2001:db8:2::5\"\nclients-refusal: drop\ndenylist4: [198.51.100.0/24, 203.0.113.9]\n" +
		"static-bib:\n  - {proto: tcp, ipv6: \"2001:db8:1::80\", ipv6-port: 80, ipv4: 192.0.2.1, ipv4-port: 80}\n" +
		"  - {proto: tcp, ipv6: \"2001:db8:6::80\", ipv6-port: 80, ipv4: 192.0.2.1, ipv4-port: 8080}\n"
	c, err := Parse("c.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	wantPrefixes := func(key string, got []netip.Prefix, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", key, got, want)
		}
		for i, w := range want {
			if got[i] != netip.MustParsePrefix(w) {
				t.Errorf("%s[%d] = %v, want %s", key, i, got[i], w)
			}
		}
	}
	wantPrefixes("clients", c.Clients, "2001:db8:1::/64", "2001:db8:2::5/128")
	wantPrefixes("denylist4", c.Denylist4, "198.51.100.0/24", "203.0.113.9/32")
	if c.ClientsRefusal != RefusalDrop {
		t.Errorf("clients-refusal %q", c.ClientsRefusal)
	}
	// The second port forward goes to a host clients leaves out.
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], "c.yaml:11: static-bib[1].ipv6: 2001:db8:6::80 is not inside clients") {
		t.Errorf("warnings: %q", c.Warnings)
	}
}

func TestReassemblyKeys(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      Reassembly
	}{
		{"defaults", "", Reassembly{Timeout: 5 * time.Second, MaxBytes: 4 << 20, MaxBytesPerSource: 256 << 10}},
		{"all", "reassembly:\n  timeout: 30s\n  max-bytes: 1048576\n  max-bytes-per-source: 131072\n", Reassembly{Timeout: 30 * time.Second, MaxBytes: 1 << 20, MaxBytesPerSource: 128 << 10}},
		{"timeout only", "reassembly: {timeout: 2s}\n", Reassembly{Timeout: 2 * time.Second, MaxBytes: 4 << 20, MaxBytesPerSource: 256 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if c.Reassembly != tc.want {
				t.Fatalf("%+v, want %+v", c.Reassembly, tc.want)
			}
		})
	}
}

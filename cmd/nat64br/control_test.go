package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestControl drives the operator commands against a control socket
// served by a data plane on in-memory ports.
func TestControl(t *testing.T) {
	l := newMemLab(t)
	dir := t.TempDir()
	r := l.runner(t, dir)
	cfgPath, cfg := r.path, r.cfg
	sock := filepath.Join(dir, "run", "control.sock")
	c, err := startControl(r, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	if _, err := startControl(r, sock); err == nil || !strings.Contains(err.Error(), "another nat64br") {
		t.Fatalf("a second server on the same socket: %v", err)
	}

	// Some traffic: a frame of another EtherType, an ARP request answered.
	l.send(t, l.peer6, xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetType(0x88b5)), xlattest.Payload(46)))
	l.send(t, l.peer4, xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: make([]byte, 6), DstProtAddress: xlattest.IP("192.0.2.1").To4()}))
	l.expect(t, l.peer4, "ARP reply", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeARP) != nil })

	ctl := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append(args, "--socket", sock), &out, &errb); code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out.String(), errb.String())
		}
		return out.String()
	}
	if s := ctl(0, "status"); !strings.Contains(s, "config") || !strings.Contains(s, cfgPath) || !strings.Contains(s, "mode") {
		t.Errorf("status:\n%s", s)
	}
	var st statusReply
	if err := json.Unmarshal([]byte(ctl(0, "status", "--json")), &st); err != nil || st.Mode != "siit" || len(st.ConfigHash) != 64 || st.PID == 0 {
		t.Errorf("status --json: %+v %v", st, err)
	}
	// Workers publish their counters after each batch is sent, so the
	// ARP reply can arrive before its batch is counted: wait for all.
	var stats statsReply
	counted := func() bool {
		k := stats.Counters
		return k["other_ethertype"] == 1 && k["frames_in_ipv4"] >= 1 && k["arp_nd_answers"] >= 1
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := json.Unmarshal([]byte(ctl(0, "stats", "--json")), &stats); err != nil {
			t.Fatal(err)
		}
		if counted() {
			break
		}
	}
	if !counted() {
		t.Errorf("stats --json: %v", stats.Counters)
	}
	if s := ctl(0, "stats", "--explain"); !strings.Contains(s, "dropped: an EtherType other than IPv4, IPv6 and ARP") ||
		!strings.Contains(s, "drop_hop_limit_exceeded") {
		t.Errorf("stats --explain:\n%s", s)
	}
	if s := ctl(0, "neighbors"); !strings.Contains(s, labServer4) {
		t.Errorf("neighbors (the server asked ARP, so it was learned):\n%s", s)
	}
	if s := ctl(0, "sessions", "--proto", "tcp"); !strings.Contains(s, "0 entries") {
		t.Errorf("sessions in SIIT mode:\n%s", s)
	}
	var errb bytes.Buffer
	if code := run([]string{"bib", "--proto", "sctp", "--socket", sock}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), `proto "sctp"`) {
		t.Errorf("bib --proto sctp: exit %d, %s", code, errb.String())
	}
	if s := ctl(0, "sessions", "--limit", "5", "--json"); !strings.Contains(s, `"entries": [`) {
		t.Errorf("sessions --limit 5 --json:\n%s", s)
	}
	errb.Reset()
	if code := run([]string{"bib", "--limit", "100001", "--socket", sock}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), `limit "100001"`) {
		t.Errorf("bib --limit 100001: exit %d, %s", code, errb.String())
	}
	if s := ctl(0, "pool"); !strings.Contains(s, "no pool4") {
		t.Errorf("pool:\n%s", s)
	}
	// --csv on every command that has it: one table that encoding/csv reads.
	for _, c := range commands {
		if !slices.ContainsFunc(c.flags, func(f flagSpec) bool { return f.name == "csv" }) {
			continue
		}
		recs, err := csv.NewReader(strings.NewReader(ctl(0, c.name, "--csv"))).ReadAll()
		if err != nil || len(recs) == 0 {
			t.Errorf("%s --csv: %v %q", c.name, err, recs)
		}
	}
	if recs, _ := csv.NewReader(strings.NewReader(ctl(0, "status", "--csv"))).ReadAll(); !slices.ContainsFunc(recs, func(r []string) bool { return slices.Equal(r, []string{"config", cfgPath}) }) {
		t.Errorf("status --csv: %q", recs)
	}
	if code := run([]string{"stats", "--csv", "--json", "--socket", sock}, io.Discard, io.Discard); code != 2 {
		t.Errorf("stats --csv --json: exit %d, want 2", code)
	}

	// A trace of the next two frames of another EtherType: a VLAN frame
	// in between is not taken, a third frame is not either.
	pcapPath := filepath.Join(dir, "drops.pcapng")
	done := make(chan string, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"trace", "--reason", "other_ethertype", "--count", "2", "--timeout", "10s", "--pcap", pcapPath, "--socket", sock}, &out, &errb)
		done <- fmt.Sprintf("%d %s%s", code, out.String(), errb.String())
	}()
	for deadline := time.Now().Add(5 * time.Second); !l.d.Tracing() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if code := run([]string{"trace", "--count", "1", "--pcap", filepath.Join(dir, "x"), "--socket", sock}, io.Discard, io.Discard); code != 1 {
		t.Errorf("a second trace at once: exit %d, want 1", code)
	}
	vlan := xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv6}, xlattest.Payload(46))
	l.send(t, l.peer6, vlan)
	for i := range 3 {
		l.send(t, l.peer6, xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetType(0x88b5)), xlattest.Payload(46+i)))
	}
	if res := <-done; !strings.HasPrefix(res, "0 2 dropped frame(s) written") {
		t.Fatalf("trace: %s", res)
	}
	f, err := os.Open(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		data, ci, opts, err := pr.ReadPacketDataWithOptions()
		if err != nil {
			t.Fatal(err)
		}
		pk := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		e, ok := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !ok || e.EthernetType != 0x88b5 || len(data) != 14+46+i || ci.InterfaceIndex != 0 || len(opts.Comments) != 1 ||
			!strings.Contains(opts.Comments[0], "other_ethertype") {
			t.Errorf("traced frame %d: %d bytes, interface %d, comments %q", i, len(data), ci.InterfaceIndex, opts.Comments)
		}
	}
	if _, _, err := pr.ReadPacketData(); err == nil {
		t.Error("a third frame in the trace")
	}
	if l.d.Tracing() {
		t.Error("the trace is still armed")
	}

	// A broken file is refused, with its line and key, and exit status 1.
	if err := os.WriteFile(cfgPath, []byte(demoConfig+"mtu:\n  ipv6: 900\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := ctl(1, "reload"); !strings.Contains(s, "reload refused") || !strings.Contains(s, "nat64br.yaml:") || !strings.Contains(s, "mtu.ipv6: 900 is outside") {
		t.Errorf("reload of a broken file:\n%s", s)
	}
	if r.cfg != cfg {
		t.Error("the running configuration changed")
	}

	errb.Reset()
	if code := run([]string{"status", "--socket", filepath.Join(dir, "none.sock")}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "cannot reach nat64br") {
		t.Errorf("status without a daemon: exit %d, %s", code, errb.String())
	}
}

// TestCSV prints replies of each operator command as CSV: it must parse
// with encoding/csv, every record as wide as the header, and hold the
// reply's values, commas and quotes included.
func TestCSV(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, cmd string
		reply     any
		explain   bool
		want      [][]string // rows that must be among the records, after the header
		header    []string
	}{
		{
			name: "status", cmd: "status",
			reply: statusReply{Version: "v1", Config: `/etc/a,b "c".yaml`, Mode: "nat64", Workers: 2, WorkerCPUs: []int{0, 1},
				Ports: []portStatus{{Side: "ipv6", Interface: "eth0", MTU: 1500, Answers: []string{"2001:db8::1", "64:ff9b::/96"}}}},
			header: []string{"KEY", "VALUE"},
			want: [][]string{{"config", `/etc/a,b "c".yaml`}, {"mode", "nat64"}, {"worker_cpus", "0 1"},
				{"port.ipv6.mtu", "1500"}, {"port.ipv6.answers_for", "2001:db8::1 64:ff9b::/96"}},
		},
		{
			name: "stats", cmd: "stats",
			reply:  statsReply{Counters: map[string]uint64{"frames_in_ipv6": 7, "other_ethertype": 0}, NAT64: &xlat.NATStats{SessionsCreated: 3}},
			header: []string{"COUNTER", "VALUE"},
			want:   [][]string{{"frames_in_ipv6", "7"}, {"nat64.sessions_created", "3"}},
		},
		{
			name: "stats explained", cmd: "stats", explain: true,
			reply: statsReply{Counters: map[string]uint64{"other_ethertype": 0},
				Ports: map[string]any{"ipv6": map[string]uint64{"rx_dropped": 4}}},
			header: []string{"COUNTER", "VALUE", "MEANING"},
			want:   [][]string{{"other_ethertype", "0", explainCounter("other_ethertype")}, {"port_ipv6.rx_dropped", "4", ""}},
		},
		{
			name: "bib", cmd: "bib",
			reply: natListReply{Entries: []xlat.NATEntry{
				{Proto: "tcp", IPv6: netip.MustParseAddrPort("[2001:db8::2]:4000"), IPv4: netip.MustParseAddrPort("192.0.2.1:61001"), Sessions: 1, Expires: exp},
				{Proto: "udp", IPv6: netip.MustParseAddrPort("[2001:db8::3]:53"), IPv4: netip.MustParseAddrPort("192.0.2.1:53"), Static: true}}},
			header: []string{"PROTO", "IPV6", "IPV4", "SESSIONS", "STATIC", "EXPIRES"},
			want: [][]string{{"tcp", "[2001:db8::2]:4000", "192.0.2.1:61001", "1", "false", "2030-01-02T03:04:05Z"},
				{"udp", "[2001:db8::3]:53", "192.0.2.1:53", "0", "true", ""}},
		},
		{
			name: "sessions", cmd: "sessions",
			reply: natListReply{Entries: []xlat.NATEntry{{Proto: "tcp", IPv6: netip.MustParseAddrPort("[2001:db8::2]:4000"),
				IPv4: netip.MustParseAddrPort("192.0.2.1:61001"), Remote: netip.MustParseAddrPort("203.0.113.5:443"), State: "established", Expires: exp}}},
			header: []string{"PROTO", "IPV6", "IPV4", "REMOTE", "STATE", "EXPIRES"},
			want:   [][]string{{"tcp", "[2001:db8::2]:4000", "192.0.2.1:61001", "203.0.113.5:443", "established", "2030-01-02T03:04:05Z"}},
		},
		{
			name: "neighbors", cmd: "neighbors",
			reply:  []neighborReply{{"ipv4", "192.0.2.9", "02:00:00:00:00:09", "reachable"}},
			header: []string{"PORT", "ADDRESS", "MAC", "STATE"},
			want:   [][]string{{"ipv4", "192.0.2.9", "02:00:00:00:00:09", "reachable"}},
		},
		{
			name: "pool", cmd: "pool",
			reply: poolReply{Pool4: []xlat.Pool4Use{{Addr: netip.MustParseAddr("192.0.2.1"), Proto: "udp", Used: 5, Size: 64512}},
				Dynamic: &dynamicUse{Prefix: "198.51.100.0/24", Addresses: 256, Mappings: 3}},
			header: []string{"POOL", "ADDRESS", "PROTO", "USED", "OF"},
			want:   [][]string{{"pool4", "192.0.2.1", "udp", "5", "64512"}, {"dynamic", "198.51.100.0/24", "", "3", "256"}},
		},
		{name: "empty pool", cmd: "pool", reply: poolReply{}, header: []string{"POOL", "ADDRESS", "PROTO", "USED", "OF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := json.Marshal(tc.reply)
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if err := ctlPrint(tc.cmd, body, printOptions{explain: tc.explain, csv: true}, &out, &errb); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&out).ReadAll() // FieldsPerRecord 0: every record as wide as the first
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if len(recs) == 0 || !slices.Equal(recs[0], tc.header) {
				t.Fatalf("header %q, want %q", recs, tc.header)
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(recs[1:], func(r []string) bool { return slices.Equal(r, w) }) {
					t.Errorf("no record %q in %q", w, recs)
				}
			}
			if errb.Len() != 0 {
				t.Errorf("stderr: %s", errb.String())
			}
			// The same reply as text still prints.
			out.Reset()
			if err := ctlPrint(tc.cmd, body, printOptions{explain: tc.explain}, &out, &errb); err != nil || out.Len() == 0 {
				t.Errorf("text: %v %q", err, out.String())
			}
		})
	}
}

// TestControlSocketPath starts the control socket over what may be at its
// path: only a stale socket is replaced; a live one means another
// nat64br; anything else is refused and left there.
func TestControlSocketPath(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, path string)
		err   error // nil: started
		want  string
	}{
		{"nothing", func(*testing.T, string) {}, nil, ""},
		{"stale socket", func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}, nil, ""},
		{"live socket", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, errRunning, "another nat64br serves"},
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, errUnsafe, "is not a socket"},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, errUnsafe, "is not a socket"},
		{"symlink to a file", func(t *testing.T, path string) {
			os.WriteFile(path+".target", []byte("keep"), 0o600)
			mustSymlink(t, path+".target", path)
		}, errUnsafe, "is not a socket"},
		{"symlink to a stale socket", func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path + ".target", Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
			mustSymlink(t, path+".target", path)
		}, errUnsafe, "is not a socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nat64br.sock")
			tc.plant(t, path)
			before, _ := os.Lstat(path)
			r := &runner{log: slog.New(slog.DiscardHandler)}
			c, err := startControl(r, path)
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				c.close()
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want %v with %q and the path", err, tc.err, tc.want)
			}
			t.Log(err)
			after, lerr := os.Lstat(path)
			if lerr != nil || !os.SameFile(before, after) {
				t.Errorf("what was at the path was replaced or deleted: %v", lerr)
			}
			if b, err := os.ReadFile(path + ".target"); err == nil && len(b) > 0 && string(b) != "keep" {
				t.Errorf("the symlink's target changed: %q", b)
			}
		})
	}
}

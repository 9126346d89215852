package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nat64br/nat64br/xlat"
)

type stamped struct {
	at  time.Time
	pkt []byte
}

func writeCapture(t *testing.T, path string, lt layers.LinkType, ng bool, pkts []stamped) {
	t.Helper()
	var buf bytes.Buffer
	if ng {
		w, err := pcapgo.NewNgWriter(&buf, lt)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			ci := gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(p.pkt), Length: len(p.pkt), InterfaceIndex: 0}
			if err := w.WritePacket(ci, p.pkt); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	} else {
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(p.pkt), Length: len(p.pkt)}, p.pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type captured struct {
	link layers.LinkType
	pkts []stamped
}

func readCapture(t *testing.T, path string) captured {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := captured{link: r.LinkType()}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return c
		}
		if err != nil {
			t.Fatal(err)
		}
		c.pkts = append(c.pkts, stamped{ci.Timestamp, data})
	}
}

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nat64br.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func replay(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"replay"}, args...), &out, &errb)
	return code, out.String() + errb.String()
}

// TestReplayMergesByTimestamp interleaves two inputs and checks that the
// outputs keep the input timestamps, in time order.
func TestReplayMergesByTimestamp(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgBase)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var in6, in4 []stamped
	for i := 0; i < 4; i++ {
		in6 = append(in6, stamped{at(2 * i), udpPkt(v6(c6, s6, 64), 5000, uint16(100+i), 10)})
		in4 = append(in4, stamped{at(2*i + 1), udpPkt(v4(s4, c4, 64), uint16(200+i), 5000, 10)})
	}
	writeCapture(t, filepath.Join(dir, "in6.pcap"), layers.LinkTypeRaw, false, in6)
	writeCapture(t, filepath.Join(dir, "in4.pcap"), layers.LinkTypeRaw, false, in4)
	code, msg := replay(t, "--config", cfg, "--in6", filepath.Join(dir, "in6.pcap"), "--in4", filepath.Join(dir, "in4.pcap"),
		"--out6", filepath.Join(dir, "out6.pcap"), "--out4", filepath.Join(dir, "out4.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if !strings.Contains(msg, "frames in:  ipv6 4, ipv4 4") || !strings.Contains(msg, "frames out: ipv6 4, ipv4 4") {
		t.Errorf("counters:\n%s", msg)
	}
	o6, o4 := readCapture(t, filepath.Join(dir, "out6.pcap")), readCapture(t, filepath.Join(dir, "out4.pcap"))
	if o6.link != layers.LinkTypeRaw || o4.link != layers.LinkTypeRaw {
		t.Fatalf("link types %v %v, want raw", o6.link, o4.link)
	}
	for i := 0; i < 4; i++ {
		if !o4.pkts[i].at.Equal(at(2 * i)) {
			t.Errorf("out4[%d] at %v, want %v", i, o4.pkts[i].at, at(2*i))
		}
		if !o6.pkts[i].at.Equal(at(2*i + 1)) {
			t.Errorf("out6[%d] at %v, want %v", i, o6.pkts[i].at, at(2*i+1))
		}
		if got := binary.BigEndian.Uint16(o4.pkts[i].pkt[22:]); got != uint16(100+i) {
			t.Errorf("out4[%d] destination port %d, want %d", i, got, 100+i)
		}
	}
}

// TestReplayEthernet replays Ethernet frames (pcapng on one side) through
// the frame path of the wire: the translated datagram waits for ARP to
// resolve its next hop (the request goes out on the IPv4 side, the
// server's reply comes in there), a reply goes back to its sender's MAC,
// tagged frames and ARP on the IPv6 side are counted and dropped.
func TestReplayEthernet(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgBase)
	macA := []byte{0x02, 0, 0, 0, 0, 0xa} // the IPv6 client
	macS := []byte{0x02, 0, 0, 0, 0, 0x5} // the IPv4 server
	mac6, mac4 := replayMACs[xlat.Side6][:], replayMACs[xlat.Side4][:]
	eth := func(dst, src []byte, et uint16, pkt []byte) []byte {
		f := append(append(append([]byte(nil), dst...), src...), byte(et>>8), byte(et))
		return append(f, pkt...)
	}
	t0 := time.Unix(1700000000, 0)
	in6 := []stamped{
		{t0, eth(mac6, macA, 0x86dd, udpPkt(v6(c6, s6, 64), 1, 2, 10))},
		{t0.Add(time.Millisecond), eth(mac6, macA, 0x86dd, udpPkt(v6(c6, s6, 1), 1, 2, 10))}, // hop limit: a reply
		{t0.Add(2 * time.Millisecond), eth(mac6, macA, 0x8100, []byte{0, 1, 0x86, 0xdd})},    // VLAN: dropped
		{t0.Add(3 * time.Millisecond), eth(mac6, macA, 0x0806, make([]byte, 28))},            // ARP on the IPv6 side: dropped
	}
	arpReply := make([]byte, 28)
	copy(arpReply, []byte{0, 1, 8, 0, 6, 4, 0, 2})
	copy(arpReply[8:], macS)
	copy(arpReply[14:], net.ParseIP(s4).To4())
	copy(arpReply[18:], mac4)
	copy(arpReply[24:], net.ParseIP(t4).To4())
	in4 := []stamped{{t0.Add(4 * time.Millisecond), eth(mac4, macS, 0x0806, arpReply)}}
	writeCapture(t, filepath.Join(dir, "in6.pcapng"), layers.LinkTypeEthernet, true, in6)
	writeCapture(t, filepath.Join(dir, "in4.pcap"), layers.LinkTypeEthernet, false, in4)
	code, msg := replay(t, "--config", cfg, "--in6", filepath.Join(dir, "in6.pcapng"), "--in4", filepath.Join(dir, "in4.pcap"),
		"--out6", filepath.Join(dir, "out6.pcap"), "--out4", filepath.Join(dir, "out4.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if !strings.Contains(msg, "vlan_tagged") || !strings.Contains(msg, "wrong_port") {
		t.Errorf("frame drops not counted:\n%s", msg)
	}
	o6, o4 := readCapture(t, filepath.Join(dir, "out6.pcap")), readCapture(t, filepath.Join(dir, "out4.pcap"))
	if o6.link != layers.LinkTypeEthernet || o4.link != layers.LinkTypeEthernet {
		t.Fatalf("link types %v %v, want Ethernet", o6.link, o4.link)
	}
	if len(o4.pkts) != 2 || len(o6.pkts) != 1 {
		t.Fatalf("%d IPv4 and %d IPv6 frames out, want 2 (ARP request, datagram) and 1", len(o4.pkts), len(o6.pkts))
	}
	req := o4.pkts[0].pkt
	if !bytes.Equal(req[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) || !bytes.Equal(req[6:12], mac4) || binary.BigEndian.Uint16(req[12:]) != 0x0806 ||
		!bytes.Equal(req[14+24:14+28], net.ParseIP(s4).To4()) {
		t.Errorf("ARP request %x", req)
	}
	f4 := o4.pkts[1].pkt
	if !bytes.Equal(f4[0:6], macS) || !bytes.Equal(f4[6:12], mac4) || binary.BigEndian.Uint16(f4[12:]) != 0x0800 || f4[14]>>4 != 4 {
		t.Errorf("translated frame header %x", f4[:15])
	}
	if !o4.pkts[1].at.Equal(in4[0].at) {
		t.Errorf("the held datagram left at %v, want when ARP answered (%v)", o4.pkts[1].at, in4[0].at)
	}
	f6 := o6.pkts[0].pkt
	if !bytes.Equal(f6[0:6], macA) || !bytes.Equal(f6[6:12], mac6) || binary.BigEndian.Uint16(f6[12:]) != 0x86dd || f6[14+40] != 3 {
		t.Errorf("reply frame header %x, ICMPv6 type %d", f6[:15], f6[14+40])
	}
}

// TestReplayIPv6LinkType keeps the IPv6-only link type on the IPv6 side and
// uses the IPv4-only one for the IPv4 output.
func TestReplayIPv6LinkType(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgBase)
	writeCapture(t, filepath.Join(dir, "in6.pcap"), layers.LinkTypeIPv6, false, []stamped{{time.Unix(1, 0), udpPkt(v6(c6, s6, 64), 1, 2, 3)}})
	code, msg := replay(t, "--config", cfg, "--in6", filepath.Join(dir, "in6.pcap"), "--out6", filepath.Join(dir, "o6"), "--out4", filepath.Join(dir, "o4"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if l := readCapture(t, filepath.Join(dir, "o6")).link; l != layers.LinkTypeIPv6 {
		t.Errorf("out6 link type %v", l)
	}
	if c := readCapture(t, filepath.Join(dir, "o4")); c.link != layers.LinkTypeIPv4 || len(c.pkts) != 1 {
		t.Errorf("out4 link type %v, %d packets", c.link, len(c.pkts))
	}
}

// TestReplayCorruptInput cuts a capture in the middle of its third record:
// the error names the file and the record, and the first two are still
// translated and written.
func TestReplayCorruptInput(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, cfgBase)
	in := filepath.Join(dir, "in4.pcap")
	var pkts []stamped
	for i := 0; i < 3; i++ {
		pkts = append(pkts, stamped{time.Unix(int64(i+1), 0), udpPkt(v4(s4, c4, 64), 1, 2, 50)})
	}
	writeCapture(t, in, layers.LinkTypeRaw, false, pkts)
	b, _ := os.ReadFile(in)
	if err := os.WriteFile(in, b[:len(b)-30], 0o644); err != nil {
		t.Fatal(err)
	}
	code, msg := replay(t, "--config", cfg, "--in4", in, "--out6", filepath.Join(dir, "o6"), "--out4", filepath.Join(dir, "o4"))
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, msg)
	}
	if !strings.Contains(msg, in+": record 3:") {
		t.Errorf("message does not name the file and record 3:\n%s", msg)
	}
	if n := len(readCapture(t, filepath.Join(dir, "o6")).pkts); n != 2 {
		t.Errorf("%d packets written before the damage, want 2", n)
	}
}

func TestReplayUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--config", "x"}, {"--out6", "a", "--out4", "b"}, {"--bogus"}} {
		if code, _ := replay(t, args...); code != 2 {
			t.Errorf("replay %q: exit %d, want 2", args, code)
		}
	}
	dir := t.TempDir()
	code, msg := replay(t, "--config", filepath.Join(dir, "missing.yaml"), "--out6", filepath.Join(dir, "a"), "--out4", filepath.Join(dir, "b"))
	if code != 1 || !strings.Contains(msg, "missing.yaml") {
		t.Errorf("missing config: exit %d: %s", code, msg)
	}
	cfg := writeConfig(t, cfgBase)
	code, msg = replay(t, "--config", cfg, "--in6", filepath.Join(dir, "nope.pcap"), "--out6", filepath.Join(dir, "a"), "--out4", filepath.Join(dir, "b"))
	if code != 1 || !strings.Contains(msg, "nope.pcap") {
		t.Errorf("missing input: exit %d: %s", code, msg)
	}
}

func TestCheckConfig(t *testing.T) {
	good := writeConfig(t, cfgBase)
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", good}, &out, &errb); code != 0 || !strings.Contains(out.String(), ": ok") {
		t.Fatalf("good config: exit %d: %s%s", code, out.String(), errb.String())
	}
	bad := writeConfig(t, "mode: siit\nprefix: 64:ff9b::/97\neam:\n  - ipv4: 192.0.2.300/32\n    ipv6: 2001:db8::1/128\nmtu:\n  ipv4: 1500\n  ipv6: 9\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"check-config", bad}, &out, &errb); code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	for _, want := range []string{bad + ":2: prefix:", bad + ":4: eam[0].ipv4:", bad + ":8: mtu.ipv6:", "3 problem(s)"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, errb.String())
		}
	}
}

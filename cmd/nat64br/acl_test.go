package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestReloadAccessControl reloads clients, clients-refusal and denylist4
// into a running data plane (on memory ports): each change is accepted,
// logged as changed, and applies to the next packet.
func TestReloadAccessControl(t *testing.T) {
	l := newMemLab(t)
	cfgPath := filepath.Join(t.TempDir(), "nat64br.yaml")
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(demoConfig+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sizeToMemory(cfg, memBudget{}) // as run does, to the budget its reloads use
	r := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), path: cfgPath, cfg: cfg, d: l.d, started: time.Now()}
	reload := func(extra string, want ...string) {
		t.Helper()
		write(extra)
		changed, problems := r.reloadResult()
		if len(problems) != 0 {
			t.Fatalf("reload refused: %q", problems)
		}
		for _, w := range want {
			if !slices.Contains(changed, w) {
				t.Errorf("changed %q, want %q among them", changed, w)
			}
		}
	}
	ip6 := xlattest.IPv6(labClient6, labVia6, layers.IPProtocolUDP)
	datagram := xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), ip6, xlattest.UDP(5000, 7, ip6), xlattest.Payload(32))
	ip4 := xlattest.IPv4(labServer4, labClient6v4, layers.IPProtocolUDP)
	answer := xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeIPv4), ip4, xlattest.UDP(7, 5000, ip4), xlattest.Payload(32))
	isUDP := func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeUDP) != nil }
	counter := func(c dataplane.Counter, want uint64) {
		t.Helper()
		var got uint64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got = l.d.Counters()[c]; got == want {
				return
			}
		}
		t.Fatalf("%s = %d, want %d", c, got, want)
	}

	// Before: the client's datagram crosses (once the server answers ARP).
	l.send(t, l.peer6, datagram)
	l.expect(t, l.peer4, "ARP request for the server", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeARP) != nil })
	l.send(t, l.peer4, xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 2,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: mac4[:], DstProtAddress: xlattest.IP("192.0.2.1").To4()}))
	l.expect(t, l.peer4, "the translated datagram", isUDP)

	// The client is left out of clients: its next datagram is refused with
	// ICMPv6 1/1, and the server's answer to it is dropped.
	reload(`clients: ["2001:db8:6::80"]`+"\n", "clients: [] -> [2001:db8:6::80/128]")
	l.send(t, l.peer6, datagram)
	l.expect(t, l.peer6, "ICMPv6 administratively prohibited", func(p gopacket.Packet) bool {
		ic, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		return ok && ic.TypeCode == layers.CreateICMPv6TypeCode(1, 1)
	})
	counter(dataplane.Reply(xlat.ReasonClientSrc6), 1)
	l.send(t, l.peer4, answer)
	counter(dataplane.Drop(xlat.ReasonClientDst6), 1)

	// The client's /64 is allowed again, the server denied, refusals
	// dropped silently.
	reload("clients: [\"2001:db8:6::/64\"]\nclients-refusal: drop\ndenylist4: [192.0.2.2]\n",
		"clients: [2001:db8:6::80/128] -> [2001:db8:6::/64]", "clients-refusal: icmp -> drop", "denylist4: [] -> [192.0.2.2/32]")
	l.send(t, l.peer6, datagram)
	counter(dataplane.Drop(xlat.ReasonDenylistDst4), 1)
	l.send(t, l.peer4, answer)
	counter(dataplane.Drop(xlat.ReasonDenylistSrc4), 1)

	// Without the keys, the datagram crosses again.
	reload("", "clients: [2001:db8:6::/64] -> []", "denylist4: [192.0.2.2/32] -> []")
	l.send(t, l.peer6, datagram)
	l.expect(t, l.peer4, "the translated datagram", isUDP)
	if c := l.d.Counters(); c[dataplane.Reply(xlat.ReasonClientSrc6)] != 1 || c[dataplane.Drop(xlat.ReasonDenylistDst4)] != 1 {
		t.Errorf("counters after the last reload: %d %d", c[dataplane.Reply(xlat.ReasonClientSrc6)], c[dataplane.Drop(xlat.ReasonDenylistDst4)])
	}
}

package arpnd

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// ipFrame is an Ethernet frame with a bare IP header from src (IPv4 or
// IPv6) sent by mac.
func ipFrame(mac MAC, src netip.Addr) []byte {
	if src.Is4() {
		f := make([]byte, header.EthernetLen+20)
		header.Ethernet(f).Set(ourMAC, mac, header.EtherTypeIPv4)
		f[header.EthernetLen] = 0x45
		a := src.As4()
		copy(f[header.EthernetLen+12:], a[:])
		return f
	}
	f := make([]byte, header.EthernetLen+40)
	header.Ethernet(f).Set(ourMAC, mac, header.EtherTypeIPv6)
	f[header.EthernetLen] = 0x60
	a := src.As16()
	copy(f[header.EthernetLen+8:], a[:])
	return f
}

// hintTable is what ARP and ND share for TestHintARP and TestHintND.
type hintTable interface {
	Learn(f []byte, now time.Time)
	LearnHinted(h *Hint, f []byte, now time.Time)
	Cache() *Cache
}

// hintOps drives two copies of the same neighbor table through one random
// sequence of frames, resolutions, reconfigurations and timers: tables[0]
// is used with Hints, tables[1] without. After every step the hinted
// answers must be the plain ones.
type hintOps struct {
	t           *testing.T
	rng         *rand.Rand
	now         time.Time
	tables      [2]hintTable
	hosts, dsts []netip.Addr
	macs        []MAC
	// resolve resolves dst in tables[0] with h, or in tables[1] with
	// NextHop and Lookup if h is nil; reconfigure gives both tables the
	// k-th configuration.
	resolve     func(h *Hint, dst netip.Addr) ([16]byte, MAC, bool)
	reconfigure func(k int) error
}

func (o *hintOps) run(steps int) {
	t := o.t
	var learnHint, resolveHint Hint
	resolves, fast := 0, 0
	for i := 0; i < steps; i++ {
		switch o.rng.IntN(10) {
		case 0, 1, 2, 3: // a frame from a host; mostly the same host and MAC
			h, m := o.hosts[o.rng.IntN(len(o.hosts))], o.macs[o.rng.IntN(len(o.macs))]
			if o.rng.IntN(2) == 0 {
				h, m = o.hosts[0], o.macs[0]
			}
			f := ipFrame(m, h)
			o.tables[0].LearnHinted(&learnHint, f, t0)
			o.tables[1].Learn(f, t0)
			for _, a := range o.hosts {
				k := KeyAddr(a)
				m1, ok1 := o.tables[0].Cache().Lookup(k)
				m2, ok2 := o.tables[1].Cache().Lookup(k)
				if m1 != m2 || ok1 != ok2 {
					t.Fatalf("step %d: after a frame from %s (%s): %s is %v %v with hints, %v %v without", i, h, m, a, m1, ok1, m2, ok2)
				}
			}
		case 4, 5, 6, 7: // a destination
			d := o.dsts[o.rng.IntN(len(o.dsts))]
			if o.rng.IntN(2) == 0 {
				d = o.dsts[0]
			}
			k1, m1, ok1 := o.resolve(&resolveHint, d)
			k2, m2, ok2 := o.resolve(nil, d)
			if k1 != k2 || m1 != m2 || ok1 != ok2 {
				t.Fatalf("step %d: %s resolves to %s %v %v with a hint, %s %v %v without", i, d, keyAddr(k1), m1, ok1, keyAddr(k2), m2, ok2)
			}
			resolves++
			if ok1 {
				fast++
			}
		case 8:
			if err := o.reconfigure(o.rng.IntN(3)); err != nil {
				t.Fatal(err)
			}
		case 9:
			o.now = o.now.Add(time.Duration(o.rng.IntN(40)) * time.Second)
			for _, x := range o.tables {
				x.Cache().Tick(o.now)
			}
		}
	}
	if resolves == 0 || fast == 0 {
		t.Fatalf("%d resolutions, %d of a usable neighbor: the sequence tests nothing", resolves, fast)
	}
}

func TestHintARP(t *testing.T) {
	opts := func(k int) ARPOptions {
		o := ARPOptions{MAC: ourMAC, Addr: netip.MustParseAddr("192.0.2.1"),
			Subnet: netip.MustParsePrefix("192.0.2.0/24"), Gateway: netip.MustParseAddr("192.0.2.254")}
		switch k {
		case 1:
			o.Gateway = netip.MustParseAddr("192.0.2.3")
		case 2:
			o.Subnet = netip.MustParsePrefix("192.0.2.0/30") // .3 and .254 are off-link now
		}
		return o
	}
	var a [2]*ARP
	for i := range a {
		var err error
		if a[i], err = NewARP(opts(0), &sink{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	o := &hintOps{
		t: t, rng: rand.New(rand.NewPCG(1, 2)), now: t0, tables: [2]hintTable{a[0], a[1]},
		hosts: addrs("192.0.2.2", "192.0.2.3", "192.0.2.254", "203.0.113.5", "192.0.2.1"),
		dsts:  addrs("192.0.2.2", "192.0.2.3", "192.0.2.9", "203.0.113.5", "198.51.100.1"),
		macs:  []MAC{hostMAC, {0x02, 0, 0, 0, 0, 0x33}, {0x01, 0, 0x5e, 0, 0, 1}},
		resolve: func(h *Hint, dst netip.Addr) ([16]byte, MAC, bool) {
			if h != nil {
				return a[0].Resolve(h, dst.As4())
			}
			k := a[1].NextHop(dst.As4())
			m, ok := a[1].Cache().Lookup(k)
			return k, m, ok
		},
		reconfigure: func(k int) error { return errors.Join(a[0].Reconfigure(opts(k)), a[1].Reconfigure(opts(k))) },
	}
	o.run(5000)
}

func TestHintND(t *testing.T) {
	opts := func(k int) NDOptions {
		o := NDOptions{MAC: ourMAC, Addr: netip.MustParseAddr(ownIP),
			Subnets: []netip.Prefix{netip.MustParsePrefix("2001:db8:6::/64")}, Gateway: netip.MustParseAddr("fe80::1")}
		switch k {
		case 1:
			o.Gateway = netip.Addr{} // every destination on-link
		case 2:
			o.Gateway = netip.MustParseAddr("2001:db8:6::3")
			o.Subnets = []netip.Prefix{netip.MustParsePrefix("2001:db8:6::/127")}
		}
		return o
	}
	var n [2]*ND
	for i := range n {
		var err error
		if n[i], err = NewND(opts(0), &sink{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	o := &hintOps{
		t: t, rng: rand.New(rand.NewPCG(3, 4)), now: t0, tables: [2]hintTable{n[0], n[1]},
		hosts: addrs("2001:db8:6::2", "2001:db8:6::3", "fe80::1", "2001:db8:99::5", "ff02::1"),
		dsts:  addrs("2001:db8:6::2", "2001:db8:6::3", "fe80::1", "2001:db8:99::5", "2001:db8:6::9"),
		macs:  []MAC{hostMAC, {0x02, 0, 0, 0, 0, 0x33}, {0x33, 0x33, 0, 0, 0, 1}},
		resolve: func(h *Hint, dst netip.Addr) ([16]byte, MAC, bool) {
			if h != nil {
				return n[0].Resolve(h, dst.As16())
			}
			k := n[1].NextHop(dst.As16())
			m, ok := n[1].Cache().Lookup(k)
			return k, m, ok
		},
		reconfigure: func(k int) error { return errors.Join(n[0].Reconfigure(opts(k)), n[1].Reconfigure(opts(k))) },
	}
	o.run(5000)
}

func addrs(s ...string) []netip.Addr {
	var a []netip.Addr
	for _, x := range s {
		a = append(a, netip.MustParseAddr(x))
	}
	return a
}

package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nat64br/nat64br/bgp/bgptest"
)

func waitEstablished(t *testing.T, sp *Speaker, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		up := 0
		ss := sp.Sessions()
		for _, s := range ss {
			if s.Established() {
				up++
			}
		}
		if up == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions not established: %+v", ss)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	pfx6  = netip.MustParsePrefix("2001:db8:64::/96")
	pfx4  = netip.MustParsePrefix("198.51.100.0/28")
	pfx4b = netip.MustParsePrefix("203.0.113.0/28")
	nh6   = netip.MustParseAddr("2001:db8:1::64")
	nh4   = netip.MustParseAddr("198.51.100.64")
)

// TestSpeaker runs one speaker against two routers: one eBGP over IPv6
// carrying both families, one iBGP over IPv4. It checks what they get,
// withdrawal and announcement as health changes, a reload of the routes,
// and the withdrawal at Close.
func TestSpeaker(t *testing.T) {
	ebgp := bgptest.NewRouter(t, 64500, 64512, "::1")
	ibgp := bgptest.NewRouter(t, 64512, 64512, "127.0.0.1")
	sp, err := New(Options{ASN: 64512, RouterID: netip.MustParseAddr("198.51.100.64"), ConnectRetry: time.Second, Neighbors: []Neighbor{
		{Address: netip.MustParseAddr("::1"), ASN: 64500, HoldTime: 9 * time.Second, Families: []Family{IPv6Unicast, IPv4Unicast}, Port: uint16(ebgp.Port)},
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64512, HoldTime: 9 * time.Second, Families: []Family{IPv4Unicast, IPv6Unicast}, Port: uint16(ibgp.Port)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(context.Background()) })
	comm := []uint32{64512<<16 | 100}
	routes := []Route{
		{Prefix: pfx6, NextHop: nh6, Communities: []uint32{64512<<16 | 100, 64512<<16 | 200}, LocalPref: 200, HasLocalPref: true},
		{Prefix: pfx4, NextHop: nh4, Communities: comm},
	}
	if err := sp.SetRoutes(routes); err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, sp, 2)
	// Not healthy yet: nothing is announced.
	time.Sleep(200 * time.Millisecond)
	if rib := ebgp.RIB(); len(rib) != 0 {
		t.Fatalf("announced before healthy: %v", rib)
	}

	if err := sp.SetHealthy(true); err != nil {
		t.Fatal(err)
	}
	both := func(rib map[netip.Prefix]bgptest.Got) bool { return len(rib) == 2 }
	ebgp.WaitFor(2*time.Second, "eBGP routes", both)
	ibgp.WaitFor(2*time.Second, "iBGP routes", both)
	e, i := ebgp.RIB(), ibgp.RIB()
	// Third-party next hops, as given, over eBGP too: not the session's ::1.
	if e[pfx6].NextHop != nh6 || e[pfx4].NextHop != nh4 || i[pfx6].NextHop != nh6 || i[pfx4].NextHop != nh4 {
		t.Errorf("next hops: eBGP %v, iBGP %v", e, i)
	}
	if !slices.Equal(e[pfx6].Communities, routes[0].Communities) || !slices.Equal(e[pfx4].Communities, comm) {
		t.Errorf("communities: %v", e)
	}
	if !strings.Contains(e[pfx6].ASPath, "64512") {
		t.Errorf("eBGP AS path %q lacks 64512", e[pfx6].ASPath)
	}
	// LOCAL_PREF goes to iBGP only (GoBGP adds 100 where none is set).
	if e[pfx6].LocalPref != 0 || i[pfx6].LocalPref != 200 || i[pfx4].LocalPref != 100 {
		t.Errorf("local-pref: eBGP %v, iBGP %v", e, i)
	}
	if a := sp.Announced(); len(a) != 2 || a[0].Prefix != pfx4 || a[1].Prefix != pfx6 {
		t.Errorf("Announced = %v", a)
	}
	for _, s := range sp.Sessions() {
		if s.Sent != 2 || s.Uptime == "" {
			t.Errorf("session %+v: want 2 prefixes sent and an uptime", s)
		}
	}

	// Unhealthy: everything withdrawn within a second; the sessions stay.
	if err := sp.SetHealthy(false); err != nil {
		t.Fatal(err)
	}
	none := func(rib map[netip.Prefix]bgptest.Got) bool { return len(rib) == 0 }
	took := ebgp.WaitFor(time.Second, "withdrawal", none)
	ibgp.WaitFor(time.Second, "withdrawal", none)
	t.Logf("withdrawn at the router %v after health went false", took)
	if a := sp.Announced(); len(a) != 0 {
		t.Errorf("Announced after withdrawal = %v", a)
	}
	waitEstablished(t, sp, 2)

	// Healthy again: announced again.
	if err := sp.SetHealthy(true); err != nil {
		t.Fatal(err)
	}
	took = ebgp.WaitFor(time.Second, "announcement", both)
	t.Logf("announced at the router %v after health came back", took)

	// A reload: pool4 changes, the prefix's communities change.
	routes2 := []Route{{Prefix: pfx6, NextHop: nh6}, {Prefix: pfx4b, NextHop: nh4}}
	if err := sp.SetRoutes(routes2); err != nil {
		t.Fatal(err)
	}
	ebgp.WaitFor(time.Second, "the reloaded routes", func(rib map[netip.Prefix]bgptest.Got) bool {
		_, old := rib[pfx4]
		_, nw := rib[pfx4b]
		return len(rib) == 2 && !old && nw && rib[pfx6].Communities == nil
	})

	// Bad routes are refused.
	if err := sp.SetRoutes([]Route{{Prefix: pfx6, NextHop: nh4}}); err == nil {
		t.Error("an IPv6 prefix with an IPv4 next hop was accepted")
	}

	// Close withdraws and ends the sessions.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sp.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ebgp.WaitFor(time.Second, "withdrawal at close", none)
	if err := sp.SetHealthy(true); err != ErrClosed {
		t.Errorf("SetHealthy after Close: %v, want ErrClosed", err)
	}
}

// TestNeighborsReload adds and removes a neighbor on a running speaker.
func TestNeighborsReload(t *testing.T) {
	r := bgptest.NewRouter(t, 64500, 64512, "127.0.0.1")
	sp, err := New(Options{ASN: 64512, RouterID: netip.MustParseAddr("198.51.100.64"), ConnectRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(context.Background()) })
	sp.SetRoutes([]Route{{Prefix: pfx4, NextHop: nh4}})
	sp.SetHealthy(true)
	n := Neighbor{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64500, HoldTime: 9 * time.Second, Port: uint16(r.Port)}
	if err := sp.SetNeighbors([]Neighbor{n}, time.Second); err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, sp, 1)
	r.WaitFor(time.Second, "the route to the added neighbor", func(rib map[netip.Prefix]bgptest.Got) bool { return rib[pfx4].NextHop == nh4 })
	if err := sp.SetNeighbors(nil, time.Second); err != nil {
		t.Fatal(err)
	}
	if ss := sp.Sessions(); len(ss) != 0 {
		t.Errorf("sessions after removing the neighbor: %+v", ss)
	}
	r.WaitFor(2*time.Second, "the removed neighbor's routes gone", func(rib map[netip.Prefix]bgptest.Got) bool { return len(rib) == 0 })
}

func TestNewErrors(t *testing.T) {
	for _, o := range []Options{
		{RouterID: netip.MustParseAddr("192.0.2.1")},
		{ASN: 1, RouterID: netip.MustParseAddr("2001:db8::1")},
	} {
		if sp, err := New(o); err == nil {
			sp.Close(context.Background())
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	if got := fmt.Sprint(IPv4Unicast, IPv6Unicast); got != "ipv4-unicast ipv6-unicast" {
		t.Errorf("families print as %q", got)
	}
}

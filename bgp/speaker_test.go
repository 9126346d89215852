package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// router is an in-process GoBGP playing the operator's router: it listens
// on loopback and waits for the speaker's session (passive).
type router struct {
	t    *testing.T
	s    *server.BgpServer
	port int
}

// newRouter starts a router of AS asn on host (127.0.0.1 or ::1), peering
// with the speaker coming from the same host address.
func newRouter(t *testing.T, asn uint32, host string) *router {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no loopback %s: %v", host, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := server.NewBgpServer()
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: asn, RouterId: "192.0.2.254", ListenPort: int32(port), ListenAddresses: []string{host}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: host, PeerAsn: 64512},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
	}
	for _, afi := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}})
	}
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
		t.Fatal(err)
	}
	return &router{t: t, s: s, port: port}
}

// got is a route as the router received it.
type got struct {
	nextHop     netip.Addr
	communities []uint32
	localPref   uint32 // 0: none
	asPath      string
}

// rib returns the router's routes of both families.
func (r *router) rib() map[netip.Prefix]got {
	out := map[netip.Prefix]got{}
	for _, fam := range []gbgp.Family{gbgp.RF_IPv4_UC, gbgp.RF_IPv6_UC} {
		err := r.s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam}, func(n gbgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				var g got
				for _, a := range p.Attrs {
					switch a := a.(type) {
					case *gbgp.PathAttributeNextHop:
						g.nextHop = a.Value
					case *gbgp.PathAttributeMpReachNLRI:
						g.nextHop = a.Nexthop
					case *gbgp.PathAttributeCommunities:
						g.communities = a.Value
					case *gbgp.PathAttributeLocalPref:
						g.localPref = a.Value
					case *gbgp.PathAttributeAsPath:
						g.asPath = a.String()
					}
				}
				out[netip.MustParsePrefix(n.String())] = g
			}
		})
		if err != nil {
			r.t.Fatal(err)
		}
	}
	return out
}

// waitFor polls the router until ok holds of its routes, for at most d,
// and returns how long that took.
func (r *router) waitFor(d time.Duration, what string, ok func(map[netip.Prefix]got) bool) time.Duration {
	r.t.Helper()
	start := time.Now()
	for {
		rib := r.rib()
		if ok(rib) {
			return time.Since(start)
		}
		if time.Since(start) > d {
			r.t.Fatalf("after %v: %s: the router has %v", d, what, rib)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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
	ebgp := newRouter(t, 64500, "::1")
	ibgp := newRouter(t, 64512, "127.0.0.1")
	sp, err := New(Options{ASN: 64512, RouterID: netip.MustParseAddr("198.51.100.64"), ConnectRetry: time.Second, Neighbors: []Neighbor{
		{Address: netip.MustParseAddr("::1"), ASN: 64500, HoldTime: 9 * time.Second, Families: []Family{IPv6Unicast, IPv4Unicast}, Port: uint16(ebgp.port)},
		{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64512, HoldTime: 9 * time.Second, Families: []Family{IPv4Unicast, IPv6Unicast}, Port: uint16(ibgp.port)},
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
	if rib := ebgp.rib(); len(rib) != 0 {
		t.Fatalf("announced before healthy: %v", rib)
	}

	if err := sp.SetHealthy(true); err != nil {
		t.Fatal(err)
	}
	both := func(rib map[netip.Prefix]got) bool { return len(rib) == 2 }
	ebgp.waitFor(2*time.Second, "eBGP routes", both)
	ibgp.waitFor(2*time.Second, "iBGP routes", both)
	e, i := ebgp.rib(), ibgp.rib()
	// Third-party next hops, as given, over eBGP too: not the session's ::1.
	if e[pfx6].nextHop != nh6 || e[pfx4].nextHop != nh4 || i[pfx6].nextHop != nh6 || i[pfx4].nextHop != nh4 {
		t.Errorf("next hops: eBGP %v, iBGP %v", e, i)
	}
	if !slices.Equal(e[pfx6].communities, routes[0].Communities) || !slices.Equal(e[pfx4].communities, comm) {
		t.Errorf("communities: %v", e)
	}
	if !strings.Contains(e[pfx6].asPath, "64512") {
		t.Errorf("eBGP AS path %q lacks 64512", e[pfx6].asPath)
	}
	// LOCAL_PREF goes to iBGP only (GoBGP adds 100 where none is set).
	if e[pfx6].localPref != 0 || i[pfx6].localPref != 200 || i[pfx4].localPref != 100 {
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
	none := func(rib map[netip.Prefix]got) bool { return len(rib) == 0 }
	took := ebgp.waitFor(time.Second, "withdrawal", none)
	ibgp.waitFor(time.Second, "withdrawal", none)
	t.Logf("withdrawn at the router %v after health went false", took)
	if a := sp.Announced(); len(a) != 0 {
		t.Errorf("Announced after withdrawal = %v", a)
	}
	waitEstablished(t, sp, 2)

	// Healthy again: announced again.
	if err := sp.SetHealthy(true); err != nil {
		t.Fatal(err)
	}
	took = ebgp.waitFor(time.Second, "announcement", both)
	t.Logf("announced at the router %v after health came back", took)

	// A reload: pool4 changes, the prefix's communities change.
	routes2 := []Route{{Prefix: pfx6, NextHop: nh6}, {Prefix: pfx4b, NextHop: nh4}}
	if err := sp.SetRoutes(routes2); err != nil {
		t.Fatal(err)
	}
	ebgp.waitFor(time.Second, "the reloaded routes", func(rib map[netip.Prefix]got) bool {
		_, old := rib[pfx4]
		_, nw := rib[pfx4b]
		return len(rib) == 2 && !old && nw && rib[pfx6].communities == nil
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
	ebgp.waitFor(time.Second, "withdrawal at close", none)
	if err := sp.SetHealthy(true); err != ErrClosed {
		t.Errorf("SetHealthy after Close: %v, want ErrClosed", err)
	}
}

// TestNeighborsReload adds and removes a neighbor on a running speaker.
func TestNeighborsReload(t *testing.T) {
	r := newRouter(t, 64500, "127.0.0.1")
	sp, err := New(Options{ASN: 64512, RouterID: netip.MustParseAddr("198.51.100.64"), ConnectRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(context.Background()) })
	sp.SetRoutes([]Route{{Prefix: pfx4, NextHop: nh4}})
	sp.SetHealthy(true)
	n := Neighbor{Address: netip.MustParseAddr("127.0.0.1"), ASN: 64500, HoldTime: 9 * time.Second, Port: uint16(r.port)}
	if err := sp.SetNeighbors([]Neighbor{n}, time.Second); err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, sp, 1)
	r.waitFor(time.Second, "the route to the added neighbor", func(rib map[netip.Prefix]got) bool { return rib[pfx4].nextHop == nh4 })
	if err := sp.SetNeighbors(nil, time.Second); err != nil {
		t.Fatal(err)
	}
	if ss := sp.Sessions(); len(ss) != 0 {
		t.Errorf("sessions after removing the neighbor: %+v", ss)
	}
	r.waitFor(2*time.Second, "the removed neighbor's routes gone", func(rib map[netip.Prefix]got) bool { return len(rib) == 0 })
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

// Package bgptest is a BGP router for tests: an in-process GoBGP on
// loopback that takes the sessions of a speaker under test and shows
// what it received.
package bgptest

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Router plays the operator's router: it listens on loopback and waits
// for the speaker's session (passive), carrying IPv4 and IPv6 unicast.
type Router struct {
	t    testing.TB
	s    *server.BgpServer
	Port int // the TCP port it listens on
}

// NewRouter starts a router of AS asn on host (127.0.0.1 or ::1) that
// peers with a speaker of AS peerASN coming from the same host address.
// It stops at the end of the test; without the loopback address, the
// test is skipped.
func NewRouter(t testing.TB, asn, peerASN uint32, host string) *Router {
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
	g := &api.Global{Asn: asn, RouterId: "192.0.2.254", ListenPort: int32(port), ListenAddresses: []string{host}}
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: host, PeerAsn: peerASN},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
	}
	for _, afi := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}})
	}
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
		t.Fatal(err)
	}
	return &Router{t: t, s: s, Port: port}
}

// Got is a route as the router received it.
type Got struct {
	NextHop     netip.Addr
	Communities []uint32
	LocalPref   uint32 // 0: none
	ASPath      string
}

// RIB returns the router's routes of both families.
func (r *Router) RIB() map[netip.Prefix]Got {
	out := map[netip.Prefix]Got{}
	for _, fam := range []gbgp.Family{gbgp.RF_IPv4_UC, gbgp.RF_IPv6_UC} {
		err := r.s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam}, func(n gbgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				var g Got
				for _, a := range p.Attrs {
					switch a := a.(type) {
					case *gbgp.PathAttributeNextHop:
						g.NextHop = a.Value
					case *gbgp.PathAttributeMpReachNLRI:
						g.NextHop = a.Nexthop
					case *gbgp.PathAttributeCommunities:
						g.Communities = a.Value
					case *gbgp.PathAttributeLocalPref:
						g.LocalPref = a.Value
					case *gbgp.PathAttributeAsPath:
						g.ASPath = a.String()
					}
				}
				if pfx, err := netip.ParsePrefix(n.String()); err == nil {
					out[pfx] = g
				}
			}
		})
		if err != nil {
			r.t.Fatal(err)
		}
	}
	return out
}

// WaitFor polls the router until ok holds of its routes, for at most d
// (five times d under the race detector), and returns how long that
// took; after that the test fails, naming what.
func (r *Router) WaitFor(d time.Duration, what string, ok func(map[netip.Prefix]Got) bool) time.Duration {
	r.t.Helper()
	d *= slowdown
	start := time.Now()
	for {
		rib := r.RIB()
		if ok(rib) {
			return time.Since(start)
		}
		if time.Since(start) > d {
			r.t.Fatalf("after %v: %s: the router has %v", d, what, rib)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

//go:build !nobgp

package main

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/nat64br/nat64br/bgp"
	"github.com/nat64br/nat64br/config"
)

// bgpBuilt says whether this binary has the BGP speaker (not built with
// the nobgp tag).
const bgpBuilt = true

// bgpConnectRetry is the wait between attempts to open a session.
const bgpConnectRetry = 5 * time.Second

// gobgp is the speaker of a nat64br built with BGP: GoBGP through the bgp
// package.
type gobgp struct{ sp *bgp.Speaker }

// newSpeaker starts the speaker cfg.BGP describes, with its routes set and
// nothing announced until the health gate says so.
func newSpeaker(log *slog.Logger, cfg *config.Config) (speaker, error) {
	b := cfg.BGP
	sp, err := bgp.New(bgp.Options{ASN: b.ASN, RouterID: b.RouterID, ListenPort: b.ListenPort, ConnectRetry: bgpConnectRetry,
		Neighbors: bgpNeighbors(b), Log: log.With("component", "bgp")})
	if err != nil {
		return nil, err
	}
	if err := sp.SetRoutes(bgpRoutes(cfg)); err != nil {
		sp.Close(context.Background())
		return nil, err
	}
	return gobgp{sp}, nil
}

func bgpNeighbors(b *config.BGP) []bgp.Neighbor {
	var out []bgp.Neighbor
	for _, n := range b.Neighbors {
		x := bgp.Neighbor{Address: n.Address, ASN: n.ASN, Password: n.Password, HoldTime: n.HoldTime, LocalAddress: n.LocalAddress}
		for _, f := range n.Families {
			if f == config.BGPIPv4Unicast {
				x.Families = append(x.Families, bgp.IPv4Unicast)
			} else {
				x.Families = append(x.Families, bgp.IPv6Unicast)
			}
		}
		out = append(out, x)
	}
	return out
}

// bgpRoutes are the announcements cfg derives (config.Announcements),
// with their next hops, ipv6-addr (or the address ND answers for without
// it) and ipv4-addr, and the section's attributes plus the announce
// entry's.
func bgpRoutes(cfg *config.Config) []bgp.Route {
	b := cfg.BGP
	nh6 := bgpNextHop6(cfg)
	v6, v4 := cfg.Announcements()
	var out []bgp.Route
	for _, p := range append(v6, v4...) {
		r := bgp.Route{Prefix: p, NextHop: nh6, Communities: slices.Clone(b.Communities), LocalPref: b.LocalPref, HasLocalPref: b.HasLocalPref}
		if p.Addr().Is4() {
			r.NextHop = cfg.IPv4Addr
		}
		for _, a := range b.Announce {
			if a.Prefix == p {
				for _, c := range a.Communities {
					if !slices.Contains(r.Communities, c) {
						r.Communities = append(r.Communities, c)
					}
				}
				if a.HasLocalPref {
					r.LocalPref, r.HasLocalPref = a.LocalPref, true
				}
			}
		}
		out = append(out, r)
	}
	return out
}

func (g gobgp) setHealthy(ok bool) error { return g.sp.SetHealthy(ok) }

func (g gobgp) drain() error {
	return g.sp.KeepOnly(func(r bgp.Route) bool { return r.Prefix.Addr().Is4() })
}

func (g gobgp) reconfigure(cfg *config.Config) error {
	if err := g.sp.SetNeighbors(bgpNeighbors(cfg.BGP), bgpConnectRetry); err != nil {
		return err
	}
	return g.sp.SetRoutes(bgpRoutes(cfg))
}

func (g gobgp) report() ([]bgpSession, []bgpRoute) {
	var ss []bgpSession
	for _, s := range g.sp.Sessions() {
		ss = append(ss, bgpSession{Neighbor: s.Neighbor, ASN: s.ASN, State: s.State, Uptime: s.Uptime, Sent: s.Sent, Received: s.Received})
	}
	var rs []bgpRoute
	for _, r := range g.sp.Announced() {
		f := bgp.IPv6Unicast
		if r.Prefix.Addr().Is4() {
			f = bgp.IPv4Unicast
		}
		rs = append(rs, bgpRoute{Prefix: r.Prefix.String(), Family: f.String(), NextHop: r.NextHop.String()})
	}
	return ss, rs
}

func (g gobgp) close(ctx context.Context) error { return g.sp.Close(ctx) }

package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Family is an address family a session carries.
type Family uint8

// Address families.
const (
	_ Family = iota
	IPv4Unicast
	IPv6Unicast
)

func (f Family) String() string {
	switch f {
	case IPv4Unicast:
		return "ipv4-unicast"
	case IPv6Unicast:
		return "ipv6-unicast"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// Neighbor is one BGP peer.
type Neighbor struct {
	Address      netip.Addr
	ASN          uint32
	Password     string        // TCP MD5 (RFC 2385); "" for none
	HoldTime     time.Duration // whole seconds, at least 3 s; 0: 90 s. Keepalives every third of it
	LocalAddress netip.Addr    // the host's address the session runs from; invalid: the kernel's choice
	Families     []Family      // empty: the family of Address
	Port         uint16        // the neighbor's TCP port; 0: 179
}

// Route is one announcement.
type Route struct {
	Prefix       netip.Prefix
	NextHop      netip.Addr // of the prefix's family
	Communities  []uint32   // RFC 1997, ASN<<16 | value
	LocalPref    uint32     // with HasLocalPref; sent to iBGP neighbors only
	HasLocalPref bool
}

func (r Route) equal(o Route) bool {
	return r.Prefix == o.Prefix && r.NextHop == o.NextHop && slices.Equal(r.Communities, o.Communities) &&
		r.HasLocalPref == o.HasLocalPref && r.LocalPref == o.LocalPref
}

// Options configure a Speaker.
type Options struct {
	ASN        uint32
	RouterID   netip.Addr // IPv4
	ListenPort int        // 0: do not listen (open the sessions only); else the TCP port to accept sessions on too
	// ListenAddresses bound the listening socket; empty: every address.
	ListenAddresses []netip.Addr
	// ConnectRetry is the wait between attempts to open a session; 0: 5 s.
	ConnectRetry time.Duration
	Neighbors    []Neighbor
	Log          *slog.Logger // GoBGP's messages and the speaker's; nil: none
}

// Session is the state of one neighbor's session.
type Session struct {
	Neighbor string    `json:"neighbor"`
	ASN      uint32    `json:"asn"`
	State    string    `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Since    time.Time `json:"since,omitzero"`
	Uptime   string    `json:"uptime,omitempty"` // while established
	Sent     uint64    `json:"prefixes_sent"`
	Received uint64    `json:"prefixes_received"`
}

// Established reports whether the session is up.
func (s Session) Established() bool { return s.State == "established" }

// ErrClosed is returned by the methods of a closed Speaker.
var ErrClosed = errors.New("bgp: speaker closed")

// Speaker announces routes while it is healthy. Its methods may be called
// from any goroutine.
type Speaker struct {
	log *slog.Logger
	s   *server.BgpServer

	mu        sync.Mutex
	closed    bool
	healthy   bool
	routes    map[netip.Prefix]Route // what to announce while healthy
	announced map[netip.Prefix]Route // what GoBGP announces now
	neighbors map[netip.Addr]Neighbor
}

// New starts a speaker that opens its sessions at once and announces
// nothing until SetRoutes and SetHealthy(true).
func New(opts Options) (*Speaker, error) {
	if opts.ASN == 0 {
		return nil, errors.New("bgp: the local AS is 0")
	}
	if !opts.RouterID.Is4() {
		return nil, fmt.Errorf("bgp: router ID %v is not an IPv4 address", opts.RouterID)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sp := &Speaker{log: log, routes: map[netip.Prefix]Route{}, announced: map[netip.Prefix]Route{}, neighbors: map[netip.Addr]Neighbor{}}
	sp.s = server.NewBgpServer(server.LoggerOption(log, nil))
	go sp.s.Serve()
	port := int32(opts.ListenPort)
	if port == 0 {
		port = -1 // GoBGP's "do not listen"
	}
	g := &api.Global{Asn: opts.ASN, RouterId: opts.RouterID.String(), ListenPort: port}
	for _, a := range opts.ListenAddresses {
		g.ListenAddresses = append(g.ListenAddresses, a.String())
	}
	ctx := context.Background()
	if err := sp.s.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		sp.s.Stop()
		return nil, fmt.Errorf("bgp: %w", err)
	}
	retry := opts.ConnectRetry
	if retry <= 0 {
		retry = 5 * time.Second
	}
	err := sp.s.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnPeerUpdate: sp.peerEvent}, server.WatchPeer())
	if err != nil {
		sp.s.Stop()
		return nil, fmt.Errorf("bgp: %w", err)
	}
	for _, n := range opts.Neighbors {
		if err := sp.s.AddPeer(ctx, &api.AddPeerRequest{Peer: peer(n, retry)}); err != nil {
			sp.s.Stop()
			return nil, fmt.Errorf("bgp: neighbor %s: %w", n.Address, err)
		}
		sp.neighbors[n.Address] = n
	}
	return sp, nil
}

// peerEvent logs each session's state changes.
func (sp *Speaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	p := ev.Peer
	st := stateName(p.State.SessionState)
	attrs := []any{"neighbor", p.State.NeighborAddress.String(), "asn", p.State.PeerASN, "state", st}
	if st == "established" {
		sp.log.Info("BGP session established", attrs...)
		return
	}
	if p.State.DisconnectMessage != "" {
		attrs = append(attrs, "reason", p.State.DisconnectMessage)
	}
	sp.log.Info("BGP session state", attrs...)
}

// peer maps n to GoBGP's configuration.
func peer(n Neighbor, retry time.Duration) *api.Peer {
	hold := uint64(n.HoldTime / time.Second)
	if hold == 0 {
		hold = 90
	}
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN, AuthPassword: n.Password},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: hold, KeepaliveInterval: max(hold/3, 1), ConnectRetry: uint64(max(retry/time.Second, 1))}},
		Transport: &api.Transport{RemotePort: uint32(n.Port)},
	}
	if n.LocalAddress.IsValid() {
		p.Transport.LocalAddress = n.LocalAddress.String()
	}
	fams := n.Families
	if len(fams) == 0 {
		fams = []Family{IPv6Unicast}
		if n.Address.Is4() {
			fams = []Family{IPv4Unicast}
		}
	}
	for _, f := range fams {
		afi := api.Family_AFI_IP
		if f == IPv6Unicast {
			afi = api.Family_AFI_IP6
		}
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}})
	}
	return p
}

// SetRoutes sets what the speaker announces while healthy: new routes
// are announced, changed ones announced again, missing ones withdrawn.
func (sp *Speaker) SetRoutes(routes []Route) error {
	m := make(map[netip.Prefix]Route, len(routes))
	for _, r := range routes {
		if !r.Prefix.IsValid() || r.Prefix.Addr().Is4() != r.NextHop.Is4() || !r.NextHop.IsValid() {
			return fmt.Errorf("bgp: route %s: next hop %v is not of the prefix's family", r.Prefix, r.NextHop)
		}
		m[r.Prefix] = r
	}
	return sp.update(func() { sp.routes = m })
}

// KeepOnly withdraws the routes keep refuses and forgets them: a later
// SetHealthy(true) does not announce them again (until SetRoutes).
func (sp *Speaker) KeepOnly(keep func(Route) bool) error {
	return sp.update(func() {
		for p, r := range sp.routes {
			if !keep(r) {
				delete(sp.routes, p)
			}
		}
	})
}

// SetHealthy announces the routes (true) or withdraws them all (false).
func (sp *Speaker) SetHealthy(ok bool) error {
	return sp.update(func() { sp.healthy = ok })
}

// update applies change to the speaker's state under its lock, then
// syncs GoBGP's announcements.
func (sp *Speaker) update(change func()) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return ErrClosed
	}
	change()
	return sp.sync()
}

// sync makes GoBGP's announcements what routes and healthy say. sp.mu is
// held.
func (sp *Speaker) sync() error {
	var errs []error
	for p, r := range sp.announced {
		if want, ok := sp.routes[p]; sp.healthy && ok && want.equal(r) {
			continue
		}
		if err := sp.s.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{path(r)}}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: withdraw %s: %w", p, err))
			continue
		}
		delete(sp.announced, p)
	}
	if !sp.healthy {
		return errors.Join(errs...)
	}
	for p, r := range sp.routes {
		if _, ok := sp.announced[p]; ok {
			continue
		}
		if _, err := sp.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path(r)}}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: announce %s: %w", p, err))
			continue
		}
		sp.announced[p] = r
	}
	return errors.Join(errs...)
}

// path is r as GoBGP's locally originated path.
func path(r Route) *apiutil.Path {
	nlri, _ := gbgp.NewIPAddrPrefix(r.Prefix) // valid: SetRoutes checked it
	fam := gbgp.RF_IPv6_UC
	var nh gbgp.PathAttributeInterface
	if r.Prefix.Addr().Is4() {
		fam = gbgp.RF_IPv4_UC
		nh, _ = gbgp.NewPathAttributeNextHop(r.NextHop)
	} else {
		nh, _ = gbgp.NewPathAttributeMpReachNLRI(fam, []gbgp.PathNLRI{{NLRI: nlri}}, r.NextHop)
	}
	attrs := []gbgp.PathAttributeInterface{gbgp.NewPathAttributeOrigin(gbgp.BGP_ORIGIN_ATTR_TYPE_IGP), nh}
	if len(r.Communities) > 0 {
		attrs = append(attrs, gbgp.NewPathAttributeCommunities(r.Communities))
	}
	if r.HasLocalPref {
		attrs = append(attrs, gbgp.NewPathAttributeLocalPref(r.LocalPref))
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs}
}

// Announced returns the routes announced now, by prefix.
func (sp *Speaker) Announced() []Route {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	out := make([]Route, 0, len(sp.announced))
	for _, r := range sp.announced {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Prefix, out[j].Prefix
		if a.Addr() != b.Addr() {
			return a.Addr().Less(b.Addr())
		}
		return a.Bits() < b.Bits()
	})
	return out
}

// Healthy reports what SetHealthy last said.
func (sp *Speaker) Healthy() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.healthy
}

// Sessions returns the state of each neighbor's session, by address.
func (sp *Speaker) Sessions() []Session {
	var out []Session
	err := sp.s.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		s := Session{State: "unknown"}
		if p.Conf != nil {
			s.Neighbor, s.ASN = p.Conf.NeighborAddress, p.Conf.PeerAsn
		}
		if p.State != nil {
			s.State = stateName(p.State.SessionState)
		}
		if p.Timers != nil && p.Timers.State != nil {
			if t := p.Timers.State.Uptime; s.Established() && t != nil && t.Seconds > 0 {
				s.Since = t.AsTime()
				s.Uptime = time.Since(s.Since).Round(time.Second).String()
			} else if t := p.Timers.State.Downtime; t != nil && t.Seconds > 0 {
				s.Since = t.AsTime()
			}
		}
		for _, a := range p.AfiSafis {
			if a.State != nil {
				s.Sent += a.State.Advertised
				s.Received += a.State.Received
			}
		}
		out = append(out, s)
	})
	if err != nil {
		sp.log.Debug("cannot list the BGP sessions", "err", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Neighbor < out[j].Neighbor })
	return out
}

// stateName is a GoBGP session state (its API's or its FSM's) as RFC
// 4271 §8.2.2 names it: idle, connect, active, opensent, openconfirm,
// established.
func stateName(s fmt.Stringer) string {
	n := s.String()
	for _, p := range []string{"SESSION_STATE_", "BGP_FSM_"} {
		if strings.HasPrefix(n, p) {
			return strings.ToLower(strings.TrimPrefix(n, p))
		}
	}
	return "unknown"
}

// SetNeighbors adds the neighbors that are new, removes the ones that are
// gone, and updates the ones that changed (GoBGP resets their session).
func (sp *Speaker) SetNeighbors(ns []Neighbor, connectRetry time.Duration) error {
	if connectRetry <= 0 {
		connectRetry = 5 * time.Second
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return ErrClosed
	}
	ctx := context.Background()
	want := map[netip.Addr]Neighbor{}
	for _, n := range ns {
		want[n.Address] = n
	}
	var errs []error
	for a := range sp.neighbors {
		if _, ok := want[a]; !ok {
			if err := sp.s.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
				errs = append(errs, fmt.Errorf("bgp: remove neighbor %s: %w", a, err))
				continue
			}
			delete(sp.neighbors, a)
		}
	}
	for a, n := range want {
		old, ok := sp.neighbors[a]
		switch {
		case !ok:
			if err := sp.s.AddPeer(ctx, &api.AddPeerRequest{Peer: peer(n, connectRetry)}); err != nil {
				errs = append(errs, fmt.Errorf("bgp: add neighbor %s: %w", a, err))
				continue
			}
		case !neighborEqual(old, n):
			// GoBGP's UpdatePeer does not apply every field (the
			// password, the local address): replace the peer.
			if err := sp.s.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
				errs = append(errs, fmt.Errorf("bgp: update neighbor %s: %w", a, err))
				continue
			}
			if err := sp.s.AddPeer(ctx, &api.AddPeerRequest{Peer: peer(n, connectRetry)}); err != nil {
				delete(sp.neighbors, a)
				errs = append(errs, fmt.Errorf("bgp: update neighbor %s: %w", a, err))
				continue
			}
		}
		sp.neighbors[a] = n
	}
	return errors.Join(errs...)
}

func neighborEqual(a, b Neighbor) bool {
	return a.Address == b.Address && a.ASN == b.ASN && a.Password == b.Password && a.HoldTime == b.HoldTime &&
		a.LocalAddress == b.LocalAddress && slices.Equal(a.Families, b.Families) && a.Port == b.Port
}

// Close withdraws every route, sends a Cease notification to each
// neighbor and stops the speaker; it waits at most until ctx is done.
func (sp *Speaker) Close(ctx context.Context) error {
	sp.mu.Lock()
	if sp.closed {
		sp.mu.Unlock()
		return nil
	}
	sp.healthy = false
	err := sp.sync()
	sp.closed = true
	sp.mu.Unlock()
	done := make(chan struct{})
	go func() {
		sp.s.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("bgp: stopping: %w", ctx.Err()))
	}
	return err
}

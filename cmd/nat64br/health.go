package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/nat64br/nat64br/config"
)

// The BGP speaker's health gate (issue 22): nat64br announces its
// prefixes only while it can translate, and withdraws them within a
// second when it cannot. bgp_on.go makes the speaker; bgp_off.go (the
// nobgp build tag) refuses a configuration with a bgp section.

// speaker is the runner's view of the BGP speaker.
type speaker interface {
	// setHealthy announces the derived routes (true) or withdraws them.
	setHealthy(ok bool) error
	// drain withdraws the IPv6 routes for good and keeps the IPv4 ones
	// (SIGTERM): new flows go to the other boxes, while the replies of
	// the flows established here still come back to the box whose pool4
	// slice holds their sessions.
	drain() error
	// reconfigure applies a reloaded configuration: routes and neighbors.
	reconfigure(cfg *config.Config) error
	// report returns the sessions and what is announced.
	report() ([]bgpSession, []bgpRoute)
	// close withdraws everything and stops the speaker, waiting at most
	// until ctx is done.
	close(ctx context.Context) error
}

// bgpSession is one neighbor's session in nat64br status.
type bgpSession struct {
	Neighbor string `json:"neighbor"`
	ASN      uint32 `json:"asn"`
	State    string `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Uptime   string `json:"uptime,omitempty"`
	Sent     uint64 `json:"prefixes_sent"`
	Received uint64 `json:"prefixes_received"`
}

// bgpRoute is one announced prefix in nat64br status.
type bgpRoute struct {
	Prefix  string `json:"prefix"`
	Family  string `json:"family"` // ipv4-unicast or ipv6-unicast
	NextHop string `json:"next_hop"`
}

// bgpStatus is the bgp part of nat64br status.
type bgpStatus struct {
	Healthy   bool         `json:"healthy"` // the routes are announced
	Reason    string       `json:"reason"`  // why not, or "translating"
	Since     time.Time    `json:"since"`   // of the health state
	Drain     string       `json:"drain"`
	Sessions  []bgpSession `json:"sessions"`
	Announced []bgpRoute   `json:"announced"`
}

// healthEvery is how often the health gate looks: a withdrawal reaches
// the routers within about this much (plus a few milliseconds of BGP).
const healthEvery = 200 * time.Millisecond

// gate decides what the speaker announces.
type gate struct {
	sp       speaker
	log      *slog.Logger
	health   func() string // why nat64br cannot translate now, or ""
	mu       sync.Mutex
	healthy  bool
	reason   string
	since    time.Time
	draining bool
	drained  bool // sp.drain done
	stop     chan struct{}
	done     chan struct{}
}

// startGate starts the health checker of sp: it asks health now and then
// every healthEvery until stopped.
func startGate(log *slog.Logger, sp speaker, health func() string) *gate {
	g := &gate{sp: sp, log: log, health: health, reason: "starting", since: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		t := time.NewTicker(healthEvery)
		defer t.Stop()
		for {
			g.check()
			select {
			case <-g.stop:
				return
			case <-t.C:
			}
		}
	}()
	return g
}

// check sets the speaker's health from r's, logging each transition with
// its reason.
func (g *gate) check() {
	reason := g.health()
	g.mu.Lock()
	defer g.mu.Unlock()
	ok := reason == ""
	if ok {
		reason = "translating"
		if g.draining {
			if !g.drained {
				if err := g.sp.drain(); err != nil {
					g.log.Error("BGP: cannot withdraw the IPv6 routes", "err", err)
					return // tried again at the next check
				}
				g.drained = true
				g.log.Info("BGP: draining: IPv6 routes withdrawn, IPv4 routes kept for the replies of established flows")
			}
			reason = drainingReason
		}
	}
	if ok == g.healthy && reason == g.reason {
		return
	}
	if err := g.sp.setHealthy(ok); err != nil {
		g.log.Error("BGP: cannot change the announcements", "healthy", ok, "err", err)
		return // tried again at the next check
	}
	if ok != g.healthy {
		if ok {
			g.log.Info("BGP: healthy, announcing", "reason", reason, "was", g.reason)
		} else {
			g.log.Warn("BGP: not healthy, routes withdrawn", "reason", reason)
		}
		g.since = time.Now()
	}
	g.healthy, g.reason = ok, reason
}

// drainingReason is the gate's reason while it drains: nat64br still
// translates and announces its IPv4 routes (healthy), not the IPv6 ones.
const drainingReason = "stopping: draining (IPv6 routes withdrawn, IPv4 routes kept for established flows)"

// drain withdraws the IPv6 routes for good and keeps the IPv4 ones while
// nat64br translates (SIGTERM).
func (g *gate) drain() {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
	g.check()
}

// close stops the checker.
func (g *gate) close() {
	close(g.stop)
	<-g.done
}

// status is the gate's part of nat64br status.
func (g *gate) status(drain time.Duration) *bgpStatus {
	g.mu.Lock()
	s := &bgpStatus{Healthy: g.healthy, Reason: g.reason, Since: g.since, Drain: drain.String()}
	g.mu.Unlock()
	s.Sessions, s.Announced = g.sp.report()
	if s.Sessions == nil {
		s.Sessions = []bgpSession{}
	}
	if s.Announced == nil {
		s.Announced = []bgpRoute{}
	}
	return s
}

// unhealthy says why nat64br cannot translate now, or "" when it can:
// both ports exist and are up, and the data plane makes progress (its
// timers tick, and each worker turns its loop or waits for frames). The
// configuration is loaded: the runner has one from start on, and a
// refused reload keeps it.
func (r *runner) unhealthy() string {
	for _, s := range r.portSides() {
		if r.ports[s] == nil {
			continue
		}
		if why := portDown(r.ports[s].Name()); why != "" {
			return why
		}
	}
	if err := r.alive(); err != nil {
		return "data plane stalled: " + err.Error()
	}
	return ""
}

// aliveEvery is the window of the data plane's liveness check, as
// dataplane.Plane.Alive asks: a second, ten of its timers' ticks. A
// shorter one withdrew the routes of a merely overloaded box (a race
// build on a loaded machine missed a tick in 500 ms); a stalled plane is
// withdrawn within one to two seconds, a port that goes down within
// healthEvery.
const aliveEvery = time.Second

// alive is dataplane.Plane.Alive asked at most every aliveEvery, and its
// last answer in between: Alive measures the progress since its previous
// call, so the health gate and systemd's watchdog share it.
func (r *runner) alive() error {
	r.aliveMu.Lock()
	defer r.aliveMu.Unlock()
	if now := time.Now(); now.Sub(r.aliveAt) >= aliveEvery {
		r.aliveErr, r.aliveAt = r.d.Alive(), now
	}
	return r.aliveErr
}

// portDown says why the interface name cannot carry frames, or "" when
// it can: its operational state is up, or unknown (drivers that report
// none) with the interface up and running.
func portDown(name string) string {
	st, err := operState(name)
	if err != nil {
		return fmt.Sprintf("port %s is gone", name)
	}
	switch st {
	case "up":
		return ""
	case "unknown":
		ifi, err := net.InterfaceByName(name)
		if err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0 {
			return ""
		}
		return fmt.Sprintf("port %s is not up and running", name)
	default:
		return fmt.Sprintf("port %s is %s", name, st)
	}
}

// bgpRestartNeeded says what of the bgp section a reload cannot apply,
// or "": adding or removing the section, the AS, the router ID and the
// listening port need a restart. Neighbors, communities, local-pref,
// announce and drain apply on reload.
func bgpRestartNeeded(old, cfg *config.Config) string {
	switch {
	case (old.BGP == nil) != (cfg.BGP == nil):
		return "adding or removing the bgp section needs a restart"
	case old.BGP == nil:
		return ""
	case old.BGP.ASN != cfg.BGP.ASN, old.BGP.RouterID != cfg.BGP.RouterID, old.BGP.ListenPort != cfg.BGP.ListenPort:
		return "bgp asn, router-id and listen-port change only with a restart"
	}
	return ""
}

// bgpNextHop6 is the next hop of the IPv6 announcements: ipv6-addr, or
// without it the address ND answers for (ipv4-addr inside the prefix).
func bgpNextHop6(cfg *config.Config) netip.Addr {
	if cfg.IPv6Addr.IsValid() || !cfg.IPv4Addr.IsValid() || !cfg.Prefix.IsValid() {
		return cfg.IPv6Addr
	}
	return embedded(cfg.Prefix, cfg.IPv4Addr)
}

// printBGPPlan writes what cfg's BGP speaker announces, and to whom, for
// check-config.
func printBGPPlan(w io.Writer, cfg *config.Config) {
	v6, v4 := cfg.Announcements()
	for _, p := range v6 {
		fmt.Fprintf(w, "BGP announces: %s next hop %s\n", p, bgpNextHop6(cfg))
	}
	for _, p := range v4 {
		fmt.Fprintf(w, "BGP announces: %s next hop %s\n", p, cfg.IPv4Addr)
	}
	for _, n := range cfg.BGP.Neighbors {
		fmt.Fprintf(w, "BGP neighbor: %s AS %d (%s), local AS %d\n", n.Address, n.ASN, joinFamilies(n.Families), cfg.BGP.ASN)
	}
}

func joinFamilies(fs []config.BGPFamily) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

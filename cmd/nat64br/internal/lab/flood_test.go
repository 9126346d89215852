package lab

import (
	"bytes"
	"context"
	"flag"
	"testing"
	"time"
)

var (
	nfloodSources  = flag.Int("flood.sources", 100000, "TestNeighborFlood: distinct on-link IPv6 sources")
	nfloodDuration = flag.Duration("flood.duration", 3500*time.Millisecond, "TestNeighborFlood: how long the flood lasts")
	nfloodRate     = flag.Int("flood.rate", 30000, "TestNeighborFlood: frames per second (0: as fast as the generator sends)")
	nfloodNS       = flag.Bool("flood.ns", false, "TestNeighborFlood: Neighbor Solicitations for nat64br's address instead of UDP")
	nfloodHTTP     = flag.Int64("flood.http", 5<<20, "TestNeighborFlood: bytes the IPv6 client downloads during the flood")
	nfloodLimits   = flag.Bool("flood.limits", true, "TestNeighborFlood: set limits.neighbors (4096) and check the learn counters (false: defaults, or a binary that predates the keys)")
	nfloodNat64br  = flag.String("flood.nat64br", "", "TestNeighborFlood: this nat64br binary instead of building one (to measure another version)")
	nfloodProfile  = flag.String("flood.profile", "", "TestNeighborFlood: nat64br writes a CPU profile here, and the report shows its top")
)

// TestNeighborFlood floods nat64br's IPv6 port with frames from distinct
// on-link sources (100,000 at 30,000 frames/s by default; sudo make flood
// runs 1,000,000 at the generator's full rate, and an NS flood) while the
// lab's client pings and downloads through it and a new client downloads
// from a server nat64br has not resolved yet. Each must get through, and
// learning must be rate-limited and the cache bounded (issue 23). It needs
// root, like TestLab.
func TestNeighborFlood(t *testing.T) {
	needLab(t)
	exe := *nfloodNat64br
	if exe == "" {
		exe = buildNat64br(t)
	}
	fo := &NeighborFloodOptions{Sources: *nfloodSources, Duration: *nfloodDuration, Rate: *nfloodRate, NS: *nfloodNS, Profile: *nfloodProfile}
	if *nfloodLimits {
		fo.Neighbors = 4096
	}
	opts := Options{HTTPBytes: *nfloodHTTP, HTTP6Bytes: 2 << 20, Nat64br: exe, NeighborFlood: fo, Config: nbrFloodConfig(fo)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+2*fo.Duration)
	defer cancel()
	rep, err := Run(ctx, "neighbor flood", opts)
	var out bytes.Buffer
	rep.Print(&out)
	t.Log(out.String())
	if left := leftNamespaces(t, rep.Namespaces()); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Error("a check failed")
	}
}

package lab

import (
	"bytes"
	"context"
	"flag"
	"testing"
	"time"
)

var (
	soakDuration = flag.Duration("soak.duration", time.Minute, "TestSoak: how long the traffic runs (make soak: 10m)")
	soakMode     = flag.String("soak.mode", "siit", "TestSoak: the lab's mode, siit or nat64 (stateful, pool4 and a port forward)")
)

// TestSoak runs the soak pass (soak.go): mixed traffic, malformed frames
// and reloads through nat64br for -soak.duration, then every frame read
// must be accounted for, per port, and the resident memory must have
// stayed flat after the warm-up. nat64br is built without the race
// detector, whose shadow memory would blur the memory figures. It needs
// root; CI runs as root.
func TestSoak(t *testing.T) {
	needLab(t)
	exe := buildNat64brRace(t, false)
	opts := Options{Soak: *soakDuration, Nat64br: exe}
	switch *soakMode {
	case "siit":
	case "nat64":
		opts.Stateful, opts.Config = "nat64", nat64Config
	default:
		t.Fatalf("-soak.mode %q: siit or nat64", *soakMode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *soakDuration+5*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, "soak ("+*soakMode+"): every frame accounted for", opts)
	var out bytes.Buffer
	rep.Print(&out)
	t.Logf("%s  (pass took %s)", out.String(), time.Since(start).Round(time.Second))
	if left := leftNamespaces(t, rep.Namespaces()); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	switch {
	case err != nil:
		t.Fatal(err)
	case !rep.OK():
		t.Error("a check failed")
	}
}

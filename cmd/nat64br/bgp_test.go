//go:build !nobgp

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nat64br/nat64br/bgp"
	"github.com/nat64br/nat64br/bgp/bgptest"
	"github.com/nat64br/nat64br/config"
)

const demoBGP = `bgp:
  asn: 64512
  drain: 300ms
  communities: ["64512:100"]
  local-pref: 150
  neighbors:
    - address: 127.0.0.1
      asn: 64500
      hold-time: 9s
      families: [ipv4-unicast, ipv6-unicast]
  announce:
    - prefix: 64:ff9b::/96
      communities: ["64512:200"]
`

func TestBGPRoutes(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(demoConfig+demoBGP))
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix
	want := []bgp.Route{
		{Prefix: p("64:ff9b::/96"), NextHop: cfg.IPv6Addr, Communities: []uint32{64512<<16 | 100, 64512<<16 | 200}, LocalPref: 150, HasLocalPref: true},
		{Prefix: p("192.0.2.6/32"), NextHop: cfg.IPv4Addr, Communities: []uint32{64512<<16 | 100}, LocalPref: 150, HasLocalPref: true},
		{Prefix: p("192.0.2.80/32"), NextHop: cfg.IPv4Addr, Communities: []uint32{64512<<16 | 100}, LocalPref: 150, HasLocalPref: true},
	}
	got := bgpRoutes(cfg)
	if len(got) != len(want) {
		t.Fatalf("routes = %+v\nwant %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Prefix != w.Prefix || g.NextHop != w.NextHop || !slices.Equal(g.Communities, w.Communities) || g.LocalPref != w.LocalPref || g.HasLocalPref != w.HasLocalPref {
			t.Errorf("route %d = %+v, want %+v", i, g, w)
		}
	}
	// Without ipv6-addr: the address ND answers for, ipv4-addr in the prefix.
	cfg.IPv6Addr = netip.Addr{}
	if nh := bgpRoutes(cfg)[0].NextHop; nh != netip.MustParseAddr("64:ff9b::c000:201") {
		t.Errorf("derived IPv6 next hop = %v", nh)
	}
}

// TestBGPGate runs the runner's health gate, status, metrics and drain
// with a real speaker and an in-process router on loopback.
func TestBGPGate(t *testing.T) {
	l := newMemLab(t)
	cfg, err := config.Parse("mem.yaml", []byte(demoConfig+demoBGP))
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newTestLog()
	r := &runner{log: log, cfg: cfg, d: l.d, started: time.Now()}
	router := bgptest.NewRouter(t, 64500, 64512, "127.0.0.1")
	ns := bgpNeighbors(cfg.BGP)
	ns[0].Port = uint16(router.Port)
	sp, err := bgp.New(bgp.Options{ASN: cfg.BGP.ASN, RouterID: cfg.BGP.RouterID, ConnectRetry: time.Second, Neighbors: ns, Log: r.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.SetRoutes(bgpRoutes(cfg)); err != nil {
		t.Fatal(err)
	}
	r.bgp = gobgp{sp}
	var down atomic.Pointer[string]
	// The health is the test's: the data plane's liveness, under the
	// race detector on a loaded machine, is not the subject here.
	r.gate = startGate(r.log, r.bgp, func() string {
		if why := down.Load(); why != nil {
			return *why
		}
		return ""
	})
	t.Cleanup(func() {
		r.gate.close()
		r.bgp.close(context.Background())
	})

	all := func(rib map[netip.Prefix]bgptest.Got) bool { return len(rib) == 3 }
	none := func(rib map[netip.Prefix]bgptest.Got) bool { return len(rib) == 0 }
	router.WaitFor(15*time.Second, "the announcements of a healthy nat64br, with their next hops and communities", func(rib map[netip.Prefix]bgptest.Got) bool {
		g6, g4 := rib[cfg.Prefix], rib[netip.MustParsePrefix("192.0.2.80/32")]
		return len(rib) == 3 && g6.NextHop == cfg.IPv6Addr && slices.Equal(g6.Communities, []uint32{64512<<16 | 100, 64512<<16 | 200}) && g4.NextHop == cfg.IPv4Addr
	})
	if strings.Contains(logs.String(), "not healthy") {
		t.Errorf("the gate withdrew a healthy nat64br:\n%s", logs.String())
	}

	// Status and metrics while announcing.
	st := r.status()
	if st.BGP == nil || !st.BGP.Healthy || len(st.BGP.Announced) != 3 || len(st.BGP.Sessions) != 1 || st.BGP.Sessions[0].State != "established" {
		t.Fatalf("status: %+v", st.BGP)
	}
	body, _ := json.Marshal(st)
	var text bytes.Buffer
	if err := ctlPrint("status", body, printOptions{}, &text, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"announcing (translating)", "127.0.0.1", "established", "64:ff9b::/96", "ipv6-unicast", "2001:db8:6::1"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("nat64br status has no %q:\n%s", s, text.String())
		}
	}
	want := `# HELP nat64br_bgp_healthy 1 while nat64br can translate and announces its prefixes with BGP, 0 while they are withdrawn.
# TYPE nat64br_bgp_healthy gauge
nat64br_bgp_healthy 1
# HELP nat64br_bgp_session_established 1 while the BGP session with the neighbor is established.
# TYPE nat64br_bgp_session_established gauge
nat64br_bgp_session_established{neighbor="127.0.0.1"} 1
`
	if err := testutil.CollectAndCompare(newCollector(r), strings.NewReader(want), "nat64br_bgp_healthy", "nat64br_bgp_session_established"); err != nil {
		t.Error(err)
	}

	// A port goes down: withdrawn within a second, logged with the reason.
	why := "port n4 is down"
	down.Store(&why)
	took := router.WaitFor(time.Second, "the withdrawal", none)
	t.Logf("withdrawn at the router %v after the port went down (the gate looks every %v)", took, healthEvery)
	if st := r.status(); st.BGP.Healthy || st.BGP.Reason != why {
		t.Errorf("status while down: %+v", st.BGP)
	}
	want = strings.Replace(want, "\nnat64br_bgp_healthy 1\n", "\nnat64br_bgp_healthy 0\n", 1)
	if err := testutil.CollectAndCompare(newCollector(r), strings.NewReader(want), "nat64br_bgp_healthy", "nat64br_bgp_session_established"); err != nil {
		t.Error(err)
	}
	down.Store(nil)
	router.WaitFor(time.Second, "the announcements again", all)
	if !strings.Contains(logs.String(), "reason=\"port n4 is down\"") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}

	// SIGTERM: the IPv6 routes withdrawn at once, the IPv4 ones kept
	// (the replies of the flows established here), translating on for
	// bgp.drain.
	v4only := func(rib map[netip.Prefix]bgptest.Got) bool {
		for p := range rib {
			if !p.Addr().Is4() {
				return false
			}
		}
		return len(rib) == 2
	}
	sig := make(chan os.Signal, 1)
	start := time.Now()
	r.drain(sig)
	if d := time.Since(start); d < cfg.BGP.Drain {
		t.Errorf("the drain took %v, want %v", d, cfg.BGP.Drain)
	}
	router.WaitFor(time.Second, "the withdrawal of a draining nat64br's IPv6 routes", v4only)
	time.Sleep(2 * healthEvery)
	if !v4only(router.RIB()) || r.status().BGP.Reason != drainingReason {
		t.Errorf("announced again while draining, or lost the IPv4 routes: %v, %+v", router.RIB(), r.status().BGP)
	}
	// A second SIGTERM ends a long drain at once.
	r.cfg.BGP.Drain = time.Hour
	sig <- syscall.SIGTERM
	start = time.Now()
	r.drain(sig)
	if d := time.Since(start); d > time.Second {
		t.Errorf("a second SIGTERM ended the drain after %v", d)
	}
}

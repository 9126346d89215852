package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The BGP ECMP pass (issue 22): two nat64br boxes behind a core router
// running BIRD 2 with equal-cost multipath. Each box announces the NAT64
// prefix and its own slice of one IPv4 pool (nat64br pool4-plan), so the
// return traffic of a flow comes back to the box that holds its session.
//
//	clients "c6"                   core "r" (BIRD 2, AS 64500)         server "s4"
//	eth0 2001:db8:6::1:N --------- c6 2001:db8:6::1                     eth0 203.0.113.2
//	                               s4 203.0.113.1 ---------------------------'
//	                               x1 2001:db8:1::1, 198.51.100.1/28    x2 2001:db8:2::1, 198.51.100.17/28
//	                                |                                    |
//	box "x1" (AS 64512): eth0 2001:db8:1::5, 198.51.100.5 (the host's,  box "x2": eth0 2001:db8:2::5, 198.51.100.21;
//	  the BGP session's); nat64br 2001:db8:1::64, 198.51.100.6,           nat64br 2001:db8:2::64, 198.51.100.22,
//	  pool4 198.51.100.128/26                                             pool4 198.51.100.192/26
//
// The router's kernel gets 2001:db8:64::/96 with one next hop per box
// (merge paths) and hashes flows on their ports
// (fib_multipath_hash_policy 1).

const (
	bgpPool      = "198.51.100.128/25" // the pool the boxes share out
	bgpRouterAS  = 64500
	bgpBoxAS     = 64512
	bgpHoldTime  = 3 * time.Second // the lab's short hold time (nat64br and BIRD)
	bgpDrain     = 3 * time.Second // bgp.drain: how long a box translates after its withdrawal
	bgpClients   = 16              // client addresses
	bgpFlowBytes = 16 << 10        // one short flow's download
	bgpLongBytes = 5 << 20         // a long flow's download
	bgpLongRate  = 1 << 20         // its rate: 5 s
	bgpFlows     = 100             // the new flows of the spread check
	bgpProbeGap  = 50 * time.Millisecond
)

// bgpBox is one translator box: its namespace, its addresses and the
// nat64br running there.
type bgpBox struct {
	*lab
	n                   int // 1 or 2
	host6, host4        string
	nat6, nat4          string
	router6, router4    string
	subnet4, slice      string
	dev                 string // its link's name in the router
	cfgExtra, cfgPrefix string
}

// bgpLab is the BGP topology.
type bgpLab struct {
	*lab
	r         labNS
	boxes     [2]*bgpBox
	dir       string
	birdSock  string
	slices    [2]netip.Prefix
	longSHA   [32]byte
	shortSHA  [32]byte
	clientIPs []string
}

// bgpBirdConfig is the core router's BIRD 2 configuration.
func (b *bgpLab) birdConfig() string {
	cfg := fmt.Sprintf(`log "%s" all;
router id 198.51.100.1;
timeformat protocol iso long;
protocol device { scan time 1; }
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol kernel { ipv6 { import none; export all; }; merge paths on; }
template bgp box {
	local as %d;
	passive on;            # nat64br opens the sessions
	hold time %d;
	keepalive time 1;
	graceful restart off;  # a box that goes away is withdrawn at once
	error wait time 1, 5;  # after an error, accept the box again within 1-5 s (default 60-300 s)
	ipv6 { import all; export none; };
	ipv4 { import all; export none; };
}
`, filepath.Join(b.dir, "bird.log"), bgpRouterAS, int(bgpHoldTime/time.Second))
	for _, x := range b.boxes {
		cfg += fmt.Sprintf("protocol bgp %s from box { neighbor %s as %d; source address %s; }\n", x.dev, x.host6, bgpBoxAS, x.router6)
	}
	return cfg
}

// config is box x's nat64br configuration (the lab appends the control
// socket).
func (x *bgpBox) config() string {
	return x.cfgPrefix + `mode: nat64
prefix: ` + armPrefix + `
pool4: [` + x.slice + `]
ipv4-addr: ` + x.nat4 + `
ipv6-addr: "` + x.nat6 + `"
ipv6-interface: eth0
ipv4-interface: eth0
ipv4-subnet: ` + x.subnet4 + `
gateway: ` + x.router4 + `
ipv6-subnets: ["` + strings.TrimSuffix(x.router6, "1") + `/64"]
gateway6: "` + x.router6 + `"
bgp:
  asn: ` + fmt.Sprint(bgpBoxAS) + `
  drain: ` + bgpDrain.String() + `
  neighbors:
    - address: "` + x.router6 + `"
      asn: ` + fmt.Sprint(bgpRouterAS) + `
      hold-time: ` + bgpHoldTime.String() + `
      local-address: "` + x.host6 + `"
      families: [ipv6-unicast, ipv4-unicast]
` + x.cfgExtra
}

// runBGP runs the BGP ECMP pass.
func runBGP(ctx context.Context, title string, opts Options) (*Report, error) {
	rep := &Report{title: title}
	if _, err := exec.LookPath("bird"); err != nil {
		rep.skip = "needs BIRD 2 (bird and birdc; apt-get install bird2)"
		return rep, nil
	}
	b := &bgpLab{lab: &lab{opts: opts}}
	dir, done, err := b.workDir(ctx)
	defer done()
	if err != nil {
		return rep, err
	}
	b.dir = dir
	if err := b.plan(rep); err != nil {
		return rep, err
	}
	if err := b.build(rep); err != nil {
		return rep, err
	}
	err = b.checks(ctx, rep)
	if len(rep.checks) > 0 && !rep.OK() {
		log, _ := os.ReadFile(filepath.Join(dir, "bird.log"))
		rep.counters = "BIRD's log, last lines: " + lastLines(string(log), 8)
		for _, x := range b.boxes {
			if x.lab != nil && x.natLog != nil {
				var lines []string
				for line := range strings.Lines(x.natOutput()) {
					if strings.Contains(line, "BGP") {
						lines = append(lines, strings.TrimSpace(line))
					}
				}
				rep.counters += fmt.Sprintf("\n  box %d's BGP log lines: %s", x.n, lastLines(strings.Join(lines, "\n"), 6))
			}
		}
	}
	return rep, err
}

// workDir makes a pass's temporary directory and has ctx's cancellation
// tear the lab down; done, to be deferred at once, tears it down and
// removes the directory.
func (l *lab) workDir(ctx context.Context) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", "nat64br-lab-")
	stop := context.AfterFunc(ctx, func() { l.cleanup() })
	return dir, func() {
		stop()
		l.cleanup()
		if dir != "" {
			os.RemoveAll(dir)
		}
	}, err
}

// plan asks nat64br pool4-plan for the two boxes' slices, as an operator
// would.
func (b *bgpLab) plan(rep *Report) error {
	out, err := exec.Command(b.opts.Nat64br, "pool4-plan", bgpPool, "--nodes", "2", "--json").Output()
	var plan struct {
		Nodes []struct {
			Pool4 string `json:"pool4"`
		} `json:"nodes"`
	}
	if err == nil {
		err = json.Unmarshal(out, &plan)
	}
	if err == nil && len(plan.Nodes) != 2 {
		err = fmt.Errorf("%d slices", len(plan.Nodes))
	}
	if err != nil {
		rep.add("nat64br pool4-plan "+bgpPool+" --nodes 2", false, "%v: %s", err, out)
		return err
	}
	for i := range b.boxes {
		n := i + 1
		b.slices[i] = netip.MustParsePrefix(plan.Nodes[i].Pool4)
		b.boxes[i] = &bgpBox{n: n, dev: fmt.Sprintf("x%d", n), slice: plan.Nodes[i].Pool4,
			host6: fmt.Sprintf("2001:db8:%d::5", n), nat6: fmt.Sprintf("2001:db8:%d::64", n), router6: fmt.Sprintf("2001:db8:%d::1", n),
			host4: fmt.Sprintf("198.51.100.%d", 16*i+5), nat4: fmt.Sprintf("198.51.100.%d", 16*i+6), router4: fmt.Sprintf("198.51.100.%d", 16*i+1),
			subnet4: fmt.Sprintf("198.51.100.%d/28", 16*i)}
	}
	rep.add("nat64br pool4-plan "+bgpPool+" --nodes 2", true, "box 1 %s, box 2 %s", b.slices[0], b.slices[1])
	return nil
}

// build makes the namespaces, links and addresses, starts the server and
// BIRD, and checks each box's configuration against its slice.
func (b *bgpLab) build(rep *Report) error {
	var err error
	if b.c6, err = b.addNS("c6"); err != nil {
		return err
	}
	rep.namespaces = append(rep.namespaces, b.c6.name)
	for _, p := range []*labNS{&b.r, &b.s4} {
		if *p, err = b.addNS(map[*labNS]string{&b.r: "r", &b.s4: "s4"}[p]); err != nil {
			return err
		}
		rep.namespaces = append(rep.namespaces, p.name)
	}
	type cmd struct {
		ns   labNS
		args string
	}
	cmds := []cmd{
		{b.c6, "ip link add eth0 type veth peer name c6 netns " + b.r.name},
		{b.s4, "ip link add eth0 type veth peer name s4 netns " + b.r.name},
		{b.c6, "ip -6 addr add 2001:db8:6::2/64 dev eth0 nodad"},
		{b.c6, "ip link set eth0 up"},
		{b.c6, "ip -6 route add default via 2001:db8:6::1"},
		{b.r, "ip -6 addr add 2001:db8:6::1/64 dev c6 nodad"},
		{b.r, "ip addr add 203.0.113.1/24 dev s4"},
		{b.s4, "ip addr add " + armServer4 + "/24 dev eth0"},
		{b.s4, "ip link set eth0 up"},
		{b.s4, "ip route add default via 203.0.113.1"},
		{b.r, "ip link set c6 up"},
		{b.r, "ip link set s4 up"},
	}
	for i := range bgpClients {
		b.clientIPs = append(b.clientIPs, labClientAddr(i))
		cmds = append(cmds, cmd{b.c6, "ip -6 addr add " + labClientAddr(i) + "/64 dev eth0 nodad"})
	}
	for _, x := range b.boxes {
		ns, err := b.addNS(x.dev)
		if err != nil {
			return err
		}
		rep.namespaces = append(rep.namespaces, ns.name)
		x.lab = &lab{opts: b.opts, x: ns}
		x.opts.Config = func(string) string { return x.config() }
		b.cleanups = append(b.cleanups, func() { x.cleanup() })
		cmds = append(cmds,
			cmd{ns, "ip link add eth0 type veth peer name " + x.dev + " netns " + b.r.name},
			cmd{ns, "ip -6 addr add " + x.host6 + "/64 dev eth0 nodad"},
			cmd{ns, "ip addr add " + x.host4 + "/28 dev eth0"},
			cmd{ns, "ip link set eth0 up"},
			cmd{ns, "ip route add default via " + x.router4},
			cmd{ns, "ip -6 route add default via " + x.router6},
			cmd{b.r, "ip -6 addr add " + x.router6 + "/64 dev " + x.dev + " nodad"},
			cmd{b.r, "ip addr add " + x.router4 + "/28 dev " + x.dev},
			cmd{b.r, "ip link set " + x.dev + " up"})
	}
	for _, c := range cmds {
		if _, err := c.ns.run(strings.Fields(c.args)...); err != nil {
			return err
		}
	}
	if err := b.s4.sysctl("net.ipv6.conf.eth0.disable_ipv6", "1"); err != nil {
		return err
	}
	// The boxes' kernels do not forward (a new namespace's IPv4 takes the
	// host's ip_forward): else the kernel sends what the router hands
	// nat64br back to the router, a loop.
	for _, x := range b.boxes {
		for _, k := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
			if err := x.x.sysctl(k, "0"); err != nil {
				return err
			}
		}
		// The router keeps its address on a box's link while it is down
		// (portDownNeverAnnounces), as a router's configured address stays.
		if err := b.r.sysctl("net.ipv6.conf."+x.dev+".keep_addr_on_down", "1"); err != nil {
			return err
		}
	}
	for _, k := range []string{"net.ipv6.conf.all.forwarding", "net.ipv4.ip_forward", "net.ipv6.fib_multipath_hash_policy", "net.ipv4.fib_multipath_hash_policy"} {
		if err := b.r.sysctl(k, "1"); err != nil {
			return err
		}
	}
	b.shortSHA, b.longSHA = payloadSHA(1, bgpFlowBytes), payloadSHA(1, bgpLongBytes)
	if err := b.serveHTTP(b.s4, "tcp4", armServer4+":80", 1, bgpFlowBytes); err != nil {
		return err
	}
	b.cleanups = append(b.cleanups, func() {
		for _, c := range b.listeners {
			c.Close()
		}
	})
	// Each box's configuration, checked against its slice.
	for _, x := range b.boxes {
		path := filepath.Join(b.dir, x.dev, "check.yaml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(x.config()), 0o644); err != nil {
			return err
		}
		out, err := exec.Command(b.opts.Nat64br, "pool4-plan", bgpPool, "--nodes", "2", "--config", path, "--node", fmt.Sprint(x.n)).CombinedOutput()
		rep.add(fmt.Sprintf("box %d's configuration fits its slice", x.n), err == nil, "%s", lastLines(string(out), 2))
	}
	return b.startBird()
}

// startBird starts BIRD in the router, in the foreground, and waits for
// its socket.
func (b *bgpLab) startBird() error {
	conf := filepath.Join(b.dir, "bird.conf")
	b.birdSock = filepath.Join(b.dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(b.birdConfig()), 0o644); err != nil {
		return err
	}
	bird := b.r.cmd("bird", "-f", "-c", conf, "-s", b.birdSock, "-P", filepath.Join(b.dir, "bird.pid"))
	out := &lockedWriter{mu: &sync.Mutex{}, w: &strings.Builder{}}
	bird.Stdout, bird.Stderr = out, out
	if err := bird.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = bird.Wait(); close(exited) }()
	b.cleanups = append(b.cleanups, func() {
		_ = bird.Process.Signal(unix.SIGTERM)
		waitOrKill(bird.Process, exited, 5*time.Second)
	})
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("bird exited: %s", out.w)
		default:
		}
		if _, err := b.birdc("show", "status"); err == nil {
			return nil
		}
	}
	return fmt.Errorf("bird did not answer on %s within 10 s", b.birdSock)
}

// birdc runs a birdc command against the router's BIRD.
func (b *bgpLab) birdc(args ...string) (string, error) {
	return b.r.run(append([]string{"birdc", "-s", b.birdSock}, args...)...)
}

// established reports whether BIRD's session with box x is up.
func (b *bgpLab) established(x *bgpBox) bool {
	out, err := b.birdc("show", "protocols", x.dev)
	return err == nil && strings.Contains(out, "Established")
}

// vias returns the next hops of the router's kernel route to prefix.
func (b *bgpLab) vias(prefix string) []string {
	fam := "-4"
	if strings.Contains(prefix, ":") {
		fam = "-6"
	}
	out, _ := b.r.run("ip", fam, "route", "show", prefix)
	var vias []string
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			vias = append(vias, f[i+1])
		}
	}
	sort.Strings(vias)
	return vias
}

// routed reports whether the router's kernel routes x's share: the NAT64
// prefix with x as one of its next hops, and x's slice via x.
func (b *bgpLab) routed(x *bgpBox) (prefix, slice bool) {
	for _, v := range b.vias(armPrefix) {
		prefix = prefix || v == x.nat6
	}
	s := b.vias(x.slice)
	return prefix, len(s) == 1 && s[0] == x.nat4
}

// waitGone polls the router's kernel routes every 10 ms until neither
// the prefix nor x's slice goes to x, for up to d, and returns how long
// after the call each was gone (d if it was not).
func (b *bgpLab) waitGone(x *bgpBox, d time.Duration) (prefix, slice time.Duration, ok bool) {
	start := time.Now()
	prefix, slice = -1, -1
	for time.Since(start) < d {
		p, s := b.routed(x)
		if !p && prefix < 0 {
			prefix = time.Since(start)
		}
		if !s && slice < 0 {
			slice = time.Since(start)
		}
		if prefix >= 0 && slice >= 0 {
			return prefix, slice, true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return max(prefix, d), max(slice, d), false
}

// waitRouted polls the router's kernel routes every 10 ms until x's
// share is routed (want true) or gone (want false), for up to d, and
// returns how long that took.
func (b *bgpLab) waitRouted(x *bgpBox, want bool, d time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		p, s := b.routed(x)
		if (want && p && s) || (!want && !p && !s) {
			return time.Since(start), true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), false
}

// flowResult is what became of one flow.
type flowResult struct {
	start, end time.Time
	box        int // the box whose slice the server saw it from; 0: none
	err        error
}

// flow downloads size bytes (at rate bytes/s, 0: at once) from the IPv4
// server through the prefix, from client address src.
func (b *bgpLab) flow(id string, src string, size, rate int64, timeout time.Duration) flowResult {
	r := flowResult{start: time.Now()}
	path := "/flow/" + id
	url := fmt.Sprintf("http://[%s]%s?bytes=%d", armVia6, path, size)
	if rate > 0 {
		url += fmt.Sprintf("&rate=%d", rate)
	}
	tr := b.c6.transport(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: timeout})
	n, sum, _, err := fetch(&http.Client{Transport: tr, Timeout: timeout}, url)
	r.end = time.Now()
	r.box = b.boxOf(path)
	want := b.shortSHA
	if size == bgpLongBytes {
		want = b.longSHA
	}
	switch {
	case err != nil:
		r.err = err
	case n != size || sum != want:
		r.err = fmt.Errorf("%d bytes, sha256 %s", n, shaVerdict(sum, want))
	}
	return r
}

// boxOf returns the box whose slice the server saw path's request come
// from, 0 if none.
func (b *bgpLab) boxOf(path string) int {
	b.seenMu.Lock()
	remote := b.seen[path]
	b.seenMu.Unlock()
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return 0
	}
	for i, s := range b.slices {
		if s.Contains(ap.Addr()) {
			return i + 1
		}
	}
	return 0
}

// flows runs n short flows, workers at a time, from the client addresses
// in turn, and returns their results.
func (b *bgpLab) flows(ctx context.Context, tag string, n, workers int) []flowResult {
	res := make([]flowResult, n)
	_, _ = parallel(ctx, n, workers, func(i int) error {
		res[i] = b.flow(fmt.Sprintf("%s/%d", tag, i), b.clientIPs[i%len(b.clientIPs)], bgpFlowBytes, 0, 5*time.Second)
		return res[i].err
	})
	return res
}

// prober starts a short flow every bgpProbeGap, each with a 2 s timeout,
// until stopped (at most limit flows).
type prober struct {
	mu      sync.Mutex
	results []flowResult
	stop    chan struct{}
	wg      sync.WaitGroup
}

func (b *bgpLab) startProber(tag string, limit int) *prober {
	p := &prober{stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(bgpProbeGap)
		defer t.Stop()
		for i := 0; i < limit; i++ {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				r := b.flow(fmt.Sprintf("%s/%d", tag, i), b.clientIPs[i%len(b.clientIPs)], bgpFlowBytes, 0, 2*time.Second)
				p.mu.Lock()
				p.results = append(p.results, r)
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

// finish stops the prober, waits for its flows and returns them.
func (p *prober) finish() []flowResult {
	close(p.stop)
	p.wg.Wait()
	return p.results
}

// errKind sorts a failed flow's error for the report.
func errKind(err error) string {
	s := err.Error()
	for _, k := range []string{"timeout", "reset", "refused", "unreachable", "sha256"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if strings.Contains(s, "deadline") {
		return "timeout"
	}
	return "other"
}

// kinds writes counts by kind as " (3 timeout, 1 reset)", "" for none.
func kinds(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return ""
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// spread counts results by box and failures.
func spread(rs []flowResult) (perBox [3]int, failed int) {
	for _, r := range rs {
		if r.err != nil {
			failed++
			continue
		}
		perBox[r.box]++
	}
	return perBox, failed
}

// sessionCount returns the TCP sessions box x lists (sessions --json).
func (x *bgpBox) sessionCount() int {
	code, out := x.ctl("sessions", "--proto", "tcp", "--json")
	var list natListJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		return -1
	}
	return len(list.Entries)
}

// start starts box x's nat64br (without waiting for its announcement).
func (b *bgpLab) start(x *bgpBox) error {
	return x.startNat64br(filepath.Join(b.dir, x.dev))
}

// checks runs the pass: a box that cannot translate never announces; the
// ECMP routes; the spread of new flows; then SIGTERM and kill -9 of box 1
// under traffic, each followed by its restart, once (make test), or
// opts.BGPReps times with SIGSTOP too (a hung box, withdrawn when its hold
// time expires) for the figures.
func (b *bgpLab) checks(ctx context.Context, rep *Report) error {
	x1, x2 := b.boxes[0], b.boxes[1]
	if err := b.refusedNeverAnnounces(rep, x1); err != nil {
		return err
	}
	if err := b.portDownNeverAnnounces(rep, x2); err != nil {
		return err
	}
	if err := b.start(x1); err != nil {
		return err
	}
	d1, ok1 := b.waitRouted(x1, true, 20*time.Second)
	rep.add("box 1 announced after start", ok1, "routed %s after nat64br running", d1.Round(10*time.Millisecond))
	if !ok1 {
		return nil
	}
	b.ecmpCheck(rep)
	if err := ctx.Err(); err != nil {
		return err
	}
	before := [2]int{x1.sessionCount(), x2.sessionCount()}
	res := b.flows(ctx, "spread", bgpFlows, 10)
	perBox, failed := spread(res)
	after := [2]int{x1.sessionCount(), x2.sessionCount()}
	rep.add(fmt.Sprintf("%d new flows spread over both boxes", bgpFlows), failed == 0 && perBox[1] >= bgpFlows/10 && perBox[2] >= bgpFlows/10 && perBox[0] == 0,
		"box 1 %d, box 2 %d (by the server's view of the source), %d failed; TCP sessions listed: box 1 +%d, box 2 +%d",
		perBox[1], perBox[2], failed, after[0]-before[0], after[1]-before[1])
	reps := max(1, b.opts.BGPReps)
	var fig bgpFigures
	for i := range reps {
		if err := ctx.Err(); err != nil {
			return err
		}
		last := i == reps-1
		if err := b.failover(rep, &fig, "SIGTERM", unix.SIGTERM, last); err != nil {
			return err
		}
		if err := b.failover(rep, &fig, "kill -9", unix.SIGKILL, last); err != nil {
			return err
		}
		if b.opts.BGPReps == 0 {
			continue // the short pass (make test)
		}
		if err := b.failover(rep, &fig, "SIGSTOP", unix.SIGSTOP, last); err != nil {
			return err
		}
	}
	fig.report(rep, reps)
	var wg sync.WaitGroup
	errs := make([]error, len(b.boxes))
	for i, x := range b.boxes {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = x.stopNat64br() }()
	}
	wg.Wait()
	rep.add("both boxes stopped on SIGTERM", firstErr(errs...) == nil, "%s", errString(firstErr(errs...), "clean, after their drain"))
	return nil
}

// refusedNeverAnnounces starts box x with a configuration nat64br
// refuses (pool4 holding the gateway): it exits, and BIRD never has a
// session with it.
func (b *bgpLab) refusedNeverAnnounces(rep *Report, x *bgpBox) error {
	x.cfgExtra = "pool4-ports: {tcp: \"1-70000\"}\n"
	err := b.start(x)
	x.cfgExtra = ""
	time.Sleep(time.Second)
	p, s := b.routed(x)
	up := b.established(x)
	rep.add("a box whose configuration is refused never announces", err != nil && !up && !p && !s,
		"nat64br exited: %v; BIRD session established: %v, routed: prefix %v, slice %v", err != nil, up, p, s)
	return nil
}

// portDownNeverAnnounces starts box x with its link down (the router's
// end: the box's port has no carrier) and waits: no route. Then the link
// comes up, and x must be announced.
func (b *bgpLab) portDownNeverAnnounces(rep *Report, x *bgpBox) error {
	if _, err := b.r.run("ip", "link", "set", x.dev, "down"); err != nil {
		return err
	}
	if err := b.start(x); err != nil {
		rep.add("a box whose port is down never announces", false, "nat64br did not start: %s", lastLines(err.Error(), 2))
		_, _ = b.r.run("ip", "link", "set", x.dev, "up")
		return nil
	}
	time.Sleep(4 * time.Second)
	p, s := b.routed(x)
	rep.add("a box whose port is down never announces", !p && !s, "for 4 s after its start: routed: prefix %v, slice %v", p, s)
	if _, err := b.r.run("ip", "link", "set", x.dev, "up"); err != nil {
		return err
	}
	d, ok := b.waitRouted(x, true, 30*time.Second)
	rep.add("... announced once its port is up", ok, "routed %s after the link came up", d.Round(10*time.Millisecond))
	return nil
}

// bgpStatusJSON is what the lab reads of the bgp part of status --json.
type bgpStatusJSON struct {
	BGP *struct {
		Healthy  bool `json:"healthy"`
		Sessions []struct {
			Neighbor string `json:"neighbor"`
			State    string `json:"state"`
		} `json:"sessions"`
		Announced []struct {
			Prefix  string `json:"prefix"`
			NextHop string `json:"next_hop"`
		} `json:"announced"`
	} `json:"bgp"`
}

// statusCheck reads box x's status --json: its session established and
// the prefix and its slice announced with its own addresses as next hops.
func (x *bgpBox) statusCheck(rep *Report) {
	code, out := x.ctl("status", "--json")
	var st bgpStatusJSON
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.BGP == nil {
		rep.add(fmt.Sprintf("box %d: nat64br status --json, bgp", x.n), false, "exit %d: %s", code, lastLines(out, 2))
		return
	}
	var sessions, announced []string
	up := false
	for _, s := range st.BGP.Sessions {
		sessions = append(sessions, s.Neighbor+" "+s.State)
		up = up || (s.Neighbor == x.router6 && s.State == "established")
	}
	want := map[string]string{armPrefix: x.nat6, x.slice: x.nat4}
	for _, a := range st.BGP.Announced {
		announced = append(announced, a.Prefix+" via "+a.NextHop)
		if want[a.Prefix] == a.NextHop {
			delete(want, a.Prefix)
		}
	}
	rep.add(fmt.Sprintf("box %d: nat64br status --json, bgp", x.n), up && st.BGP.Healthy && len(want) == 0,
		"healthy %v; sessions: %s; announced: %s", st.BGP.Healthy, strings.Join(sessions, ", "), strings.Join(announced, ", "))
}

// ecmpCheck looks at BIRD's routes and the router's kernel routes.
func (b *bgpLab) ecmpCheck(rep *Report) {
	for _, x := range b.boxes {
		x.statusCheck(rep)
	}
	out, err := b.birdc("show", "route", armPrefix)
	n := strings.Count(out, "via ")
	rep.add("BIRD has both boxes' routes to "+armPrefix, err == nil && n == 2, "%d routes%s", n, errSuffix(err))
	vias := b.vias(armPrefix)
	want := []string{b.boxes[0].nat6, b.boxes[1].nat6}
	rep.add("router's kernel: one multipath route", strings.Join(vias, " ") == strings.Join(want, " "), "%s via %s", armPrefix, strings.Join(vias, ", "))
	var what []string
	ok := true
	for _, x := range b.boxes {
		v := b.vias(x.slice)
		ok = ok && len(v) == 1 && v[0] == x.nat4
		what = append(what, fmt.Sprintf("%s via %s", x.slice, strings.Join(v, ",")))
	}
	rep.add("router's kernel: each slice to its own box", ok, "%s", strings.Join(what, "; "))
}

// bgpFigures gathers the failover measurements over the repetitions.
type bgpFigures struct {
	withdraw   map[string][]time.Duration // SIGTERM / kill -9: until the router's kernel lost the box's routes
	reannounce map[string][]time.Duration // from the restart until routed again
	lost       map[string][]int           // new flows that failed
	probes     map[string][]int
	failWindow map[string][]time.Duration // from the signal to the last failed new flow's start
}

func (f *bgpFigures) add(kind string, withdraw, reannounce time.Duration, lost, probes int, window time.Duration) {
	if f.withdraw == nil {
		f.withdraw, f.reannounce, f.lost, f.probes, f.failWindow = map[string][]time.Duration{}, map[string][]time.Duration{}, map[string][]int{}, map[string][]int{}, map[string][]time.Duration{}
	}
	f.withdraw[kind] = append(f.withdraw[kind], withdraw)
	f.reannounce[kind] = append(f.reannounce[kind], reannounce)
	f.lost[kind] = append(f.lost[kind], lost)
	f.probes[kind] = append(f.probes[kind], probes)
	f.failWindow[kind] = append(f.failWindow[kind], window)
}

// report adds the figures' summary lines (with more than one repetition).
func (f *bgpFigures) report(rep *Report, reps int) {
	if reps < 2 {
		return
	}
	for _, kind := range []string{"SIGTERM", "kill -9", "SIGSTOP"} {
		rep.add(fmt.Sprintf("figures over %d runs: %s", reps, kind), true,
			"withdrawn in median %s (%s); new flows lost: %v of %v, the last failed one started (median) %s after the signal; re-announced %s after the restart (median)",
			median10(f.withdraw[kind]), durList(f.withdraw[kind]), f.lost[kind], f.probes[kind], median10(f.failWindow[kind]), median10(f.reannounce[kind]))
	}
}

// median10 is median rounded to 10 ms: the lab polls every 10 ms.
func median10(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[len(s)/2].Round(10 * time.Millisecond).String()
}

func durList(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(10*time.Millisecond).String())
	}
	return "runs: " + strings.Join(s, " ")
}

// failover stops box 1 with sig while long flows run through both boxes
// and new flows keep starting, measures how long until the router's
// kernel loses box 1's routes, counts the new flows lost and judges the
// long flows, then restarts box 1 and measures its re-announcement.
func (b *bgpLab) failover(rep *Report, fig *bgpFigures, kind string, sig unix.Signal, verbose bool) error {
	x1 := b.boxes[0]
	tag := strings.ReplaceAll(kind, " ", "") + fmt.Sprint(time.Now().UnixNano())
	// Long flows: four, from different addresses, so both boxes carry some.
	long := make([]flowResult, 6)
	var lwg sync.WaitGroup
	for i := range long {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			long[i] = b.flow(fmt.Sprintf("%s/long/%d", tag, i), b.clientIPs[(i*5)%len(b.clientIPs)], bgpLongBytes, bgpLongRate, 30*time.Second)
		}()
	}
	p := b.startProber(tag+"/new", 400)
	time.Sleep(time.Second)
	longBox := map[int]int{}
	for i := range long {
		longBox[i] = b.boxOf(fmt.Sprintf("/flow/%s/long/%d", tag, i))
	}
	t0 := time.Now()
	if err := x1.nat.Process.Signal(sig); err != nil {
		return err
	}
	withdraw, sliceGone, ok := b.waitGone(x1, bgpDrain+4*bgpHoldTime)
	tw := t0.Add(withdraw)
	// Keep the new flows going past the drain and the stop (SIGTERM), or
	// for a while after the withdrawal.
	exited := false
	wait := 1500 * time.Millisecond
	if sig == unix.SIGTERM {
		wait = bgpDrain + 5*time.Second
	}
	select {
	case <-x1.natDone:
		exited = true
	case <-time.After(wait):
	}
	time.Sleep(time.Second)
	probes := p.finish()
	lwg.Wait()
	lost, afterLost, onX1After, lastFail := 0, 0, 0, time.Duration(0)
	seen := map[string]int{}
	for _, r := range probes {
		if r.err != nil {
			seen[errKind(r.err)]++
			lost++
			if r.start.After(tw) {
				afterLost++
			}
			lastFail = max(lastFail, r.start.Sub(t0))
		} else if r.start.After(tw.Add(100*time.Millisecond)) && r.box == 1 {
			onX1After++
		}
	}
	var x1Long, x1LongOK, x2Long, x2LongOK int
	for i, r := range long {
		switch longBox[i] {
		case 1:
			x1Long++
			if r.err == nil {
				x1LongOK++
			}
		case 2:
			x2Long++
			if r.err == nil {
				x2LongOK++
			}
		}
	}
	if verbose || !ok || afterLost > 0 || x2LongOK != x2Long {
		rep.add(fmt.Sprintf("%s box 1: router withdrew it", kind), ok, "from the router's kernel (polled every 10 ms): %s's path gone %s after the signal, slice %s gone after %s",
			armPrefix, withdraw.Round(10*time.Millisecond), x1.slice, sliceGone.Round(10*time.Millisecond))
		okNew := afterLost == 0 && onX1After == 0
		rep.add(fmt.Sprintf("%s box 1: new flows", kind), okNew,
			"%d started (one every %s, 2 s timeout), %d failed%s (%d after the withdrawal), the last failure started %s after the signal; after the withdrawal none on box 1 (%d)",
			len(probes), bgpProbeGap, lost, kinds(seen), afterLost, lastFail.Round(10*time.Millisecond), onX1After)
		rep.add(fmt.Sprintf("%s box 1: box 2's long flows unaffected", kind), x2LongOK == x2Long && x2Long > 0,
			"%d/%d complete with the right sha256 (%d MB at %d MB/s)", x2LongOK, x2Long, bgpLongBytes>>20, bgpLongRate>>20)
		// Box 1's own long flows, for the record: the drain keeps box 1's
		// slice announced (their replies still reach it), but their
		// clients' packets follow the prefix's route, to box 2, which
		// has no session for them.
		what := ""
		if sig == unix.SIGTERM && x1LongOK < x1Long {
			what = fmt.Sprintf("; box 1's slice stayed announced %s (drain %s), but the clients' packets now reach box 2, which holds no session of theirs", sliceGone.Round(10*time.Millisecond), bgpDrain)
		}
		rep.add(fmt.Sprintf("%s box 1: box 1's own long flows (for the record)", kind), true,
			"%d/%d complete%s", x1LongOK, x1Long, what)
	}
	if !exited {
		_ = x1.nat.Process.Kill()
		<-x1.natDone
	}
	// Back: restart box 1 and time its announcement.
	start := time.Now()
	if err := b.start(x1); err != nil {
		return err
	}
	running := time.Since(start)
	re, reOK := b.waitRouted(x1, true, 20*time.Second)
	if verbose || !reOK {
		rep.add(fmt.Sprintf("%s box 1: restarted, re-announced", kind), reOK, "nat64br running after %s, routed again %s after that",
			running.Round(10*time.Millisecond), re.Round(10*time.Millisecond))
	}
	fig.add(kind, withdraw, running+re, lost, len(probes), lastFail)
	return nil
}

package lab

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The routed passes (issue 20): nat64br on two ports between two Linux
// routers, as users cable it, with a client and a server one hop away.
//
//	client "c6"             router6 "r6"          box "x"            router4 "r4"           server "s4"
//	eth0 2001:db8:6::2 ---- c6 2001:db8:6::1      n6 [nat64br] n4    x4 198.51.100.1        eth0 203.0.113.2
//	     2001:db8:6::f:2    x6 2001:db8:1::1 ---- (2001:db8:1::64,   s4 203.0.113.1 ------       203.0.113.200
//	                        2001:db8:64::/96       198.51.100.64) --'
//	                          via 2001:db8:1::64
//
// Two ports: the existing two-port lab and nat64br's own defaults make it
// the cheapest. nat64br's `gateway` is router4 (no `ipv4-subnet`); on the
// IPv6 side the first pass uses the learning mode (no gateway6, no
// ipv6-subnets: the way back to the client is the MAC its frames came
// from), the others `gateway6` (router6) without ipv6-subnets. Each check
// that needs keys of its own runs nat64br with a configuration of its own,
// so a key nat64br does not know fails that check only.

const (
	rtOutsider = "2001:db8:6::f:2"        // a client address outside `clients`
	rtClient4  = "198.51.100.6"           // SIIT: the client's EAM address
	rtPool4b   = "198.51.100.65"          // the pool4 address a reload adds and removes
	rtDenied4  = "203.0.113.200"          // a server address inside denylist4
	rtDenied6  = "2001:db8:64::cb00:71c8" // rtDenied4 in armPrefix
	rtStream   = 5001                     // the server's UDP stream port
	rtEcho     = 9000                     // the server's TCP line echo port
	rtRate     = 100                      // datagrams per second of the stream
)

// Routed pass kinds (Options.Routed).
const (
	routedLearning = "learning" // a receive-only UDP stream in the learning mode
	routedPing     = "ping"     // ping -s 3000 and 8000, SIIT and NAT64
	routedAccess   = "access"   // clients, clients-refusal, denylist4
	routedState    = "state"    // data-dir, state-interval: restarts and reloads under load
)

// routedConfig is a routed pass's configuration for mode ("nat64" or
// "siit"): learning (no gateway6) or gateway6, and extra keys at the end
// (the lab appends the control socket).
func routedConfig(mode string, learning bool, extra string) string {
	cfg := "mode: " + mode + "\nprefix: " + armPrefix + "\n"
	if mode == "siit" {
		cfg += "eam:\n  - {ipv4: " + rtClient4 + ", ipv6: \"" + labClient6 + "\"}\n"
	} else {
		cfg += "pool4: [" + armNat4 + "/32]\n"
	}
	cfg += `ipv4-addr: ` + armNat4 + `
ipv6-addr: "` + armNat6 + `"
ipv6-interface: n6
ipv4-interface: n4
gateway: ` + armRouter4 + "\n"
	if !learning {
		cfg += "gateway6: \"" + armRouter6 + "\"\n"
	}
	return cfg + extra
}

// routedLab is the routed topology.
type routedLab struct {
	*lab
	r6, r4 labNS
	dir    string
	r6MAC  string // router6's leg towards nat64br
}

// runRouted runs the routed pass opts.Routed.
func runRouted(ctx context.Context, title string, opts Options) (*Report, error) {
	rep := &Report{title: title}
	r := &routedLab{lab: &lab{opts: opts}}
	defer r.cleanup()
	dir, err := os.MkdirTemp("", "nat64br-lab-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	r.dir = dir
	stop := context.AfterFunc(ctx, func() { r.cleanup() })
	defer stop()
	if err := r.build(rep); err != nil {
		return rep, err
	}
	switch opts.Routed {
	case routedLearning:
		err = r.learningChecks(ctx, rep)
	case routedPing:
		err = r.pingChecks(ctx, rep)
	case routedAccess:
		err = r.accessChecks(ctx, rep)
	case routedState:
		err = r.stateChecks(ctx, rep)
	default:
		err = fmt.Errorf("no routed pass %q", opts.Routed)
	}
	return rep, err
}

// build makes the namespaces, links, addresses and routes, and starts the
// server's listeners.
func (r *routedLab) build(rep *Report) error {
	var err error
	roles := []*labNS{&r.c6, &r.r6, &r.x, &r.r4, &r.s4}
	for i, role := range []string{"c6", "r6", "x", "r4", "s4"} {
		if *roles[i], err = r.addNS(role); err != nil {
			return err
		}
		rep.namespaces = append(rep.namespaces, roles[i].name)
	}
	for _, k := range []struct {
		a     labNS
		adev  string
		b     labNS
		bdevs string
	}{{r.c6, "eth0", r.r6, "c6"}, {r.r6, "x6", r.x, "n6"}, {r.x, "n4", r.r4, "x4"}, {r.r4, "s4", r.s4, "eth0"}} {
		if _, err := k.a.run("ip", "link", "add", k.adev, "type", "veth", "peer", "name", k.bdevs, "netns", k.b.name); err != nil {
			return err
		}
	}
	// nat64br's ports carry no addresses and the kernel stays off them;
	// the IPv4 side is IPv4-only.
	for _, s := range []struct {
		ns  labNS
		key string
	}{{r.x, "n6"}, {r.x, "n4"}, {r.r4, "all"}, {r.r4, "default"}, {r.s4, "all"}, {r.s4, "default"}} {
		if err := s.ns.sysctl("net.ipv6.conf."+s.key+".disable_ipv6", "1"); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		ns   labNS
		args string
	}{
		{r.c6, "ip -6 addr add " + labClient6 + "/64 dev eth0 nodad"},
		{r.c6, "ip -6 addr add " + rtOutsider + "/64 dev eth0 nodad"},
		{r.c6, "ip link set eth0 up"},
		{r.c6, "ip -6 route add default via 2001:db8:6::1"},
		{r.r6, "ip -6 addr add 2001:db8:6::1/64 dev c6 nodad"},
		{r.r6, "ip -6 addr add " + armRouter6 + "/64 dev x6 nodad"},
		{r.r6, "ip link set c6 up"},
		{r.r6, "ip link set x6 up"},
		{r.r6, "ip -6 route add " + armPrefix + " via " + armNat6 + " dev x6"},
		{r.x, "ip link set n6 up"},
		{r.x, "ip link set n4 up"},
		{r.r4, "ip addr add " + armRouter4 + "/24 dev x4"},
		{r.r4, "ip addr add 203.0.113.1/24 dev s4"},
		{r.r4, "ip link set x4 up"},
		{r.r4, "ip link set s4 up"},
		{r.s4, "ip addr add " + armServer4 + "/24 dev eth0"},
		{r.s4, "ip addr add " + rtDenied4 + "/24 dev eth0"},
		{r.s4, "ip link set eth0 up"},
		{r.s4, "ip route add default via 203.0.113.1"},
	} {
		if _, err := c.ns.run(strings.Fields(c.args)...); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		ns  labNS
		key string
	}{{r.r6, "net.ipv6.conf.all.forwarding"}, {r.r4, "net.ipv4.ip_forward"}} {
		if err := s.ns.sysctl(s.key, "1"); err != nil {
			return err
		}
	}
	mac, err := r.r6.run("cat", "/sys/class/net/x6/address")
	if err != nil {
		return err
	}
	r.r6MAC = strings.TrimSpace(mac)
	if err := waitDAD(5*time.Second, r.c6, r.r6); err != nil {
		return err
	}
	return r.startServers()
}

// waitDAD waits until no address of the namespaces is tentative: until
// then the client's and router's link-local addresses are not usable, and
// the first packets of a check wait seconds for them.
func waitDAD(d time.Duration, nss ...labNS) error {
	for end := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		var tentative []string
		for _, ns := range nss {
			if out, _ := ns.run("ip", "-6", "-o", "addr", "show", "tentative"); strings.TrimSpace(out) != "" {
				tentative = append(tentative, lastLines(out, 1))
			}
		}
		if len(tentative) == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("addresses still tentative after %s: %s", d, strings.Join(tentative, "; "))
		}
	}
}

// startServers starts the server's listeners: HTTP on port 80 of both its
// addresses (serveHTTP, payload seed 1), the UDP stream and the TCP line
// echo.
func (r *routedLab) startServers() error {
	if err := r.serveHTTP(r.s4, "tcp4", ":80", 1, 0); err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, func() {
		for _, c := range r.listeners {
			c.Close()
		}
	})
	return r.startStream()
}

// startStream starts the server's UDP stream: a datagram "stream N R"
// from a client starts N datagrams of 100 bytes at R per second back to
// it, each carrying its sequence number (from 0) in its first 4 bytes.
func (r *routedLab) startStream() error {
	return r.serveUDP(r.s4, armServer4, rtStream, func(uc *net.UDPConn, b []byte, from *net.UDPAddr) {
		var n, rate int
		if _, err := fmt.Sscanf(string(b), "stream %d %d", &n, &rate); err == nil && n > 0 && rate > 0 && n <= 1e6 {
			go sendStream(uc, from, n, rate)
		}
	})
}

// sendStream sends datagrams 0 to n-1 to to at rate per second, by the
// clock (a late tick sends what is due), until done or the socket closes.
func sendStream(uc *net.UDPConn, to *net.UDPAddr, n, rate int) {
	buf := make([]byte, 100)
	copy(buf[4:], "nat64br lab stream")
	start := time.Now()
	for sent := 0; sent < n; time.Sleep(5 * time.Millisecond) {
		due := min(n, int(time.Since(start)*time.Duration(rate)/time.Second)+1)
		for ; sent < due; sent++ {
			binary.BigEndian.PutUint32(buf, uint32(sent))
			if _, err := uc.WriteToUDP(buf, to); errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

// streamResult is what the client of a UDP stream received.
type streamResult struct {
	want, got, dups int
	firstLost       int           // the first sequence number missing, or -1
	first, last     time.Duration // when the first and last datagrams came, from the request
	maxGap          time.Duration // the longest time between two datagrams
}

func (s streamResult) String() string {
	what := fmt.Sprintf("%d/%d datagrams at %d/s, first at %s, last at %s, longest gap %s", s.got, s.want, rtRate,
		s.first.Round(time.Millisecond), s.last.Round(100*time.Millisecond), s.maxGap.Round(time.Millisecond))
	if s.firstLost >= 0 {
		what += fmt.Sprintf(", first lost #%d (due at %s)", s.firstLost, (time.Duration(s.firstLost) * time.Second / rtRate).Round(100*time.Millisecond))
	}
	if s.dups > 0 {
		what += fmt.Sprintf(", %d duplicates", s.dups)
	}
	return what
}

// stream sends the server one datagram from src asking for d's worth of
// datagrams at rtRate per second, then only receives, until all came or
// d and 5 s have passed.
func (r *routedLab) stream(ctx context.Context, src string, d time.Duration) (streamResult, error) {
	res := streamResult{want: int(d * rtRate / time.Second), firstLost: -1}
	c, err := dialUDP6(r.c6, src, armVia6, rtStream)
	if err != nil {
		return res, err
	}
	defer c.Close()
	// 4 MiB of receive buffer (SO_RCVBUFFORCE, past rmem_max): the
	// reader may stall for seconds on a busy machine without a loss.
	if raw, err := c.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) })
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	start := time.Now()
	if _, err := fmt.Fprintf(c, "stream %d %d", res.want, rtRate); err != nil {
		return res, err
	}
	_ = c.SetReadDeadline(start.Add(d + 5*time.Second))
	seen := make([]bool, res.want)
	prev := start
	buf := make([]byte, 1500)
	for res.got < res.want {
		k, err := c.Read(buf)
		if err != nil {
			break // the deadline, or ctx
		}
		now := time.Now()
		if k < 4 {
			continue
		}
		seq := int(binary.BigEndian.Uint32(buf))
		if seq >= res.want {
			continue
		}
		if seen[seq] {
			res.dups++
			continue
		}
		seen[seq] = true
		res.got++
		if res.got > 1 {
			res.maxGap = max(res.maxGap, now.Sub(prev))
		} else {
			res.first = now.Sub(start)
		}
		prev, res.last = now, now.Sub(start)
	}
	for i, ok := range seen {
		if !ok {
			res.firstLost = i
			break
		}
	}
	return res, ctx.Err()
}

// start runs nat64br with cfg. If it does not start (a key it does not
// know yet, say), the check named what fails with nat64br's last words,
// and start returns false.
func (r *routedLab) start(rep *Report, what, cfg string) bool {
	r.opts.Config = func(string) string { return cfg }
	if err := r.startNat64br(r.dir); err != nil {
		rep.add(what, false, "nat64br did not start with this configuration: %s", lastLines(err.Error(), 2))
		return false
	}
	return true
}

// stop stops nat64br and reports it, under the name of the configuration.
func (r *routedLab) stop(rep *Report, what string) {
	counters, err := r.stopNat64br()
	rep.counters = counters
	rep.add("nat64br stopped on SIGTERM ("+what+")", err == nil, "%s", errString(err, "clean"))
}

// lastLines returns the last n non-empty lines of s, joined with " | ".
func lastLines(s string, n int) string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// learningChecks: the learning mode keeps a client behind router6 for a
// receive-only UDP stream of opts.Stream (the issue: the learned neighbor
// was probed to death after ~63 s).
func (r *routedLab) learningChecks(ctx context.Context, rep *Report) error {
	const what = "learning mode (no gateway6, no ipv6-subnets)"
	if !r.start(rep, what, routedConfig("nat64", true, "")) {
		return nil
	}
	before, err := r.counters()
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := r.stream(ctx, labClient6, r.opts.Stream)
	if err != nil {
		return err
	}
	rep.add(fmt.Sprintf("UDP stream for %s to a routed client", r.opts.Stream), res.got == res.want && res.dups == 0,
		"%s; the client sent one datagram, then only received (%s)", res, time.Since(start).Round(time.Second))
	after, err := r.counters()
	rep.add("nat64br's drops and neighbor counters", err == nil, "%s", counterDeltas(before, after, err))
	entry := r.nat64brNeighbor(labClient6)
	rep.add("nat64br's neighbor "+labClient6, strings.HasPrefix(entry, r.r6MAC+" "), "%s (router6's MAC is %s)", entry, r.r6MAC)
	rtts, errs, err := pingFrom(r.c6, labClient6, armVia6, 3)
	rep.add("ping after the stream", err == nil && len(rtts) == 3 && errs == 0, "%d/3 replies, median %s, %d ICMP errors%s", len(rtts), median(rtts), errs, errSuffix(err))
	r.stop(rep, "learning")
	return nil
}

// counterDeltas lists the drop, hold and neighbor counters of nat64br
// that moved between before and after.
func counterDeltas(before, after statsJSON, err error) string {
	if err != nil {
		return err.Error()
	}
	var moved []string
	for k, v := range after.Counters {
		if (strings.HasPrefix(k, "drop") || strings.Contains(k, "neighbor") || strings.Contains(k, "hold")) && v > before.Counters[k] {
			moved = append(moved, fmt.Sprintf("%s +%d", k, v-before.Counters[k]))
		}
	}
	sort.Strings(moved)
	if len(moved) == 0 {
		return "none moved"
	}
	return strings.Join(moved, ", ")
}

// nat64brNeighbor returns nat64br's neighbor entry for addr: its MAC and
// state, from neighbors --json.
func (r *routedLab) nat64brNeighbor(addr string) string {
	code, out := r.ctl("neighbors", "--json")
	var ns []struct {
		Addr  string `json:"address"`
		MAC   string `json:"mac"`
		State string `json:"state"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ns) != nil {
		return fmt.Sprintf("neighbors --json: exit %d: %s", code, lastLines(out, 1))
	}
	for _, n := range ns {
		if n.Addr == addr {
			return n.MAC + " " + n.State
		}
	}
	return "absent"
}

// pingResult is what iputils ping printed.
type pingResult struct {
	sent, received int
	errors         []string // the distinct "From ..." messages: ICMP errors
}

var (
	pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	pingRTT     = regexp.MustCompile(`= [\d.]+/([\d.]+)/`)
	pingError   = regexp.MustCompile(`(?m)^From (\S+) icmp_seq=\d+ (.*)$`)
)

// pingTool runs iputils ping in ns with args (the destination last), with
// 0.2 s between requests and each reply awaited 2 s, and returns its
// result and a line for the report.
func pingTool(ns labNS, args ...string) (pingResult, string) {
	full := append([]string{"ping", "-n", "-i", "0.2", "-W", "2"}, args...)
	out, err := ns.cmd(full...).CombinedOutput()
	var res pingResult
	m := pingSummary.FindStringSubmatch(string(out))
	if m == nil {
		return res, fmt.Sprintf("%s: %v: %s", strings.Join(full, " "), err, lastLines(string(out), 2))
	}
	res.sent, _ = strconv.Atoi(m[1])
	res.received, _ = strconv.Atoi(m[2])
	seen := map[string]bool{}
	for _, f := range pingError.FindAllStringSubmatch(string(out), -1) {
		if e := "from " + f[1] + ": " + f[2]; !seen[e] {
			seen[e] = true
			res.errors = append(res.errors, e)
		}
	}
	line := fmt.Sprintf("%d/%d replies", res.received, res.sent)
	if m := pingRTT.FindStringSubmatch(string(out)); m != nil {
		line += ", avg " + m[1] + " ms"
	}
	if len(res.errors) > 0 {
		line += "; ICMP errors: " + strings.Join(res.errors, "; ")
	}
	return res, line
}

// pingChecks pings with 3000 and 8000 bytes of data through both routers
// (and with ping's default 56 first, to tell the path from the
// fragments): in SIIT both ways (the client's EAM address from the
// server), in NAT64 from the client only (a NAT64 has no way in for an
// unsolicited echo request without a static BIB). The packets go as
// fragments: the client's and server's stacks fragment them, the routers
// forward the fragments, nat64br must reassemble them (an ICMP checksum
// covers the whole message).
func (r *routedLab) pingChecks(ctx context.Context, rep *Report) error {
	for _, mode := range []string{"siit", "nat64"} {
		name := map[string]string{"siit": "SIIT", "nat64": "NAT64"}[mode]
		if !r.start(rep, name+" configuration", routedConfig(mode, false, "")) {
			continue
		}
		for _, size := range []string{"56", "3000", "8000"} {
			r.bigPing(rep, fmt.Sprintf("%s ping -s %s client -> %s", name, size, armServer4),
				r.c6, "-6", "-c", "3", "-s", size, "-I", labClient6, armVia6)
			if mode == "siit" {
				r.bigPing(rep, fmt.Sprintf("%s ping -s %s server -> %s (EAM)", name, size, rtClient4),
					r.s4, "-4", "-c", "3", "-s", size, "-I", armServer4, rtClient4)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r.stop(rep, name)
	}
	return nil
}

// bigPing runs iputils ping in ns with args: every request must have its
// reply and no ICMP error. The line says how many datagrams nat64br
// reassembled meanwhile; a failure names its drops.
func (r *routedLab) bigPing(rep *Report, what string, ns labNS, args ...string) {
	before, err1 := r.counters()
	res, line := pingTool(ns, args...)
	ok := res.sent > 0 && res.received == res.sent && len(res.errors) == 0
	after, err2 := r.counters()
	if err := firstErr(err1, err2); err == nil && after.Counters["datagrams_reassembled"] > before.Counters["datagrams_reassembled"] {
		line += fmt.Sprintf("; nat64br reassembled %d datagrams", after.Counters["datagrams_reassembled"]-before.Counters["datagrams_reassembled"])
	}
	if !ok {
		line += "; nat64br: " + counterDeltas(before, after, firstErr(err1, err2))
	}
	rep.add(what, ok, "%s", line)
}

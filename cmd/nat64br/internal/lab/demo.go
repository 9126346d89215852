package lab

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Pass is one pass of the lab: a title and its options.
type Pass struct {
	Title string
	Opts  Options
}

// Passes returns the lab's passes built on base (veth offloads at
// their defaults; offloads off with the prefix on-link; Router
// Advertisements instead of a static route; stateful NAT64; TAYGA's
// dynamic pool; one-armed behind a router, offloads on and off; two
// VLANs of one trunk, offloads on and off; then the routed passes, nat64br
// between two Linux routers: the learning mode's UDP stream of
// base.Stream, iputils ping -s 3000 and 8000, access control, state
// across restarts and reloads with base.Sessions TCP sessions). The third
// sends malformed frames for garbage.
func Passes(base Options, garbage time.Duration) []Pass {
	p1, p2, p3, p4, p5, p6, p7, p8, p9 := base, base, base, base, base, base, base, base, base
	p10, p11, p12, p13, p14 := base, base, base, base, base
	p1.Offloads = true
	p2.OnLink, p2.TakeOver, p2.Reload = true, true, true
	p3.Offloads, p3.PortTxCsum, p3.RA, p3.Garbage = true, true, true, garbage
	p3.HTTPBytes = min(p3.HTTPBytes, 10<<20)
	p4.Offloads, p4.Stateful, p4.Config = true, "nat64", nat64Config
	p4.Clients, p4.Conns, p4.ConnBytes = 50, 10, 256<<10
	p5.Offloads, p5.Stateful, p5.Config, p5.Clients = true, "dynamic", dynamicConfig, 8
	p6.Offloads, p6.OneArm = true, "router"
	p7.OneArm = "router"
	p8.Offloads, p8.OneArm = true, "trunk"
	p9.OneArm = "trunk"
	p10.Offloads, p10.Routed = true, routedLearning
	p11.Offloads, p11.Routed = true, routedPing
	p12.Offloads, p12.Routed = true, routedAccess
	p13.Offloads, p13.Routed = true, routedState
	p14.Offloads, p14.BGP, p14.BGPReps = true, true, base.BGPReps
	return []Pass{
		{"veth offloads at their defaults (checksum offload, TSO/GSO on); route via nat64br's link-local address", p1},
		{"veth offloads off; 64:ff9b::/96 on-link (nat64br answers Neighbor Solicitations by proxy); take-over; SIGHUP reload", p2},
		{"no static route: Router Advertisements (RFC 4191 route, RFC 8781 PREF64); malformed frames; nat64br's ports without checksum offload (the kernel cuts and sums in software, the hosts verify)", p3},
		{"stateful NAT64: 50 IPv6 clients share 192.0.2.1 (pool4); a port forward; a UDP binding expires", p4},
		{"TAYGA's dynamic pool: an IPv4 address for each IPv6 client, kept across a restart; frames spread by the kernel's flow hash", p5},
		{"one-armed behind a Linux router, stateful NAT64 (2001:db8:64::/96, pool4 198.51.100.64), the host keeps its addresses on the port; veth offloads at their defaults", p6},
		{"one-armed behind a Linux router, as above; veth offloads off", p7},
		{"one trunk, two VLANs: the IPv6 side on VLAN 10, the IPv4 side on VLAN 20, through the lab's tagging switch", p8},
		{"one trunk, two VLANs, as above; veth offloads off", p9},
		{fmt.Sprintf("routed: client behind router6, nat64br on two ports, server behind router4 (gateway, no ipv4-subnet); learning mode (no gateway6, no ipv6-subnets): a %s receive-only UDP stream", base.Stream), p10},
		{"routed, gateway6: ping -s 3000 and -s 8000 through both routers; SIIT (EAM) both ways, NAT64 from the IPv6 side", p11},
		{"routed NAT64, access control: clients (others refused with ICMPv6 administratively prohibited, or dropped), denylist4", p12},
		{fmt.Sprintf("routed NAT64, state (data-dir, state-interval): a pool4 reload and a restart under live TCP transfers; %d TCP sessions kept across a restart", base.Sessions), p13},
		{"BGP ECMP: two stateful boxes behind a BIRD 2 router, each announcing 2001:db8:64::/96 and its own pool4 slice (pool4-plan); SIGTERM and kill -9 of one under traffic", p14},
	}
}

// Select returns the passes of ps that spec names by number (from 1):
// "10-13", "1,4,10-13"; all of them for "".
func Select(ps []Pass, spec string) ([]Pass, error) {
	if spec == "" {
		return ps, nil
	}
	var out []Pass
	for part := range strings.SplitSeq(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || b < a || b > len(ps) {
			return nil, fmt.Errorf("passes %q: %q is not a pass number or range of 1-%d", spec, part, len(ps))
		}
		out = append(out, ps[a-1:b]...)
	}
	return out, nil
}

// Demo runs passes, prints the reports to w and returns the exit status:
// 0 if every check passed, 1 if one failed, 130 if ctx was cancelled (the
// lab is torn down either way).
func Demo(ctx context.Context, passes []Pass, w io.Writer) int {
	fmt.Fprintln(w, "nat64br demo: an IPv6-only client (2001:db8:6::2) and an IPv6-only web server (2001:db8:6::80),")
	fmt.Fprintln(w, "an IPv4-only HTTP and UDP echo server (192.0.2.2) and an IPv4 client (192.0.2.3), and nat64br")
	fmt.Fprintln(w, "between two veths in a namespace of its own, with no addresses and no routes.")
	status := 0
	for _, p := range passes {
		start := time.Now()
		rep, err := Run(ctx, p.Title, p.Opts)
		rep.Print(w)
		fmt.Fprintf(w, "  (pass took %s)\n", time.Since(start).Round(time.Second))
		if err != nil {
			fmt.Fprintf(w, "  error: %v\n", err)
			status = 1
		} else if !rep.OK() {
			status = 1
		}
		if ctx.Err() != nil {
			fmt.Fprintln(w, "interrupted: the lab is torn down")
			return 130
		}
	}
	if status == 0 {
		fmt.Fprintln(w, "\nall checks passed; the namespaces are gone.")
	} else {
		fmt.Fprintln(w, "\nsome checks FAILED; the namespaces are gone.")
	}
	return status
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// cmdDemo runs the demo lab (sudo make demo): an IPv6-only client and an
// IPv4-only server in network namespaces, nat64br between them on two
// veths, five passes (veth offloads at their defaults; offloads off with
// the prefix on-link; Router Advertisements instead of a static route;
// stateful NAT64; TAYGA's dynamic pool).
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpMB := fs.Int("http-mb", 100, "size of the IPv6 client's HTTP download in MB")
	http6MB := fs.Int("http6-mb", 10, "size of the IPv4 client's download from the IPv6-only server in MB")
	udp := fs.Int("udp", 1000, "UDP echoes to send")
	garbage := fs.Duration("garbage", 5*time.Second, "send malformed frames into both ports for this long (last pass)")
	keep := fs.Bool("keep", false, "keep the namespaces for inspection")
	expiry := fs.Bool("udp-expiry", true, "stateful pass: wait the 2 minutes a UDP binding lives, then check a late reply is refused")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "nat64br demo: needs root to create network namespaces (sudo make demo)")
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "nat64br demo: %v\n", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	return demo(ctx, labOptions{HTTPBytes: int64(*httpMB) << 20, HTTP6Bytes: int64(*http6MB) << 20, UDPEchoes: *udp,
		Nat64br: []string{exe}, Keep: *keep, UDPExpiry: *expiry}, *garbage, stdout)
}

// demoPasses are the lab's passes.
func demoPasses(base labOptions, garbage time.Duration) []struct {
	title string
	opts  labOptions
} {
	p1, p2, p3, p4, p5 := base, base, base, base, base
	p1.Offloads = true
	p2.OnLink, p2.TakeOver, p2.Reload = true, true, true
	p3.Offloads, p3.PortTxCsum, p3.RA, p3.Garbage = true, true, true, garbage
	p3.HTTPBytes = min(p3.HTTPBytes, 10<<20)
	p4.Offloads, p4.Stateful, p4.Config = true, "nat64", nat64Config
	p4.Clients, p4.Conns, p4.ConnBytes = 50, 10, 256<<10
	p5.Offloads, p5.Stateful, p5.Config, p5.Clients = true, "dynamic", dynamicConfig, 8
	return []struct {
		title string
		opts  labOptions
	}{
		{"veth offloads at their defaults (checksum offload, TSO/GSO on); route via nat64br's link-local address", p1},
		{"veth offloads off; 64:ff9b::/96 on-link (nat64br answers Neighbor Solicitations by proxy); take-over; SIGHUP reload", p2},
		{"no static route: Router Advertisements (RFC 4191 route, RFC 8781 PREF64); malformed frames; nat64br's ports without checksum offload (the kernel cuts and sums in software, the hosts verify)", p3},
		{"stateful NAT64: 50 IPv6 clients share 192.0.2.1 (pool4); a port forward; a UDP binding expires", p4},
		{"TAYGA's dynamic pool: an IPv4 address for each IPv6 client, kept across a restart; frames spread by the kernel's flow hash", p5},
	}
}

func demo(ctx context.Context, base labOptions, garbage time.Duration, w io.Writer) int {
	fmt.Fprintln(w, "nat64br demo: an IPv6-only client (2001:db8:6::2) and an IPv6-only web server (2001:db8:6::80),")
	fmt.Fprintln(w, "an IPv4-only HTTP and UDP echo server (192.0.2.2) and an IPv4 client (192.0.2.3), and nat64br")
	fmt.Fprintln(w, "between two veths in a namespace of its own, with no addresses and no routes.")
	status := 0
	for _, p := range demoPasses(base, garbage) {
		rep, err := runLab(ctx, p.title, p.opts, w)
		rep.print(w)
		if err != nil {
			fmt.Fprintf(w, "  error: %v\n", err)
			status = 1
		} else if !rep.ok() {
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

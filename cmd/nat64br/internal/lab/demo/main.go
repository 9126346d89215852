// Command nat64br-demo runs the network-namespace lab (sudo make demo)
// against a nat64br binary: an IPv6-only client and an IPv4-only server in
// network namespaces, nat64br between them on two veths, then one-armed,
// on a trunk, between two Linux routers and two of them behind a BGP router
// with equal-cost multipath: fourteen passes. It starts
// nat64br as an operator would and reads it through its CLI, its control
// socket and its metrics.
//
//	nat64br-demo [--nat64br bin/nat64br] [--http-mb N] [--http6-mb N] [--udp N] [--garbage D] [--keep] [--udp-expiry=false]
//	             [--stream D] [--sessions N] [--passes LIST] [--bgp-reps N]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nat64br/nat64br/cmd/nat64br/internal/lab"
)

func main() {
	lab.Child() // the lab starts this executable as its helper too
	os.Exit(demo())
}

func demo() int {
	fs := flag.NewFlagSet("nat64br-demo", flag.ExitOnError)
	bin := fs.String("nat64br", "bin/nat64br", "the nat64br `binary` to run")
	httpMB := fs.Int("http-mb", 100, "size of the IPv6 client's HTTP download in MB")
	http6MB := fs.Int("http6-mb", 10, "size of the IPv4 client's download from the IPv6-only server in MB")
	udp := fs.Int("udp", 1000, "UDP echoes to send")
	garbage := fs.Duration("garbage", 5*time.Second, "send malformed frames into both ports for this long (third pass)")
	keep := fs.Bool("keep", false, "keep the namespaces for inspection")
	expiry := fs.Bool("udp-expiry", true, "stateful pass: wait the 2 minutes a UDP binding lives, then check a late reply is refused")
	stream := fs.Duration("stream", 3*time.Minute, "routed learning pass: how long the receive-only UDP stream lasts (shorten it for quick runs)")
	sessions := fs.Int("sessions", 10000, "routed state pass: TCP sessions kept across a restart")
	only := fs.String("passes", "", "run only these passes, by number: 10-13, 1,4,10")
	bgpReps := fs.Int("bgp-reps", 0, "BGP pass: repeat the SIGTERM and kill -9 failovers this many times and print the medians (sudo make demo-bgp)")
	_ = fs.Parse(os.Args[1:])
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "nat64br-demo: needs root to create network namespaces (sudo make demo)")
		return 1
	}
	exe, err := exec.LookPath(*bin)
	if err == nil {
		exe, err = filepath.Abs(exe)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nat64br-demo: --nat64br %s: %v\n", *bin, err)
		return 1
	}
	passes, err := lab.Select(lab.Passes(lab.Options{HTTPBytes: int64(*httpMB) << 20, HTTP6Bytes: int64(*http6MB) << 20, UDPEchoes: *udp,
		Nat64br: exe, Keep: *keep, UDPExpiry: *expiry, Stream: *stream, Sessions: *sessions, BGPReps: *bgpReps}, *garbage), *only)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nat64br-demo: %v\n", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	return lab.Demo(ctx, passes, os.Stdout)
}

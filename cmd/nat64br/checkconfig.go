package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/nat64br/nat64br/config"
)

// cmdCheckConfig validates a configuration file: every problem is printed
// with its file, line and key, and the exit status is 1 if there is any.
func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: nat64br check-config FILE") }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	c, err := config.Load(fs.Arg(0))
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(stderr, p)
			}
			fmt.Fprintf(stderr, "%d problem(s)\n", len(ce.Problems))
			return 1
		}
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	if _, err := newTranslator(c); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.Path, err)
		return 1
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if c.IPv4Interface != "" || c.IPv6Interface != "" {
		ipv4, ipv6 := c.NextHops()
		fmt.Fprintf(stdout, "IPv4 next hops: %s\nIPv6 next hops: %s\n", ipv4, ipv6)
	}
	fmt.Fprintf(stdout, "%s: ok\n", c.Path)
	return 0
}

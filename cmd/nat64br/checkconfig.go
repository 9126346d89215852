package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nat64br/nat64br/config"
)

// cmdCheckConfig validates a configuration file: every problem is printed
// with its file, line and key, and the exit status is 1 if there is any.
func cmdCheckConfig(in *invocation) int {
	stdout, stderr := in.stdout, in.stderr
	path := in.str("config")
	switch {
	case len(in.args) == 1 && path != "":
		return in.cmd.fail(stderr, "give the file as FILE or as --config FILE, not both")
	case len(in.args) == 1:
		path = in.args[0]
	case path == "":
		return in.cmd.fail(stderr, "missing FILE")
	}
	c, err := loadConfig(path)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(stderr, p)
			}
			fmt.Fprintf(stderr, "%d problem(s)\n", ce.Count)
			return 1
		}
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	mem := readMemBudget("/")
	sized := sizeToMemory(c, mem)
	if _, err := newTranslator(c); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.Path, err)
		return 1
	}
	if c.BGP != nil && !bgpBuilt {
		_, err := newSpeaker(nil, c)
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
	fmt.Fprintf(stdout, "memory budget of this process (run reads its own): %s\nsized to it: %s\n", mem, orNone(strings.Join(sized, " ")))
	if c.BGP != nil {
		printBGPPlan(stdout, c)
	}
	fmt.Fprintf(stdout, "%s: ok\n", c.Path)
	return 0
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/nat64br/nat64br/config"
)

// nat64br pool4-plan: the partition of one IPv4 prefix into equal slices,
// one per translator behind equal-cost routes. Each node announces and
// translates with its own slice only, so the return traffic of a stateful
// flow comes back to the node that holds its session and no state is
// shared. SIIT and EAM state is the same on every node.

// maxPlanNodes bounds --nodes: a plan is printed, one line per slice.
const maxPlanNodes = 4096

// pool4Plan is PREFIX cut into 2^k equal slices, k the smallest with 2^k
// >= the number of nodes. Node i (from 1) has Nodes[i-1]; the slices left
// over when the count is not a power of two belong to no node (Spare).
type pool4Plan struct {
	Prefix netip.Prefix
	Nodes  []netip.Prefix
	Spare  []netip.Prefix
}

// errPlan is the error of a plan that cannot be made or a configuration
// that does not fit it.
var errPlan = errors.New("pool4-plan")

// planPool4 parses prefix (an IPv4 prefix with no host bits) and cuts it
// for nodes nodes.
func planPool4(prefix string, nodes int) (pool4Plan, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(prefix))
	switch {
	case err != nil:
		return pool4Plan{}, fmt.Errorf("%w: %q is not a prefix (ADDR/BITS)", errPlan, prefix)
	case !p.Addr().Is4():
		return pool4Plan{}, fmt.Errorf("%w: %s is not an IPv4 prefix: pool4 is IPv4", errPlan, p)
	case p.Masked() != p:
		return pool4Plan{}, fmt.Errorf("%w: %s has host bits set: did you mean %s?", errPlan, p, p.Masked())
	case nodes < 1 || nodes > maxPlanNodes:
		return pool4Plan{}, fmt.Errorf("%w: --nodes %d is outside 1..%d", errPlan, nodes, maxPlanNodes)
	}
	k := bits.Len(uint(nodes - 1)) // 2^k >= nodes
	if p.Bits()+k > 32 {
		return pool4Plan{}, fmt.Errorf("%w: %s has %d addresses: it cannot give %d nodes one each (use a shorter prefix)",
			errPlan, p, uint64(1)<<(32-p.Bits()), nodes)
	}
	plan := pool4Plan{Prefix: p}
	base := p.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint64(1) << (32 - p.Bits() - k)
	for i := range 1 << k {
		a := start + uint32(uint64(i)*size)
		s := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), p.Bits()+k)
		if i < nodes {
			plan.Nodes = append(plan.Nodes, s)
		} else {
			plan.Spare = append(plan.Spare, s)
		}
	}
	return plan, nil
}

// size returns the number of addresses in each slice.
func (p pool4Plan) size() uint64 { return uint64(1) << (32 - p.Nodes[0].Bits()) }

// owner returns the node (from 1) whose slice holds a, 0 for a spare
// slice, -1 outside the prefix.
func (p pool4Plan) owner(a netip.Addr) int {
	for i, s := range p.Nodes {
		if s.Contains(a) {
			return i + 1
		}
	}
	if p.Prefix.Contains(a) {
		return 0
	}
	return -1
}

// whose names what holds a: "node J's slice S", "a spare slice" or "".
func (p pool4Plan) whose(a netip.Addr) string {
	switch n := p.owner(a); n {
	case -1:
		return ""
	case 0:
		return "a spare slice of " + p.Prefix.String()
	default:
		return fmt.Sprintf("node %d's slice %s", n, p.Nodes[n-1])
	}
}

// pool4YAML is the configuration line that gives a node its slice.
func pool4YAML(s netip.Prefix) string { return "pool4: [" + s.String() + "]" }

// check returns the problems of configuration c as node's (from 1): its
// stateful pool must lie in its slice, and nothing else of it may fall
// in the partitioned prefix.
func (p pool4Plan) check(c *config.Config, node int) []string {
	mine := p.Nodes[node-1]
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	pool, key := c.Pool4, "pool4"
	if c.Mode != config.ModeNAT64 && c.DynamicPool.IsValid() {
		pool, key = []netip.Prefix{c.DynamicPool}, "dynamic-pool"
	}
	if len(pool) == 0 {
		bad("%s: none: node %d's slice is %s (%s)", key, node, mine, pool4YAML(mine))
	}
	for i, q := range pool {
		name := key
		if key == "pool4" {
			name = fmt.Sprintf("pool4[%d]", i)
		}
		switch {
		case mine.Bits() <= q.Bits() && mine.Contains(q.Addr()):
		case !q.Overlaps(p.Prefix):
			bad("%s: %s is outside %s: node %d's slice is %s", name, q, p.Prefix, node, mine)
		default:
			bad("%s: %s is not inside node %d's slice %s: it overlaps %s", name, q, node, mine, p.overlapping(q, node))
		}
	}
	if w := p.whose(c.IPv4Addr); c.IPv4Addr.IsValid() && p.owner(c.IPv4Addr) != node && w != "" {
		bad("ipv4-addr: %s is in %s: a node's own address is outside the prefix or in its own slice", c.IPv4Addr, w)
	}
	if w := p.whose(c.Gateway); c.Gateway.IsValid() && w != "" {
		bad("gateway: %s is in %s: the router's address cannot be translated to", c.Gateway, w)
	}
	if c.IPv4Subnet.IsValid() && c.IPv4Subnet.Overlaps(p.Prefix) {
		bad("ipv4-subnet: %s overlaps %s: the slices are routed to their nodes, not on the link (where a withdrawn slice would still be resolved with ARP)", c.IPv4Subnet, p.Prefix)
	}
	for i, e := range c.EAM {
		if e.IPv4.IsValid() && e.IPv4.Overlaps(p.Prefix) {
			bad("eam[%d]: %s overlaps %s: EAM entries are the same on every node, keep them outside the partitioned prefix", i, e.IPv4, p.Prefix)
		}
	}
	return problems
}

// overlapping names the slices other than node's that q overlaps.
func (p pool4Plan) overlapping(q netip.Prefix, node int) string {
	var what []string
	for i, s := range p.Nodes {
		if i+1 != node && s.Overlaps(q) {
			what = append(what, fmt.Sprintf("node %d's slice %s", i+1, s))
		}
	}
	for _, s := range p.Spare {
		if s.Overlaps(q) {
			what = append(what, "spare "+s.String())
		}
	}
	return strings.Join(what, ", ")
}

// planJSON is pool4-plan --json.
type planJSON struct {
	Prefix string         `json:"prefix"`
	Bits   int            `json:"slice-bits"`
	Size   uint64         `json:"addresses-per-slice"`
	Nodes  []planNodeJSON `json:"nodes"`
	Spare  []string       `json:"spare"`
}

type planNodeJSON struct {
	Node  int    `json:"node"`
	Pool4 string `json:"pool4"`
	YAML  string `json:"yaml"`
}

// cmdPool4Plan is nat64br pool4-plan PREFIX --nodes N [--config FILE --node I].
func cmdPool4Plan(in *invocation) int {
	nodes, node, path := in.int("nodes"), in.int("node"), in.str("config")
	switch {
	case !in.isSet("nodes"):
		return in.cmd.fail(in.stderr, "--nodes is required")
	case (path == "") != !in.isSet("node"):
		return in.cmd.fail(in.stderr, "--config FILE and --node I go together")
	case path != "" && (node < 1 || node > nodes):
		return in.cmd.fail(in.stderr, fmt.Sprintf("--node %d is outside 1..%d", node, nodes))
	}
	plan, err := planPool4(in.args[0], nodes)
	if err != nil {
		fmt.Fprintf(in.stderr, "nat64br %v\n", err)
		return 1
	}
	if path != "" {
		c, err := config.Load(path)
		if err != nil {
			fmt.Fprintf(in.stderr, "nat64br pool4-plan: %v\n", err)
			return 1
		}
		problems := plan.check(c, node)
		for _, p := range problems {
			fmt.Fprintf(in.stderr, "%s: %s\n", c.Path, p)
		}
		if len(problems) > 0 {
			fmt.Fprintf(in.stderr, "%d problem(s): %s does not fit node %d of %d in %s\n", len(problems), c.Path, node, nodes, plan.Prefix)
			return 1
		}
		fmt.Fprintf(in.stdout, "%s: ok as node %d of %d (slice %s)\n", c.Path, node, nodes, plan.Nodes[node-1])
		return 0
	}
	if in.bool("json") {
		j := planJSON{Prefix: plan.Prefix.String(), Bits: plan.Nodes[0].Bits(), Size: plan.size(), Spare: []string{}}
		for i, s := range plan.Nodes {
			j.Nodes = append(j.Nodes, planNodeJSON{i + 1, s.String(), pool4YAML(s)})
		}
		for _, s := range plan.Spare {
			j.Spare = append(j.Spare, s.String())
		}
		b, _ := json.MarshalIndent(j, "", "  ")
		fmt.Fprintf(in.stdout, "%s\n", b)
		return 0
	}
	fmt.Fprintf(in.stdout, "# %s for %d nodes: slices of /%d (%d addresses each)\n", plan.Prefix, nodes, plan.Nodes[0].Bits(), plan.size())
	for i, s := range plan.Nodes {
		fmt.Fprintf(in.stdout, "node %d: %-18s %s\n", i+1, s, pool4YAML(s))
	}
	if len(plan.Spare) > 0 {
		fmt.Fprintf(in.stdout, "# %d is not a power of two: %d slice(s) belong to no node (kept for nodes added later)\n", nodes, len(plan.Spare))
		for _, s := range plan.Spare {
			fmt.Fprintf(in.stdout, "spare:  %s\n", s)
		}
	}
	return 0
}

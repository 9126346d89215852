package main

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanPool4 cuts prefixes for node counts, and refuses what cannot be
// cut.
func TestPlanPool4(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		nodes        int
		want, spare  string // slices, space-separated
		err          string
	}{
		{"two", "198.51.100.128/25", 2, "198.51.100.128/26 198.51.100.192/26", "", ""},
		{"one", "198.51.100.0/24", 1, "198.51.100.0/24", "", ""},
		{"three leaves a spare", "198.51.100.0/24", 3, "198.51.100.0/26 198.51.100.64/26 198.51.100.128/26", "198.51.100.192/26", ""},
		{"five", "203.0.113.0/24", 5, "203.0.113.0/27 203.0.113.32/27 203.0.113.64/27 203.0.113.96/27 203.0.113.128/27",
			"203.0.113.160/27 203.0.113.192/27 203.0.113.224/27", ""},
		{"one address each", "192.0.2.0/30", 4, "192.0.2.0/32 192.0.2.1/32 192.0.2.2/32 192.0.2.3/32", "", ""},
		{"whole space", "0.0.0.0/0", 2, "0.0.0.0/1 128.0.0.0/1", "", ""},
		{"too many for the prefix", "192.0.2.0/30", 5, "", "", "has 4 addresses: it cannot give 5 nodes one each"},
		{"single address, two nodes", "192.0.2.1/32", 2, "", "", "has 1 addresses"},
		{"host bits", "192.0.2.1/24", 2, "", "", "has host bits set: did you mean 192.0.2.0/24?"},
		{"IPv6", "2001:db8::/64", 2, "", "", "is not an IPv4 prefix"},
		{"address", "192.0.2.1", 2, "", "", `"192.0.2.1" is not a prefix`},
		{"garbage", "pool", 2, "", "", `"pool" is not a prefix`},
		{"zero nodes", "192.0.2.0/24", 0, "", "", "--nodes 0 is outside 1..4096"},
		{"negative nodes", "192.0.2.0/24", -3, "", "", "--nodes -3 is outside"},
		{"too many nodes", "10.0.0.0/8", maxPlanNodes + 1, "", "", "is outside 1..4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := planPool4(tc.prefix, tc.nodes)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errPlan) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := joinPrefixes(plan.Nodes); got != tc.want {
				t.Errorf("nodes %s, want %s", got, tc.want)
			}
			if got := joinPrefixes(plan.Spare); got != tc.spare {
				t.Errorf("spare %s, want %s", got, tc.spare)
			}
		})
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

// checkPlan checks the properties of every plan: the slices are equal,
// disjoint, inside the prefix, cover it, and there is one per node.
func checkPlan(t *testing.T, plan pool4Plan, nodes int) {
	t.Helper()
	all := append(append([]netip.Prefix{}, plan.Nodes...), plan.Spare...)
	if len(plan.Nodes) != nodes || len(all)&(len(all)-1) != 0 || len(all) >= 2*nodes && nodes > 0 {
		t.Fatalf("%d nodes, %d slices for %d nodes", len(plan.Nodes), len(all), nodes)
	}
	var total uint64
	for i, s := range all {
		if s.Bits() != all[0].Bits() || s.Masked() != s || !plan.Prefix.Contains(s.Addr()) || s.Bits() < plan.Prefix.Bits() {
			t.Fatalf("slice %d %s in %s", i, s, plan.Prefix)
		}
		for j, o := range all[:i] {
			if s.Overlaps(o) {
				t.Fatalf("slice %d %s overlaps slice %d %s", i, s, j, o)
			}
		}
		total += uint64(1) << (32 - s.Bits())
	}
	if total != uint64(1)<<(32-plan.Prefix.Bits()) {
		t.Fatalf("slices hold %d addresses of %s", total, plan.Prefix)
	}
	for i, s := range plan.Nodes {
		if plan.owner(s.Addr()) != i+1 {
			t.Fatalf("owner of %s is %d, want %d", s.Addr(), plan.owner(s.Addr()), i+1)
		}
	}
}

// FuzzPlanPool4 plans arbitrary prefixes and node counts: a plan that is
// made has the properties checkPlan checks, and a refusal is an errPlan.
func FuzzPlanPool4(f *testing.F) {
	for _, s := range []string{"198.51.100.128/25", "192.0.2.0/30", "0.0.0.0/0", "192.0.2.1/32", "2001:db8::/64", "192.0.2.1/24", "", "x/y"} {
		for _, n := range []int{1, 2, 3, 7, 4096, 0, -1} {
			f.Add(s, n)
		}
	}
	f.Fuzz(func(t *testing.T, prefix string, nodes int) {
		plan, err := planPool4(prefix, nodes)
		if err != nil {
			if !errors.Is(err, errPlan) {
				t.Fatalf("error %v is not errPlan", err)
			}
			return
		}
		checkPlan(t, plan, nodes)
	})
}

// TestPool4PlanCommand runs nat64br pool4-plan as the operator would.
func TestPool4PlanCommand(t *testing.T) {
	code, stdout, stderr := runCLI("pool4-plan", "198.51.100.0/24", "--nodes", "3")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"slices of /26 (64 addresses each)",
		"node 1: 198.51.100.0/26    pool4: [198.51.100.0/26]\n",
		"node 3: 198.51.100.128/26  pool4: [198.51.100.128/26]\n",
		"3 is not a power of two: 1 slice(s) belong to no node",
		"spare:  198.51.100.192/26\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	code, stdout, _ = runCLI("pool4-plan", "--json", "--nodes", "2", "198.51.100.128/25")
	var j planJSON
	if err := json.Unmarshal([]byte(stdout), &j); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	if j.Bits != 26 || j.Size != 64 || len(j.Nodes) != 2 || j.Nodes[1].Pool4 != "198.51.100.192/26" ||
		j.Nodes[1].YAML != "pool4: [198.51.100.192/26]" || j.Spare == nil || len(j.Spare) != 0 {
		t.Errorf("%+v", j)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no nodes", []string{"192.0.2.0/24"}, 2, "--nodes is required"},
		{"config without node", []string{"192.0.2.0/24", "--nodes", "2", "--config", "x.yaml"}, 2, "--config FILE and --node I go together"},
		{"node without config", []string{"192.0.2.0/24", "--nodes", "2", "--node", "1"}, 2, "go together"},
		{"node out of range", []string{"192.0.2.0/24", "--nodes", "2", "--node", "3", "--config", "x.yaml"}, 2, "--node 3 is outside 1..2"},
		{"bad prefix", []string{"192.0.2.0/33", "--nodes", "2"}, 1, `"192.0.2.0/33" is not a prefix`},
		{"too small", []string{"192.0.2.0/31", "--nodes", "3"}, 1, "cannot give 3 nodes one each"},
		{"missing config", []string{"192.0.2.0/24", "--nodes", "2", "--node", "1", "--config", filepath.Join(t.TempDir(), "missing")}, 1, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(append([]string{"pool4-plan"}, tc.args...)...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q, want %d and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
}

// TestPool4PlanConfig checks configurations against their node's slice of
// 198.51.100.128/25 in two (node 1: .128/26, node 2: .192/26).
func TestPool4PlanConfig(t *testing.T) {
	const base = "mode: nat64\nprefix: 2001:db8:64::/96\nipv4-interface: eth0\nipv6-interface: eth0\n"
	dir := t.TempDir()
	for _, tc := range []struct {
		name, cfg string
		node      int
		want      []string // the problems; none: ok
	}{
		{"fits", "pool4: [198.51.100.128/26]\nipv4-addr: 198.51.100.5\ngateway: 198.51.100.1\nipv4-subnet: 198.51.100.0/25\n", 1, nil},
		{"part of its slice", "pool4: [198.51.100.200/29, 198.51.100.250/32]\nipv4-addr: 198.51.100.250\n", 2, nil},
		{"ipv4-addr in its own slice", "pool4: [198.51.100.128/26]\nipv4-addr: 198.51.100.129\n", 1, nil},
		{"other node's slice", "pool4: [198.51.100.192/26]\n", 1,
			[]string{"pool4[0]: 198.51.100.192/26 is not inside node 1's slice 198.51.100.128/26: it overlaps node 2's slice 198.51.100.192/26"}},
		{"whole prefix", "pool4: [198.51.100.128/25]\n", 2,
			[]string{"pool4[0]: 198.51.100.128/25 is not inside node 2's slice 198.51.100.192/26: it overlaps node 1's slice 198.51.100.128/26"}},
		{"outside the prefix", "pool4: [203.0.113.0/26]\n", 1, []string{"pool4[0]: 203.0.113.0/26 is outside 198.51.100.128/25: node 1's slice is 198.51.100.128/26"}},
		{"ipv4-addr in the other slice", "pool4: [198.51.100.128/26]\nipv4-addr: 198.51.100.193\n", 1,
			[]string{"ipv4-addr: 198.51.100.193 is in node 2's slice 198.51.100.192/26"}},
		{"gateway in the prefix", "pool4: [198.51.100.192/26]\ngateway: 198.51.100.129\n", 2,
			[]string{"gateway: 198.51.100.129 is in node 1's slice 198.51.100.128/26"}},
		{"subnet on the prefix", "pool4: [198.51.100.128/26]\nipv4-subnet: 198.51.100.0/24\n", 1,
			[]string{"ipv4-subnet: 198.51.100.0/24 overlaps 198.51.100.128/25"}},
		{"eam in the prefix", "pool4: [198.51.100.128/26]\neam: [{ipv4: 198.51.100.250, ipv6: \"2001:db8::250\"}]\n", 1,
			[]string{"eam[0]: 198.51.100.250/32 overlaps 198.51.100.128/25: EAM entries are the same on every node"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(base+tc.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI("pool4-plan", "198.51.100.128/25", "--nodes", "2", "--config", path, "--node", string(rune('0'+tc.node)))
			if tc.want == nil {
				if code != 0 || !strings.Contains(stdout, "ok as node") || stderr != "" {
					t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
				}
				return
			}
			if code != 1 || !strings.Contains(stderr, "problem(s)") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, path+": "+w) {
					t.Errorf("no %q in\n%s", w, stderr)
				}
			}
		})
	}
	// A siit node's dynamic pool is its stateful pool.
	path := filepath.Join(dir, "siit.yaml")
	if err := os.WriteFile(path, []byte("mode: siit\nprefix: 2001:db8:64::/96\nipv4-addr: 192.0.2.1\ndynamic-pool: 198.51.100.192/26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("pool4-plan", "198.51.100.128/25", "--nodes", "2", "--config", path, "--node", "1"); code != 1 ||
		!strings.Contains(stderr, "dynamic-pool: 198.51.100.192/26 is not inside node 1's slice") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI("pool4-plan", "198.51.100.128/25", "--nodes", "2", "--config", path, "--node", "2"); code != 0 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

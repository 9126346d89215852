package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// A dynamic.map as TAYGA writes it, with its header and a malformed line.
const taygaMap = `###
###
### TAYGA dynamic map database
###
### You can edit this (carefully!) as long as you shut down TAYGA first
###
###
### Last written: Mon Nov 23 12:00:00 2026
###
###

192.0.2.80	2001:db8::69	1795435200
192.0.2.81	2001:db8::70	1795435100
192.0.2.82	not-an-address	1795435100
`

// TestDynamicPoolRestart is the restart of a TAYGA-style deployment: the
// mappings made before it (and those of a TAYGA data-dir) are there after
// it, and each IPv6 host keeps its IPv4 address.
func TestDynamicPoolRestart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, dynamicMapFile), []byte(taygaMap), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("dyn.yaml", []byte(cfgBase+"dynamic-pool: \"192.0.2.0/24\"\ndata-dir: \""+dir+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1795435300, 0)
	start := func(wantProblem bool) (*xlat.Translator, *dynamicStore) {
		tr, err := newTranslator(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := newDynamicStore(cfg.DataDir)
		n, problems, err := s.load(tr, now)
		if err != nil {
			t.Fatal(err)
		}
		if wantProblem && (len(problems) != 1 || !strings.Contains(problems[0].Error(), "dynamic.map:14: malformed line")) ||
			!wantProblem && len(problems) != 0 {
			t.Fatalf("problems: %v", problems)
		}
		t.Logf("loaded %d mappings", n)
		return tr, s
	}
	tr, store := start(true)
	// A new host gets an address; the restart must keep it too.
	pkt := udpPkt(v6("2001:db8::99", s6, 64), 5000, 53, 10)
	buf := make([]byte, 2048)
	copy(buf[128:], pkt)
	v := tr.Translate(buf, 128, len(pkt), xlat.Side6, now)
	if v.Action() != xlat.Forward {
		t.Fatalf("%v %v", v.Action(), v.Reason())
	}
	newAddr := netip.AddrFrom4([4]byte(buf[v.Off+12 : v.Off+16]))
	if err := store.save(tr, now, true); err != nil {
		t.Fatal(err)
	}
	before, _ := tr.DynamicMappings()

	tr2, _ := start(false)
	after, _ := tr2.DynamicMappings()
	if len(after) != 3 || len(after) != len(before) {
		t.Fatalf("%d mappings before the restart, %d after: %v", len(before), len(after), after)
	}
	for i := range before {
		if before[i].IPv4 != after[i].IPv4 || before[i].IPv6 != after[i].IPv6 || before[i].LastUse.Unix() != after[i].LastUse.Unix() {
			t.Fatalf("mapping %d: %v before, %v after", i, before[i], after[i])
		}
	}
	// The hosts reach and are reached at the same addresses.
	for _, m := range after {
		in := udpPkt(v4(s4, m.IPv4.String(), 60), 53, 5000, 10)
		copy(buf[128:], in)
		v := tr2.Translate(buf, 128, len(in), xlat.Side4, now)
		if v.Action() != xlat.Forward || netip.AddrFrom16([16]byte(buf[v.Off+24:v.Off+40])) != m.IPv6 {
			t.Fatalf("%v: %v %v", m, v.Action(), v.Reason())
		}
		if err := xlattest.Check(buf[v.Off:v.Off+v.Len], false); err != nil {
			t.Fatal(err)
		}
	}
	if after[2].IPv4 != newAddr && after[0].IPv4 != newAddr && after[1].IPv4 != newAddr {
		t.Fatalf("the new mapping %v is missing", newAddr)
	}
}

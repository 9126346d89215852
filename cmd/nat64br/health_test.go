package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nat64br/nat64br/config"
)

// fakeSpeaker records what the runner asks of the speaker.
type fakeSpeaker struct {
	mu       sync.Mutex
	healthy  []bool
	reconfig []*config.Config
}

func (f *fakeSpeaker) setHealthy(ok bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthy = append(f.healthy, ok)
	return nil
}

func (f *fakeSpeaker) reconfigure(cfg *config.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconfig = append(f.reconfig, cfg)
	return nil
}

func (f *fakeSpeaker) drain() error                       { return nil }
func (f *fakeSpeaker) report() ([]bgpSession, []bgpRoute) { return nil, nil }
func (f *fakeSpeaker) close(context.Context) error        { return nil }

const reloadBGP = "bgp:\n  asn: 64512\n  neighbors:\n    - {address: 192.0.2.254, asn: 64500}\n"

// TestBGPReload: a reload hands the new configuration to the speaker,
// and refuses what needs a restart.
func TestBGPReload(t *testing.T) {
	l := newMemLab(t)
	dir := t.TempDir()
	r := l.runner(t, dir)
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "nat64br.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(demoConfig + reloadBGP)
	cfg, err := config.Load(r.path)
	if err != nil {
		t.Fatal(err)
	}
	sizeToMemory(cfg, r.mem) // as run does at start: a reload sizes its file the same way
	sp := &fakeSpeaker{}
	r.cfg, r.bgp = cfg, sp

	// A neighbor added, an announcement's communities: applied.
	write(demoConfig + reloadBGP + "    - {address: 192.0.2.253, asn: 64501}\n  announce:\n    - {prefix: 192.0.2.80/32, communities: [\"64512:80\"]}\n")
	if _, problems := r.reloadResult(); problems != nil {
		t.Fatalf("reload refused: %v", problems)
	}
	if len(sp.reconfig) != 1 || len(sp.reconfig[0].BGP.Neighbors) != 2 || r.cfg != sp.reconfig[0] {
		t.Fatalf("the speaker got %+v", sp.reconfig)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"asn", demoConfig + strings.Replace(reloadBGP, "64512", "64513", 1), "bgp asn, router-id and listen-port change only with a restart"},
		{"section removed", demoConfig, "adding or removing the bgp section needs a restart"},
	} {
		write(tc.doc)
		if _, problems := r.reloadResult(); !slices.Contains(problems, tc.want) {
			t.Errorf("%s: problems %v, want %q", tc.name, problems, tc.want)
		}
	}
	if len(sp.reconfig) != 1 {
		t.Errorf("a refused reload reached the speaker: %d calls", len(sp.reconfig))
	}
}

func TestPortDown(t *testing.T) {
	if why := portDown("lo"); why != "" {
		t.Errorf("lo: %q", why)
	}
	if why := portDown("nat64br-none0"); why != "port nat64br-none0 is gone" {
		t.Errorf("a missing port: %q", why)
	}
}

package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/wire/wiretest"
	"github.com/nat64br/nat64br/xlat"
)

var (
	mac6    = arpnd.MAC{0x02, 0x64, 0, 0, 0, 6} // nat64br's IPv6 port
	mac4    = arpnd.MAC{0x02, 0x64, 0, 0, 0, 4} // nat64br's IPv4 port
	hostMAC = arpnd.MAC{0x02, 0, 0, 0, 0, 0x66} // the IPv6 client
	srvMAC  = arpnd.MAC{0x02, 0, 0, 0, 0, 0x44} // the IPv4 server
)

// memLab is the data plane, as the runner composes it from a
// configuration, between two in-memory links; peer6 and peer4 are the
// hosts' ends. The frame path itself is tested in package dataplane.
type memLab struct {
	d            *dataplane.Plane
	peer6, peer4 *wire.MemoryPort
}

func newMemLab(t *testing.T) *memLab {
	t.Helper()
	cfg, err := config.Parse("mem.yaml", []byte(demoConfig))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newMemLabWith(t, cfg, tr)
}

// newMemLabWith is newMemLab with a configuration and a translator of
// the caller's.
func newMemLabWith(t *testing.T, cfg *config.Config, tr *xlat.Translator) *memLab {
	t.Helper()
	p6, peer6 := wire.NewMemoryPair(1024)
	p4, peer4 := wire.NewMemoryPair(1024)
	opts := dataplane.Options{Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), Translator: tr,
		MACs: [3]arpnd.MAC{xlat.Side6: mac6, xlat.Side4: mac4}, ARP: arpOptions(cfg, mac4), ND: ndOptions(cfg, mac6, 1500)}
	opts.Ports[xlat.Side6], opts.Ports[xlat.Side4] = p6, p4
	d, err := dataplane.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(func() { d.Close() })
	return &memLab{d: d, peer6: peer6, peer4: peer4}
}

// runner returns a runner of l's plane whose configuration file is
// dir/nat64br.yaml, written with demoConfig.
func (l *memLab) runner(t *testing.T, dir string) *runner {
	t.Helper()
	cfgPath := filepath.Join(dir, "nat64br.yaml")
	if err := os.WriteFile(cfgPath, []byte(demoConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sizeToMemory(cfg, memBudget{}) // as run does, to the budget its reloads use
	return &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), path: cfgPath, cfg: cfg, d: l.d, started: time.Now()}
}

func eth(dst, src arpnd.MAC, et layers.EthernetType) *layers.Ethernet {
	return wiretest.Eth(dst, src, et)
}

func (l *memLab) send(t *testing.T, p *wire.MemoryPort, f []byte) { t.Helper(); wiretest.Send(t, p, f) }

// expect reads frames from p until match accepts one, or fails after 5 s.
func (l *memLab) expect(t *testing.T, p *wire.MemoryPort, what string, match func(gopacket.Packet) bool) gopacket.Packet {
	t.Helper()
	return wiretest.Expect(t, p, what, match)
}

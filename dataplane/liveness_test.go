package dataplane

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/wire/wiretest"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// stuckPort is a port whose writes block until release is closed: a
// send that never returns.
type stuckPort struct {
	Port
	release chan struct{}
	stuck   chan struct{} // closed when the first write blocks
	once    sync.Once
}

func (s *stuckPort) WriteBatch(bufs [][]byte, off int) (int, error) {
	s.once.Do(func() { close(s.stuck) })
	<-s.release
	return s.Port.WriteBatch(bufs, off)
}

// TestAlive checks the liveness books: an idle plane is alive (its
// workers wait for frames), a worker stuck in a send and timers held up
// are not, and both come back once released.
func TestAlive(t *testing.T) {
	const wait = 350 * time.Millisecond // over three ticks
	tests := []struct {
		name      string
		stuckSend bool // the IPv4 port's writes block
		stuckTick bool // OnTick blocks
		want      string
	}{
		{name: "idle"},
		{name: "worker stuck in a send", stuckSend: true, want: "worker 1 has not come round its loop"},
		{name: "timers held up", stuckTick: true, want: "the timers have not ticked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := labOptions(t, false)
			p6, _ := wire.NewMemoryPair(64)
			p4, peer4 := wire.NewMemoryPair(64)
			release := make(chan struct{})
			var released sync.Once
			unblock := func() { released.Do(func() { close(release) }) }
			t.Cleanup(unblock)
			stuck := &stuckPort{Port: p4, release: release, stuck: make(chan struct{})}
			opts.Ports[xlat.Side6], opts.Ports[xlat.Side4] = p6, p4
			if tc.stuckSend {
				opts.Ports[xlat.Side4] = stuck
			}
			ticked := make(chan struct{})
			var once sync.Once
			if tc.stuckTick {
				opts.OnTick = func(time.Time, bool) {
					once.Do(func() { close(ticked) })
					<-release
				}
			}
			p, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Alive(); !errors.Is(err, ErrStalled) {
				t.Errorf("Alive before Start = %v, want ErrStalled", err)
			}
			p.Start()
			t.Cleanup(func() {
				unblock()
				p.Close()
				if err := p.Alive(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Alive after Close = %v, want net.ErrClosed", err)
				}
			})
			if err := p.Alive(); err != nil {
				t.Fatalf("first Alive = %v", err)
			}
			if tc.stuckSend {
				// An ARP request for nat64br's address: the reply's
				// send blocks the IPv4 side's worker.
				srv := xlattest.IP(labServer4).To4()
				wiretest.Send(t, peer4, xlattest.Serialize(eth(header.BroadcastMAC, srvMAC, layers.EthernetTypeARP),
					&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
						Operation: 1, SourceHwAddress: srvMAC[:], SourceProtAddress: srv, DstHwAddress: make([]byte, 6),
						DstProtAddress: xlattest.IP(labPool4).To4()}))
				select {
				case <-stuck.stuck:
				case <-time.After(5 * time.Second):
					t.Fatal("the ARP reply was never sent")
				}
			}
			if tc.stuckTick {
				<-ticked
			}
			time.Sleep(wait)
			_ = p.Alive() // the books since the worker or the timers got stuck
			time.Sleep(wait)
			err = p.Alive()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Alive = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Alive = %v, want ErrStalled: ...%s...", err, tc.want)
			}
			unblock()
			time.Sleep(wait)
			if err := p.Alive(); err != nil {
				t.Fatalf("Alive once released = %v, want nil", err)
			}
		})
	}
}

// BenchmarkBeat is a worker's books for one wait and one turn of its
// loop: what the liveness adds to a ring worker's turn after a sleep.
func BenchmarkBeat(b *testing.B) {
	var hb beat
	b.ReportAllocs()
	for b.Loop() {
		hb.park()
		hb.wake()
		hb.turn()
	}
}

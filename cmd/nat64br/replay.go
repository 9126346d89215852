package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
)

// cmdReplay runs the translator over capture files: frames of --in6 arrive
// on the IPv6 side, those of --in4 on the IPv4 side, merged by timestamp;
// what leaves each side is written to --out6 and --out4, with the link type
// of the input of that side and the input's timestamps. The pcap time is the
// translator's clock; after the last frame it advances by
// replay-drain-seconds.
func cmdReplay(in *invocation) int {
	stdout, stderr := in.stdout, in.stderr
	cfgPath := in.str("config")
	c, err := loadConfig(cfgPath)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(stderr, p)
			}
		} else {
			fmt.Fprintf(stderr, "nat64br: %v\n", err)
		}
		return 1
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	t, err := newTranslator(c)
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %s: %v\n", c.Path, err)
		return 1
	}
	k, err := replayFiles(c, t, in.str("in6"), in.str("in4"), in.str("out6"), in.str("out4"))
	if !in.bool("quiet") {
		k.Print(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	return 0
}

// The MAC addresses of nat64br's ports in a replay of Ethernet captures
// (locally administered).
var replayMACs = [3]arpnd.MAC{xlat.Side6: {0x02, 0x64, 0x62, 0x72, 0, 6}, xlat.Side4: {0x02, 0x64, 0x62, 0x72, 0, 4}}

// replayFiles runs the data plane over the captures in6 and in4 (either may be
// ""), merged by timestamp, on the pcap clock, and writes what leaves each
// side to out6 and out4. A side whose capture is Ethernet is an Ethernet
// link (ARP, Neighbor Discovery and next hops as in the wire, with the MAC
// addresses replayMACs); raw-IP captures make IP links. Each output keeps
// its side's link type, or the other side's when it has no input. It
// returns the plane's counters.
func replayFiles(c *config.Config, t *xlat.Translator, in6, in4, out6, out4 string) (k dataplane.Counters, err error) {
	var sides [3]*pcapSide
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		sides[s] = &pcapSide{}
	}
	closeAll := func() {
		for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
			if cerr := sides[s].Close(); err == nil {
				err = cerr
			}
		}
	}
	for side, path := range map[xlat.Side]string{xlat.Side6: in6, xlat.Side4: in4} {
		if path == "" {
			continue
		}
		if sides[side].in, err = wire.OpenPcap(path); err != nil {
			closeAll()
			return k, err
		}
	}
	lt := [3]wire.LinkType{}
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		other := xlat.Side4
		if s == xlat.Side4 {
			other = xlat.Side6
		}
		switch {
		case sides[s].in != nil:
			lt[s] = sides[s].in.LinkType()
		case sides[other].in != nil:
			lt[s] = sides[other].in.LinkType().Counterpart()
		default:
			lt[s] = wire.LinkRaw
		}
	}
	// An IPv4-only capture on the IPv6 side (or the reverse) cannot hold
	// that side's output.
	if lt[xlat.Side6] == wire.LinkIPv4 {
		lt[xlat.Side6] = wire.LinkIPv6
	}
	if lt[xlat.Side4] == wire.LinkIPv6 {
		lt[xlat.Side4] = wire.LinkIPv4
	}
	// A capture's frames went to the MAC of the translator it was made
	// in front of, not replayMACs: any unicast destination is nat64br's.
	opts := dataplane.Options{Translator: t, MACs: replayMACs, AnyMAC: true, Reassembly: reassemblyOptions(c),
		ARP: arpOptions(c, replayMACs[xlat.Side4]), ND: ndOptions(c, replayMACs[xlat.Side6], c.MTU6)}
	for s, path := range map[xlat.Side]string{xlat.Side6: out6, xlat.Side4: out4} {
		if sides[s].out, err = wire.CreatePcap(path, lt[s], false); err != nil {
			closeAll()
			return k, err
		}
		opts.Ports[s] = sides[s]
		opts.Links[s] = dataplane.LinkIP
		if lt[s] == wire.LinkEthernet {
			opts.Links[s] = dataplane.LinkEthernet
		}
	}
	p, err := dataplane.New(opts)
	if err != nil {
		closeAll()
		return k, err
	}
	defer func() {
		if cerr := p.Close(); err == nil {
			err = cerr
		}
	}()
	sync := p.Sync()
	var clock time.Time
	for _, s := range sides[1:] {
		s.next()
	}
	for {
		s := xlat.Side6
		if !sides[s].have || (sides[xlat.Side4].have && sides[xlat.Side4].at.Before(sides[s].at)) {
			s = xlat.Side4
		}
		if !sides[s].have {
			break
		}
		clock = sides[s].at
		sides[xlat.Side6].out.SetTime(clock)
		sides[xlat.Side4].out.SetTime(clock)
		sync.Timers(clock)
		if _, err := sync.Read(s, clock); err != nil {
			return p.Counters(), err
		}
		if sides[s].err != nil {
			return p.Counters(), sides[s].err
		}
	}
	for _, s := range sides[1:] {
		if s.err != nil {
			return p.Counters(), s.err
		}
	}
	// The NAT64 timers run on: held SYNs are answered, sessions expire.
	if c.ReplayDrain > 0 {
		clock = clock.Add(c.ReplayDrain)
		sides[xlat.Side6].out.SetTime(clock)
		sides[xlat.Side4].out.SetTime(clock)
		sync.Timers(clock)
	}
	return p.Counters(), nil
}

// pcapSide is a side of a replay as a data plane port: it reads the
// frames of its capture (one ahead, so that the two sides can be merged
// by timestamp) and writes to its output file.
type pcapSide struct {
	in   *wire.PcapReader // nil: no input
	out  *wire.PcapWriter
	buf  []byte // the next frame
	n    int
	at   time.Time
	have bool
	err  error // reading the next frame failed (not io.EOF)
}

// next reads the frame after the current one ahead.
func (p *pcapSide) next() {
	p.have = false
	if p.in == nil {
		return
	}
	if p.buf == nil {
		p.buf = make([]byte, dataplane.BufSize-dataplane.Headroom-xlat.Tailroom)
	}
	size := []int{0}
	k, err := p.in.ReadBatch([][]byte{p.buf}, size, 0)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			p.err = err
		}
		return
	}
	p.n, p.at, p.have = size[0], p.in.Time(), k == 1
}

// ReadBatch hands over the frame read ahead and reads the next one.
func (p *pcapSide) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	if !p.have {
		return 0, io.EOF
	}
	sizes[0] = copy(bufs[0][offset:], p.buf[:p.n])
	p.next()
	return 1, nil
}

// WriteBatch writes the frames to the output file, stamped with the time
// last set on it.
func (p *pcapSide) WriteBatch(bufs [][]byte, offset int) (int, error) {
	if p.out == nil {
		return 0, net.ErrClosed
	}
	return p.out.WriteBatch(bufs, offset)
}

// Close closes the input and flushes and closes the output.
func (p *pcapSide) Close() error {
	var err error
	if p.in != nil {
		p.in.Close()
		p.in = nil
	}
	if p.out != nil {
		err = p.out.Close()
		p.out = nil
	}
	return err
}

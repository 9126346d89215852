package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
)

// pcapOutput sends frames to a pcap writer, stamped with the input's time.
type pcapOutput struct{ w *wire.PcapWriter }

func (o pcapOutput) send(frame []byte, at time.Time) error {
	o.w.SetTime(at)
	_, err := o.w.WriteBatch([][]byte{frame}, 0)
	return err
}

// cmdReplay runs the translator over capture files: frames of --in6 arrive
// on the IPv6 side, those of --in4 on the IPv4 side, merged by timestamp;
// what leaves each side is written to --out6 and --out4, with the link type
// of the input of that side and the input's timestamps. The pcap time is the
// translator's clock; after the last frame it advances by
// replay-drain-seconds.
func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration `file` (required)")
	in6 := fs.String("in6", "", "capture `file` of frames arriving on the IPv6 side")
	in4 := fs.String("in4", "", "capture `file` of frames arriving on the IPv4 side")
	out6 := fs.String("out6", "", "pcap `file` for frames leaving on the IPv6 side (required)")
	out4 := fs.String("out4", "", "pcap `file` for frames leaving on the IPv4 side (required)")
	quiet := fs.Bool("q", false, "do not print the counters")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nat64br replay --config FILE [--in6 PCAP] [--in4 PCAP] --out6 PCAP --out4 PCAP")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgPath == "" || *out6 == "" || *out4 == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	c, err := config.Load(*cfgPath)
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
	r := &replayer{e: engine{t: t}, drain: c.ReplayDrain}
	err = r.run(*in6, *in4, *out6, *out4)
	if !*quiet {
		r.e.c.print(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	return 0
}

type replayer struct {
	e     engine
	drain time.Duration
	in    [3]*wire.PcapReader
}

func (r *replayer) run(in6, in4, out6, out4 string) (err error) {
	for side, path := range map[xlat.Side]string{xlat.Side6: in6, xlat.Side4: in4} {
		if path == "" {
			continue
		}
		pr, err := wire.OpenPcap(path)
		if err != nil {
			return err
		}
		defer pr.Close()
		r.in[side] = pr
	}
	// Each output keeps the link type of its side's input; a side without
	// input copies the other side's framing.
	lt := [3]wire.LinkType{}
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		other := xlat.Side4
		if s == xlat.Side4 {
			other = xlat.Side6
		}
		switch {
		case r.in[s] != nil:
			lt[s] = r.in[s].LinkType()
		case r.in[other] != nil:
			lt[s] = r.in[other].LinkType().Counterpart()
		default:
			lt[s] = wire.LinkRaw
		}
		r.e.link[s] = lt[s]
	}
	// An IPv4-only capture on the IPv6 side (or the reverse) cannot hold
	// that side's output.
	if lt[xlat.Side6] == wire.LinkIPv4 {
		lt[xlat.Side6] = wire.LinkIPv6
	}
	if lt[xlat.Side4] == wire.LinkIPv6 {
		lt[xlat.Side4] = wire.LinkIPv4
	}
	for s, path := range map[xlat.Side]string{xlat.Side6: out6, xlat.Side4: out4} {
		w, err := wire.CreatePcap(path, lt[s], false)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}()
		r.e.out[s] = pcapOutput{w}
	}

	// Merge the inputs by timestamp, one frame of look-ahead per side.
	var bufs [3][]byte
	var n [3]int
	var have [3]bool
	size := []int{0}
	next := func(s xlat.Side) error {
		have[s] = false
		if r.in[s] == nil {
			return nil
		}
		if bufs[s] == nil {
			bufs[s] = make([]byte, bufSize)
		}
		k, err := r.in[s].ReadBatch([][]byte{bufs[s][:frameHeadroom+maxFrame]}, size, frameHeadroom)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		n[s], have[s] = size[0], k == 1
		return nil
	}
	if err := next(xlat.Side6); err != nil {
		return err
	}
	if err := next(xlat.Side4); err != nil {
		return err
	}
	var clock time.Time
	for have[xlat.Side6] || have[xlat.Side4] {
		s := xlat.Side6
		if !have[s] || (have[xlat.Side4] && r.in[xlat.Side4].Time().Before(r.in[xlat.Side6].Time())) {
			s = xlat.Side4
		}
		clock = r.in[s].Time()
		if err := r.e.timers(clock); err != nil {
			return err
		}
		if err := r.e.process(bufs[s], n[s], s, clock); err != nil {
			return err
		}
		if err := next(s); err != nil {
			return err
		}
	}
	// The NAT64 timers run on: held SYNs are answered, sessions expire.
	if r.drain > 0 {
		return r.e.timers(clock.Add(r.drain))
	}
	return nil
}

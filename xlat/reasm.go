package xlat

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// IP reassembly (RFC 791 §3.2, RFC 8200 §4.5, RFC 5722) of the datagrams
// that must be translated whole: ICMP messages, whose checksum covers the
// whole message (and, in ICMPv6, a pseudo-header), and in stateful NAT64
// every fragmented datagram (RFC 6146 §3.4, §3.5 let fragments arrive in
// any order; the ports are in the first one only).
//
// The fragments of one datagram may reach different workers, so the table
// is shared: shards chosen by the source address, each with a lock, and a
// pool of 1 KiB blocks that the shards take their data space from, with a
// lock of its own. Lock order: a shard's lock, then the pool's (a leaf).
// Nothing on the path of unfragmented packets touches it.

// ReassemblyOptions configure a Reassembler. Zero values mean the defaults
// given with each field.
type ReassemblyOptions struct {
	// Timeout is how long the fragments of a datagram are kept, counted
	// from its first fragment to arrive (default 5 s).
	Timeout time.Duration

	// MaxBytes bounds the memory of all datagrams being reassembled
	// (default 4 MiB), MaxBytesPerSource that of one source address
	// (default 256 KiB). Fragment data is kept in 1 KiB blocks, and they
	// count whole blocks; the bookkeeping adds under 1 KiB per datagram,
	// which holds at least a block.
	MaxBytes, MaxBytesPerSource int
}

// Defaults of ReassemblyOptions. RFC 6146 §3.5 asks a NAT64 to keep
// fragments at least FRAGMENT_MIN, 2 s; the fragments of a datagram leave
// their sender back to back, so anything that takes seconds to arrive is
// lost. Linux keeps them 30 s (IPv4) and 60 s (IPv6), timers of the slow
// links of the 1980s; 5 s leaves a margin over FRAGMENT_MIN for queues and
// reordering, and frees the memory of a fragment flood 6 to 12 times
// sooner. A 65535-byte datagram takes 64 KiB: the total allows 64 of them,
// one source 4.
const (
	DefaultReassemblyTimeout           = 5 * time.Second
	DefaultReassemblyMaxBytes          = 4 << 20
	DefaultReassemblyMaxBytesPerSource = 256 << 10
)

// MaxReassembled is the length of the largest datagram a Reassembler
// gives back: an IPv6 header and the largest payload.
const MaxReassembled = header.IPv6Len + 65535

// ReassemblyBlock is the size of the blocks fragment data is kept in; the
// caps are rounded down to whole blocks.
const ReassemblyBlock = 1024

const (
	reasmShards = 16
	// reasmSlots is the number of blocks a 65535-byte datagram spans.
	reasmSlots = 65536 / ReassemblyBlock
	// reasmMaxFrags bounds the fragments of one datagram: 1500-byte
	// fragments of the largest datagram are 45; a datagram in more is
	// dropped (ReasonReassemblyFull).
	reasmMaxFrags = 64
	// reasmMaxHdr bounds the header the reassembled datagram takes from
	// its first fragment: an IPv4 header, or the IPv6 header, the
	// extension headers before the Fragment header and that header.
	reasmMaxHdr = 128
)

// Reassembler puts fragmented IPv4 and IPv6 datagrams back together. It is
// safe for concurrent use; it does no I/O and reads no clock: Add and Sweep
// take the time.
type Reassembler struct {
	timeout   int64 // nanoseconds
	perSource int   // bytes
	shards    [reasmShards]reasmShard
	pool      reasmPool
}

// reasmShard holds the datagrams of the sources that hash to it, oldest
// first in a list (the timeout is the same for all, so the oldest expires
// first).
type reasmShard struct {
	mu         sync.Mutex
	m          map[reasmKey]*reasmEntry
	src        map[[16]byte]int // bytes held per source
	head, tail *reasmEntry
}

// reasmKey identifies a datagram: RFC 791 §3.2 (source, destination,
// protocol, Identification) and RFC 8200 §4.5 (source, destination,
// Identification). IPv4 addresses are IPv4-mapped.
type reasmKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8 // IPv4 only
	v6       bool
}

// reasmEntry is a datagram being reassembled. Its data lives at its
// offsets in blocks[offset/ReassemblyBlock]; spans are the fragments
// received, sorted by offset.
type reasmEntry struct {
	key        reasmKey
	prev, next *reasmEntry // the shard's list; next also links the pool's free entries
	expires    int64
	total      int // data length, known from the last fragment; -1 until then
	have       int // data bytes received
	nblocks    int
	nspans     int
	hdrLen     int // 0 until the first fragment arrives
	blocks     [reasmSlots]*[ReassemblyBlock]byte
	spans      [reasmMaxFrags]struct{ lo, hi uint16 }
	hdr        [reasmMaxHdr]byte
}

// reasmPool is the blocks and entries of every shard: made when first
// needed, up to the caps, and reused.
type reasmPool struct {
	mu        sync.Mutex
	free      []*[ReassemblyBlock]byte
	made      int // blocks made
	inUse     int // blocks held by entries
	maxBlocks int
	entries   *reasmEntry // free entries
	live      int         // entries in use
}

// NewReassembler returns a Reassembler for opts, or an error naming the
// first invalid option.
func NewReassembler(opts ReassemblyOptions) (*Reassembler, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultReassemblyTimeout
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultReassemblyMaxBytes
	}
	if opts.MaxBytesPerSource == 0 {
		opts.MaxBytesPerSource = min(DefaultReassemblyMaxBytesPerSource, opts.MaxBytes)
	}
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("reassembly timeout %v is negative", opts.Timeout)
	case opts.MaxBytes < ReassemblyBlock:
		return nil, fmt.Errorf("reassembly max-bytes %d is below one %d-byte block", opts.MaxBytes, ReassemblyBlock)
	case opts.MaxBytesPerSource < ReassemblyBlock || opts.MaxBytesPerSource > opts.MaxBytes:
		return nil, fmt.Errorf("reassembly max-bytes-per-source %d is outside %d..max-bytes (%d)", opts.MaxBytesPerSource, ReassemblyBlock, opts.MaxBytes)
	}
	r := &Reassembler{timeout: int64(opts.Timeout), perSource: opts.MaxBytesPerSource / ReassemblyBlock * ReassemblyBlock}
	r.pool.maxBlocks = opts.MaxBytes / ReassemblyBlock
	for i := range r.shards {
		n := min(r.pool.maxBlocks/reasmShards+1, 1024)
		r.shards[i].m = make(map[reasmKey]*reasmEntry, n)
		r.shards[i].src = make(map[[16]byte]int, n)
	}
	return r, nil
}

// fragment is what parseFragment learns of a packet.
type fragment struct {
	key    reasmKey
	whole  bool   // not a fragment
	pkt    []byte // the packet without link-layer padding
	hdr    []byte // the header a reassembled datagram takes from its first fragment
	data   []byte
	lo, hi int // the data's place in the datagram
	more   bool
}

// parseFragment parses the IPv4 or IPv6 fragment p into f.
func parseFragment(p []byte, f *fragment) Reason {
	if len(p) == 0 {
		return ReasonTruncated
	}
	var maxEnd int
	switch p[0] >> 4 {
	case header.IPv4Version:
		if len(p) < header.IPv4MinLen {
			return ReasonTruncated
		}
		ip := header.IPv4(p)
		ihl, total := ip.HeaderLen(), ip.TotalLength()
		switch {
		case ihl < header.IPv4MinLen:
			return ReasonBadHeaderLength
		case ihl > len(p):
			return ReasonTruncated
		case total < ihl:
			return ReasonBadLength
		case total > len(p):
			return ReasonTruncated
		}
		*f = fragment{pkt: p[:total], hdr: p[:ihl], data: p[ihl:total], lo: int(ip.FragmentOffset()) * 8, more: ip.MF(), whole: !ip.IsFragment()}
		f.key = reasmKey{id: uint32(ip.ID()), proto: ip.Protocol()}
		f.key.src[10], f.key.src[11], f.key.dst[10], f.key.dst[11] = 0xff, 0xff, 0xff, 0xff
		copy(f.key.src[12:], p[12:16])
		copy(f.key.dst[12:], p[16:20])
		maxEnd = 65535 - ihl
	case header.IPv6Version:
		if len(p) < header.IPv6Len {
			return ReasonTruncated
		}
		end := header.IPv6Len + header.IPv6(p).PayloadLength()
		if end > len(p) {
			return ReasonTruncated
		}
		p = p[:end]
		nh, off := p[6], header.IPv6Len
		for i := 0; ; i++ {
			if i > maxExtHeaders {
				return ReasonBadExtHeader
			}
			if nh == header.ProtoFragment {
				break
			}
			if nh != header.ProtoHopByHop && nh != header.ProtoDestOpts && nh != header.ProtoRouting {
				*f = fragment{pkt: p, whole: true}
				return ReasonNone
			}
			if off+8 > end {
				return ReasonBadExtHeader
			}
			n := header.ExtLen(nh, p[off:])
			if off+n > end {
				return ReasonBadExtHeader
			}
			nh, off = p[off], off+n
		}
		if off+header.FragmentLen > end {
			return ReasonBadExtHeader
		}
		if off+header.FragmentLen > reasmMaxHdr {
			return ReasonBadExtHeader // a first fragment's headers we do not keep
		}
		fh := header.Fragment(p[off:])
		*f = fragment{pkt: p, hdr: p[:off+header.FragmentLen], data: p[off+header.FragmentLen:], lo: int(fh.Offset()) * 8, more: fh.More()}
		f.whole = f.lo == 0 && !f.more // an atomic fragment (RFC 8021)
		f.key = reasmKey{src: [16]byte(p[8:24]), dst: [16]byte(p[24:40]), id: fh.ID(), v6: true}
		// The reassembled datagram keeps an atomic Fragment header:
		// its payload is the headers after the IPv6 header and the data.
		maxEnd = 65535 - (off + header.FragmentLen - header.IPv6Len)
	default:
		return ReasonBadVersion
	}
	if f.whole {
		return ReasonNone
	}
	f.hi = f.lo + len(f.data)
	switch {
	case len(f.data) == 0 || f.more && len(f.data)%8 != 0:
		return ReasonBadLength // RFC 8200 §4.5: a multiple of 8 but the last
	case f.hi > maxEnd:
		return ReasonFragmentBadOffsets
	}
	return ReasonNone
}

// Add adds the fragment pkt, an IPv4 or IPv6 packet, that arrived at now.
// If it completes its datagram, Add writes the datagram into dst and
// returns its length; dst should hold MaxReassembled bytes. The datagram is what
// the first fragment's header says, with the lengths of the whole, MF and
// the offset cleared, and DF too: it came fragmented and may be fragmented
// again. An IPv6 datagram keeps an atomic Fragment header (offset 0, M
// clear) with the fragments' Identification.
//
// Otherwise Add returns 0: with ReasonNone when the fragment is held, or
// with the reason it was dropped, and dropped, the number of fragments
// dropped with it (the datagram's, on an overlap). A packet that is not a
// fragment is copied to dst as it is.
func (r *Reassembler) Add(pkt, dst []byte, now time.Time) (n int, reason Reason, dropped int) {
	var f fragment
	if reason := parseFragment(pkt, &f); reason != ReasonNone {
		return 0, reason, 1
	}
	if f.whole {
		if len(dst) < len(f.pkt) {
			return 0, ReasonNoRoom, 1
		}
		return copy(dst, f.pkt), ReasonNone, 0
	}
	t := now.UnixNano()
	s := &r.shards[reasmShardOf(&f.key.src)]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[f.key]
	if e == nil {
		if e = r.pool.entry(); e == nil {
			return 0, ReasonReassemblyFull, 1
		}
		e.key, e.expires, e.total = f.key, t+r.timeout, -1
		s.m[f.key] = e
		s.push(e)
	}
	if reason, dup := e.check(&f); reason != ReasonNone {
		if dup {
			return 0, reason, 1
		}
		return 0, reason, r.drop(s, e) + 1
	}
	// Memory: the blocks the fragment's data needs that the datagram
	// lacks, within the source's cap and the total.
	need := 0
	for k := f.lo / ReassemblyBlock; k <= (f.hi-1)/ReassemblyBlock; k++ {
		if e.blocks[k] == nil {
			need++
		}
	}
	if s.src[f.key.src]+need*ReassemblyBlock > r.perSource || !r.pool.take(e, f.lo, f.hi, need) {
		return 0, ReasonReassemblyFull, r.drop(s, e) + 1
	}
	s.src[f.key.src] += need * ReassemblyBlock
	e.put(&f)
	if e.hdrLen == 0 || e.have != e.total {
		return 0, ReasonNone, 0
	}
	n = e.hdrLen + e.total
	if !e.key.v6 && n > 65535 || e.key.v6 && n-header.IPv6Len > 65535 {
		return 0, ReasonFragmentBadOffsets, r.drop(s, e)
	}
	if len(dst) < n {
		return 0, ReasonNoRoom, r.drop(s, e)
	}
	e.write(dst)
	r.free(s, e)
	return n, ReasonNone, 0
}

// reasmShardOf picks the shard of a source address.
func reasmShardOf(src *[16]byte) int {
	h := (binary.LittleEndian.Uint64(src[:8]) ^ binary.LittleEndian.Uint64(src[8:])) * 0x9e3779b97f4a7c15
	return int(h >> 60)
}

// check checks the fragment f against the datagram e (RFC 5722, RFC 791
// §3.2): it reports the reason to drop it, and whether the datagram is
// kept (an exact duplicate, which RFC 5722's errata 3089 and Linux let
// pass) or dropped with it.
func (e *reasmEntry) check(f *fragment) (r Reason, dup bool) {
	for _, sp := range e.spans[:e.nspans] {
		lo, hi := int(sp.lo), int(sp.hi)
		if lo == f.lo && hi == f.hi {
			return ReasonFragmentDuplicate, true
		}
		if f.lo < hi && lo < f.hi {
			return ReasonFragmentOverlap, false
		}
	}
	switch {
	case e.nspans == reasmMaxFrags:
		return ReasonReassemblyFull, false
	case !f.more && e.total >= 0:
		return ReasonFragmentOverlap, false // a second last fragment
	case !f.more && e.nspans > 0 && int(e.spans[e.nspans-1].hi) > f.hi:
		return ReasonFragmentOverlap, false // data beyond the end
	case f.more && e.total >= 0 && f.hi >= e.total:
		return ReasonFragmentOverlap, false // beyond the end, or an empty last fragment
	}
	return ReasonNone, false
}

// put stores the fragment f in e, whose blocks are in place for it.
func (e *reasmEntry) put(f *fragment) {
	for lo, data := f.lo, f.data; len(data) > 0; {
		c := copy(e.blocks[lo/ReassemblyBlock][lo%ReassemblyBlock:], data)
		data, lo = data[c:], lo+c
	}
	i := e.nspans
	for i > 0 && int(e.spans[i-1].lo) > f.lo {
		e.spans[i] = e.spans[i-1]
		i--
	}
	e.spans[i].lo, e.spans[i].hi = uint16(f.lo), uint16(f.hi)
	e.nspans++
	e.have += f.hi - f.lo
	if !f.more {
		e.total = f.hi
	}
	if f.lo == 0 {
		e.hdrLen = copy(e.hdr[:], f.hdr)
	}
}

// write writes the complete datagram e into dst.
func (e *reasmEntry) write(dst []byte) {
	h := copy(dst, e.hdr[:e.hdrLen])
	for lo := 0; lo < e.total; {
		lo += copy(dst[h+lo:h+e.total], e.blocks[lo/ReassemblyBlock][lo%ReassemblyBlock:])
	}
	if e.key.v6 {
		header.IPv6(dst).SetPayloadLength(h - header.IPv6Len + e.total)
		f := header.Fragment(dst[h-header.FragmentLen:])
		f.Set(f.NextHeader(), 0, false, f.ID())
		return
	}
	ip := header.IPv4(dst)
	ip.SetTotalLength(h + e.total)
	ip.SetFragment(false, false, 0)
	ip.SetChecksum(ip.ComputeChecksum())
}

// drop frees the datagram e and returns the number of fragments it held.
func (r *Reassembler) drop(s *reasmShard, e *reasmEntry) int {
	n := e.nspans
	r.free(s, e)
	return n
}

// free takes the datagram e out of shard s and gives its memory back.
func (r *Reassembler) free(s *reasmShard, e *reasmEntry) {
	delete(s.m, e.key)
	if b := s.src[e.key.src] - e.nblocks*ReassemblyBlock; b > 0 {
		s.src[e.key.src] = b
	} else {
		delete(s.src, e.key.src)
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	r.pool.put(e)
}

// push appends e to the shard's list.
func (s *reasmShard) push(e *reasmEntry) {
	e.prev, e.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = e
	} else {
		s.head = e
	}
	s.tail = e
}

// entry returns a free entry, nil if the entries (one per block) are all
// in use.
func (p *reasmPool) entry() *reasmEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live >= p.maxBlocks {
		return nil
	}
	p.live++
	if e := p.entries; e != nil {
		p.entries = e.next
		return e
	}
	return new(reasmEntry)
}

// take gives e the need blocks that the data [lo, hi) lacks, if the total
// cap allows it.
func (p *reasmPool) take(e *reasmEntry, lo, hi, need int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse+need > p.maxBlocks {
		return false
	}
	p.inUse += need
	e.nblocks += need
	for k := lo / ReassemblyBlock; k <= (hi-1)/ReassemblyBlock; k++ {
		if e.blocks[k] != nil {
			continue
		}
		if n := len(p.free); n > 0 {
			e.blocks[k], p.free[n-1] = p.free[n-1], nil
			p.free = p.free[:n-1]
		} else {
			e.blocks[k] = new([ReassemblyBlock]byte)
			p.made++
		}
	}
	return true
}

// put gives back the entry e and its blocks.
func (p *reasmPool) put(e *reasmEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, b := range e.blocks {
		if b != nil {
			p.free = append(p.free, b)
			e.blocks[k] = nil
		}
	}
	p.inUse -= e.nblocks
	p.live--
	*e = reasmEntry{next: p.entries}
	p.entries = e
}

// Sweep drops the datagrams whose time is over at now. It returns the
// fragments dropped: lone ones, whose datagram saw no other fragment
// (ReasonFragmentLone), and the others (ReasonReassemblyTimeout).
func (r *Reassembler) Sweep(now time.Time) (lone, timedOut int) {
	t := now.UnixNano()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for s.head != nil && s.head.expires <= t {
			if n := r.drop(s, s.head); n == 1 {
				lone++
			} else {
				timedOut += n
			}
		}
		s.mu.Unlock()
	}
	return lone, timedOut
}

// ReassemblyStats are a Reassembler's figures at one time.
type ReassemblyStats struct {
	Datagrams int // datagrams being reassembled
	Bytes     int // memory they hold, in whole blocks
	Allocated int // memory of the blocks made so far, held or free
}

// Stats returns the Reassembler's figures.
func (r *Reassembler) Stats() ReassemblyStats {
	p := &r.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	return ReassemblyStats{Datagrams: p.live, Bytes: p.inUse * ReassemblyBlock, Allocated: p.made * ReassemblyBlock}
}

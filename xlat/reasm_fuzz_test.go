package xlat

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// fuzzFrag builds the fragment a fuzz record describes: datagram id from
// source src (0 or 1), IPv4 or IPv6, data [lo, lo+n) of the pattern
// fuzzByte, M set if more.
func fuzzFrag(v6 bool, src, id byte, lo, n int, more bool) []byte {
	var p []byte
	if v6 {
		p = make([]byte, 48+n)
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(8+n))
		p[6], p[7] = header.ProtoFragment, 64
		p[8], p[9], p[23] = 0x20, 0x01, 1+src
		p[24], p[25], p[39] = 0x20, 0x01, 0x99
		header.Fragment(p[40:]).Set(header.ProtoICMPv6, uint16(lo/8), more, uint32(id))
	} else {
		p = make([]byte, 20+n)
		ip := header.IPv4(p)
		ip.Set20(&header.Fields20{Total: uint16(20 + n), ID: uint16(id), MF: more, Offset: uint16(lo / 8), TTL: 64, Protocol: header.ProtoICMPv4,
			Src: 0xc0000201 + uint32(src), Dst: 0xc6336402})
	}
	for i := range n {
		p[len(p)-n+i] = fuzzByte(src, id, lo+i)
	}
	return p
}

// fuzzByte is the data byte at offset o of datagram id from source src.
func fuzzByte(src, id byte, o int) byte { return byte(o*7) ^ id*13 ^ src<<7 }

// FuzzReassembler feeds arbitrary sequences of fragments, well-formed or
// raw bytes, to a Reassembler with small caps, and checks that it never
// panics, never holds more than its caps (in total and per source), keeps
// its books straight, and that every datagram it completes parses, has the
// right lengths and carries the fragments' data where they put it.
//
// Each record is 6 bytes: flags (bits 0-1 the datagram's Identification,
// bit 2 the source, bit 3 IPv6, bit 4 raw: the next bytes, up to the
// length, are the packet; bits 5-7 the time that passes, in half seconds),
// the offset in 8-byte units (2 bytes), the length (2 bytes) and a byte
// whose low bit is M.
func FuzzReassembler(f *testing.F) {
	rec := func(flags byte, off8, n int, more bool) []byte {
		m := byte(0)
		if more {
			m = 1
		}
		return []byte{flags, byte(off8 >> 8), byte(off8), byte(n >> 8), byte(n), m}
	}
	cat := func(rs ...[]byte) []byte {
		var b []byte
		for _, r := range rs {
			b = append(b, r...)
		}
		return b
	}
	f.Add(cat(rec(0, 0, 1480, true), rec(0, 185, 1480, true), rec(0, 370, 48, false)))
	f.Add(cat(rec(8, 308, 544, false), rec(8, 154, 1232, true), rec(8, 0, 1232, true)))
	f.Add(cat(rec(1, 0, 1480, true), rec(1, 184, 1480, true), rec(1<<5|2, 0, 8, false)))
	f.Add(cat(rec(4|8, 0, 1232, true), rec(4|8, 0, 1232, true), rec(7<<5, 0, 16, false)))
	f.Add(cat(rec(0, 8100, 1480, false), rec(16, 0, 40, false), []byte("E\x00\x00\x28\x00\x01\x20\x00@\x01")))
	f.Fuzz(fuzzReassembler)
}

// fuzzDst receives the fuzzed datagrams (a fuzz worker runs its inputs one
// at a time).
var fuzzDst [MaxReassembled]byte

// fuzzReassembler is FuzzReassembler's body.
func fuzzReassembler(t *testing.T, data []byte) {
	const maxBytes, perSource = 16 << 10, 8 << 10
	r, err := NewReassembler(ReassemblyOptions{Timeout: 2 * time.Second, MaxBytes: maxBytes, MaxBytesPerSource: perSource})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	dst := make([]byte, MaxReassembled)
	for len(data) >= 6 {
		flags, off8, n, more := data[0], int(binary.BigEndian.Uint16(data[1:])), int(binary.BigEndian.Uint16(data[3:])), data[5]&1 != 0
		data = data[6:]
		now = now.Add(time.Duration(flags>>5) * 500 * time.Millisecond)
		if flags>>5 != 0 {
			lone, old := r.Sweep(now)
			if lone < 0 || old < 0 {
				t.Fatalf("sweep %d %d", lone, old)
			}
		}
		var pkt []byte
		if flags&16 != 0 {
			n = min(n, len(data))
			pkt, data = data[:n], data[n:]
		} else {
			pkt = fuzzFrag(flags&8 != 0, flags>>2&1, flags&3, off8%8192*8, n%2048, more)
		}
		got, reason, dropped := r.Add(pkt, dst, now)
		switch {
		case got < 0 || got > MaxReassembled:
			t.Fatalf("Add returned %d bytes", got)
		case got > 0 && reason != ReasonNone, got == 0 && reason == ReasonNone && dropped != 0:
			t.Fatalf("Add: %d bytes, %v, %d dropped", got, reason, dropped)
		case reason != ReasonNone && (dropped < 1 || dropped > reasmMaxFrags+1):
			t.Fatalf("Add: %v with %d dropped", reason, dropped)
		}
		if got > 0 && flags&16 == 0 {
			checkFuzzDatagram(t, dst[:got], flags>>2&1, flags&3)
		}
		checkReassemblerBooks(t, r, maxBytes, perSource)
	}
	r.Sweep(now.Add(time.Hour))
	if st := r.Stats(); st.Datagrams != 0 || st.Bytes != 0 || st.Allocated > maxBytes {
		t.Fatalf("after the last sweep: %+v", st)
	}
}

// checkFuzzDatagram checks a datagram the reassembler completed from
// fuzzFrag's fragments.
func checkFuzzDatagram(t *testing.T, d []byte, src, id byte) {
	var data []byte
	if d[0]>>4 == 4 {
		ip := header.IPv4(d)
		if ip.HeaderLen() != 20 || ip.TotalLength() != len(d) || ip.IsFragment() || ip.DF() || ip.ComputeChecksum() != ip.Checksum() || ip.ID() != uint16(id) {
			t.Fatalf("reassembled IPv4 header %x", d[:20])
		}
		data = d[20:]
	} else {
		if len(d) < 48 || header.IPv6(d).PayloadLength() != len(d)-40 || d[6] != header.ProtoFragment {
			t.Fatalf("reassembled IPv6 header %x", d[:min(48, len(d))])
		}
		fh := header.Fragment(d[40:])
		if fh.Offset() != 0 || fh.More() || fh.ID() != uint32(id) || fh.NextHeader() != header.ProtoICMPv6 {
			t.Fatalf("reassembled Fragment header %x", d[40:48])
		}
		data = d[48:]
	}
	for o, b := range data {
		if b != fuzzByte(src, id, o) {
			t.Fatalf("reassembled byte %d of %d is %#x, want %#x", o, len(data), b, fuzzByte(src, id, o))
		}
	}
}

// checkReassemblerBooks checks r's caps and that its shards and pool
// agree.
func checkReassemblerBooks(t *testing.T, r *Reassembler, maxBytes, perSource int) {
	entries, bytes := 0, 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		entries += len(s.m)
		for src, b := range s.src {
			if b <= 0 || b > perSource {
				t.Fatalf("source %x holds %d bytes (cap %d)", src, b, perSource)
			}
			bytes += b
		}
		n := 0
		for e := s.head; e != nil; e = e.next {
			if s.m[e.key] != e || e.nspans == 0 {
				t.Fatalf("shard %d: listed entry %+v is not in its map", i, e.key)
			}
			n++
		}
		if n != len(s.m) {
			t.Fatalf("shard %d: %d listed, %d in the map", i, n, len(s.m))
		}
		s.mu.Unlock()
	}
	st := r.Stats()
	if st.Datagrams != entries || st.Bytes != bytes || st.Bytes > maxBytes || st.Allocated > maxBytes {
		t.Fatalf("stats %+v; the shards hold %d datagrams, %d bytes", st, entries, bytes)
	}
}

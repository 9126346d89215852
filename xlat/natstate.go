package xlat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"slices"
	"time"
)

// The NAT64 state file keeps the BIB and the sessions across a restart
// (SaveNAT, LoadNAT). Lifetimes are stored as what is left of them when
// the file was written, with the wall clock of that moment, so a load ages
// them by the time the translator was down. All integers are big-endian.
//
//	header, 48 bytes:
//	   0  magic "NAT64BR\n"
//	   8  version (2 bytes): 1
//	  10  flags (2 bytes): 0
//	  12  reserved (4 bytes): 0
//	  16  written at, unix seconds (8 bytes, signed)
//	  24  RFC 6052 prefix: address (16 bytes), length (1 byte)
//	  41  reserved (7 bytes): 0
//	records: a BIB entry, then its sessions
//	  BIB entry, 31 bytes:
//	   0  'B'
//	   1  protocol: 0 TCP, 1 UDP, 2 ICMP
//	   2  flags: bit 0 static-bib, the others 0
//	   3  X (16 bytes), x (2), T (4), t (2): IPv6 and IPv4 transport addresses
//	  27  sessions that follow (4 bytes, at least 1)
//	  session, 11 bytes:
//	   0  Y (4 bytes), y (2; 0 for ICMP): the remote IPv4 transport address
//	   6  TCP state (1 byte: a TCPState for TCP, 0 otherwise)
//	   7  lifetime left when written, seconds (4 bytes)
//	trailer, 21 bytes:
//	   0  'E'
//	   1  BIB entries (8 bytes), sessions (8 bytes)
//	  17  CRC-32C (Castagnoli) of every byte before it (4 bytes)

// NATStateVersion is the version of the state file SaveNAT writes.
const NATStateVersion = 1

// Errors of LoadNAT, wrapped with what was wrong and where.
var (
	// ErrNATState is a file that is not a NAT64 state file, or a damaged
	// one: truncated, failing its checksum, or malformed.
	ErrNATState = errors.New("not a valid NAT64 state file")
	// ErrNATStateVersion is a state file of a version this translator
	// does not read.
	ErrNATStateVersion = errors.New("unknown NAT64 state file version")
)

const (
	stateMagic      = "NAT64BR\n"
	stateHeaderLen  = 48
	stateBIBLen     = 31
	stateSessLen    = 11
	stateTrailerLen = 21
	stateStatic     = 1 // BIB flag
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SaveNAT writes the NAT64 BIB and sessions to w in the state file format,
// with the lifetimes left at now, the wall clock. Sessions expired by then
// are left out, as are static-bib entries without sessions (the
// configuration makes those). It locks one natShard6 at a time while it
// copies the shard, and writes without a lock: the data path waits for a
// copy (tens of microseconds a shard), never for w. What it writes is a
// snapshot of each shard, not of the whole table at once. It returns what
// it wrote; in SIIT mode it writes nothing.
func (t *Translator) SaveNAT(w io.Writer, now time.Time) (NATStateStats, error) {
	var st NATStateStats
	nt := t.c.nat
	if nt == nil {
		return st, nil
	}
	sh := &nt.s6[0]
	sh.mu.Lock() // a reload may be changing the prefix (Reconcile)
	prefix := nt.prefix
	sh.mu.Unlock()
	buf := appendStateHeader(make([]byte, 0, 64<<10), now.Unix(), prefix)
	crc := crc32.Update(0, castagnoli, buf)
	if _, err := w.Write(buf); err != nil {
		return st, err
	}
	var enc stateEncoder
	for si := range nt.s6 {
		sh := &nt.s6[si]
		sh.mu.Lock()
		buf = enc.shard(buf[:0], sh, uint32(now.Unix()), &st)
		sh.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		crc = crc32.Update(crc, castagnoli, buf)
		if _, err := w.Write(buf); err != nil {
			return st, err
		}
	}
	buf = append(buf[:0], 'E')
	buf = binary.BigEndian.AppendUint64(buf, uint64(st.BIB))
	buf = binary.BigEndian.AppendUint64(buf, uint64(st.Sessions))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Update(crc, castagnoli, buf))
	_, err := w.Write(buf)
	return st, err
}

func appendStateHeader(b []byte, at int64, prefix netip.Prefix) []byte {
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint16(b, NATStateVersion)
	b = append(b, 0, 0, 0, 0, 0, 0) // flags, reserved
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	a := prefix.Addr().As16()
	b = append(b, a[:]...)
	b = append(b, byte(prefix.Bits()), 0, 0, 0, 0, 0, 0, 0)
	return b
}

// stateEncoder encodes shards, with scratch space kept from one to the next.
type stateEncoder struct {
	start []uint32 // by BIB index: where its sessions begin in order
	order []uint32 // session indices, grouped by BIB entry
	next  []uint32 // by BIB index: where its next session goes in order
}

// shard appends the live entries of sh to b; the caller holds sh.mu.
func (e *stateEncoder) shard(b []byte, sh *natShard6, now uint32, st *NATStateStats) []byte {
	nb := int(sh.bibs.n)
	if nb == 0 || sh.nsess == 0 {
		return b
	}
	// Group the live sessions by BIB entry (a counting sort).
	e.start = slices.Grow(e.start[:0], nb+1)[:nb+1]
	clear(e.start)
	sh.sess.each(func(_ uint32, s *session) {
		if s.proto != 0 && s.expiry.Load() > now {
			e.start[s.bib+1]++
		}
	})
	for i := 1; i <= nb; i++ {
		e.start[i] += e.start[i-1]
	}
	e.order = slices.Grow(e.order[:0], int(e.start[nb]))[:e.start[nb]]
	e.next = append(e.next[:0], e.start[:nb]...)
	sh.sess.each(func(i uint32, s *session) {
		if s.proto != 0 && s.expiry.Load() > now {
			e.order[e.next[s.bib]] = i
			e.next[s.bib]++
		}
	})
	sh.bibs.each(func(i uint32, be *bibEntry) {
		n := e.start[i+1] - e.start[i]
		if be.proto == 0 || n == 0 {
			return
		}
		var flags byte
		if be.static {
			flags |= stateStatic
		}
		b = append(b, 'B', be.proto-1, flags)
		b = binary.BigEndian.AppendUint64(b, be.addr6.hi)
		b = binary.BigEndian.AppendUint64(b, be.addr6.lo)
		b = binary.BigEndian.AppendUint16(b, be.port6)
		b = binary.BigEndian.AppendUint32(b, be.addr4)
		b = binary.BigEndian.AppendUint16(b, be.port4)
		b = binary.BigEndian.AppendUint32(b, n)
		for _, si := range e.order[e.start[i]:e.start[i+1]] {
			s := sh.sess.at(si)
			b = binary.BigEndian.AppendUint32(b, s.raddr)
			b = binary.BigEndian.AppendUint16(b, s.rport)
			b = append(b, byte(s.state.Load()))
			b = binary.BigEndian.AppendUint32(b, s.expiry.Load()-now)
		}
		st.BIB++
		st.Sessions += int(n)
	})
	return b
}

// stateHeader is what the header of a state file says.
type stateHeader struct {
	at        int64 // unix seconds
	prefix    netip.Prefix
	nb, nsess uint64 // records
}

// stateBIB is a BIB entry record, its sessions still encoded.
type stateBIB struct {
	pr     int
	static bool
	x      u128
	xp     uint16
	a      uint32
	ap     uint16
	sess   []byte // n × stateSessLen bytes
}

// parseState checks data as a whole, header, records and trailer, and
// returns its header and its records, which hold no surprise after that.
func parseState(data []byte) (stateHeader, []byte, error) {
	var h stateHeader
	if len(data) < len(stateMagic) || string(data[:len(stateMagic)]) != stateMagic {
		return h, nil, fmt.Errorf("no NAT64BR magic at the start: %w", ErrNATState)
	}
	if len(data) < stateHeaderLen+stateTrailerLen {
		return h, nil, fmt.Errorf("%d bytes, shorter than a header and a trailer: %w", len(data), ErrNATState)
	}
	if v := binary.BigEndian.Uint16(data[8:]); v != NATStateVersion {
		return h, nil, fmt.Errorf("version %d, this nat64br reads %d: %w", v, NATStateVersion, ErrNATStateVersion)
	}
	end := len(data) - stateTrailerLen
	tr := data[end:]
	if want, got := binary.BigEndian.Uint32(tr[17:]), crc32.Checksum(data[:len(data)-4], castagnoli); want != got {
		return h, nil, fmt.Errorf("checksum %08x, the file says %08x (truncated or damaged): %w", got, want, ErrNATState)
	}
	if tr[0] != 'E' {
		return h, nil, fmt.Errorf("no trailer at byte %d: %w", end, ErrNATState)
	}
	if binary.BigEndian.Uint16(data[10:]) != 0 {
		return h, nil, fmt.Errorf("unknown flags %#x: %w", binary.BigEndian.Uint16(data[10:]), ErrNATState)
	}
	h.at = int64(binary.BigEndian.Uint64(data[16:]))
	if bits := int(data[40]); bits <= 128 {
		h.prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte(data[24:40])), bits)
	}
	body := data[stateHeaderLen:end]
	nb, ns, err := walkState(body, nil)
	if err != nil {
		return h, nil, err
	}
	if nb != binary.BigEndian.Uint64(tr[1:]) || ns != binary.BigEndian.Uint64(tr[9:]) {
		return h, nil, fmt.Errorf("%d BIB entries and %d sessions, the trailer says %d and %d: %w",
			nb, ns, binary.BigEndian.Uint64(tr[1:]), binary.BigEndian.Uint64(tr[9:]), ErrNATState)
	}
	h.nb, h.nsess = nb, ns
	return h, body, nil
}

// walkState checks the records of body and calls fn, if not nil, with
// each. It returns how many BIB entries and sessions it found.
func walkState(body []byte, fn func(*stateBIB)) (nb, ns uint64, err error) {
	var r stateBIB
	for off := 0; off < len(body); {
		b := body[off:]
		bad := func(what string) error { return badRecord(off, what) }
		if b[0] != 'B' {
			return nb, ns, bad(fmt.Sprintf("type %#x is not a BIB entry", b[0]))
		}
		if len(b) < stateBIBLen {
			return nb, ns, bad("cut short")
		}
		if b[1] >= natProtos {
			return nb, ns, bad(fmt.Sprintf("protocol %d", b[1]))
		}
		if b[2]&^stateStatic != 0 {
			return nb, ns, bad(fmt.Sprintf("flags %#x", b[2]))
		}
		n := uint64(binary.BigEndian.Uint32(b[27:]))
		if n == 0 {
			return nb, ns, bad("no sessions")
		}
		if n*stateSessLen > uint64(len(b)-stateBIBLen) {
			return nb, ns, bad(fmt.Sprintf("%d sessions do not fit", n))
		}
		r = stateBIB{pr: int(b[1]), static: b[2]&stateStatic != 0,
			x:  u128{binary.BigEndian.Uint64(b[3:]), binary.BigEndian.Uint64(b[11:])},
			xp: binary.BigEndian.Uint16(b[19:]), a: binary.BigEndian.Uint32(b[21:]), ap: binary.BigEndian.Uint16(b[25:]),
			sess: b[stateBIBLen : stateBIBLen+n*stateSessLen]}
		for s := r.sess; len(s) > 0; s = s[stateSessLen:] {
			st, yp := TCPState(s[6]), binary.BigEndian.Uint16(s[4:])
			switch {
			case r.pr == natTCP && (st < TCPV4Init || st > TCPTrans):
				return nb, ns, bad(fmt.Sprintf("TCP state %d", st))
			case r.pr != natTCP && st != 0:
				return nb, ns, bad(fmt.Sprintf("TCP state %d in a %s session", st, NATProtocols[r.pr]))
			case r.pr == natICMP && yp != 0:
				return nb, ns, bad("an ICMP session with a remote port")
			}
		}
		if fn != nil {
			fn(&r)
		}
		nb++
		ns += n
		off += stateBIBLen + int(n)*stateSessLen
	}
	return nb, ns, nil
}

func badRecord(off int, what string) error {
	return fmt.Errorf("record at byte %d: %s: %w", stateHeaderLen+off, what, ErrNATState)
}

// LoadNAT loads a state file that SaveNAT wrote into the NAT64 tables of
// t, a new Translator: call it before t is used. The file is checked as a
// whole first (checksum, every record); a damaged one is an error that
// wraps ErrNATState or ErrNATStateVersion, and the tables stay as they
// were. Lifetimes are aged by the time between the file's writing and now
// (sessions whose lifetime ran out are not restored) and shortened to the
// configured timeouts. Entries the configuration does not allow are
// skipped: made under another prefix, outside pool4 or its ports, a
// static-bib entry no longer configured, a dynamic one where a static-bib
// entry is now, over a limit. dropped, if not nil, is called with each
// entry skipped. In SIIT mode LoadNAT loads nothing.
func (t *Translator) LoadNAT(data []byte, now time.Time, dropped func(NATEntry, NATDrop)) (NATStateStats, error) {
	var st NATStateStats
	nt := t.c.nat
	if nt == nil {
		return st, nil
	}
	h, body, err := parseState(data)
	if err != nil {
		return st, err
	}
	nt.presize(h.nb, h.nsess)
	f := newNATFilter(&t.c.opt, h.prefix)
	l := stateLoad{t: nt, f: f, to: &t.c.natTimeouts, now: uint32(now.Unix()), ns: now.UnixNano(),
		down: max(0, now.Unix()-h.at), st: &st, dropped: dropped}
	if _, _, err := walkState(body, l.bib); err != nil {
		return st, err // parseState walked it already
	}
	if st.Sessions > 0 {
		nt.stats[natStatSessionsCreated].Add(^uint64(st.Sessions - 1)) // restored, not created
	}
	return st, nil
}

// presize gives the shards' indexes room for nb BIB entries and ns
// sessions in all, spread evenly, so that a load does not rehash them as
// they fill (a quarter of its time otherwise).
func (t *natTable) presize(nb, ns uint64) {
	size := func(n uint64) int {
		k := minBuckets
		for uint64(k) < n/natShards+n/natShards/4 && k < 1<<slabIndexBits {
			k *= 2
		}
		return k
	}
	for i := range t.s6 {
		sh, sh4 := &t.s6[i], &t.s4[i]
		sh.mu.Lock()
		sh4.mu.Lock()
		if sh.nsess == 0 && sh.nbib == 0 && sh4.nsess == 0 && sh4.nbib == 0 {
			sh.sessIdx, sh4.sessIdx = make([]uint32, size(ns)), make([]uint32, size(ns))
			sh.bibIdx, sh4.bibIdx = make([]uint32, size(nb)), make([]uint32, size(nb))
		}
		sh4.mu.Unlock()
		sh.mu.Unlock()
	}
}

// stateLoad restores records into a table.
type stateLoad struct {
	t       *natTable
	f       *natFilter
	to      *natTimeouts
	now     uint32
	ns      int64
	down    int64 // seconds since the file was written
	st      *NATStateStats
	dropped func(NATEntry, NATDrop)
}

// bib restores one BIB entry record and its sessions, as far as the
// configuration allows.
func (l *stateLoad) bib(r *stateBIB) {
	t, pr := l.t, r.pr
	n := len(r.sess) / stateSessLen
	e := &bibEntry{addr6: r.x, port6: r.xp, addr4: r.a, port4: r.ap, proto: uint8(pr + 1), static: r.static}
	drop := func(why NATDrop) {
		l.st.DroppedBIB[why]++
		l.st.DroppedSessions[why] += n
		if l.dropped != nil {
			ne := bibNATEntry(e)
			ne.Sessions = n
			l.dropped(ne, why)
		}
	}
	if why := l.f.bib(e); why != 0 {
		drop(why)
		return
	}
	h, h4 := t.hash6(pr, r.x, r.xp), t.hash4(pr, r.a, r.ap)
	si := shardOf(h)
	sh, sh4 := &t.s6[si], &t.s4[shardOf(h4)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh4.mu.Lock()
	defer sh4.mu.Unlock()
	br := t.findBIB6(sh, h, pr, r.x, r.xp)
	switch {
	case r.static && br == 0:
		drop(NATDropStatic) // the filter allowed it, so New bound it: not reached
		return
	case r.static:
	case br != 0 || t.findBIB4(sh4, h4, pr, r.a, r.ap) != 0:
		drop(NATDropDuplicate)
		return
	case t.lim.bib > 0 && t.nbib.Load() >= t.lim.bib:
		drop(NATDropLimit)
		return
	case !t.pool.Load().reserve(pr, r.a, r.ap):
		drop(NATDropDuplicate)
		return
	}
	kept, last := 0, NATDrop(0)
	for s := r.sess; len(s) > 0; s = s[stateSessLen:] {
		y, yp, state := binary.BigEndian.Uint32(s), binary.BigEndian.Uint16(s[4:]), TCPState(s[6])
		left := int64(binary.BigEndian.Uint32(s[7:])) - l.down
		ss := &session{addr6: r.x, port6: r.xp, addr4: r.a, port4: r.ap, raddr: y, rport: yp, proto: uint8(pr + 1)}
		ss.state.Store(uint32(state))
		ss.expiry.Store(uint32(int64(l.now) + left))
		why := NATDrop(0)
		if left <= 0 {
			why = NATDropExpired
		} else {
			why = l.f.session(ss)
		}
		switch {
		case why != 0:
		case br != 0 && t.find6(sh, t.sessHash6(h, y, yp), pr, r.x, r.xp, y, yp) != 0:
			why = NATDropDuplicate
		case t.admit(r.x) != natOK:
			why = NATDropLimit
		}
		if why == 0 && br == 0 {
			if br = t.newBIB(sh, si, sh4, pr, r.x, r.xp, r.a, r.ap, false); br == 0 {
				t.unadmit(r.x)
				why = NATDropLimit
			}
		}
		if why == 0 {
			exp := l.now + uint32(min(left, int64(l.to.life(pr, state))))
			if t.newSession(sh, si, sh4, br, y, yp, state, exp) == 0 {
				t.unadmit(r.x)
				why = NATDropLimit
			}
		}
		if why != 0 {
			l.st.DroppedSessions[why]++
			if l.dropped != nil {
				l.dropped(sessionNATEntry(ss), why)
			}
			last = why
			continue
		}
		kept++
	}
	l.st.Sessions += kept
	switch {
	case kept > 0:
		l.st.BIB++
	case r.static:
		l.st.DroppedBIB[last]++ // its sessions went; the configuration keeps the entry
	default:
		// None of its sessions came back: neither does the binding.
		if br != 0 {
			t.deleteBIB(sh, sh4, br, l.ns)
		} else {
			t.pool.Load().release(pr, r.a, r.ap)
		}
		l.st.DroppedBIB[last]++
	}
}

package xlat

import (
	"fmt"
	"net/netip"
	"time"
)

// What a configuration allows of the NAT64 tables, when they outlive the
// configuration they were made under: across a reload (Reconcile expires
// what the new one no longer allows) and across a restart (LoadNAT skips
// it). One predicate, natFilter, decides both.

//go:generate stringer -type=NATDrop -linecomment

// NATDrop says why a configuration does not allow a NAT64 entry (a BIB
// entry with its sessions, or one session): LoadNAT skips it, Reconcile
// expires it. The zero value is not a cause: the entry is allowed.
type NATDrop uint8

// Causes. The line comment is the stable name used in logs.
const (
	_                  NATDrop = iota
	NATDropPrefix              // prefix
	NATDropPool4               // pool4
	NATDropPorts               // pool4_ports
	NATDropStatic              // static_bib
	NATDropStaticClash         // static_bib_clash
	NATDropLimit               // limit
	NATDropExpired             // expired
	NATDropDuplicate           // duplicate
	NATDropClients             // clients
	NATDropDenylist4           // denylist4
)

// NATDropCount is the number of NATDrop values, zero included: the size of
// the arrays of NATStateStats.
const NATDropCount = int(NATDropDenylist4) + 1

// NATStateStats counts what SaveNAT wrote, or what LoadNAT and Reconcile
// kept and dropped, by cause (index NATDrop). A BIB entry dropped takes its
// sessions with it; they are counted under its cause.
type NATStateStats struct {
	BIB, Sessions               int // written, restored or kept
	DroppedBIB, DroppedSessions [NATDropCount]int
}

// Dropped returns the BIB entries and the sessions dropped, all causes.
func (s *NATStateStats) Dropped() (bib, sessions int) {
	for i := range s.DroppedBIB {
		bib += s.DroppedBIB[i]
		sessions += s.DroppedSessions[i]
	}
	return bib, sessions
}

// natStatic is a static-bib entry of a configuration.
type natStatic struct {
	x  u128
	a  uint32
	xp uint16
	ap uint16
	pr uint8
}

type natKey6 struct {
	x  u128
	xp uint16
	pr uint8
}

type natKey4 struct {
	a  uint32
	ap uint16
	pr uint8
}

// natFilter is the predicate of a configuration over NAT64 entries. It is
// built from the translator's Options; to add a condition, add the field
// it needs to newNATFilter and test it in bib (conditions on the IPv6
// host or the binding) or session (conditions on the remote end), with a
// new NATDrop.
type natFilter struct {
	prefixChanged bool
	prefix        pool6 // the new prefix: IPv6 hosts cannot be inside it
	nets          []range4
	ranges        [natProtos]PortRange
	static6       map[natKey6]natKey4 // (proto, X, x) → (T, t) of each static-bib entry
	static4       map[natKey4]bool
	acl           acl // clients and denylist4
}

// newNATFilter returns the filter of o, the Options of the configuration
// the tables now serve, for tables made under the RFC 6052 prefix from.
// It uses o's pool4, pool4 ports, static-bib, prefix, clients and
// denylist4; validate o first
// (New does).
func newNATFilter(o *Options, from netip.Prefix) *natFilter {
	f := &natFilter{prefixChanged: o.Prefix != from, ranges: portRanges(&o.NAT),
		static6: map[natKey6]natKey4{}, static4: map[natKey4]bool{}}
	f.prefix, _ = newPool6(o.Prefix)
	f.acl, _ = newACL(o) // New has validated the lists
	for _, p := range o.NAT.Pool4 {
		if p.IsValid() && p.Addr().Is4() {
			p = p.Masked()
			f.nets = append(f.nets, range4{ip4bits(p.Addr()), ^uint32(uint64(1)<<(32-p.Bits()) - 1)})
		}
	}
	for _, s := range o.NAT.StaticBIB {
		pr := natProto(s.Proto)
		if pr < 0 || !s.IPv6.Addr().Is6() || !s.IPv4.Addr().Is4() {
			continue // New refuses it
		}
		a6 := s.IPv6.Addr().As16()
		k4 := natKey4{ip4bits(s.IPv4.Addr()), s.IPv4.Port(), uint8(pr)}
		f.static6[natKey6{u128From16(&a6), s.IPv6.Port(), uint8(pr)}] = k4
		f.static4[k4] = true
	}
	return f
}

// ip4bits returns the IPv4 address a as an integer.
func ip4bits(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// bib returns why the configuration does not allow the BIB entry e (and
// so none of its sessions), or 0.
func (f *natFilter) bib(e *bibEntry) NATDrop {
	pr := e.proto - 1
	k6, k4 := natKey6{e.addr6, e.port6, pr}, natKey4{e.addr4, e.port4, pr}
	if f.prefixChanged || f.prefix.contains(e.addr6) {
		return NATDropPrefix // the IPv6 hosts' flows go to other addresses now
	}
	if !inRanges(f.nets, e.addr4) {
		return NATDropPool4
	}
	want, static := f.static6[k6]
	if e.static {
		if !static || want != k4 {
			return NATDropStatic
		}
		return 0
	}
	if static || f.static4[k4] {
		return NATDropStaticClash // the configured binding wins
	}
	if r := f.ranges[pr]; e.port4 < r.Lo || e.port4 > r.Hi {
		return NATDropPorts
	}
	if !f.acl.client(e.addr6) {
		return NATDropClients // refused both ways now: expire, not let time out
	}
	return 0
}

// session returns why the configuration does not allow the session s of
// an allowed BIB entry, or 0.
func (f *natFilter) session(s *session) NATDrop {
	if f.acl.denied4(s.raddr) {
		return NATDropDenylist4
	}
	return 0
}

// life returns the lifetime in seconds of a session of protocol pr in TCP
// state st (RFC 6146 §3.5.2.2: established and half-closed sessions have
// the established lifetime, the others the transitory one).
func (to *natTimeouts) life(pr int, st TCPState) uint32 {
	if pr != natTCP {
		return to.proto[pr]
	}
	switch st {
	case TCPEstablished, TCPV4FinRcv, TCPV6FinRcv:
		return to.tcpEst
	}
	return to.tcpTrans
}

// Reconcile applies the configuration of t, which KeepState gave the
// tables of the running translator, to those tables, which workers may be
// using: pool4 and its ports, static-bib, the limits, the number of held
// SYNs, and the timeouts (no session lives longer than its new lifetime
// from now). Entries the configuration no longer allows are expired at
// now, with the mapping log's events: those bound to an address no longer
// in pool4, to a port outside pool4-ports, a static-bib entry removed or
// changed, a dynamic binding where a static-bib entry now is; everything
// if the prefix changed. Lower limits expire nothing: new flows are refused
// until the tables are under them.
//
// A pool4 change holds every natShard6 lock at once while the bound ports
// move to the new pool (about 40 ns per BIB entry, BenchmarkRebind); the rest goes a shard
// at a time. dropped, if not nil, is called with each entry expired,
// without any lock held. Call Reconcile once, after KeepState and before t
// is used; it returns what it kept and expired, and the static-bib entries
// it could not bind.
func (t *Translator) Reconcile(now time.Time, dropped func(NATEntry, NATDrop)) (NATStateStats, []error) {
	c := t.c
	nt, next := c.nat, c.natNext
	if nt == nil || next == nil {
		return NATStateStats{}, nil
	}
	c.natNext = nil
	f := newNATFilter(&c.opt, nt.prefix)
	nowS, ns := uint32(now.Unix()), now.UnixNano()

	nt.lockAll()
	nt.rebind(next, f)
	nt.statics, nt.prefix = next.statics, c.opt.Prefix
	nt.unlockAll()

	var st NATStateStats
	var report []natDropped
	for si := range nt.s6 {
		report = nt.reconcileShard(uint32(si), f, &c.natTimeouts, nowS, ns, &st, report[:0], dropped != nil)
		for _, d := range report {
			dropped(d.e, d.why)
		}
	}
	errs := nt.addStatics(next.statics, ns, &st)
	nt.holds.resize(len(next.holds.e))
	return st, errs
}

// natDropped is an entry to report, copied under its shard's lock.
type natDropped struct {
	e   NATEntry
	why NATDrop
}

// lockAll takes every natShard6 lock, in order: nothing else can make or
// remove an entry, or take a port, until unlockAll. Holding them, one may
// still take natShard4 locks, one at a time.
func (t *natTable) lockAll() {
	for i := range t.s6 {
		t.s6[i].mu.Lock()
	}
}

func (t *natTable) unlockAll() {
	for i := range t.s6 {
		t.s6[i].mu.Unlock()
	}
}

// rebind switches t to next's pool4 and limits. The caller holds every
// natShard6 lock. Every bound port moves to the new pool; a port the new
// pool has given a static-bib entry already is left to it (unpooled), and
// its entry is one the filter expires. Before rebind, the ports of next's
// static-bib entries are bound in next's pool; after it, in t's.
func (t *natTable) rebind(next *natTable, f *natFilter) {
	old, p := t.pool.Load(), next.pool.Load()
	if old.same(p) {
		// Same pool: the static-bib entries the tables do not hold yet
		// take their ports now. A port some entry holds stays bound: the
		// filter expires that entry, and its port goes to the static one
		// (reconcileShard).
		for _, s := range next.statics {
			if !t.hasStatic(s) {
				old.reserve(int(s.pr), s.a, s.ap)
			}
		}
	} else {
		for si := range t.s6 {
			t.s6[si].bibs.each(func(_ uint32, e *bibEntry) {
				if e.proto == 0 || e.static && f.bib(e) == 0 {
					return // a kept static-bib entry: next bound its port
				}
				if !p.reserve(int(e.proto)-1, e.addr4, e.port4) && p.index(e.addr4) >= 0 {
					e.unpooled = true
				}
			})
		}
		t.pool.Store(p)
	}
	perHost := next.lim.perHost > 0 || next.lim.per64 > 0
	switch {
	case !perHost:
		t.hosts = nil
	case t.hosts == nil:
		t.hosts = newHostCounts()
		for si := range t.s6 {
			t.s6[si].sess.each(func(_ uint32, s *session) {
				if s.proto != 0 {
					t.hosts.count(s.addr6)
				}
			})
		}
	}
	t.lim = next.lim
}

// hasStatic reports whether t holds the static-bib entry s. The caller
// holds its natShard6 lock.
func (t *natTable) hasStatic(s natStatic) bool {
	h := t.hash6(int(s.pr), s.x, s.xp)
	br := t.findBIB6(&t.s6[shardOf(h)], h, int(s.pr), s.x, s.xp)
	if br == 0 {
		return false
	}
	e := t.bibAt(br)
	return e.static && e.addr4 == s.a && e.port4 == s.ap
}

// reconcileShard expires the entries of natShard6 si that f does not allow
// and shortens the lifetimes longer than to's, under the shard's lock. It
// appends the expired entries to report if list is set, and returns it.
func (t *natTable) reconcileShard(si uint32, f *natFilter, to *natTimeouts, now uint32, ns int64, st *NATStateStats, report []natDropped, list bool) []natDropped {
	sh := &t.s6[si]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.bibs.n
	why := make([]NATDrop, n)
	latest := make([]uint32, n)
	sh.bibs.each(func(i uint32, e *bibEntry) {
		if e.proto == 0 {
			return
		}
		if why[i] = f.bib(e); why[i] != 0 {
			if f.static4[natKey4{e.addr4, e.port4, e.proto - 1}] {
				e.unpooled = true // the port stays bound, for the static-bib entry (addStatics)
			}
			st.DroppedBIB[why[i]]++
			if list {
				report = append(report, natDropped{bibNATEntry(e), why[i]})
			}
		} else {
			st.BIB++
		}
	})
	expired := 0
	for i := uint32(1); i < sh.sess.n; i++ {
		s := sh.sess.at(i)
		if s.proto == 0 {
			continue
		}
		w := why[s.bib]
		if w == 0 {
			if w = f.session(s); w != 0 && list {
				report = append(report, natDropped{sessionNATEntry(s), w})
			}
		}
		if w != 0 {
			st.DroppedSessions[w]++
			sh4 := &t.s4[shardOf(t.hash4(int(s.proto)-1, s.addr4, s.port4))]
			sh4.mu.Lock()
			t.deleteSession(sh, si, sh4, ref(si, i), ns)
			sh4.mu.Unlock()
			expired++
			continue
		}
		st.Sessions++
		exp := s.expiry.Load()
		if life := to.life(int(s.proto)-1, TCPState(s.state.Load())); exp > now+life {
			exp = now + life
			s.expiry.Store(exp)
		}
		latest[s.bib] = max(latest[s.bib], exp)
	}
	t.stats[natStatSessionsExpired].Add(uint64(expired))
	for i := uint32(1); i < n; i++ {
		e := sh.bibs.at(i)
		if e.proto == 0 {
			continue
		}
		if why[i] != 0 {
			// A static-bib entry (a dynamic one went with its last
			// session).
			sh4 := &t.s4[shardOf(t.hash4(int(e.proto)-1, e.addr4, e.port4))]
			sh4.mu.Lock()
			t.deleteBIB(sh, sh4, ref(si, i), ns)
			sh4.mu.Unlock()
		} else if e.sessions > 0 && latest[i] < e.expiry.Load() {
			e.expiry.Store(latest[i])
		}
	}
	return report
}

// addStatics binds the static-bib entries of ss that t does not hold yet.
// Their ports are reserved in pool4 already (rebind). A dynamic binding of
// the same IPv6 transport address made since the shard was reconciled is
// expired first.
func (t *natTable) addStatics(ss []natStatic, ns int64, st *NATStateStats) []error {
	var errs []error
	for _, s := range ss {
		pr := int(s.pr)
		h := t.hash6(pr, s.x, s.xp)
		si := shardOf(h)
		sh := &t.s6[si]
		sh.mu.Lock()
		if br := t.findBIB6(sh, h, pr, s.x, s.xp); br != 0 {
			if e := t.bibAt(br); e.static {
				sh.mu.Unlock()
				continue // kept
			}
			st.DroppedBIB[NATDropStaticClash]++
			st.DroppedSessions[NATDropStaticClash] += t.deleteBinding(sh, si, br, ns)
		}
		h4 := t.hash4(pr, s.a, s.ap)
		sh4 := &t.s4[shardOf(h4)]
		sh4.mu.Lock()
		if t.findBIB4(sh4, h4, pr, s.a, s.ap) != 0 || t.newBIB(sh, si, sh4, pr, s.x, s.xp, s.a, s.ap, true) == 0 {
			errs = append(errs, fmt.Errorf("static BIB entry %s %s %s: the IPv4 transport address is bound",
				NATProtocols[pr], netip.AddrPortFrom(s.x.addr6(), s.xp), netip.AddrPortFrom(addr4(s.a), s.ap)))
		}
		sh4.mu.Unlock()
		sh.mu.Unlock()
	}
	return errs
}

// deleteBinding deletes the dynamic BIB entry br of natShard6 si (locked
// as sh) by deleting its sessions, and returns how many there were.
func (t *natTable) deleteBinding(sh *natShard6, si, br uint32, ns int64) int {
	n := 0
	for i := uint32(1); i < sh.sess.n && t.bibAt(br).proto != 0; i++ {
		s := sh.sess.at(i)
		if s.proto == 0 || s.bib != br&slabMaxIndex {
			continue
		}
		sh4 := &t.s4[shardOf(t.hash4(int(s.proto)-1, s.addr4, s.port4))]
		sh4.mu.Lock()
		t.deleteSession(sh, si, sh4, ref(si, i), ns)
		sh4.mu.Unlock()
		n++
	}
	t.stats[natStatSessionsExpired].Add(uint64(n))
	return n
}

// bibNATEntry and sessionNATEntry describe entries as the operator tools
// show them. The caller holds the entry's natShard6 lock.
func bibNATEntry(b *bibEntry) NATEntry {
	pr := int(b.proto) - 1
	e := NATEntry{Proto: NATProtocols[pr], IPv6: netip.AddrPortFrom(b.addr6.addr6(), b.port6),
		IPv4: netip.AddrPortFrom(addr4(b.addr4), b.port4), Static: b.static, Sessions: int(b.sessions)}
	if exp := b.expiry.Load(); exp != 0 {
		e.Expires = time.Unix(int64(exp), 0)
	}
	return e
}

func sessionNATEntry(s *session) NATEntry {
	pr := int(s.proto) - 1
	e := NATEntry{Proto: NATProtocols[pr], IPv6: netip.AddrPortFrom(s.addr6.addr6(), s.port6),
		IPv4: netip.AddrPortFrom(addr4(s.addr4), s.port4), Remote: netip.AddrPortFrom(addr4(s.raddr), s.rport),
		Expires: time.Unix(int64(s.expiry.Load()), 0)}
	if pr == natTCP {
		e.State = TCPState(s.state.Load()).String()
	}
	return e
}

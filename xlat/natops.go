package xlat

// natResult is the outcome of a NAT64 table operation.
type natResult uint8

const (
	natOK            natResult = iota
	natNoSession               // a TCP segment other than a SYN, with no session
	natNoBIB                   // no live BIB entry for the IPv4 transport address
	natFiltered                // address-dependent filtering refused it
	natExhausted               // pool4 has no free transport address
	natLimited                 // the session or BIB limit refused it
	natHostLimited             // the per-host limit refused it
	natPrefixLimited           // the per-/64 limit refused it
	natExternalTCP             // drop-externally-initiated-tcp refused an IPv4 SYN
	natFull                    // a shard's slab is full
)

// reason returns the drop reason of a failed operation.
func (r natResult) reason() Reason {
	switch r {
	case natNoSession:
		return ReasonNoSession
	case natNoBIB:
		return ReasonNoBIB
	case natFiltered:
		return ReasonFiltered
	case natExhausted:
		return ReasonPoolExhausted
	case natLimited, natFull:
		return ReasonSessionLimit
	case natHostLimited:
		return ReasonHostLimit
	case natPrefixLimited:
		return ReasonPrefixLimit
	case natExternalTCP:
		return ReasonExternalTCP
	}
	return ReasonNone
}

// out6 finds or creates the session of a packet from the IPv6 side, (pr, X,
// x) → (Y, y), and returns the IPv4 transport address (T, t) it leaves
// from (RFC 6146 §3.5.1, §3.5.2). f are the TCP flags; now is the packet
// time in seconds, ns in nanoseconds (for the mapping log).
func (t *natTable) out6(pr int, x u128, xp uint16, y uint32, yp uint16, f tcpFlags, now uint32, ns int64, to *natTimeouts) (uint32, uint16, natResult) {
	h := t.hash6(pr, x, xp)
	si := shardOf(h)
	sh := &t.s6[si]
	hs := t.sessHash6(h, y, yp)
	sh.mu.Lock()
	if r := t.find6(sh, hs, pr, x, xp, y, yp); r != 0 {
		s := t.sessAt(r)
		if s.alive(now) {
			t.touch(r, s, true, f, now, to)
			a, ap := s.addr4, s.port4
			sh.mu.Unlock()
			return a, ap, natOK
		}
		// Expired, not yet swept: it goes now, and the packet starts anew.
		sh4 := &t.s4[shardOf(t.hash4(pr, s.addr4, s.port4))]
		sh4.mu.Lock()
		t.deleteSession(sh, si, sh4, r, ns)
		sh4.mu.Unlock()
		t.stats[natStatSessionsExpired].Add(1)
	}
	if pr == natTCP && f&tcpSYN == 0 {
		sh.mu.Unlock()
		return 0, 0, natNoSession
	}
	if res := t.admit(x); res != natOK {
		sh.mu.Unlock()
		return 0, 0, res
	}
	var sh4 *natShard4
	br := t.findBIB6(sh, h, pr, x, xp)
	if br != 0 {
		e := t.bibAt(br)
		sh4 = &t.s4[shardOf(t.hash4(pr, e.addr4, e.port4))]
		sh4.mu.Lock()
	} else {
		if t.lim.bib > 0 && t.nbib.Load() >= t.lim.bib {
			t.unadmit(x)
			sh.mu.Unlock()
			return 0, 0, natLimited
		}
		var a uint32
		var ap uint16
		ok := false
		if pr == natTCP && t.holds.pending() {
			// A held IPv4 SYN from the same remote end asked for (T, t):
			// the new binding takes it, so the simultaneous open succeeds
			// (RFC 6146 §3.5.2.2).
			if ha, hap, found := t.holds.match(y, yp); found && t.pool.Load().reserve(pr, ha, hap) {
				a, ap, ok = ha, hap, true
			}
		}
		if !ok {
			a, ap, ok = t.pool.Load().alloc(pr, mix(x.hi^t.k[1], x.lo^t.k[2]), xp, mix(h, t.k[0]))
		}
		if !ok {
			t.unadmit(x)
			sh.mu.Unlock()
			return 0, 0, natExhausted
		}
		sh4 = &t.s4[shardOf(t.hash4(pr, a, ap))]
		sh4.mu.Lock()
		if br = t.newBIB(sh, si, sh4, pr, x, xp, a, ap, false); br == 0 {
			t.pool.Load().release(pr, a, ap)
			t.unadmit(x)
			sh4.mu.Unlock()
			sh.mu.Unlock()
			return 0, 0, natFull
		}
		t.events.add(BIBEvent{Time: ns, Kind: BIBCreated, proto: uint8(pr), addr6: x, port6: xp, addr4: a, port4: ap})
		t.stats[natStatBIBCreated].Add(1)
	}
	st, life := TCPState(0), to.proto[pr]
	if pr == natTCP {
		st, life = TCPV6Init, to.tcpTrans
	}
	e := t.bibAt(br)
	a, ap := e.addr4, e.port4
	if t.newSession(sh, si, sh4, br, y, yp, st, now+life) == 0 {
		if e.sessions == 0 && !e.static {
			t.deleteBIB(sh, sh4, br, ns)
		}
		t.unadmit(x)
		sh4.mu.Unlock()
		sh.mu.Unlock()
		return 0, 0, natFull
	}
	sh4.mu.Unlock()
	sh.mu.Unlock()
	if pr == natTCP && t.holds.pending() {
		t.holds.remove(a, ap, y, yp) // simultaneous open: the held SYN is dropped
	}
	return a, ap, natOK
}

// admit counts a new session of host x against the limits.
func (t *natTable) admit(x u128) natResult {
	if t.lim.sessions > 0 && t.nsess.Load() >= t.lim.sessions {
		return natLimited
	}
	if t.hosts != nil {
		switch t.hosts.acquire(x, t.lim.perHost, t.lim.per64) {
		case 1:
			return natHostLimited
		case 2:
			return natPrefixLimited
		}
	}
	return natOK
}

// unadmit undoes admit when the session could not be created after all.
func (t *natTable) unadmit(x u128) {
	if t.hosts != nil {
		t.hosts.release(x)
	}
}

// in4Policy is the filtering of IPv4-initiated flows.
type in4Policy struct {
	adf     bool // address-dependent filtering
	dropTCP bool // drop-externally-initiated-tcp
}

// in4 finds the session of a packet from the IPv4 side, (pr, T, t) ← (Y,
// y), and returns the IPv6 transport address (X, x) it goes to. Without a
// session, the BIB entry of (T, t) and the filtering policy decide whether
// one is created (RFC 6146 §3.5.1.2, §3.5.2.2).
func (t *natTable) in4(pr int, a uint32, ap uint16, y uint32, yp uint16, f tcpFlags, now uint32, ns int64, to *natTimeouts, pol in4Policy) (u128, uint16, natResult) {
	h4 := t.hash4(pr, a, ap)
	sh4 := &t.s4[shardOf(h4)]
	hs := t.sessHash4(h4, y)
	sh4.mu.Lock()
	if r := t.find4(sh4, hs, pr, a, ap, y, yp); r != 0 {
		if s := t.sessAt(r); s.alive(now) {
			t.touch(r, s, false, f, now, to)
			x, xp := s.addr6, s.port6
			sh4.mu.Unlock()
			return x, xp, natOK
		}
	}
	br := t.findBIB4(sh4, h4, pr, a, ap)
	if br == 0 {
		sh4.mu.Unlock()
		return u128{}, 0, natNoBIB
	}
	e := t.bibAt(br)
	if !e.static && e.expiry.Load() <= now {
		sh4.mu.Unlock()
		return u128{}, 0, natNoBIB
	}
	if pr == natTCP {
		if f&tcpSYN == 0 {
			sh4.mu.Unlock()
			return u128{}, 0, natNoSession
		}
		if pol.dropTCP {
			sh4.mu.Unlock()
			return u128{}, 0, natExternalTCP
		}
	}
	if pol.adf && !t.talked(sh4, hs, pr, a, ap, y, now) {
		sh4.mu.Unlock()
		return u128{}, 0, natFiltered
	}
	x, xp := e.addr6, e.port6
	sh4.mu.Unlock()

	// Create the session: lock in order, then look again, since the entries
	// may have changed while no lock was held.
	h := t.hash6(pr, x, xp)
	si := shardOf(h)
	sh := &t.s6[si]
	sh.mu.Lock()
	sh4.mu.Lock()
	unlock := func() { sh4.mu.Unlock(); sh.mu.Unlock() }
	if r := t.find4(sh4, hs, pr, a, ap, y, yp); r != 0 {
		s := t.sessAt(r)
		if s.alive(now) {
			t.touch(r, s, false, f, now, to)
			unlock()
			return x, xp, natOK
		}
		t.deleteSession(sh, si, sh4, r, ns)
		t.stats[natStatSessionsExpired].Add(1)
	}
	br = t.findBIB4(sh4, h4, pr, a, ap)
	if br == 0 {
		unlock()
		return u128{}, 0, natNoBIB
	}
	if e = t.bibAt(br); e.addr6 != x || e.port6 != xp {
		unlock()
		return u128{}, 0, natNoBIB
	}
	if res := t.admit(x); res != natOK {
		unlock()
		return u128{}, 0, res
	}
	st, life := TCPState(0), to.proto[pr]
	if pr == natTCP {
		st, life = TCPV4Init, to.tcpTrans
	}
	if t.newSession(sh, si, sh4, br, y, yp, st, now+life) == 0 {
		t.unadmit(x)
		unlock()
		return u128{}, 0, natFull
	}
	unlock()
	return x, xp, natOK
}

// peek6 returns (T, t) for the packet quoted by an ICMPv6 error, (pr, Y,
// y) → (X, x), without touching any entry: from its session, or else from
// the live BIB entry of (X, x), as Jool does (the error concerns the bound
// host either way).
func (t *natTable) peek6(pr int, x u128, xp uint16, y uint32, yp uint16, now uint32) (uint32, uint16, bool) {
	h := t.hash6(pr, x, xp)
	sh := &t.s6[shardOf(h)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := t.find6(sh, t.sessHash6(h, y, yp), pr, x, xp, y, yp); r != 0 {
		if s := t.sessAt(r); s.alive(now) {
			return s.addr4, s.port4, true
		}
	}
	if br := t.findBIB6(sh, h, pr, x, xp); br != 0 {
		if e := t.bibAt(br); e.static || e.expiry.Load() > now {
			return e.addr4, e.port4, true
		}
	}
	return 0, 0, false
}

// peek4 returns (X, x) for the packet quoted by an ICMPv4 error, (pr, T,
// t) → (Y, y), from its session or else the live BIB entry of (T, t).
func (t *natTable) peek4(pr int, a uint32, ap uint16, y uint32, yp uint16, now uint32) (u128, uint16, bool) {
	h4 := t.hash4(pr, a, ap)
	sh4 := &t.s4[shardOf(h4)]
	sh4.mu.Lock()
	defer sh4.mu.Unlock()
	if r := t.find4(sh4, t.sessHash4(h4, y), pr, a, ap, y, yp); r != 0 {
		if s := t.sessAt(r); s.alive(now) {
			return s.addr6, s.port6, true
		}
	}
	if br := t.findBIB4(sh4, h4, pr, a, ap); br != 0 {
		if e := t.bibAt(br); e.static || e.expiry.Load() > now {
			return e.addr6, e.port6, true
		}
	}
	return u128{}, 0, false
}

// addStatic adds a static BIB entry (RFC 6146 §3.5.1: manually configured
// bindings, for IPv4-initiated flows).
func (t *natTable) addStatic(pr int, x u128, xp uint16, a uint32, ap uint16) natResult {
	h := t.hash6(pr, x, xp)
	si := shardOf(h)
	sh := &t.s6[si]
	h4 := t.hash4(pr, a, ap)
	sh4 := &t.s4[shardOf(h4)]
	sh.mu.Lock()
	sh4.mu.Lock()
	defer sh.mu.Unlock()
	defer sh4.mu.Unlock()
	if t.findBIB6(sh, h, pr, x, xp) != 0 || t.findBIB4(sh4, h4, pr, a, ap) != 0 {
		return natExhausted
	}
	if !t.pool.Load().reserve(pr, a, ap) {
		return natExhausted
	}
	if t.newBIB(sh, si, sh4, pr, x, xp, a, ap, true) == 0 {
		t.pool.Load().release(pr, a, ap)
		return natFull
	}
	return natOK
}

// sweep deletes the sessions that expired before now, a shard at a time,
// and the dynamic BIB entries that go with them. It returns how many
// sessions it deleted.
func (t *natTable) sweep(now uint32, ns int64) int {
	n := 0
	for si := range t.s6 {
		sh := &t.s6[si]
		sh.mu.Lock()
		if sh.nsess == 0 {
			sh.mu.Unlock()
			continue
		}
		for i := uint32(1); i < sh.sess.n; i++ {
			s := sh.sess.at(i)
			if s.proto == 0 || s.alive(now) {
				continue
			}
			sh4 := &t.s4[shardOf(t.hash4(int(s.proto)-1, s.addr4, s.port4))]
			sh4.mu.Lock()
			t.deleteSession(sh, uint32(si), sh4, ref(uint32(si), i), ns)
			sh4.mu.Unlock()
			n++
		}
		sh.mu.Unlock()
	}
	t.stats[natStatSessionsExpired].Add(uint64(n))
	return n
}

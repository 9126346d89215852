package xlat

import (
	"net/netip"
	"time"
)

// NATEntry is a BIB entry or a session of the stateful NAT64 tables, as
// the operator tools show them (RFC 6146 §3.1, §3.2).
type NATEntry struct {
	Proto    string         // as NATProtocols
	IPv6     netip.AddrPort // X:x, the IPv6 host's transport address (ICMP: the identifier)
	IPv4     netip.AddrPort // T:t, its pool4 transport address
	Remote   netip.AddrPort // Y:y, the IPv4 peer (sessions only)
	State    string         // TCP state (TCP sessions only)
	Expires  time.Time      // when it expires unless traffic refreshes it; zero for a static BIB entry without sessions
	Static   bool           // a static-bib entry (BIB entries only)
	Sessions int            // its live sessions (BIB entries only)
}

// NATFilter selects entries: a zero field matches everything.
type NATFilter struct {
	Proto string     // tcp, udp or icmp
	Addr  netip.Addr // matches X, T or Y
	// Now, if set, leaves out what has expired by then but has not been
	// swept yet (the lookups of the data path ignore it already).
	Now time.Time
}

func (f *NATFilter) expired(exp uint32) bool {
	return !f.Now.IsZero() && int64(exp) <= f.Now.Unix()
}

func (f *NATFilter) match(pr int, addrs ...netip.Addr) bool {
	if f.Proto != "" && f.Proto != NATProtocols[pr] {
		return false
	}
	if !f.Addr.IsValid() {
		return true
	}
	for _, a := range addrs {
		if a == f.Addr {
			return true
		}
	}
	return false
}

// BIB calls fn with every BIB entry that f selects, shard by shard, until
// fn returns false. Each shard is copied under its lock and fn runs
// without it: the data path waits for a copy, never for fn.
func (t *Translator) BIB(f NATFilter, fn func(NATEntry) bool) {
	t.natList(f, false, fn)
}

// Sessions calls fn with every session that f selects, as BIB does.
func (t *Translator) Sessions(f NATFilter, fn func(NATEntry) bool) {
	t.natList(f, true, fn)
}

func (t *Translator) natList(f NATFilter, sessions bool, fn func(NATEntry) bool) {
	nt := t.c.nat
	if nt == nil {
		return
	}
	var buf []NATEntry
	for i := range nt.s6 {
		sh := &nt.s6[i]
		buf = buf[:0]
		sh.mu.Lock()
		if sessions {
			sh.sess.each(func(_ uint32, s *session) {
				if s.proto == 0 || f.expired(s.expiry.Load()) {
					return
				}
				pr := int(s.proto) - 1
				x, a, y := s.addr6.addr6(), addr4(s.addr4), addr4(s.raddr)
				if !f.match(pr, x, a, y) {
					return
				}
				e := NATEntry{Proto: NATProtocols[pr], IPv6: netip.AddrPortFrom(x, s.port6), IPv4: netip.AddrPortFrom(a, s.port4),
					Remote: netip.AddrPortFrom(y, s.rport), Expires: time.Unix(int64(s.expiry.Load()), 0)}
				if pr == natTCP {
					e.State = TCPState(s.state.Load()).String()
				}
				buf = append(buf, e)
			})
		} else {
			sh.bibs.each(func(_ uint32, b *bibEntry) {
				if b.proto == 0 || !b.static && f.expired(b.expiry.Load()) {
					return
				}
				pr := int(b.proto) - 1
				x, a := b.addr6.addr6(), addr4(b.addr4)
				if !f.match(pr, x, a) {
					return
				}
				e := NATEntry{Proto: NATProtocols[pr], IPv6: netip.AddrPortFrom(x, b.port6), IPv4: netip.AddrPortFrom(a, b.port4),
					Static: b.static, Sessions: int(b.sessions)}
				if exp := b.expiry.Load(); exp != 0 {
					e.Expires = time.Unix(int64(exp), 0)
				}
				buf = append(buf, e)
			})
		}
		sh.mu.Unlock()
		for _, e := range buf {
			if !fn(e) {
				return
			}
		}
	}
}

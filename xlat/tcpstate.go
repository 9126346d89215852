package xlat

//go:generate stringer -type=TCPState -trimprefix=TCP

// TCPState is the state of a TCP session of stateful NAT64 (RFC 6146
// §3.5.2.2). The zero value is not a state: a session in CLOSED does not
// exist.
type TCPState uint8

// TCP session states.
const (
	_              TCPState = iota
	TCPV4Init               // an IPv4 SYN opened it
	TCPV6Init               // an IPv6 SYN opened it
	TCPEstablished          // SYNs seen from both sides
	TCPV4FinRcv             // the IPv4 side sent a FIN
	TCPV6FinRcv             // the IPv6 side sent a FIN
	TCPV4V6FinRcv           // both sides sent a FIN
	TCPTrans                // a RST was seen: the session is closing
)

// tcpFlags are the TCP flags the state machine looks at.
type tcpFlags uint8

const (
	tcpFIN tcpFlags = 1 << 0
	tcpSYN tcpFlags = 1 << 1
	tcpRST tcpFlags = 1 << 2
)

// lifetime names the timer a state transition sets.
type lifetime uint8

const (
	lifeKeep lifetime = iota // leave the session's expiry alone
	lifeTrans
	lifeEst
)

// tcpStep is the state machine of RFC 6146 §3.5.2.2 for an existing
// session: the next state and the timer to set when a segment with flags f
// arrives from the IPv6 side (from6) or the IPv4 side.
func tcpStep(s TCPState, from6 bool, f tcpFlags) (TCPState, lifetime) {
	syn, fin, rst := f&tcpSYN != 0, f&tcpFIN != 0, f&tcpRST != 0
	switch s {
	case TCPV4Init:
		if from6 && syn {
			return TCPEstablished, lifeEst
		}
		return s, lifeKeep
	case TCPV6Init:
		if !from6 && syn {
			return TCPEstablished, lifeEst
		}
		if from6 && syn {
			return s, lifeTrans // retransmitted SYN
		}
		return s, lifeKeep
	case TCPEstablished:
		switch {
		case rst:
			return TCPTrans, lifeTrans
		case fin && from6:
			return TCPV6FinRcv, lifeEst
		case fin:
			return TCPV4FinRcv, lifeEst
		}
		return s, lifeEst
	case TCPV4FinRcv:
		if from6 && fin {
			return TCPV4V6FinRcv, lifeTrans
		}
		return s, lifeEst
	case TCPV6FinRcv:
		if !from6 && fin {
			return TCPV4V6FinRcv, lifeTrans
		}
		return s, lifeEst
	case TCPV4V6FinRcv:
		return s, lifeKeep
	case TCPTrans:
		if rst {
			return s, lifeKeep
		}
		return TCPEstablished, lifeEst
	}
	return s, lifeKeep
}

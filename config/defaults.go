package config

import "time"

// DefaultControlSocket is where run listens for the operator commands
// unless control-socket says otherwise.
const DefaultControlSocket = "/run/nat64br/nat64br.sock"

// defaults returns the configuration of a document that sets no key. It is
// the one place default values are written: Parse starts from it and
// replaces the values the document sets, once validated. The defaults
// are valid by construction and are not checked.
//
// Every other field defaults to its zero value: no prefix, EAM, pools,
// static bindings, interfaces or gateways, and every other switch off.
func defaults() *Config {
	c := &Config{
		Mode:            ModeSIIT,
		MTU4:            1500,
		MTU6:            1500,
		LowestIPv6MTU:   1280,
		UDPZeroChecksum: UDPZeroDrop,
		EAMHairpinMode:  HairpinIntrinsic,
		WKPFStrict:      true,
		ICMPErrorRate:   1000,
		ClientsRefusal:  RefusalICMP,
		// xlat's defaults; see xlat.DefaultReassemblyTimeout for why 5 s.
		Reassembly: Reassembly{Timeout: 5 * time.Second, MaxBytes: 4 << 20, MaxBytesPerSource: 256 << 10},

		SourceICMPv6ErrorsBetter: true,
		MaximumSimultaneousOpens: 10,
		// The session lifetimes RFC 6146 §4 recommends.
		Timeouts: Timeouts{UDP: 5 * time.Minute, ICMP: time.Minute, TCPEstablished: 2*time.Hour + 4*time.Minute, TCPTransitory: 4 * time.Minute},
		Limits:   Limits{Sessions: 4 << 20, BIBEntries: 4 << 20, Neighbors: 65536, NeighborLearnRate: 1000},
		// These fallbacks give way to values sized to the box (Sized).
		Sized: Sized{Sessions: true, BIBEntries: true, SessionsPerHost: true, SessionsPer64: true,
			ReassemblyMaxBytes: true, ReassemblyMaxBytesPerSource: true, Neighbors: true},
		// A kill -9 loses at most this much of the NAT64 state.
		StateInterval: time.Minute,

		RA: RA{Interval: 60 * time.Second},
		DataPath: DataPath{
			IO:          "ring",
			BusyPoll:    50 * time.Microsecond,
			HotWait:     2 * time.Second,
			PinWorkers:  "auto",
			Spread:      "ports",
			QdiscBypass: true,
			PassGSO:     true,
		},
		ControlSocket: DefaultControlSocket,
		Sandbox:       Sandbox{Drop: true, Seccomp: true},
		LogFormat:     "text",
		LogLevel:      "info",
	}
	c.Pool4Ports.TCP = PortRange{1, 65535}
	c.Pool4Ports.UDP = PortRange{1, 65535}
	c.Pool4Ports.ICMP = PortRange{0, 65535}
	return c
}

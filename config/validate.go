package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// build validates the keys r sets and returns them over the defaults as
// a typed configuration; what is wrong is recorded in v, with its line.
// It sets no default itself: those are in defaults.
func (v *validator) build(r *raw) *Config {
	c := defaults()
	if r.Mode != nil {
		switch m := Mode(*r.Mode); m {
		case ModeSIIT:
			c.Mode = m
		case ModeNAT64:
			c.Mode = m
		default:
			v.errorf("mode", "%q is not a mode: use siit or nat64", *r.Mode)
		}
	}
	if r.Prefix != nil {
		c.Prefix = v.prefix6("prefix", *r.Prefix)
		if c.Prefix.IsValid() {
			switch c.Prefix.Bits() {
			case 32, 40, 48, 56, 64, 96:
				if c.Prefix.Bits() <= 64 && c.Prefix.Addr().As16()[8] != 0 {
					v.errorf("prefix", "%s: bits 64 to 71 must be zero (RFC 6052 §2.2)", c.Prefix)
				}
			default:
				v.errorf("prefix", "%s: RFC 6052 allows prefix lengths 32, 40, 48, 56, 64 and 96 only", c.Prefix)
			}
		}
	}
	seen4, seen6 := map[netip.Prefix]int{}, map[netip.Prefix]int{}
	for i, e := range r.EAM {
		p := fmt.Sprintf("eam[%d]", i)
		var x EAM
		if e.IPv4 == nil {
			v.errorf(p, "ipv4 is missing")
		} else {
			x.IPv4 = v.prefix4(p+".ipv4", *e.IPv4, true)
		}
		if e.IPv6 == nil {
			v.errorf(p, "ipv6 is missing")
		} else {
			x.IPv6 = v.prefix6(p+".ipv6", *e.IPv6, true)
		}
		if !x.IPv4.IsValid() || !x.IPv6.IsValid() {
			continue
		}
		if s4, s6 := 32-x.IPv4.Bits(), 128-x.IPv6.Bits(); s4 > s6 {
			v.errorf(p, "the IPv4 suffix of %s (%d bits) does not fit the IPv6 suffix of %s (%d bits)", x.IPv4, s4, x.IPv6, s6)
			continue
		}
		if j, dup := seen4[x.IPv4]; dup {
			v.errorf(p+".ipv4", "%s is already mapped by eam[%d]", x.IPv4, j)
			continue
		}
		if j, dup := seen6[x.IPv6]; dup {
			v.errorf(p+".ipv6", "%s is already mapped by eam[%d]", x.IPv6, j)
			continue
		}
		seen4[x.IPv4], seen6[x.IPv6] = i, i
		c.EAM = append(c.EAM, x)
	}
	if r.IPv4Addr != nil {
		c.IPv4Addr = v.addr4("ipv4-addr", *r.IPv4Addr)
	}
	if r.IPv6Addr != nil {
		c.IPv6Addr = v.addr6("ipv6-addr", *r.IPv6Addr)
	}
	if r.MTU != nil {
		if r.MTU.IPv6 != nil {
			c.MTU6 = v.intRange("mtu.ipv6", *r.MTU.IPv6, 1280, 65535)
		}
		if r.MTU.IPv4 != nil {
			c.MTU4 = v.intRange("mtu.ipv4", *r.MTU.IPv4, 68, 65535)
		}
	}
	if r.LowestIPv6MTU != nil {
		c.LowestIPv6MTU = v.intRange("lowest-ipv6-mtu", *r.LowestIPv6MTU, 1280, 65535)
	}
	if r.UDPZeroChecksum != nil {
		switch m := UDPZeroChecksum(*r.UDPZeroChecksum); m {
		case UDPZeroDrop, UDPZeroReject, UDPZeroCalculate, UDPZeroForward:
			c.UDPZeroChecksum = m
		default:
			v.errorf("udp-zero-checksum", "%q is not a policy: use drop, reject, calculate or forward", *r.UDPZeroChecksum)
		}
	}
	if r.RFC6791v4 != nil {
		c.RFC6791v4 = v.prefix4("rfc6791v4-prefix", *r.RFC6791v4, false)
	}
	if r.RFC6791v6 != nil {
		c.RFC6791v6 = v.prefix6("rfc6791v6-prefix", *r.RFC6791v6, false)
	}
	if r.EAMHairpinMode != nil {
		switch m := HairpinMode(*r.EAMHairpinMode); m {
		case HairpinNone, HairpinSimple, HairpinIntrinsic:
			c.EAMHairpinMode = m
		case "off":
			c.EAMHairpinMode = HairpinNone
		default:
			v.errorf("eam-hairpin-mode", "%q is not a mode: use none, simple or intrinsic", *r.EAMHairpinMode)
		}
	}
	setBool(&c.ZeroizeTrafficClass, r.ZeroizeTrafficClass)
	setBool(&c.WKPFStrict, r.WKPFStrict)
	if r.ICMPErrorRate != nil {
		c.ICMPErrorRate = v.intRange("icmp-error-rate", *r.ICMPErrorRate, 1, 1e9)
	}
	v.buildACL(r, c)

	// Stateful keys.
	if r.DynamicPool != nil {
		c.DynamicPool = v.prefix4("dynamic-pool", *r.DynamicPool, false)
		// Mappings take memory, addresses do not: a TAYGA appliance's
		// 100.64.0.0/10 costs what its hosts cost (xlat's dynPool).
		if c.DynamicPool.IsValid() && (c.DynamicPool.Bits() > 31 || c.DynamicPool.Bits() < 8) {
			v.errorf("dynamic-pool", "%s: use a prefix from /8 to /31", c.DynamicPool)
		}
	}
	for i, s := range r.Pool4 {
		if p := v.prefix4(fmt.Sprintf("pool4[%d]", i), s, false); p.IsValid() {
			c.Pool4 = append(c.Pool4, p)
		}
	}
	if r.Pool4Ports != nil {
		if r.Pool4Ports.TCP != nil {
			c.Pool4Ports.TCP = v.portRange("pool4-ports.tcp", *r.Pool4Ports.TCP)
		}
		if r.Pool4Ports.UDP != nil {
			c.Pool4Ports.UDP = v.portRange("pool4-ports.udp", *r.Pool4Ports.UDP)
		}
		if r.Pool4Ports.ICMP != nil {
			c.Pool4Ports.ICMP = v.portRange("pool4-ports.icmp", *r.Pool4Ports.ICMP)
		}
	}
	for i, b := range r.StaticBIB {
		p := fmt.Sprintf("static-bib[%d]", i)
		var x StaticBIB
		if b.Proto == nil || b.IPv6 == nil || b.IPv4 == nil || b.IPv6Port == nil || b.IPv4Port == nil {
			v.errorf(p, "needs proto, ipv6, ipv6-port, ipv4 and ipv4-port")
			continue
		}
		switch *b.Proto {
		case "tcp", "udp", "icmp":
			x.Proto = *b.Proto
		default:
			v.errorf(p+".proto", "%q is not a protocol: use tcp, udp or icmp", *b.Proto)
		}
		x.IPv6 = v.addr6(p+".ipv6", *b.IPv6)
		x.IPv4 = v.addr4(p+".ipv4", *b.IPv4)
		x.IPv6Port = uint16(v.intRange(p+".ipv6-port", *b.IPv6Port, 0, 65535))
		x.IPv4Port = uint16(v.intRange(p+".ipv4-port", *b.IPv4Port, 0, 65535))
		c.StaticBIB = append(c.StaticBIB, x)
	}
	setBool(&c.AddressDependentFiltering, r.AddressDependentFiltering)
	setBool(&c.DropICMPv6Info, r.DropICMPv6Info)
	setBool(&c.DropExternallyInitiatedTCP, r.DropExternallyInitiatedTCP)
	setBool(&c.SourceICMPv6ErrorsBetter, r.SourceICMPv6ErrorsBetter)
	if r.MaximumSimultaneousOpens != nil {
		c.MaximumSimultaneousOpens = v.intRange("maximum-simultaneous-opens", *r.MaximumSimultaneousOpens, 0, 1<<20)
	}
	if to := r.Timeouts; to != nil {
		// RFC 6146 §4 (and RFC 5508 for ICMP) set the floors.
		const forever = 365 * 24 * time.Hour
		if to.UDP != nil {
			c.Timeouts.UDP = v.duration("timeouts.udp", *to.UDP, 2*time.Minute, forever)
		}
		if to.ICMP != nil {
			c.Timeouts.ICMP = v.duration("timeouts.icmp", *to.ICMP, time.Minute, forever)
		}
		if to.TCPEstablished != nil {
			c.Timeouts.TCPEstablished = v.duration("timeouts.tcp-established", *to.TCPEstablished, 2*time.Hour+4*time.Minute, forever)
		}
		if to.TCPTransitory != nil {
			c.Timeouts.TCPTransitory = v.duration("timeouts.tcp-transitory", *to.TCPTransitory, 4*time.Minute, forever)
		}
	}
	if re := r.Reassembly; re != nil {
		// RFC 6146 §3.5: fragments are kept at least FRAGMENT_MIN (2 s);
		// Linux's IPv6 timeout, 60 s, is the most anyone keeps them.
		if re.Timeout != nil {
			c.Reassembly.Timeout = v.duration("reassembly.timeout", *re.Timeout, 2*time.Second, time.Minute)
		}
		// The reassembler keeps data in 1 KiB blocks; a 65535-byte
		// datagram needs 64 of them.
		inRange := func(n *int) bool { return n == nil || *n >= 64<<10 && *n <= 1<<30 }
		if re.MaxBytes != nil {
			c.Reassembly.MaxBytes = v.intRange("reassembly.max-bytes", *re.MaxBytes, 64<<10, 1<<30)
			c.Sized.ReassemblyMaxBytes = false
		}
		if re.MaxBytesPerSource != nil {
			c.Reassembly.MaxBytesPerSource = v.intRange("reassembly.max-bytes-per-source", *re.MaxBytesPerSource, 64<<10, 1<<30)
			c.Sized.ReassemblyMaxBytesPerSource = false
		}
		if inRange(re.MaxBytes) && inRange(re.MaxBytesPerSource) && c.Reassembly.MaxBytesPerSource > c.Reassembly.MaxBytes {
			at := "reassembly.max-bytes-per-source"
			if re.MaxBytesPerSource == nil {
				at = "reassembly.max-bytes"
			}
			v.errorf(at, "max-bytes-per-source %d is above max-bytes %d", c.Reassembly.MaxBytesPerSource, c.Reassembly.MaxBytes)
		}
	}
	if l := r.Limits; l != nil {
		if l.Sessions != nil {
			c.Limits.Sessions = v.intRange("limits.sessions", *l.Sessions, 0, 1<<30)
			c.Sized.Sessions = false
		}
		if l.BIBEntries != nil {
			c.Limits.BIBEntries = v.intRange("limits.bib-entries", *l.BIBEntries, 0, 1<<30)
			c.Sized.BIBEntries = false
		}
		if l.SessionsPerHost != nil {
			c.Limits.SessionsPerHost = v.intRange("limits.sessions-per-host", *l.SessionsPerHost, 0, 1<<30)
			c.Sized.SessionsPerHost = false
		}
		if l.SessionsPer64 != nil {
			c.Limits.SessionsPer64 = v.intRange("limits.sessions-per-64", *l.SessionsPer64, 0, 1<<30)
			c.Sized.SessionsPer64 = false
		}
		if l.Neighbors != nil {
			c.Limits.Neighbors = v.intRange("limits.neighbors", *l.Neighbors, 16, 1<<24)
			c.Sized.Neighbors = false
		}
		if l.NeighborLearn != nil {
			c.Limits.NeighborLearnRate = v.intRange("limits.neighbor-learn-rate", *l.NeighborLearn, 0, 1<<24)
		}
	}
	setBool(&c.MappingLog, r.MappingLog)
	if r.DataDir != nil {
		c.DataDir = strings.TrimSpace(*r.DataDir)
		if c.DataDir == "" || !strings.HasPrefix(c.DataDir, "/") {
			v.errorf("data-dir", "%q is not an absolute directory path", *r.DataDir)
		}
	}
	if r.StateInterval != nil {
		if d := v.duration("state-interval", *r.StateInterval, 0, 24*time.Hour); d > 0 && d < time.Second {
			v.errorf("state-interval", "%s: use 0 (only at stop) or at least 1s", d)
		} else {
			c.StateInterval = d
		}
	}
	if r.ReplayDrainSeconds != nil {
		s := *r.ReplayDrainSeconds
		if s < 0 || math.IsNaN(s) || s > 1e9 {
			v.errorf("replay-drain-seconds", "%v is not a number of seconds between 0 and 1e9", s)
		} else {
			c.ReplayDrain = time.Duration(s * float64(time.Second))
		}
	}

	// In the wire.
	if r.IPv6Interface != nil {
		c.IPv6Interface = v.ifname("ipv6-interface", *r.IPv6Interface)
	}
	if r.IPv4Interface != nil {
		c.IPv4Interface = v.ifname("ipv4-interface", *r.IPv4Interface)
	}
	// Both sides may share a port (one-armed, or two VLANs of a trunk):
	// frames are told apart by EtherType and by VLAN.
	if r.IPv6VLAN != nil {
		c.IPv6VLAN = v.intRange("ipv6-vlan", *r.IPv6VLAN, 1, 4094)
	}
	if r.IPv4VLAN != nil {
		c.IPv4VLAN = v.intRange("ipv4-vlan", *r.IPv4VLAN, 1, 4094)
	}
	if r.IPv4Subnet != nil {
		c.IPv4Subnet = v.prefix4("ipv4-subnet", *r.IPv4Subnet, false)
	}
	if r.Gateway != nil {
		c.Gateway = v.addr4("gateway", *r.Gateway)
	}
	for i, s := range r.IPv6Subnets {
		if p := v.prefix6(fmt.Sprintf("ipv6-subnets[%d]", i), s); p.IsValid() {
			c.IPv6Subnets = append(c.IPv6Subnets, p)
		}
	}
	if r.Gateway6 != nil {
		c.Gateway6 = v.addr6("gateway6", *r.Gateway6)
	}
	setBool(&c.Promiscuous, r.Promiscuous)
	setBool(&c.TakeOver, r.TakeOver)
	if ra := r.RouterAdvertisements; ra != nil {
		setBool(&c.RA.Enabled, ra.Enabled)
		if ra.Interval != nil {
			c.RA.Interval = v.duration("router-advertisements.interval", *ra.Interval, 4*time.Second, 1800*time.Second)
		}
		if ra.RouterLifetime != nil {
			c.RA.RouterLifetime = v.duration("router-advertisements.router-lifetime", *ra.RouterLifetime, 0, 9000*time.Second)
		}
		if ra.MTU != nil {
			c.RA.MTU = v.intRange("router-advertisements.mtu", *ra.MTU, 1280, 65535)
		}
		if c.RA.Enabled && !c.Prefix.IsValid() {
			v.errorf("router-advertisements.enabled", "router advertisements announce the NAT64 prefix, and prefix is not set")
		}
	}
	if dp := r.DataPath; dp != nil {
		v.choice(&c.DataPath.IO, "data-path.io", dp.IO, "%q is not a data path: use ring or mmsg", "ring", "mmsg")
		if dp.Workers != nil && *dp.Workers != "auto" {
			n, err := strconv.Atoi(*dp.Workers)
			if err != nil || n < 1 || n > 64 {
				v.errorf("data-path.workers", "%q is not auto or a number of workers from 1 to 64", *dp.Workers)
			} else {
				c.DataPath.Workers = n
			}
		}
		if dp.BusyPoll != nil {
			c.DataPath.BusyPoll = v.duration("data-path.busy-poll", *dp.BusyPoll, 0, time.Second)
		}
		if dp.HotWait != nil {
			c.DataPath.HotWait = v.duration("data-path.hot-wait", *dp.HotWait, 0, time.Hour)
		}
		v.choice(&c.DataPath.PinWorkers, "data-path.pin-workers", dp.PinWorkers, "%q is not auto, true or false", "auto", "true", "false")
		v.choice(&c.DataPath.Spread, "data-path.spread", dp.Spread, "%q is not a way to spread frames over the workers: use ports or hash", "ports", "hash")
		setBool(&c.DataPath.QdiscBypass, dp.QdiscBypass)
		if dp.GSO != nil {
			switch *dp.GSO {
			case "pass":
				c.DataPath.PassGSO = true
			case "split":
				c.DataPath.PassGSO = false
			default:
				v.errorf("data-path.gso", "%q is not a way to handle super-frames: use pass or split", *dp.GSO)
			}
		}
	}
	if m := r.Metrics; m != nil && m.Listen != nil && *m.Listen != "" {
		if _, port, err := net.SplitHostPort(*m.Listen); err != nil || port == "" {
			v.errorf("metrics.listen", "%q is not host:port (for example 127.0.0.1:9464 or [::1]:9464)", *m.Listen)
		} else {
			c.Metrics.Listen = *m.Listen
		}
	}
	if cs := r.ControlSocket; cs != nil {
		if *cs != "" && !strings.HasPrefix(*cs, "/") {
			v.errorf("control-socket", "%q is not an absolute path (or \"\" for none)", *cs)
		} else {
			c.ControlSocket = *cs
		}
	}
	if sb := r.Sandbox; sb != nil {
		for _, f := range []struct {
			dst  *string
			src  *string
			path string
		}{{&c.Sandbox.User, sb.User, "sandbox.user"}, {&c.Sandbox.Group, sb.Group, "sandbox.group"}} {
			if f.src == nil {
				continue
			}
			if n := strings.TrimSpace(*f.src); n == "" || strings.ContainsAny(n, ":/ ") {
				v.errorf(f.path, "%q is not a user or group name or number", *f.src)
			} else {
				*f.dst = n
			}
		}
		setBool(&c.Sandbox.Drop, sb.Drop)
		setBool(&c.Sandbox.Seccomp, sb.Seccomp)
	}
	if l := r.Log; l != nil {
		if l.Format != nil {
			switch *l.Format {
			case "text", "json":
				c.LogFormat = *l.Format
			default:
				v.errorf("log.format", "%q is not a format: use text or json", *l.Format)
			}
		}
		if l.Level != nil {
			switch *l.Level {
			case "debug", "info", "warn", "error":
				c.LogLevel = *l.Level
			default:
				v.errorf("log.level", "%q is not a level: use debug, info, warn or error", *l.Level)
			}
		}
	}

	if r.BGP != nil {
		v.buildBGP(r.BGP, c)
	}

	// Cross-key rules.
	if c.Mode == ModeSIIT && !c.Prefix.IsValid() && len(c.EAM) == 0 && len(v.problems) == 0 {
		v.warnf("prefix", "neither prefix nor eam is set: nothing can be translated")
	}
	v.crossNAT64(c)
	v.crossNextHops(c)
	v.crossACL(c)
	v.crossBGP(c)
	return c
}

// crossNAT64 checks the keys of stateful NAT64 and the dynamic pool
// against each other.
func (v *validator) crossNAT64(c *Config) {
	inPool4 := func(a netip.Addr) bool {
		for _, p := range c.Pool4 {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if c.Mode == ModeNAT64 {
		if !c.Prefix.IsValid() {
			v.errorf("prefix", "mode nat64 needs the RFC 6052 prefix its IPv6 hosts reach IPv4 through")
		}
		if len(c.Pool4) == 0 {
			v.errorf("pool4", "mode nat64 needs pool4: the IPv4 addresses its IPv6 hosts share")
		}
		if c.DynamicPool.IsValid() {
			v.errorf("dynamic-pool", "the dynamic pool is TAYGA's stateless model: use it with mode siit, or pool4 with mode nat64")
		}
		for i, p := range c.Pool4 {
			for j, q := range c.Pool4[:i] {
				if p.Overlaps(q) {
					v.errorf(fmt.Sprintf("pool4[%d]", i), "%s overlaps pool4[%d] %s", p, j, q)
				}
			}
			if c.Gateway.IsValid() && p.Contains(c.Gateway) {
				v.errorf(fmt.Sprintf("pool4[%d]", i), "%s holds gateway %s: the IPv4 router's address cannot be shared", p, c.Gateway)
			}
			for j, e := range c.EAM {
				if e.IPv4.IsValid() && p.Overlaps(e.IPv4) {
					v.errorf(fmt.Sprintf("pool4[%d]", i), "%s overlaps eam[%d] %s: an address is either shared or mapped 1:1", p, j, e.IPv4)
				}
			}
		}
		seen := map[string]int{}
		for i, b := range c.StaticBIB {
			p := fmt.Sprintf("static-bib[%d]", i)
			if b.IPv4.IsValid() && !inPool4(b.IPv4) {
				v.errorf(p+".ipv4", "%s is not in pool4", b.IPv4)
			}
			if b.IPv6.IsValid() && c.Prefix.IsValid() && c.Prefix.Contains(b.IPv6) {
				v.errorf(p+".ipv6", "%s is inside the NAT64 prefix %s", b.IPv6, c.Prefix)
			}
			for _, k := range []string{
				fmt.Sprintf("%s %s#%d", b.Proto, b.IPv6, b.IPv6Port),
				fmt.Sprintf("%s %s#%d", b.Proto, b.IPv4, b.IPv4Port),
			} {
				if j, ok := seen[k]; ok {
					v.errorf(p, "binds %s, which static-bib[%d] binds already", strings.TrimPrefix(k, b.Proto+" "), j)
				}
				seen[k] = i
			}
		}
		return
	}
	if len(c.Pool4) > 0 {
		v.warnf("pool4", "pool4 is used in mode nat64 only; mode is %s", c.Mode)
	}
	if len(c.StaticBIB) > 0 {
		v.warnf("static-bib", "static-bib is used in mode nat64 only; mode is %s", c.Mode)
	}
	// As in TAYGA, the dynamic pool may hold ipv4-addr and EAM entries:
	// those addresses are never handed out.
}

func setBool(dst *bool, src *bool) {
	if src != nil {
		*dst = *src
	}
}

// choice sets *dst to s if s is set and one of choices; otherwise it
// reports s with msg, which has one %q verb for it.
func (v *validator) choice(dst *string, path string, s *string, msg string, choices ...string) {
	if s == nil {
		return
	}
	if !slices.Contains(choices, *s) {
		v.errorf(path, msg, *s)
		return
	}
	*dst = *s
}

func (v *validator) intRange(path string, n, lo, hi int) int {
	if n < lo || n > hi {
		v.errorf(path, "%d is outside %d..%d", n, lo, hi)
		return lo
	}
	return n
}

func (v *validator) addr4(path, s string) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		v.errorf(path, "%q is not an IPv4 address", s)
		return netip.Addr{}
	}
	return a
}

func (v *validator) addr6(path, s string) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		v.errorf(path, "%q is not an IPv6 address", s)
		return netip.Addr{}
	}
	return a
}

// prefix4 parses an IPv4 prefix; a bare address means /32 when host is true.
func (v *validator) prefix4(path, s string, host bool) netip.Prefix {
	s = strings.TrimSpace(s)
	if host && !strings.Contains(s, "/") {
		s += "/32"
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		v.errorf(path, "%q is not an IPv4 prefix", s)
		return netip.Prefix{}
	}
	if p != p.Masked() {
		v.errorf(path, "%s has bits set beyond the prefix length (did you mean %s?)", p, p.Masked())
		return netip.Prefix{}
	}
	return p
}

// prefix6 parses an IPv6 prefix; a bare address means /128 when host is
// true (the form of a TAYGA map line).
func (v *validator) prefix6(path, s string, host ...bool) netip.Prefix {
	s = strings.TrimSpace(s)
	if len(host) > 0 && host[0] && !strings.Contains(s, "/") {
		s += "/128"
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		v.errorf(path, "%q is not an IPv6 prefix", s)
		return netip.Prefix{}
	}
	if p != p.Masked() {
		v.errorf(path, "%s has bits set beyond the prefix length (did you mean %s?)", p, p.Masked())
		return netip.Prefix{}
	}
	return p
}

func (v *validator) portRange(path, s string) PortRange {
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		hi = lo
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || a > b {
		v.errorf(path, "%q is not a range lo-hi of 0..65535", s)
		return PortRange{}
	}
	return PortRange{uint16(a), uint16(b)}
}

func (v *validator) ifname(path, s string) string {
	if s == "" || len(s) > 15 || strings.ContainsAny(s, "/ \t\n:") {
		v.errorf(path, "%q is not an interface name", s)
		return ""
	}
	return s
}

func (v *validator) duration(path, s string, lo, hi time.Duration) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		v.errorf(path, "%q is not a duration (like 30s or 10m)", s)
		return lo
	}
	if d < lo || d > hi {
		v.errorf(path, "%s is outside %s..%s", d, lo, hi)
		return lo
	}
	return d
}

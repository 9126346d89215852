// Package config loads nat64br's YAML configuration: it decodes with go.yaml.in/yaml/v3
// (unknown keys are errors), applies defaults, and validates every value,
// reporting each problem with the file, line and key it concerns.
// ImportTAYGA converts a tayga.conf into such a document.
//
// config returns typed values (netip.Prefix, time.Duration, small enums);
// the command maps them to each package's own Options, so parsing and the
// data path stay apart.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Mode is the translation mode.
type Mode string

// Modes.
const (
	ModeSIIT  Mode = "siit"  // stateless IP/ICMP translation (RFC 7915) with RFC 6052 and RFC 7757 mapping
	ModeNAT64 Mode = "nat64" // stateful NAT64 (RFC 6146)
)

// UDPZeroChecksum is the udp-zero-checksum policy.
type UDPZeroChecksum string

// UDP zero-checksum policies.
const (
	UDPZeroDrop      UDPZeroChecksum = "drop"
	UDPZeroReject    UDPZeroChecksum = "reject"
	UDPZeroCalculate UDPZeroChecksum = "calculate"
	UDPZeroForward   UDPZeroChecksum = "forward"
)

// HairpinMode is the eam-hairpin-mode (RFC 7757 §4).
type HairpinMode string

// Hairpinning modes.
const (
	HairpinNone      HairpinMode = "none"
	HairpinSimple    HairpinMode = "simple"
	HairpinIntrinsic HairpinMode = "intrinsic"
)

// Refusal is the clients-refusal policy: how the IPv6 packets that
// clients and denylist4 refuse are answered.
type Refusal string

// Refusal policies.
const (
	RefusalICMP Refusal = "icmp" // ICMPv6 destination unreachable, administratively prohibited (1/1), within icmp-error-rate
	RefusalDrop Refusal = "drop" // no answer
)

// EAM is one explicit address mapping (RFC 7757).
type EAM struct {
	IPv4 netip.Prefix
	IPv6 netip.Prefix
}

// DataPath configures how run moves frames.
type DataPath struct {
	IO          string        // ring (TPACKET_V2 receive rings in a fanout group) or mmsg (recvmmsg/sendmmsg, one goroutine per port)
	Workers     int           // ring: receive queues per port, one worker each; 0 = one per CPU
	BusyPoll    time.Duration // ring: how long a worker keeps looking at its rings after traffic before it sleeps
	HotWait     time.Duration // ring: how long after traffic an idle worker sleeps keeping its Go P (wire.Poller.WaitHot); 0 = never
	Spread      string        // ring: how frames are spread over the queues: "ports" (wire.PortSpread) or "hash" (the kernel's flow hash)
	PinWorkers  string        // ring: an idle worker waits pinned to its own CPU: "auto" (when there is one worker per CPU the process may use), "true" or "false"; only with Spread "ports"
	QdiscBypass bool          // ring: send past the interfaces' queueing discipline
	PassGSO     bool          // ring: TCP super-frames (GSO/GRO) go through whole and the kernel cuts them on the way out; false: split in software
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Listen string // host:port of the HTTP endpoint (/metrics); "" = off
}

// Sandbox is what run gives up once its sockets are open: the user it
// goes on as, its capabilities, and the system calls it may make.
type Sandbox struct {
	User    string // the user to run as after start; "" = nat64br when that user exists
	Group   string // its group; "" = the user's primary group
	Drop    bool   // give up the user and capabilities at all (false: debugging only)
	Seccomp bool   // filter the system calls (false: debugging only)
}

// RA configures Router Advertisements on the IPv6 port.
type RA struct {
	Enabled        bool
	Interval       time.Duration
	RouterLifetime time.Duration
	MTU            int
}

// Reassembly bounds the reassembly of fragmented ICMP messages (and, in
// NAT64, of every fragmented datagram).
type Reassembly struct {
	Timeout           time.Duration // how long a datagram's fragments are kept, from its first
	MaxBytes          int           // memory of all datagrams being reassembled
	MaxBytesPerSource int           // memory of one source address's
}

// PortRange is an inclusive range of ports or ICMP identifiers.
type PortRange struct{ Lo, Hi uint16 }

// Timeouts are the NAT64 session lifetimes (RFC 6146 §4).
type Timeouts struct {
	UDP, ICMP, TCPEstablished, TCPTransitory time.Duration
}

// Limits bound the NAT64 tables (0 means no limit) and the neighbor
// caches.
type Limits struct {
	Sessions, BIBEntries, SessionsPerHost, SessionsPer64 int
	// Neighbors bounds each port's neighbor cache (entries; about
	// arpnd.BytesPerNeighbor bytes each at most).
	Neighbors int
	// NeighborLearnRate is how many new neighbors each port learns from
	// received frames per second; 0 means no limit.
	NeighborLearnRate int
}

// Sized has a field for each key whose default depends on the memory
// nat64br may use; it is true when the document leaves that key out.
type Sized struct {
	Sessions, BIBEntries, SessionsPerHost, SessionsPer64 bool // limits
	ReassemblyMaxBytes, ReassemblyMaxBytesPerSource      bool // reassembly
	Neighbors                                            bool // limits.neighbors
}

// StaticBIB is a static NAT64 binding (port forward).
type StaticBIB struct {
	Proto    string // tcp, udp or icmp
	IPv6     netip.Addr
	IPv6Port uint16
	IPv4     netip.Addr
	IPv4Port uint16
}

// Config is a validated configuration. The zero value is not useful; use
// Load, Parse or Default.
type Config struct {
	// Path is the file the configuration came from, for messages.
	Path string

	Mode          Mode
	Prefix        netip.Prefix // RFC 6052 prefix; invalid when none
	EAM           []EAM
	IPv4Addr      netip.Addr
	IPv6Addr      netip.Addr
	MTU4, MTU6    int
	LowestIPv6MTU int

	UDPZeroChecksum     UDPZeroChecksum
	RFC6791v4           netip.Prefix
	RFC6791v6           netip.Prefix
	EAMHairpinMode      HairpinMode
	ZeroizeTrafficClass bool
	WKPFStrict          bool
	ICMPErrorRate       int
	Reassembly          Reassembly

	// Access control: who may use the translator, and what it never
	// translates to.
	Clients        []netip.Prefix // IPv6 prefixes allowed; empty: every IPv6 host
	ClientsRefusal Refusal        // how refused IPv6 packets are answered
	Denylist4      []netip.Prefix // IPv4 prefixes never translated to (nor from)

	// Stateful NAT64 and TAYGA dynamic pool (accepted, see Warnings).
	DynamicPool                netip.Prefix
	Pool4                      []netip.Prefix
	Pool4Ports                 struct{ TCP, UDP, ICMP PortRange }
	StaticBIB                  []StaticBIB
	AddressDependentFiltering  bool
	DropICMPv6Info             bool
	DropExternallyInitiatedTCP bool
	SourceICMPv6ErrorsBetter   bool
	MaximumSimultaneousOpens   int
	Timeouts                   Timeouts
	Limits                     Limits
	// Sized says which of the limits and reassembly caps the document
	// left out: their values here are fixed fallbacks, which run,
	// check-config and replay replace with values sized to the memory
	// nat64br may use (cmd/nat64br: memory.go). A key the document sets
	// always wins.
	Sized      Sized
	MappingLog bool   // log each dynamic BIB entry and dynamic-pool mapping (RFC 6888)
	DataDir    string // where dynamic-pool mappings and the NAT64 state persist across restarts
	// StateInterval is how often the NAT64 tables are written to
	// data-dir while running (they are at every clean stop too); 0: only
	// at stop.
	StateInterval time.Duration

	// ReplayDrain is how far replay advances its clock after the last
	// input packet (replay-drain-seconds).
	ReplayDrain time.Duration

	// In the wire (nat64br run).
	IPv6Interface string         // the port on the IPv6-only segment; may be the IPv4 one (one-armed)
	IPv4Interface string         // the port on the IPv4 segment
	IPv6VLAN      int            // 802.1Q VLAN ID of the IPv6 side on its port; 0: untagged
	IPv4VLAN      int            // 802.1Q VLAN ID of the IPv4 side on its port; 0: untagged
	IPv4Subnet    netip.Prefix   // on-link IPv4 subnet
	Gateway       netip.Addr     // IPv4 next hop outside IPv4Subnet
	IPv6Subnets   []netip.Prefix // on-link IPv6 prefixes
	Gateway6      netip.Addr     // IPv6 next hop outside IPv6Subnets
	Promiscuous   bool
	TakeOver      bool // disable kernel IPv6 and ARP on the ports, flush their addresses
	RA            RA
	DataPath      DataPath
	Metrics       Metrics
	ControlSocket string // Unix socket of the operator commands; "" = none
	Sandbox       Sandbox
	LogFormat     string // text or json
	LogLevel      string // debug, info, warn or error

	// BGP is the embedded BGP speaker's section; nil when absent (off).
	BGP *BGP

	// Warnings are problems that do not stop the configuration from being
	// used, each as "file:line: key: message".
	Warnings []string
}

// raw mirrors the YAML document. Pointers tell an absent or null key from a
// zero value.
type raw struct {
	Mode                       *string      `yaml:"mode"`
	Prefix                     *string      `yaml:"prefix"`
	Pool4                      []string     `yaml:"pool4"`
	EAM                        []rawEAM     `yaml:"eam"`
	IPv4Addr                   *string      `yaml:"ipv4-addr"`
	IPv6Addr                   *string      `yaml:"ipv6-addr"`
	MTU                        *rawMTU      `yaml:"mtu"`
	LowestIPv6MTU              *int         `yaml:"lowest-ipv6-mtu"`
	UDPZeroChecksum            *string      `yaml:"udp-zero-checksum"`
	RFC6791v4                  *string      `yaml:"rfc6791v4-prefix"`
	RFC6791v6                  *string      `yaml:"rfc6791v6-prefix"`
	EAMHairpinMode             *string      `yaml:"eam-hairpin-mode"`
	ZeroizeTrafficClass        *bool        `yaml:"zeroize-traffic-class"`
	WKPFStrict                 *bool        `yaml:"wkpf-strict"`
	ICMPErrorRate              *int         `yaml:"icmp-error-rate"`
	Clients                    []string     `yaml:"clients"`
	ClientsRefusal             *string      `yaml:"clients-refusal"`
	Denylist4                  []string     `yaml:"denylist4"`
	Reassembly                 *rawReasm    `yaml:"reassembly"`
	DynamicPool                *string      `yaml:"dynamic-pool"`
	Pool4Ports                 *rawPorts    `yaml:"pool4-ports"`
	StaticBIB                  []rawBIB     `yaml:"static-bib"`
	AddressDependentFiltering  *bool        `yaml:"address-dependent-filtering"`
	DropICMPv6Info             *bool        `yaml:"drop-icmpv6-info"`
	DropExternallyInitiatedTCP *bool        `yaml:"drop-externally-initiated-tcp"`
	SourceICMPv6ErrorsBetter   *bool        `yaml:"source-icmpv6-errors-better"`
	MaximumSimultaneousOpens   *int         `yaml:"maximum-simultaneous-opens"`
	Timeouts                   *rawTimeouts `yaml:"timeouts"`
	Limits                     *rawLimits   `yaml:"limits"`
	MappingLog                 *bool        `yaml:"mapping-log"`
	DataDir                    *string      `yaml:"data-dir"`
	StateInterval              *string      `yaml:"state-interval"`
	ReplayDrainSeconds         *float64     `yaml:"replay-drain-seconds"`
	IPv6Interface              *string      `yaml:"ipv6-interface"`
	IPv4Interface              *string      `yaml:"ipv4-interface"`
	IPv6VLAN                   *int         `yaml:"ipv6-vlan"`
	IPv4VLAN                   *int         `yaml:"ipv4-vlan"`
	IPv4Subnet                 *string      `yaml:"ipv4-subnet"`
	Gateway                    *string      `yaml:"gateway"`
	IPv6Subnets                []string     `yaml:"ipv6-subnets"`
	Gateway6                   *string      `yaml:"gateway6"`
	Promiscuous                *bool        `yaml:"promiscuous"`
	TakeOver                   *bool        `yaml:"take-over"`
	RouterAdvertisements       *rawRA       `yaml:"router-advertisements"`
	Log                        *rawLog      `yaml:"log"`
	DataPath                   *rawDataPath `yaml:"data-path"`
	Metrics                    *rawMetrics  `yaml:"metrics"`
	ControlSocket              *string      `yaml:"control-socket"`
	BGP                        *rawBGP      `yaml:"bgp"`
	Sandbox                    *rawSandbox  `yaml:"sandbox"`
}

type rawSandbox struct {
	User    *string `yaml:"user"`
	Group   *string `yaml:"group"`
	Drop    *bool   `yaml:"drop"`
	Seccomp *bool   `yaml:"seccomp"`
}

type rawTimeouts struct {
	UDP            *string `yaml:"udp"`
	ICMP           *string `yaml:"icmp"`
	TCPEstablished *string `yaml:"tcp-established"`
	TCPTransitory  *string `yaml:"tcp-transitory"`
}

type rawReasm struct {
	Timeout           *string `yaml:"timeout"`
	MaxBytes          *int    `yaml:"max-bytes"`
	MaxBytesPerSource *int    `yaml:"max-bytes-per-source"`
}

type rawLimits struct {
	Sessions        *int `yaml:"sessions"`
	BIBEntries      *int `yaml:"bib-entries"`
	SessionsPerHost *int `yaml:"sessions-per-host"`
	SessionsPer64   *int `yaml:"sessions-per-64"`
	Neighbors       *int `yaml:"neighbors"`
	NeighborLearn   *int `yaml:"neighbor-learn-rate"`
}

type rawMetrics struct {
	Listen *string `yaml:"listen"`
}

type rawDataPath struct {
	IO          *string `yaml:"io"`
	Workers     *string `yaml:"workers"`
	BusyPoll    *string `yaml:"busy-poll"`
	HotWait     *string `yaml:"hot-wait"`
	PinWorkers  *string `yaml:"pin-workers"`
	Spread      *string `yaml:"spread"`
	QdiscBypass *bool   `yaml:"qdisc-bypass"`
	GSO         *string `yaml:"gso"`
}

type rawRA struct {
	Enabled        *bool   `yaml:"enabled"`
	Interval       *string `yaml:"interval"`
	RouterLifetime *string `yaml:"router-lifetime"`
	MTU            *int    `yaml:"mtu"`
}

type rawLog struct {
	Format *string `yaml:"format"`
	Level  *string `yaml:"level"`
}

type rawEAM struct {
	IPv4 *string `yaml:"ipv4"`
	IPv6 *string `yaml:"ipv6"`
}

type rawMTU struct {
	IPv6 *int `yaml:"ipv6"`
	IPv4 *int `yaml:"ipv4"`
}

type rawPorts struct {
	TCP  *string `yaml:"tcp"`
	UDP  *string `yaml:"udp"`
	ICMP *string `yaml:"icmp"`
}

type rawBIB struct {
	Proto    *string `yaml:"proto"`
	IPv6     *string `yaml:"ipv6"`
	IPv6Port *int    `yaml:"ipv6-port"`
	IPv4     *string `yaml:"ipv4"`
	IPv4Port *int    `yaml:"ipv4-port"`
}

// Error is a configuration error: the problems found, in file order,
// at most MaxProblems of them and then a line saying how many more.
type Error struct {
	Problems []string // "file:line: key: message"
	Count    int      // how many problems were found, those left out included
}

// MaxProblems is how many problems an Error lists: a file of 80,000
// unknown keys gets a readable answer, and a reload's log line a bounded
// one.
const MaxProblems = 100

func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

// ErrInvalid is matched by errors.Is for every *Error.
var ErrInvalid = errors.New("invalid configuration")

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Load reads and validates the configuration file at path, within the
// default ReadLimits.
func Load(path string) (*Config, error) {
	return LoadLimited(path, ReadLimits{})
}

// LoadLimited reads the configuration file at path within l (ReadFile)
// and validates it.
func LoadLimited(path string, l ReadLimits) (*Config, error) {
	data, err := ReadFile(path, l)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Default returns the configuration of an empty document.
func Default() *Config {
	c, err := Parse("default", nil)
	if err != nil {
		panic(err) // the empty document is valid by construction
	}
	return c
}

// Parse validates the YAML document data; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	v := &validator{file: name, lines: map[string]int{}, bad: map[int]bool{}}
	var r raw
	var root yaml.Node
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Unmarshal(data, &root); err != nil {
			v.yamlError(err)
			return nil, v.result()
		}
		v.index(&root, "")
		var err error
		if v.checkKeys(&root) {
			// What is left of the document once its unknown and
			// repeated keys are out: the other problems are found too.
			err = root.Decode(&r)
		} else {
			dec := yaml.NewDecoder(bytes.NewReader(data))
			dec.KnownFields(true)
			err = dec.Decode(&r)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			v.yamlError(err)
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return nil, v.result()
			}
		}
	}
	c := v.build(&r)
	if err := v.result(); err != nil {
		return nil, err
	}
	c.Path = name
	c.Warnings = v.warnings
	return c, nil
}

// validator collects problems with their line numbers.
type validator struct {
	file     string
	lines    map[string]int // key path ("mtu.ipv6", "eam[0].ipv4") -> line
	keys     map[int]string // line -> the key path keyAt names; built from lines at its first call
	bad      map[int]bool   // lines the decoder already complained about
	problems []problem
	warnings []string
}

type problem struct {
	line int
	msg  string
}

// index records the line of every key path of the document.
func (v *validator) index(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			v.index(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := k
			if path != "" {
				p = path + "." + k
			}
			if _, ok := v.lines[p]; !ok {
				v.lines[p] = n.Content[i].Line
			}
			v.index(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			v.lines[p] = c.Line
			v.index(c, p)
		}
	}
}

// keyAt returns the key path declared on line, for decoder messages: the
// longest, the first in byte order among the longest. The index of lines
// is built once, so that a document of n bad keys takes time linear in
// n, not quadratic.
func (v *validator) keyAt(line int) string {
	if v.keys == nil {
		v.keys = make(map[int]string, len(v.lines))
		for k, l := range v.lines {
			if best, ok := v.keys[l]; !ok || len(k) > len(best) || (len(k) == len(best) && k < best) {
				v.keys[l] = k
			}
		}
	}
	return v.keys[line]
}

var (
	reLine     = regexp.MustCompile(`^line (\d+): (.*)$`)
	reUnknown  = regexp.MustCompile(`^field (\S+) not found in type`)
	reTypeMism = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (.*)$")
)

// yamlError turns YAML decoder errors into located problems.
func (v *validator) yamlError(err error) {
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		sub := reLine.FindStringSubmatch(m)
		if sub == nil {
			v.problems = append(v.problems, problem{0, m})
			continue
		}
		line, _ := strconv.Atoi(sub[1])
		msg := sub[2]
		key := v.keyAt(line)
		if strings.Contains(msg, "into config.raw") {
			msg = "the document must be a mapping of keys to values"
		} else if u := reUnknown.FindStringSubmatch(msg); u != nil {
			msg = fmt.Sprintf("%s: unknown key", u[1])
			if key != "" && strings.HasSuffix(key, u[1]) {
				msg = fmt.Sprintf("%s: unknown key", key)
			}
		} else if t := reTypeMism.FindStringSubmatch(msg); t != nil {
			want := strings.TrimPrefix(t[3], "*")
			switch {
			case strings.HasPrefix(want, "int"), strings.HasPrefix(want, "uint"):
				want = "an integer"
			case want == "float64":
				want = "a number"
			case want == "bool":
				want = "true or false"
			case want == "string":
				want = "a string"
			case strings.HasPrefix(want, "[]"):
				want = "a list"
			default:
				want = "a mapping"
			}
			msg = fmt.Sprintf("%s: %q is not %s", key, t[2], want)
		} else if key != "" {
			msg = key + ": " + msg
		}
		v.bad[line] = true
		v.problems = append(v.problems, problem{line, msg})
	}
}

// errorf records a problem about the key at path.
func (v *validator) errorf(path, format string, args ...any) {
	line := v.lines[path]
	if v.bad[line] && line != 0 {
		return // already reported by the decoder
	}
	v.problems = append(v.problems, problem{line, path + ": " + fmt.Sprintf(format, args...)})
}

// warnf records a warning about the key at path.
func (v *validator) warnf(path, format string, args ...any) {
	v.warnings = append(v.warnings, fmt.Sprintf("%s:%d: %s: %s", v.file, v.lines[path], path, fmt.Sprintf(format, args...)))
}

func (v *validator) result() error {
	if len(v.problems) == 0 {
		return nil
	}
	sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].line < v.problems[j].line })
	e := &Error{Count: len(v.problems)}
	for _, p := range v.problems[:min(len(v.problems), MaxProblems)] {
		if p.line > 0 {
			e.Problems = append(e.Problems, fmt.Sprintf("%s:%d: %s", v.file, p.line, p.msg))
		} else {
			e.Problems = append(e.Problems, fmt.Sprintf("%s: %s", v.file, p.msg))
		}
	}
	if more := e.Count - MaxProblems; more > 0 {
		e.Problems = append(e.Problems, fmt.Sprintf("%s: ... and %d more problem(s), %d in all", v.file, more, e.Count))
	}
	return e
}

package config

import (
	"reflect"
	"testing"
)

// TestDefaultsValid checks defaults against validation: an empty document
// gives the defaults, and so does a document writing every one of them out
// (each default is a value validation accepts).
func TestDefaultsValid(t *testing.T) {
	const explicit = `mode: siit
mtu: {ipv6: 1500, ipv4: 1500}
lowest-ipv6-mtu: 1280
udp-zero-checksum: drop
eam-hairpin-mode: intrinsic
zeroize-traffic-class: false
wkpf-strict: true
icmp-error-rate: 1000
reassembly: {timeout: 5s, max-bytes: 4194304, max-bytes-per-source: 262144}
pool4-ports: {tcp: 1-65535, udp: 1-65535, icmp: 0-65535}
address-dependent-filtering: false
drop-icmpv6-info: false
drop-externally-initiated-tcp: false
source-icmpv6-errors-better: true
maximum-simultaneous-opens: 10
timeouts: {udp: 5m, icmp: 1m, tcp-established: 2h4m, tcp-transitory: 4m}
limits: {sessions: 4194304, bib-entries: 4194304, sessions-per-host: 0, sessions-per-64: 0, neighbors: 65536, neighbor-learn-rate: 1000}
mapping-log: false
state-interval: 60s
replay-drain-seconds: 0
promiscuous: false
take-over: false
router-advertisements: {enabled: false, interval: 60s}
data-path: {io: ring, workers: auto, busy-poll: 50us, hot-wait: 2s, pin-workers: auto, spread: ports, qdisc-bypass: true, gso: pass}
control-socket: /run/nat64br/nat64br.sock
sandbox: {drop: true, seccomp: true}
log: {format: text, level: info}
`
	sized := defaults()
	written := defaults()
	written.Sized = Sized{} // every key sized to the box is written out
	for _, tc := range []struct {
		name, doc string
		want      *Config
	}{
		{"empty", "", sized},
		{"explicit", explicit, written},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("defaults.yaml", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			c.Path, c.Warnings = "", nil
			if !reflect.DeepEqual(c, tc.want) {
				t.Errorf("parsed %+v\nwant    %+v", c, tc.want)
			}
		})
	}
}

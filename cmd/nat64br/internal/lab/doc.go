// Package lab is nat64br's network-namespace lab (sudo make demo, and
// TestLab as root): an IPv6-only client and web server, an IPv4-only
// server and client, and nat64br in the wire between two veth pairs, each
// in a namespace of its own; then nat64br one-armed behind a Linux router,
// on a VLAN trunk, and on two ports between two Linux routers (routed.go).
//
// The lab runs a nat64br binary as an operator would: it writes a
// configuration, starts nat64br run in its namespace, drives it with
// signals and the operator commands (status, stats, bib, sessions,
// neighbors, pool, reload, trace; --json read with the lab's own
// structs), scrapes and lints its metrics, and stops it. Its servers,
// clients, pings and malformed frames run in this process, each socket
// opened in its namespace (wire.InNetns). It imports no package of
// nat64br's data plane: what it checks is what the binary does.
package lab

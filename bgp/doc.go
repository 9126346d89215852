// Package bgp is nat64br's embedded BGP speaker: it announces the
// prefixes a translator serves to its routers while the translator is
// healthy, and withdraws them when it is not, so that N boxes behind
// equal-cost routes each attract the traffic they can translate.
//
// The speaker is GoBGP (github.com/osrg/gobgp/v4) used as a library; this
// package only maps Options, Route and health to GoBGP's API. The BGP
// sessions are TCP connections of the host's own stack (RFC 4271), not of
// the translator's raw ports. Routes are IPv4 or IPv6 unicast (RFC 4760)
// with ORIGIN IGP, the next hop they are given (a third-party next hop:
// GoBGP leaves the next hop of a locally originated route as it is, for
// eBGP as for iBGP), RFC 1997 communities and, to iBGP neighbors only,
// LOCAL_PREF.
//
// It imports no other nat64br package: the command maps the configuration
// to Options and feeds SetHealthy from its health checker.
package bgp

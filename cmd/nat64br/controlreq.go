package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/xlat"
)

// The control socket's requests, decoded apart from their handlers
// (control.go, trace.go) so that one pure function reads what a client
// sends and can be fuzzed.

// request is a decoded control request: its route ("GET /status",
// "POST /trace", …) and the arguments of the routes that take some.
type request struct {
	Route  string
	Filter xlat.NATFilter // GET /bib and /sessions; Now is left unset
	Trace  traceRequest   // POST /trace
}

// traceRequest is what POST /trace asks for.
type traceRequest struct {
	Reason  dataplane.Counter
	Count   int
	Timeout time.Duration
}

// errNoRoute is returned for a request that names no control route.
var errNoRoute = errors.New("no such control request")

// decodeRequest reads one HTTP request, as a client writes it to the
// control socket, and decodes its route and arguments as the handlers
// do. It reads no body: no control request has one.
func decodeRequest(b []byte) (request, error) {
	q, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return request{}, err
	}
	r := request{Route: q.Method + " " + q.URL.Path}
	switch r.Route { // the routes of startControl
	case "GET /status", "GET /stats", "GET /neighbors", "GET /pool", "POST /reload":
	case "GET /bib", "GET /sessions":
		r.Filter, err = decodeNATFilter(q.URL.Query())
	case "POST /trace":
		r.Trace, err = decodeTrace(q.URL.Query())
	default:
		err = fmt.Errorf("%s: %w", r.Route, errNoRoute)
	}
	if err != nil {
		return request{}, err
	}
	return r, nil
}

// decodeNATFilter reads the proto and addr arguments of GET /bib and
// /sessions.
func decodeNATFilter(v url.Values) (xlat.NATFilter, error) {
	f := xlat.NATFilter{Proto: v.Get("proto")}
	switch f.Proto {
	case "", "tcp", "udp", "icmp":
	default:
		return xlat.NATFilter{}, fmt.Errorf("proto %q: use tcp, udp or icmp", f.Proto)
	}
	if a := v.Get("addr"); a != "" {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return xlat.NATFilter{}, fmt.Errorf("addr %q is not an IP address", a)
		}
		f.Addr = addr
	}
	return f, nil
}

// decodeTrace reads the reason, count and timeout arguments of POST
// /trace.
func decodeTrace(v url.Values) (traceRequest, error) {
	c, ok := dataplane.DropCounter(v.Get("reason"))
	if !ok {
		return traceRequest{}, fmt.Errorf("reason %q: use any, or a drop reason as nat64br stats --explain lists them", v.Get("reason"))
	}
	n, err := strconv.Atoi(v.Get("count"))
	if err != nil || n < 1 || n > maxTrace {
		return traceRequest{}, fmt.Errorf("count %q: a number of frames from 1 to %d", v.Get("count"), maxTrace)
	}
	timeout, err := time.ParseDuration(v.Get("timeout"))
	if err != nil || timeout <= 0 {
		return traceRequest{}, fmt.Errorf("timeout %q: a duration such as 60s", v.Get("timeout"))
	}
	return traceRequest{Reason: c, Count: n, Timeout: timeout}, nil
}

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
	Limit  int            // GET /bib and /sessions: at most this many entries, 1 to maxListed
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

// controlRoutes are the routes of the control socket, each with how it
// decodes its arguments (nil: it takes none). startControl serves them
// and decodeRequest reads them: one table for both.
var controlRoutes = []struct {
	route  string
	decode func(url.Values, *request) error
}{
	{"GET /status", nil},
	{"GET /stats", nil},
	{"GET /neighbors", nil},
	{"GET /pool", nil},
	{"GET /bib", decodeNATList},
	{"GET /sessions", decodeNATList},
	{"POST /trace", func(v url.Values, r *request) (err error) { r.Trace, err = decodeTrace(v); return err }},
	{"POST /reload", nil},
}

// decodeRequest reads one HTTP request, as a client writes it to the
// control socket, and decodes its route and arguments as the handlers
// do. It reads no body: no control request has one.
func decodeRequest(b []byte) (request, error) {
	q, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return request{}, err
	}
	return decodeArgs(q.Method+" "+q.URL.Path, q)
}

// decodeArgs decodes the arguments of q, a request for route.
func decodeArgs(route string, q *http.Request) (request, error) {
	r := request{Route: route}
	if q.ContentLength != 0 {
		return request{}, errBody
	}
	for _, c := range controlRoutes {
		if c.route != route {
			continue
		}
		if c.decode != nil {
			if err := c.decode(q.URL.Query(), &r); err != nil {
				return request{}, err
			}
		}
		return r, nil
	}
	return request{}, fmt.Errorf("%s: %w", route, errNoRoute)
}

// errBody refuses a control request with a body: none has one.
var errBody = errors.New("a control request has no body")

// decodeNATList reads the proto, addr and limit arguments of GET /bib
// and /sessions.
func decodeNATList(v url.Values, r *request) (err error) {
	if r.Filter, err = decodeNATFilter(v); err != nil {
		return err
	}
	r.Limit = maxListed
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListed {
			return fmt.Errorf("limit %q: a number of entries from 1 to %d", s, maxListed)
		}
		r.Limit = n
	}
	return nil
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

package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/nat64br/nat64br/dataplane"
)

// wireRequest is the request ctl.go sends for method and target, as it
// reaches the control socket.
func wireRequest(tb testing.TB, method, target string) []byte {
	q, err := http.NewRequest(method, "http://nat64br"+target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	if err := q.Write(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// encodeRequest writes r back as ctl.go would ask for it.
func encodeRequest(tb testing.TB, r request) []byte {
	method, path, _ := strings.Cut(r.Route, " ")
	v := url.Values{}
	switch path {
	case "/bib", "/sessions":
		if r.Filter.Proto != "" {
			v.Set("proto", r.Filter.Proto)
		}
		if r.Filter.Addr.IsValid() {
			v.Set("addr", r.Filter.Addr.String())
		}
		if r.Limit != maxListed {
			v.Set("limit", strconv.Itoa(r.Limit))
		}
	case "/trace":
		reason := r.Trace.Reason.String()
		if r.Trace.Reason == dataplane.AnyDrop {
			reason = "any"
		}
		v = url.Values{"reason": {reason}, "count": {strconv.Itoa(r.Trace.Count)}, "timeout": {r.Trace.Timeout.String()}}
	}
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	return wireRequest(tb, method, path)
}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		name, method, target string
		want                 string // the route, or "" for an error
	}{
		{"status", "GET", "/status", "GET /status"},
		{"bib filtered", "GET", "/bib?proto=tcp&addr=192.0.2.1", "GET /bib"},
		{"sessions bad proto", "GET", "/sessions?proto=sctp", ""},
		{"sessions bad addr", "GET", "/sessions?addr=192.0.2.256", ""},
		{"sessions limit", "GET", "/sessions?limit=5", "GET /sessions"},
		{"sessions limit zero", "GET", "/sessions?limit=0", ""},
		{"sessions limit too big", "GET", "/sessions?limit=100001", ""},
		{"bib limit not a number", "GET", "/bib?limit=all", ""},
		{"reload", "POST", "/reload", "POST /reload"},
		{"reload by GET", "GET", "/reload", ""},
		{"trace", "POST", "/trace?reason=any&count=5&timeout=1m", "POST /trace"},
		{"trace count zero", "POST", "/trace?reason=any&count=0&timeout=1m", ""},
		{"trace count too big", "POST", "/trace?reason=any&count=100001&timeout=1m", ""},
		{"trace negative timeout", "POST", "/trace?reason=any&count=1&timeout=-1s", ""},
		{"trace unknown reason", "POST", "/trace?reason=nope&count=1&timeout=1s", ""},
		{"unknown route", "GET", "/nope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeRequest(wireRequest(t, tc.method, tc.target))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", r)
				}
				return
			}
			if err != nil || r.Route != tc.want {
				t.Fatalf("decoded %+v, %v; want route %s", r, err, tc.want)
			}
		})
	}
	if _, err := decodeRequest(wireRequest(t, "GET", "/nope")); !errors.Is(err, errNoRoute) {
		t.Errorf("unknown route: %v, want errNoRoute", err)
	}
}

// FuzzDecodeRequest decodes arbitrary bytes as a control request: it must
// not panic, a decoded request names a route the control socket serves
// with arguments in range, and re-encoding it as the ctl client does
// decodes to the same request.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []struct{ method, target string }{
		{"GET", "/status"}, {"GET", "/stats"}, {"GET", "/neighbors"}, {"GET", "/pool"},
		{"GET", "/bib"}, {"GET", "/bib?proto=udp&addr=2001%3Adb8%3A%3A1"}, {"GET", "/sessions?addr=fe80::1%25eth0"},
		{"GET", "/sessions?limit=10&proto=tcp"},
		{"POST", "/reload"}, {"POST", "/trace?count=10&reason=any&timeout=1m0s"},
		{"POST", "/trace?count=1&reason=drop_ttl_exceeded&timeout=1h"},
	} {
		f.Add(wireRequest(f, s.method, s.target))
	}
	f.Add([]byte("GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n"))
	f.Add([]byte("POST /trace?count=1&count=2&reason=any&timeout=1ns HTTP/1.0\r\n\r\n"))
	f.Add([]byte("POST /reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil {
			return
		}
		switch r.Route {
		case "GET /status", "GET /stats", "GET /neighbors", "GET /pool", "POST /reload":
		case "GET /bib", "GET /sessions":
			switch r.Filter.Proto {
			case "", "tcp", "udp", "icmp":
			default:
				t.Fatalf("proto %q accepted", r.Filter.Proto)
			}
			if r.Limit < 1 || r.Limit > maxListed {
				t.Fatalf("limit %d accepted", r.Limit)
			}
		case "POST /trace":
			if r.Trace.Count < 1 || r.Trace.Count > maxTrace || r.Trace.Timeout <= 0 ||
				r.Trace.Reason != dataplane.AnyDrop && !r.Trace.Reason.IsDrop() {
				t.Fatalf("trace %+v accepted", r.Trace)
			}
		default:
			t.Fatalf("route %q accepted", r.Route)
		}
		r2, err := decodeRequest(encodeRequest(t, r))
		if err != nil || r2 != r {
			t.Fatalf("decoded %+v, re-encoded and decoded %+v, %v", r, r2, err)
		}
	})
}

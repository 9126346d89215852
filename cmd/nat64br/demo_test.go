package main

import (
	"os"
	"path/filepath"
)

// The demo lab's configurations (the lab, internal/lab, embeds them) and
// the addresses they give its hosts, for the in-memory tests that replay
// the lab's traffic.
var (
	demoConfig      = readDemo("demo.yaml")
	demoNAT64Config = readDemo("demo-nat64.yaml")
)

const (
	labClient6   = "2001:db8:6::2"
	labServer4   = "192.0.2.2"
	labVia6      = "64:ff9b::c000:202" // labServer4 in the Well-Known Prefix
	labClient6v4 = "192.0.2.6"         // the IPv6 client's EAM address
	labPool4     = "192.0.2.1"         // demo-nat64.yaml's pool4
)

func readDemo(name string) string {
	b, err := os.ReadFile(filepath.Join("internal", "lab", name))
	if err != nil {
		panic(err) // the tests run in the package directory, beside internal/
	}
	return string(b)
}

package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for nat64br: with
// NAT64BR_TEST_MAIN=1 in its environment it runs the command line instead
// of the tests. The lab test starts it that way inside a network
// namespace.
func TestMain(m *testing.M) {
	if os.Getenv("NAT64BR_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

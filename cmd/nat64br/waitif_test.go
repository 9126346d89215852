package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/wire/wiretest"
)

func TestWaitForInterfaces(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := waitForInterfaces(log, time.Second, nil, "lo"); err != nil {
		t.Fatalf("lo exists: %v", err)
	}
	start := time.Now()
	err := waitForInterfaces(log, 300*time.Millisecond, nil, "lo", "nat64br-none0")
	if !errors.Is(err, wire.ErrNoInterface) || !strings.Contains(err.Error(), "nat64br-none0") {
		t.Fatalf("missing interface: got %v, want ErrNoInterface naming it", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
		t.Errorf("gave up after %v, want about 300ms", el)
	}
	stop := make(chan os.Signal, 1)
	stop <- syscall.SIGTERM
	start = time.Now()
	if err := waitForInterfaces(log, time.Minute, stop, "nat64br-none0"); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("signal while waiting: got %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("a signal took %v to end the wait", el)
	}
}

// TestWaitForInterfacesAppear adds the awaited link while the wait runs, as
// containerlab does after a container started, and sets it up later still.
func TestWaitForInterfacesAppear(t *testing.T) {
	wiretest.NeedRoot(t)
	ns := wiretest.NewNS(t, "n64wait")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = ns.Cmd("ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth8").Run()
		time.Sleep(300 * time.Millisecond)
		_ = ns.Cmd("ip", "link", "set", "eth9", "up").Run()
	}()
	start := time.Now()
	err := ns.Do(func() error { return waitForInterfaces(log, 10*time.Second, nil, "lo", "eth9") })
	if err != nil {
		t.Fatalf("eth9 was added after 300ms and set up after 600ms: %v", err)
	}
	if el := time.Since(start); el < 600*time.Millisecond {
		t.Errorf("returned after %v, before eth9 was up", el)
	}
	err = ns.Do(func() error { return waitForInterfaces(log, 200*time.Millisecond, nil, "eth8") })
	if !errors.Is(err, wire.ErrInterfaceDown) {
		t.Errorf("eth8 stays down: got %v, want ErrInterfaceDown", err)
	}
}

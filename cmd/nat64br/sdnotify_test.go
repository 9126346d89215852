package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSdNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	for _, msg := range []string{"READY=1", sdReloading()} {
		if err := sdNotify(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("got %q %v, want %q", buf[:n], err, msg)
		}
	}
	if !strings.HasPrefix(sdReloading(), "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("reloading message %q", sdReloading())
	}
}

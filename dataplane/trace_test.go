package dataplane

import "testing"

// TestDropCounter checks which names trace accepts: any, the frame path's
// drops, and the translator's drop reasons with or without drop_.
func TestDropCounter(t *testing.T) {
	for name, want := range map[string]bool{
		"any": true, "other_ethertype": true, "hop_limit_exceeded": true, "drop_hop_limit_exceeded": true,
		"frames_in_ipv6": false, "reply_hop_limit_exceeded": false, "none": false, "drop_none": false,
		"drop_other_ethertype": false, "nonsense": false,
	} {
		if _, ok := DropCounter(name); ok != want {
			t.Errorf("DropCounter(%q) ok = %v, want %v", name, ok, want)
		}
	}
}

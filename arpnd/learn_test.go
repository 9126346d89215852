package arpnd

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// floodKey is the i-th address of a flood of sources in 2001:db8:1::/64.
func floodKey(i int) [16]byte {
	k := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1}
	binary.BigEndian.PutUint64(k[8:], uint64(i)+1)
	return k
}

func floodMAC(i int) MAC {
	return MAC{0x02, 0xf1, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// TestLearnLimits: learning new neighbors from received frames is
// rate-limited and the cache bounded, with counters; when full, the oldest
// learned entry never confirmed makes room, and confirmed ones stay.
func TestLearnLimits(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		c := newCache(CacheOptions{LearnRate: 100, LearnBurst: 10}, &sink{}, func([16]byte, *MAC) {}, nil)
		for i := range 1000 {
			c.Learn(floodKey(i), floodMAC(i), t0)
		}
		if st := c.Stats(); st.Entries != 10 || st.Learned != 10 || st.LearnLimited != 990 {
			t.Fatalf("one instant: %+v, want 10 learned, 990 limited", st)
		}
		// A second later, 100 more tokens (the burst caps them at 10).
		for i := range 1000 {
			c.Learn(floodKey(1000+i), floodMAC(i), t0.Add(time.Second+time.Duration(i)*time.Millisecond))
		}
		if st := c.Stats(); st.Learned < 100 || st.Learned > 130 {
			t.Fatalf("over 1 s at 100/s: %d learned, want about 110", st.Learned)
		}
		// A known neighbor is not limited.
		if _, ok := c.Lookup(floodKey(0)); !ok {
			t.Fatal("the first neighbor went")
		}
	})
	t.Run("bound", func(t *testing.T) {
		var probes int
		c := newCache(CacheOptions{LearnRate: -1, MaxEntries: 64}, &sink{}, func([16]byte, *MAC) { probes++ }, nil)
		// Eight neighbors answer our probes: they stay whatever comes.
		for i := range 8 {
			c.Resolve(floodKey(i), t0)
			c.Confirm(floodKey(i), floodMAC(i), t0)
		}
		for i := 8; i < 10000; i++ {
			c.Learn(floodKey(i), floodMAC(i), t0)
		}
		st := c.Stats()
		if st.Entries != 64 || st.Evicted != 10000-64 || st.Full != 0 {
			t.Fatalf("%+v, want 64 entries, %d evicted", st, 10000-64)
		}
		for i := range 8 {
			if m, ok := c.Lookup(floodKey(i)); !ok || m != floodMAC(i) {
				t.Errorf("confirmed neighbor %d went", i)
			}
		}
		for i := 10000 - 56; i < 10000; i++ {
			if _, ok := c.Lookup(floodKey(i)); !ok {
				t.Errorf("newest neighbor %d missing", i)
			}
		}
		for i := 8; i < 10000-56; i++ {
			if _, ok := c.Lookup(floodKey(i)); ok {
				t.Fatalf("evicted neighbor %d still resolves", i)
			}
		}
		// A destination to resolve makes room too.
		probes = 0
		if !c.Hold(floodKey(20000), make([]byte, 64), t0) || probes != 1 {
			t.Fatalf("hold in a full cache: probes %d", probes)
		}
		// Unsolicited answers are learned entries like any.
		c.Confirm(floodKey(25000), floodMAC(1), t0)
		if _, ok := c.Lookup(floodKey(25000)); !ok || c.Stats().Full != 0 {
			t.Fatalf("an unsolicited answer was not learned: %+v", c.Stats())
		}
		// Full of neighbors that answered probes: nothing more is
		// learned, counted.
		for i := range 64 {
			c.Resolve(floodKey(30000+i), t0)
			c.Confirm(floodKey(30000+i), floodMAC(i), t0)
		}
		c.Learn(floodKey(40000), floodMAC(1), t0)
		if st := c.Stats(); st.Full == 0 || st.Entries != 64 {
			t.Fatalf("full of confirmed entries: %+v", st)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		c := newCache(CacheOptions{LearnRate: -1}, &sink{}, func([16]byte, *MAC) {}, nil)
		for i := range 2000 {
			c.Learn(floodKey(i), floodMAC(i), t0)
		}
		// Never answering, they go after their probes.
		for d := time.Duration(0); d < 70*time.Second; d += time.Second {
			c.Tick(t0.Add(d))
		}
		if st := c.Stats(); st.Entries != 0 || st.Expired != 2000 {
			t.Fatalf("%+v, want all 2000 expired", st)
		}
		if _, ok := c.Lookup(floodKey(7)); ok {
			t.Fatal("an expired neighbor resolves")
		}
		if tab := c.tab.Load(); tab.used != 0 || len(tab.slots) > 1<<15 {
			t.Fatalf("table after expiry: %d used, %d slots", tab.used, len(tab.slots))
		}
	})
}

// TestTableConcurrent: readers find every stable entry, with its MAC
// address, while a writer adds, changes and removes others and the table
// is replaced under them (run it with -race).
func TestTableConcurrent(t *testing.T) {
	c := newCache(CacheOptions{LearnRate: -1, MaxEntries: 1 << 16}, &sink{}, func([16]byte, *MAC) {}, nil)
	const stable = 100
	for i := range stable {
		c.Confirm(floodKey(i), floodMAC(i), t0)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := n % stable
				if m, ok := c.Lookup(floodKey(i)); !ok || m != floodMAC(i) {
					select {
					case errs <- "a stable neighbor did not resolve":
					default:
					}
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for round := 0; round < 20 && time.Now().Before(deadline); round++ {
		for i := range 3000 {
			c.Learn(floodKey(1000+i), floodMAC(round), t0)
		}
		c.mu.Lock()
		for i := range 3000 {
			k := floodKey(1000 + i)
			delete(c.entries, k)
			c.hide(k)
		}
		c.mu.Unlock()
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
}

// TestLookupNoAllocs: the data path's lookups allocate nothing.
func TestLookupNoAllocs(t *testing.T) {
	c := newCache(CacheOptions{}, &sink{}, func([16]byte, *MAC) {}, nil)
	c.Confirm(floodKey(1), floodMAC(1), t0)
	if n := testing.AllocsPerRun(100, func() {
		c.Lookup(floodKey(1))
		c.Lookup(floodKey(2))
		c.Learn(floodKey(1), floodMAC(1), t0)
	}); n != 0 {
		t.Errorf("%.1f allocations", n)
	}
}

// BenchmarkLearnNew learns a new neighbor per operation: O(1), however
// many the cache holds (it rebuilt a snapshot of all of them per address
// before).
func BenchmarkLearnNew(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16} {
		b.Run(map[int]string{1 << 10: "1k", 1 << 16: "64k"}[n], func(b *testing.B) {
			c := newCache(CacheOptions{LearnRate: -1, MaxEntries: n}, &sink{}, func([16]byte, *MAC) {}, nil)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.Learn(floodKey(i), floodMAC(i), t0)
				i++
			}
		})
	}
}

// BenchmarkLookup is the data path's lookup of a known neighbor.
func BenchmarkLookup(b *testing.B) {
	c := newCache(CacheOptions{LearnRate: -1}, &sink{}, func([16]byte, *MAC) {}, nil)
	for i := range 1000 {
		c.Confirm(floodKey(i), floodMAC(i), t0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Lookup(floodKey(i % 1000))
		i++
	}
}

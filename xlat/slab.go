package xlat

import (
	"math/bits"
	"sync/atomic"
)

// slab stores entries of one kind (sessions, BIB entries) in chunks that
// never move: chunk k holds 16<<k entries, so a small table costs little
// and a big one needs no copying. An entry is named by its index, never by
// a pointer, so tables stay pointer-free for the garbage collector.
//
// Entries are added and freed by the goroutine that holds the owner's lock.
// The chunk pointers are atomic so that a goroutine holding another lock
// (the IPv4-side index of the same entry) may read an entry it reached
// through that index; see natShard4.
type slab[T any] struct {
	chunks [slabChunks]atomic.Pointer[[]T]
	n      uint32 // entries ever handed out; index 0 is never used
}

const (
	slabIndexBits = 24 // a reference is shard<<24 | index
	slabMaxIndex  = 1<<slabIndexBits - 1
	slabChunks    = slabIndexBits - 3 // chunk k covers indices [16(2^k - 1), 16(2^(k+1) - 1))
)

// locate returns the chunk and the offset of index i.
func locate(i uint32) (k, off uint32) {
	j := i + 16
	k = uint32(bits.Len32(j)) - 5
	return k, j - 16<<k
}

// at returns the entry at index i, which must have been handed out.
func (s *slab[T]) at(i uint32) *T {
	k, off := locate(i)
	return &(*s.chunks[k].Load())[off]
}

// grow hands out a new index, or 0 when the slab is full. It allocates a
// chunk when the previous ones are used up, which happens log2 times over
// the life of a table.
func (s *slab[T]) grow() uint32 {
	if s.n == 0 {
		s.n = 1
	}
	i := s.n
	if i > slabMaxIndex {
		return 0
	}
	if k, _ := locate(i); s.chunks[k].Load() == nil {
		c := make([]T, 16<<k)
		s.chunks[k].Store(&c)
	}
	s.n++
	return i
}

// each calls f with every index handed out so far, in order, chunk by chunk.
func (s *slab[T]) each(f func(i uint32, e *T)) {
	for i := uint32(1); i < s.n; {
		k, off := locate(i)
		c := *s.chunks[k].Load()
		for ; off < uint32(len(c)) && i < s.n; off, i = off+1, i+1 {
			f(i, &c[off])
		}
	}
}

// capacity returns the number of entries the slab's chunks hold.
func (s *slab[T]) capacity() int {
	n := 0
	for k := range s.chunks {
		if s.chunks[k].Load() != nil {
			n += 16 << k
		}
	}
	return n
}

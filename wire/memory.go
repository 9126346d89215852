package wire

import (
	"net"
	"sync"
)

// MemoryPort is one end of an in-memory link (NewMemoryPair), for tests of
// the frame path: what one end writes, the other end reads. Frames are
// copied; a full link drops (and counts) like a full socket queue.
type MemoryPort struct {
	in    chan []byte
	peer  *MemoryPort
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	drops uint64
	batch int
}

// NewMemoryPair returns two connected ports that each queue up to depth
// frames.
func NewMemoryPair(depth int) (*MemoryPort, *MemoryPort) {
	a := &MemoryPort{in: make(chan []byte, depth), done: make(chan struct{}), batch: 64}
	b := &MemoryPort{in: make(chan []byte, depth), done: make(chan struct{}), batch: 64}
	a.peer, b.peer = b, a
	return a, b
}

// ReadBatch blocks for a frame, then takes what else is queued.
func (m *MemoryPort) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	select {
	case f := <-m.in:
		sizes[0] = copy(bufs[0][offset:], f)
	case <-m.done:
		return 0, net.ErrClosed
	}
	n := 1
	for n < len(bufs) {
		select {
		case f := <-m.in:
			sizes[n] = copy(bufs[n][offset:], f)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// WriteBatch queues copies of the frames for the peer.
func (m *MemoryPort) WriteBatch(bufs [][]byte, offset int) (int, error) {
	select {
	case <-m.done:
		return 0, net.ErrClosed
	default:
	}
	for _, b := range bufs {
		f := append([]byte(nil), b[offset:]...)
		select {
		case m.peer.in <- f:
		default:
			m.mu.Lock()
			m.drops++
			m.mu.Unlock()
		}
	}
	return len(bufs), nil
}

// Drops returns how many frames found the peer's queue full.
func (m *MemoryPort) Drops() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drops
}

// BatchSize is 64.
func (m *MemoryPort) BatchSize() int { return m.batch }

// LinkType is LinkEthernet.
func (m *MemoryPort) LinkType() LinkType { return LinkEthernet }

// Close ends this side: its ReadBatch returns net.ErrClosed.
func (m *MemoryPort) Close() error {
	m.once.Do(func() { close(m.done) })
	return nil
}

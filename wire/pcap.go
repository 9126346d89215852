package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapReader is a read-only Port over a pcap or pcapng file. Frames are read
// one at a time (BatchSize 1) so that two files can be merged by timestamp.
type PcapReader struct {
	name   string
	f      *os.File
	next   func() ([]byte, gopacket.CaptureInfo, error)
	link   LinkType
	record int       // records read so far
	time   time.Time // timestamp of the last frame read
	closed bool
}

// ErrLinkType is returned for a capture whose link type nat64br cannot
// handle.
var ErrLinkType = errors.New("unsupported link type")

// OpenPcap opens a pcap or pcapng capture for reading.
func OpenPcap(path string) (*PcapReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := &PcapReader{name: path, f: f}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a capture file: %w", path, io.ErrUnexpectedEOF)
	}
	var lt layers.LinkType
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r.next, lt = ng.ZeroCopyReadPacketData, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r.next, lt = pr.ZeroCopyReadPacketData, pr.LinkType()
	}
	switch lt {
	case layers.LinkTypeEthernet:
		r.link = LinkEthernet
	case layers.LinkTypeRaw, 12, 14: // DLT_RAW on BSDs and OpenBSD
		r.link = LinkRaw
	case layers.LinkTypeIPv4:
		r.link = LinkIPv4
	case layers.LinkTypeIPv6:
		r.link = LinkIPv6
	default:
		f.Close()
		return nil, fmt.Errorf("%s: link type %d: %w (want Ethernet, raw IP, IPv4 or IPv6)", path, lt, ErrLinkType)
	}
	return r, nil
}

// Name returns the file name the reader was opened with.
func (r *PcapReader) Name() string { return r.name }

// LinkType returns the capture's link type.
func (r *PcapReader) LinkType() LinkType { return r.link }

// BatchSize is 1.
func (r *PcapReader) BatchSize() int { return 1 }

// Time returns the timestamp of the last frame read.
func (r *PcapReader) Time() time.Time { return r.time }

// Record returns the number of records read so far; after an error it is
// the number of the record that failed (1-based).
func (r *PcapReader) Record() int { return r.record }

// ReadBatch reads the next frame. At the end of the file it returns io.EOF;
// a damaged record gives an error naming the file and the record number.
func (r *PcapReader) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	if r.closed {
		return 0, net.ErrClosed
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	data, ci, err := r.next()
	r.record++
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.record--
			return 0, io.EOF
		}
		return 0, fmt.Errorf("%s: record %d: %w", r.name, r.record, err)
	}
	if len(data) > len(bufs[0])-offset {
		return 0, fmt.Errorf("%s: record %d: %d-byte frame does not fit a %d-byte buffer", r.name, r.record, len(data), len(bufs[0])-offset)
	}
	sizes[0] = copy(bufs[0][offset:], data)
	r.time = ci.Timestamp
	return 1, nil
}

// WriteBatch fails: the reader is read-only.
func (r *PcapReader) WriteBatch([][]byte, int) (int, error) {
	return 0, fmt.Errorf("%s: read-only capture", r.name)
}

// Close closes the file.
func (r *PcapReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.f.Close()
}

// PcapWriter is a write-only Port that appends frames to a classic pcap
// file, stamped with the time last given to SetTime.
type PcapWriter struct {
	name   string
	f      *os.File
	bw     *bufio.Writer
	w      *pcapgo.Writer
	link   LinkType
	time   time.Time
	ci     gopacket.CaptureInfo
	count  int
	closed bool
}

// CreatePcap creates (or truncates) a classic pcap file of link type lt,
// with microsecond timestamps, or nanosecond ones if nanos is set.
func CreatePcap(path string, lt LinkType, nanos bool) (*PcapWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	var pw *pcapgo.Writer
	if nanos {
		pw = pcapgo.NewWriterNanos(bw)
	} else {
		pw = pcapgo.NewWriter(bw)
	}
	if err := pw.WriteFileHeader(262144, layers.LinkType(lt)); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &PcapWriter{name: path, f: f, bw: bw, w: pw, link: lt}, nil
}

// SetTime sets the timestamp of the frames written next.
func (w *PcapWriter) SetTime(t time.Time) { w.time = t }

// Count returns the number of frames written.
func (w *PcapWriter) Count() int { return w.count }

// LinkType returns the file's link type.
func (w *PcapWriter) LinkType() LinkType { return w.link }

// BatchSize is the largest batch WriteBatch takes at once: any.
func (w *PcapWriter) BatchSize() int { return 64 }

// ReadBatch fails: the writer is write-only.
func (w *PcapWriter) ReadBatch([][]byte, []int, int) (int, error) {
	return 0, fmt.Errorf("%s: write-only capture", w.name)
}

// WriteBatch appends the frames bufs[i][offset:].
func (w *PcapWriter) WriteBatch(bufs [][]byte, offset int) (int, error) {
	if w.closed {
		return 0, net.ErrClosed
	}
	for i, b := range bufs {
		f := b[offset:]
		w.ci.Timestamp = w.time
		w.ci.CaptureLength, w.ci.Length = len(f), len(f)
		if err := w.w.WritePacket(w.ci, f); err != nil {
			return i, fmt.Errorf("%s: %w", w.name, err)
		}
		w.count++
	}
	return len(bufs), nil
}

// Close flushes and closes the file.
func (w *PcapWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	return nil
}

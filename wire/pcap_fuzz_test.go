package wire

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// maxRecord is the longest record pcapgo takes from a classic pcap whose
// snap length is smaller (its eagerReadMax): writers such as dpkt do not
// truncate to the snap length they declare.
const maxRecord = 262144

// classicRecords walks a classic pcap independently of pcapgo: it returns
// the snap length and the records' captured and original lengths, up to
// the first truncated one, or ok false when b is not a classic pcap.
func classicRecords(b []byte) (snaplen uint32, incl, orig []uint32, ok bool) {
	if len(b) < 24 {
		return 0, nil, nil, false
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return 0, nil, nil, false
	}
	snaplen = bo.Uint32(b[16:20])
	for p := b[24:]; len(p) >= 16; {
		n := bo.Uint32(p[8:12])
		incl, orig = append(incl, n), append(orig, bo.Uint32(p[12:16]))
		if uint64(len(p)-16) < uint64(n) {
			break
		}
		p = p[16+n:]
	}
	return snaplen, incl, orig, true
}

// pcapSeed builds a classic pcap with the given snap length and records
// whose headers claim incl (and orig) bytes, followed by data.
func pcapSeed(snaplen, incl, orig uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	b = binary.LittleEndian.AppendUint32(b, uint32(layers.LinkTypeEthernet))
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, incl)
	b = binary.LittleEndian.AppendUint32(b, orig)
	return append(b, data...)
}

// ngSeed builds a pcapng file holding frames, written by pcapgo.
func ngSeed(f *testing.F, snaplen uint32, frames ...[]byte) []byte {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: snaplen}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		f.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacketWithOptions(ci, fr, pcapgo.NgPacketOptions{Comments: []string{"seed"}}); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzPcapReader reads arbitrary pcap and pcapng files with OpenPcap and
// ReadBatch, as nat64br replay does: it must not panic, each read must
// make progress, a frame must fit the buffer, and for a classic pcap each
// frame must be the record its header describes (the captured length,
// no more than the original length, the snap length or maxRecord).
func FuzzPcapReader(f *testing.F) {
	files, _ := filepath.Glob("../testdata/golden/*.pcap")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	frame := bytes.Repeat([]byte{0xab}, 60)
	f.Add(pcapSeed(65535, 60, 60, frame))
	f.Add(pcapSeed(0xffffffff, 0xfffffff0, 0xffffffff, frame)) // a header claiming 4 GiB
	f.Add(pcapSeed(64, 1000, 1000, bytes.Repeat(frame, 20)))   // longer than the snap length
	f.Add(pcapSeed(65535, 61, 60, frame))                      // captured more than the original
	f.Add(ngSeed(f, 0, frame, frame[:14]))
	f.Add(ngSeed(f, 32, frame))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "f.pcap")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenPcap(path)
		if err != nil {
			return
		}
		defer r.Close()
		snaplen, incl, orig, classic := classicRecords(data)
		const offset = 64
		bufs, sizes := [][]byte{make([]byte, offset+1<<16)}, []int{0}
		for i := 0; ; i++ {
			// A classic record takes at least 16 bytes, a pcapng block 12.
			if i > len(data)/12 {
				t.Fatalf("%d frames from %d bytes", i, len(data))
			}
			n, err := r.ReadBatch(bufs, sizes, offset)
			if err != nil {
				if n != 0 {
					t.Fatalf("ReadBatch returned %d frames and %v", n, err)
				}
				return
			}
			if n != 1 || sizes[0] < 0 || sizes[0] > len(bufs[0])-offset {
				t.Fatalf("ReadBatch: %d frames, size %d", n, sizes[0])
			}
			if r.Record() != i+1 {
				t.Fatalf("Record() = %d after %d frames", r.Record(), i+1)
			}
			if !classic {
				continue
			}
			if i >= len(incl) {
				t.Fatalf("frame %d, but the file has %d records", i+1, len(incl))
			}
			if uint32(sizes[0]) != incl[i] {
				t.Fatalf("frame %d: %d bytes, its header says %d", i+1, sizes[0], incl[i])
			}
			if incl[i] > orig[i] || incl[i] > max(snaplen, maxRecord) {
				t.Fatalf("frame %d: %d bytes accepted, original length %d, snap length %d", i+1, incl[i], orig[i], snaplen)
			}
		}
	})
}

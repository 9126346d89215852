package main

import (
	"net/http"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/xlat"
)

// Drop tracing (nat64br trace): the next N frames dropped for a reason,
// written to a pcapng file with the reason as each packet's comment; the
// data plane hands over the frames (dataplane.Plane.StartTrace).

// maxTrace bounds the frames of one trace.
const maxTrace = 100000

// serveTrace arms a trace for the request's reason and count, and streams
// the frames as pcapng until it has count of them, the timeout passes or
// the client goes away.
func serveTrace(d *dataplane.Plane, w http.ResponseWriter, q *http.Request, req traceRequest, names [3]string) {
	n, timeout := req.Count, req.Timeout
	t, err := d.StartTrace(req.Reason, n)
	if err != nil {
		reply(w, nil, err)
		return
	}
	defer t.Stop()

	w.Header().Set("Content-Type", "application/octet-stream")
	fl, _ := w.(http.Flusher)
	intf := func(s xlat.Side) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: names[s], Description: "nat64br " + s.String() + " port, dropped frames", LinkType: layers.LinkTypeEthernet}
	}
	pw, err := pcapgo.NewNgWriterInterface(stallWriter{w, http.NewResponseController(w)}, intf(xlat.Side6), pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "nat64br " + version}})
	if err != nil {
		return
	}
	id4, err := pw.AddInterface(intf(xlat.Side4))
	if err != nil {
		return
	}
	flush := func() bool {
		if pw.Flush() != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !flush() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for got := 0; got < n; got++ {
		select {
		case f := <-t.Frames():
			ci := gopacket.CaptureInfo{Timestamp: f.At, CaptureLength: len(f.Data), Length: len(f.Data)}
			if f.Side == xlat.Side4 {
				ci.InterfaceIndex = id4
			}
			comment := "nat64br dropped: " + f.Counter.String() + ": " + f.Counter.Explain()
			if pw.WritePacketWithOptions(ci, f.Data, pcapgo.NgPacketOptions{Comments: []string{comment}}) != nil || !flush() {
				return
			}
		case <-deadline.C:
			return
		case <-q.Context().Done():
			return
		}
	}
}

// Package wire moves raw frames in batches: AF_PACKET sockets on network
// interfaces, pcap and pcapng files for replay, and in-memory pairs for
// tests. Every port implements Port.
//
// Buffers belong to the caller. ReadBatch fills bufs[i][offset:] and reports
// sizes[i]; WriteBatch sends bufs[i][offset:]. Nothing is retained after a
// call returns, and nothing is allocated per frame.
package wire

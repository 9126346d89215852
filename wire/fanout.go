package wire

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/nat64br/nat64br/xlat/header"
)

// PortSpread picks a frame's receive queue by its transport ports instead
// of the kernel's flow hash (QueueOptions.Spread): a classic BPF program of
// the fanout group (PACKET_FANOUT_CBPF) returns
//
//	(((a+b) * Key) >> 16 + Offset) mod queues
//
// where a and b are the TCP or UDP source and destination ports; for an
// IPv4 fragment, an IPv6 packet with extension headers or any other IP
// packet but ICMP, the low 32 bits of the source and destination addresses.
// An ICMP or ICMPv6 message goes to queue ((id * Key) >> 16) mod queues, id
// being its identifier field, without Offset. A frame that is not IP goes
// to queue Offset mod queues, one too short for what is read to queue 0.
//
// The sum does not depend on which way the packet goes, and translation
// keeps ports and echo identifiers (stateful NAT64 keeps them while they
// are free): with Offset 0 on one port and 1 on the other, the two
// directions of a TCP or UDP flow land on queues of different numbers,
// that is on different workers, which then carry the flow's data and its
// acknowledgements on two CPUs. An echo request and its reply land on the
// same queue number: the reply often comes back while the worker that sent
// the request still looks at its rings, and a second worker would have to
// be woken for it. Key (odd, random per start) keeps the queue of a flow
// unpredictable to its sender.
//
// If the workers are pinned to CPUs (at least while they sleep), CPUs[q]
// being the CPU of queue q's worker, an ICMP or ICMPv6 message instead goes
// to the queue whose worker is pinned to the CPU that received it (the
// first such queue); one received on another CPU goes by its identifier as
// above. On veth the receiving CPU is the sender's, and on a NIC the one
// its receive queue interrupts: that CPU is awake, so the worker's wake-up
// does not have to rouse an idle one, which on a virtual machine costs
// about 100 µs (docs/performance.md, "Latency"). The program's jumps reach
// 255 instructions, which holds about a hundred CPUs (run starts at most
// 64 workers); program says so when they would not reach.
//
// 802.1Q tags do not shift the program's offsets: the kernel takes the
// (outer) tag out of a received frame before a packet socket's fanout runs
// (skb_vlan_untag in __netif_receive_skb_core, 8021q module or not), so
// the protocol the program loads is the inner EtherType and SKF_NET_OFF
// points at the IP header: a tagged frame goes to the queue it would go to
// untagged. Only a QinQ frame's inner tag stays in the frame: to the
// program it is not IP. TestQueuesSpreadTagged checks both.
type PortSpread struct {
	Key    uint32
	Offset uint32
	CPUs   []int
}

// skfNetOff is SKF_NET_OFF: loads at this offset plus k read byte k of the
// network header, wherever the socket layer has left the frame's start.
const skfNetOff = 0xfff00000 // -0x100000

// program assembles the fanout program.
func (s PortSpread) program() ([]bpf.RawInstruction, error) {
	net := func(off uint32, size int) bpf.Instruction {
		return bpf.LoadAbsolute{Off: skfNetOff + off, Size: size}
	}
	// Labels are resolved below; a jump names the label it goes to.
	type jump struct {
		cond    bpf.JumpTest
		val     uint32
		yes, no string
	}
	type label string
	// With CPUs, the identifier waits in X while A is matched against the
	// CPU of each queue's worker.
	var byCPU []bpf.Instruction
	if len(s.CPUs) > 0 {
		byCPU = append(byCPU, bpf.TAX{}, bpf.LoadExtension{Num: bpf.ExtCPUID})
		for q, c := range s.CPUs {
			byCPU = append(byCPU, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(c), SkipFalse: 1}, bpf.RetConstant{Val: uint32(q)})
		}
		byCPU = append(byCPU, bpf.TXA{})
	}
	prog := []any{
		bpf.LoadExtension{Num: bpf.ExtProto},
		jump{bpf.JumpEqual, header.EtherTypeIPv4, "v4", ""},
		jump{bpf.JumpEqual, header.EtherTypeIPv6, "v6", "other"},

		label("v4"),
		net(6, 2),
		jump{bpf.JumpBitsSet, 0x3fff, "addr4", ""}, // MF or an offset: a fragment
		net(9, 1),
		jump{bpf.JumpEqual, 6, "ports4", ""},
		jump{bpf.JumpEqual, 17, "ports4", ""},
		jump{bpf.JumpEqual, 1, "", "addr4"},
		bpf.LoadMemShift{Off: skfNetOff},
		bpf.LoadIndirect{Off: skfNetOff + 4, Size: 2},
		jump{bpf.JumpEqual, 0, "echo", "echo"},
		label("ports4"),
		bpf.LoadMemShift{Off: skfNetOff},
		bpf.LoadIndirect{Off: skfNetOff, Size: 2},
		bpf.StoreScratch{Src: bpf.RegA, N: 0},
		bpf.LoadIndirect{Off: skfNetOff + 2, Size: 2},
		jump{bpf.JumpEqual, 0, "sum", "sum"},
		label("addr4"),
		net(12, 4),
		bpf.StoreScratch{Src: bpf.RegA, N: 0},
		net(16, 4),
		jump{bpf.JumpEqual, 0, "sum", "sum"},

		label("v6"),
		net(6, 1),
		jump{bpf.JumpEqual, 6, "ports6", ""},
		jump{bpf.JumpEqual, 17, "ports6", ""},
		jump{bpf.JumpEqual, 58, "", "addr6"},
		net(44, 2),
		jump{bpf.JumpEqual, 0, "echo", "echo"},
		label("ports6"),
		net(40, 2),
		bpf.StoreScratch{Src: bpf.RegA, N: 0},
		net(42, 2),
		jump{bpf.JumpEqual, 0, "sum", "sum"},
		label("addr6"),
		net(20, 4),
		bpf.StoreScratch{Src: bpf.RegA, N: 0},
		net(36, 4),

		label("sum"),
		bpf.LoadScratch{Dst: bpf.RegX, N: 0},
		bpf.ALUOpX{Op: bpf.ALUOpAdd},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: s.Key},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: s.Offset},
		bpf.RetA{},
		label("echo"),
		byCPU,
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: s.Key},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.RetA{},
		label("other"),
		bpf.RetConstant{Val: s.Offset},
	}
	at := map[label]int{}
	n := 0
	for _, x := range prog {
		switch x := x.(type) {
		case label:
			at[x] = n
		case []bpf.Instruction:
			n += len(x)
		default:
			n++
		}
	}
	var out []bpf.Instruction
	far := false
	for _, x := range prog {
		switch x := x.(type) {
		case label:
		case jump:
			pc := len(out)
			skip := func(l string) uint8 {
				if l == "" {
					return 0
				}
				d := at[label(l)] - pc - 1
				far = far || d > 255
				return uint8(d)
			}
			out = append(out, bpf.JumpIf{Cond: x.cond, Val: x.val, SkipTrue: skip(x.yes), SkipFalse: skip(x.no)})
		case bpf.Instruction:
			out = append(out, x)
		case []bpf.Instruction:
			out = append(out, x...)
		}
	}
	if far {
		return nil, fmt.Errorf("the fanout program for %d CPUs has a jump beyond 255 instructions", len(s.CPUs))
	}
	return bpf.Assemble(out)
}

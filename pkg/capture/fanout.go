package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"reflect"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The flow hash deals packets to workers, live (the kernel runs it as the
// PACKET_FANOUT_CBPF program of the fanout group) and from files (FlowHash
// runs the same function in Go). Both must agree on every packet so that
// a replay of a live run's -w deals each flow to the worker the live run
// gave it; TestFlowHashIsTheFanoutProgram holds them equal.
//
// Why our own program rather than PACKET_FANOUT_HASH: the kernel's flow
// hash is symmetric too, but seeded at boot, so no replay could reproduce
// it. The function is symmetric in the two endpoints by construction (it
// XORs them): both directions of a session land on the same worker.
//
//	h = src ^ dst                      (IPv4: one word each; IPv6: four)
//	h ^= sport ^ dport                 (TCP, and for IPv4 not a later fragment;
//	                                    IPv6 only without extension headers)
//	return (h * 0x9E3779B1) >> 16      (the kernel takes it modulo the workers)
//
// Anything that is not IPv4 or IPv6 goes to worker 0, as does a packet too
// short for a field the program loads (the kernel ends a classic BPF
// program with 0 when a load falls outside the packet).

const flowMul = 0x9E3779B1

// skfNetOff is SKF_NET_OFF: a classic BPF load at this offset plus k reads
// byte k of the network header, wherever the link header ends.
const skfNetOff = 0xfff00000 // -0x100000 as uint32

// fanoutProgram is the flow hash as a classic BPF program whose loads are
// relative to base: skfNetOff for the kernel, a link header's length for
// tests in the x/net/bpf VM.
func fanoutProgram(base uint32) []bpf.Instruction {
	var p []bpf.Instruction
	ld := func(size int, off uint32) { p = append(p, bpf.LoadAbsolute{Off: base + off, Size: size}) }
	xorWord := func(off uint32) { // A = M[0] ^ word at off; M[0] = A
		ld(4, off)
		p = append(p, bpf.LoadScratch{Dst: bpf.RegX, N: 0}, bpf.ALUOpX{Op: bpf.ALUOpXor}, bpf.StoreScratch{Src: bpf.RegA, N: 0})
	}
	// ports: A = M[0] ^ sport ^ dport with X holding the TCP header's offset.
	ports := []bpf.Instruction{
		bpf.LoadIndirect{Off: base, Size: 4},
		bpf.StoreScratch{Src: bpf.RegA, N: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.TAX{},
		bpf.LoadScratch{Dst: bpf.RegA, N: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		bpf.LoadScratch{Dst: bpf.RegX, N: 0},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		bpf.StoreScratch{Src: bpf.RegA, N: 0},
	}
	mix := []bpf.Instruction{
		bpf.LoadScratch{Dst: bpf.RegA, N: 0},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: flowMul},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.RetA{},
	}
	// Version: 4 → v4, 6 → v6, anything else → 0.
	ld(1, 0)
	p = append(p, bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipTrue: 2})
	v6jump := len(p)
	p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}) // its target is set below
	p = append(p, bpf.RetConstant{Val: 0})
	// IPv4.
	p = append(p, bpf.LoadConstant{Dst: bpf.RegA, Val: 0}, bpf.StoreScratch{Src: bpf.RegA, N: 0})
	xorWord(12)
	xorWord(16)
	ld(1, 9)
	p = append(p, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: uint8(6 + len(ports))})
	ld(2, 6)
	p = append(p, bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: uint8(4 + len(ports))})
	// X = IHL * 4, done by hand: ldxb 4*([k]&0xf) with a negative k is
	// not something every kernel's classic BPF translation has handled.
	ld(1, 0)
	p = append(p, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf}, bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2}, bpf.TAX{})
	p = append(p, ports...)
	p = append(p, mix...)
	// IPv6.
	p[v6jump] = bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: uint8(len(p) - v6jump - 1), SkipFalse: 0}
	p = append(p, bpf.LoadConstant{Dst: bpf.RegA, Val: 0}, bpf.StoreScratch{Src: bpf.RegA, N: 0})
	for off := uint32(8); off < 40; off += 4 {
		xorWord(off)
	}
	ld(1, 6)
	p = append(p, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: uint8(1 + len(ports))})
	p = append(p, bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	p = append(p, ports...)
	p = append(p, mix...)
	return p
}

// FlowHash returns the fanout program's value for a packet of the given
// link type: the worker of a flow is FlowHash % workers. It is nil for a
// link type whose network header it cannot find.
func FlowHash(link layers.LinkType) func(data []byte) uint32 {
	switch link {
	case layers.LinkTypeEthernet:
		return func(data []byte) uint32 {
			off := 14
			// The kernel hands packet sockets VLAN-tagged frames untagged
			// (the tag rides beside the packet): skip tags as it does.
			for off+4 <= len(data) && (data[off-2] == 0x81 && data[off-1] == 0x00 || data[off-2] == 0x88 && data[off-1] == 0xa8) {
				off += 4
			}
			return flowHashIP(data, off)
		}
	case layers.LinkTypeLinuxSLL:
		return func(data []byte) uint32 { return flowHashIP(data, 16) }
	case layers.LinkTypeLinuxSLL2:
		return func(data []byte) uint32 { return flowHashIP(data, 20) }
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return func(data []byte) uint32 { return flowHashIP(data, 4) }
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12:
		return func(data []byte) uint32 { return flowHashIP(data, 0) }
	}
	return nil
}

// flowHashIP is fanoutProgram in Go, on the network header at data[off:].
func flowHashIP(data []byte, off int) uint32 {
	if off > len(data) {
		return 0
	}
	ip := data[off:]
	if len(ip) < 1 {
		return 0
	}
	var h uint32
	tcp := -1 // the TCP header's offset, if there are ports to hash
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			return 0
		}
		h = binary.BigEndian.Uint32(ip[12:]) ^ binary.BigEndian.Uint32(ip[16:])
		if ip[9] == 6 && binary.BigEndian.Uint16(ip[6:])&0x1fff == 0 {
			tcp = int(ip[0]&0xf) * 4
		}
	case 6:
		if len(ip) < 40 {
			return 0
		}
		for o := 8; o < 40; o += 4 {
			h ^= binary.BigEndian.Uint32(ip[o:])
		}
		if ip[6] == 6 {
			tcp = 40
		}
	default:
		return 0
	}
	if tcp >= 0 {
		if tcp+4 > len(ip) {
			return 0
		}
		w := binary.BigEndian.Uint32(ip[tcp:])
		h ^= w>>16 ^ w&0xffff
	}
	return h * flowMul >> 16
}

// OpenLiveGroup opens n AF_PACKET sockets on iface in one fanout group
// whose program is the flow hash: each packet reaches exactly one socket,
// and both directions of a flow the same one. n = 1 is OpenLive.
//
// The sockets receive from the moment they exist, before the group is
// complete: a flow's first packets could reach a socket the group would
// not have chosen. So every socket skips what was stamped before the
// group was whole, and the first packet each delivers is one the group
// dealt.
func OpenLiveGroup(iface string, n int, opt LiveOptions) ([]*Source, error) {
	if n <= 1 {
		src, err := OpenLive(iface, opt)
		if err != nil {
			return nil, err
		}
		return []*Source{src}, nil
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: no such network interface", iface)
	}
	var srcs []*Source
	fail := func(err error) ([]*Source, error) {
		for _, s := range srcs {
			s.Close()
		}
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	prog, err := bpf.Assemble(fanoutProgram(skfNetOff))
	if err != nil {
		return fail(err)
	}
	var group int
	for i := range n {
		src, err := openLive(ifc, opt)
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return nil, err
		}
		srcs = append(srcs, src)
		fd, err := socketFD(src.tp)
		if err != nil {
			return fail(err)
		}
		if i == 0 {
			// The kernel picks a group id no other socket in this network
			// namespace uses, so two sensors never share packets.
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT,
				(unix.PACKET_FANOUT_CBPF|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16); err != nil {
				return fail(fmt.Errorf("fanout: %w", err))
			}
			v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
			if err != nil {
				return fail(fmt.Errorf("fanout: %w", err))
			}
			group = v & 0xffff
			fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
			if err := unix.SetsockoptSockFprog(fd, unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, &fprog); err != nil {
				return fail(fmt.Errorf("fanout program: %w", err))
			}
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, group|unix.PACKET_FANOUT_CBPF<<16); err != nil {
			return fail(fmt.Errorf("fanout: %w", err))
		}
	}
	start := time.Now()
	for _, s := range srcs {
		s.PacketDataSource = &afterSource{tp: s.tp, start: start}
	}
	return srcs, nil
}

// socketFD is the descriptor of a TPacket, which afpacket keeps to itself:
// joining a PACKET_FANOUT_CBPF group needs it for PACKET_FANOUT_DATA.
func socketFD(tp *afpacket.TPacket) (int, error) {
	v := reflect.ValueOf(tp).Elem().FieldByName("fd")
	if !v.IsValid() || !v.CanInt() {
		return -1, errors.New("fanout: cannot reach the socket of this afpacket version")
	}
	return int(v.Int()), nil
}

// afterSource skips packets stamped before start.
type afterSource struct {
	tp    *afpacket.TPacket
	start time.Time
}

func (s *afterSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for {
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		if err != nil || !ci.Timestamp.Before(s.start) {
			return data, ci, err
		}
	}
}

func (s *afterSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.ZeroCopyReadPacketData()
	return append([]byte(nil), data...), ci, err
}

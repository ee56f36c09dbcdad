// Package capture opens packet sources: capture files (pcap or pcapng,
// gzip'd or not, "-" for stdin; several merged in time order) and live
// Linux interfaces through AF_PACKET (TPACKET_V3 ring, no libpcap), one
// socket or a fanout group of several. All are gopacket.PacketDataSource,
// so the session core never knows which it has.
//
// Its contract beside that:
//   - A fanout group deals packets by a symmetric flow hash (fanout.go);
//     FlowHash computes the same value in Go for files, so a replay deals
//     each flow to the worker the live run gave it.
//   - A Filter (a tcpdump expression) runs in the kernel on live sockets,
//     after loopback's keep-the-incoming-copy test, and in userspace on
//     files (Filter.Apply): the same program either way.
//   - Copy writes classic (µs) pcap, the -w format; DropPrivileges is
//     tcpdump -Z.
package capture

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// Source is an open packet source.
type Source struct {
	gopacket.PacketDataSource
	Link  layers.LinkType
	Name  string
	close func() error
	tp    *afpacket.TPacket
	// rejected counts the packets a userspace filter (Filter.Apply) did not
	// pass; nil without one.
	rejected *atomic.Uint64
}

// Rejected is how many packets the source's filter expression rejected in
// userspace (files; live, the kernel drops them unseen and uncounted).
func (s *Source) Rejected() uint64 {
	if s.rejected == nil {
		return 0
	}
	return s.rejected.Load()
}

// Close releases the source. It may be called from another goroutine to
// interrupt a blocked read (stdin pipe).
func (s *Source) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// Live reports whether the source is a live interface.
func (s *Source) Live() bool { return s.tp != nil }

// IsTimeout reports a live read that returned because its poll timeout passed.
func IsTimeout(err error) bool {
	return errors.Is(err, afpacket.ErrTimeout) || errors.Is(err, afpacket.ErrPoll)
}

// Drops returns the kernel's counts for a live source: packets seen by the
// socket and packets it dropped because the ring was full.
func (s *Source) Drops() (packets, drops uint, ok bool) {
	if s.tp == nil {
		return 0, 0, false
	}
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return 0, 0, false
	}
	return v3.Packets(), v3.Drops(), true
}

const (
	magicPcapng = 0x0A0D0D0A
)

// OpenFile opens a pcap or pcapng file, gzip'd or not; "-" is stdin.
func OpenFile(name string, stdin io.Reader) (*Source, error) {
	return OpenFileWith(name, stdin, nil)
}

// OpenFileWith is OpenFile with the file's bytes read through wrap (the
// file or stdin as it is, before any decompression), when wrap is not nil:
// pcapsess wraps its input so that a signal ends a read waiting on a pipe
// and so that its rows leave before it waits for more packets.
func OpenFileWith(name string, stdin io.Reader, wrap func(io.Reader) io.Reader) (*Source, error) {
	if wrap == nil {
		wrap = func(r io.Reader) io.Reader { return r }
	}
	if name == "-" {
		src, err := OpenReader(wrap(stdin), "stdin")
		if err != nil {
			return nil, err
		}
		if c, ok := stdin.(io.Closer); ok {
			src.close = c.Close
		}
		return src, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	src, err := OpenReader(wrap(f), name)
	if err != nil {
		f.Close()
		return nil, err
	}
	src.close = f.Close
	return src, nil
}

// FormatError is a file that is not a readable capture.
type FormatError struct {
	Name string
	Err  error
}

func (e *FormatError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *FormatError) Unwrap() error { return e.Err }

// OpenReader reads a capture (pcap or pcapng, gzip'd or not) from r.
func OpenReader(r io.Reader, name string) (*Source, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if len(magic) < 2 {
		if err == io.EOF || err == nil {
			return nil, &FormatError{name, errors.New("empty file, not a pcap or pcapng capture")}
		}
		return nil, &FormatError{name, err}
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, &FormatError{name, fmt.Errorf("gzip: %w", err)}
		}
		br = bufio.NewReaderSize(gz, 1<<16)
		if magic, err = br.Peek(4); len(magic) < 4 {
			return nil, &FormatError{name, fmt.Errorf("gzip'd data too short for a capture: %v", err)}
		}
	}
	if len(magic) < 4 {
		return nil, &FormatError{name, errors.New("too short for a pcap or pcapng capture")}
	}
	if le32(magic) == magicPcapng {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{SkipUnknownVersion: true})
		if err != nil {
			return nil, &FormatError{name, fmt.Errorf("pcapng: %w", err)}
		}
		return &Source{PacketDataSource: &ngSource{ng}, Link: ng.LinkType(), Name: name}, nil
	}
	switch le32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
	default:
		return nil, &FormatError{name, fmt.Errorf("not a pcap or pcapng capture (it starts with bytes % x)", magic)}
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, &FormatError{name, fmt.Errorf("not a pcap or pcapng capture (%v)", err)}
	}
	return &Source{PacketDataSource: pr, Link: pr.LinkType(), Name: name}, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// ngSource adapts pcapgo.NgReader (zero-copy reads).
type ngSource struct{ r *pcapgo.NgReader }

func (s *ngSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return s.r.ReadPacketData()
}
func (s *ngSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return s.r.ZeroCopyReadPacketData()
}

// LiveOptions tune a live capture.
type LiveOptions struct {
	Snaplen     int           // bytes kept per packet (frame size is rounded up)
	PollTimeout time.Duration // longest a read blocks with no packet
	RingMB      int           // ring buffer size, per socket
	// Promiscuous puts the interface in promiscuous mode while the socket
	// is open, as tcpdump does unless -p: a sensor on a SPAN port sees
	// frames addressed to other hosts.
	Promiscuous bool
	// Filter, compiled for Ethernet, is attached to the socket: the kernel
	// drops what it rejects before it reaches the ring.
	Filter *Filter
}

// dropOutgoing is the head of a classic BPF program: drop packets whose
// type is PACKET_OUTGOING (4), go on with the next instruction for the
// rest.
var dropOutgoing = mustAssemble(
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipFalse: 1},
	bpf.RetConstant{Val: 0},
)

// acceptAll keeps a packet whole.
var acceptAll = mustAssemble(bpf.RetConstant{Val: 1 << 18})

// socketFilter is the program a live socket needs: on loopback, where
// AF_PACKET sees every packet twice (outgoing and incoming), the incoming
// copy only, as libpcap does; then the user's filter, if any. The user's
// program (absolute offsets, relative jumps) runs unchanged after the
// loopback test. nil means no program.
func socketFilter(loopback bool, f *Filter) []bpf.RawInstruction {
	var prog []bpf.RawInstruction
	if loopback {
		prog = append(prog, dropOutgoing...)
	}
	switch {
	case f != nil:
		prog = append(prog, f.Program...)
	case loopback:
		prog = append(prog, acceptAll...)
	}
	return prog
}

func mustAssemble(insns ...bpf.Instruction) []bpf.RawInstruction {
	raw, err := bpf.Assemble(insns)
	if err != nil {
		panic(err)
	}
	return raw
}

// OpenLive opens iface with AF_PACKET (needs root or CAP_NET_RAW).
func OpenLive(iface string, opt LiveOptions) (*Source, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: no such network interface", iface)
	}
	return openLive(ifc, opt)
}

func openLive(ifc *net.Interface, opt LiveOptions) (*Source, error) {
	iface := ifc.Name
	if opt.Snaplen <= 0 {
		opt.Snaplen = 262144
	}
	if opt.PollTimeout <= 0 {
		opt.PollTimeout = 25 * time.Millisecond
	}
	if opt.RingMB <= 0 {
		opt.RingMB = 64
	}
	// TPACKET_V3 wants frame size a power of two ≥ the page size and block
	// size a multiple of it.
	frame := 4096
	for frame < opt.Snaplen+128 && frame < 1<<18 {
		frame <<= 1
	}
	block := 1 << 20
	if frame > block {
		block = frame
	}
	blocks := opt.RingMB << 20 / block
	if blocks < 2 {
		blocks = 2
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptFrameSize(frame),
		afpacket.OptBlockSize(block),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptPollTimeout(opt.PollTimeout),
		afpacket.OptBlockTimeout(opt.PollTimeout/2),
		afpacket.TPacketVersion3,
		afpacket.SocketRaw,
	)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("interface %s: %w (capturing needs root or CAP_NET_RAW)", iface, err)
		}
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	if prog := socketFilter(ifc.Flags&net.FlagLoopback != 0, opt.Filter); prog != nil {
		if err := tp.SetBPF(prog); err != nil {
			tp.Close()
			return nil, fmt.Errorf("interface %s: attach filter: %w", iface, err)
		}
	}
	if opt.Promiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("interface %s: promiscuous mode: %w", iface, err)
		}
	}
	if err := tp.InitSocketStats(); err != nil {
		tp.Close()
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	return &Source{PacketDataSource: tp, Link: layers.LinkTypeEthernet, Name: iface, tp: tp,
		close: func() error { tp.Close(); return nil }}, nil
}

// Copy writes packets to a classic (µs) pcap file.
type Copy struct {
	w    *pcapgo.Writer
	bw   *bufio.Writer
	live bool
}

// NewCopy writes the file header to w. live makes every packet reach w at
// once, so that a replay made while a live capture runs has what its rows
// have.
func NewCopy(w io.Writer, snaplen int, link layers.LinkType, live bool) (*Copy, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(uint32(snaplen), link); err != nil {
		return nil, err
	}
	return &Copy{w: pw, bw: bw, live: live}, nil
}

// Write adds one packet, its timestamp cut to µs.
func (c *Copy) Write(data []byte, ci gopacket.CaptureInfo) error {
	ci.Timestamp = ci.Timestamp.Truncate(time.Microsecond)
	if err := c.w.WritePacket(ci, data); err != nil {
		return fmt.Errorf("write capture copy: %w", err)
	}
	if c.live {
		if err := c.bw.Flush(); err != nil {
			return fmt.Errorf("write capture copy: %w", err)
		}
	}
	return nil
}

// Flush writes what is buffered.
func (c *Copy) Flush() error { return c.bw.Flush() }

// ZeroCopyReadPacketData reads without copying when the underlying reader
// can (pcap and pcapng files): the data is valid until the next read.
func (s *Source) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if zc, ok := s.PacketDataSource.(gopacket.ZeroCopyPacketDataSource); ok {
		return zc.ZeroCopyReadPacketData()
	}
	return s.PacketDataSource.ReadPacketData()
}

package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Filter is a tcpdump filter expression compiled to classic BPF for one
// link type. Live, the kernel runs it on the socket; on files, Apply runs
// the same program in userspace.
//
// Compiled by `tcpdump -ddd`, i.e. by libpcap's own pcap_compile in a
// child process: the grammar and its meaning are exactly tcpdump's (a
// filter gives the same packets as `tcpdump -r F -w - EXPR`), pcapsess
// stays free of cgo and of a libpcap it must link, and no pure-Go
// compiler covers the grammar. tcpdump is needed only when an expression
// is given.
type Filter struct {
	Expr    string
	Link    layers.LinkType
	Program []bpf.RawInstruction
}

// FilterError is an expression tcpdump could not compile.
type FilterError struct {
	Expr string
	Msg  string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("filter expression %q: %s", e.Expr, e.Msg)
}

// tcpdumpLinkNames are the names tcpdump -y takes for the link types the
// decoder reads.
var tcpdumpLinkNames = map[layers.LinkType]string{
	layers.LinkTypeEthernet:  "EN10MB",
	layers.LinkTypeLinuxSLL:  "LINUX_SLL",
	layers.LinkTypeLinuxSLL2: "LINUX_SLL2",
	layers.LinkTypeNull:      "NULL",
	layers.LinkTypeLoop:      "LOOP",
	layers.LinkTypeRaw:       "RAW",
	12:                       "RAW",
	layers.LinkTypeIPv4:      "IPV4",
	layers.LinkTypeIPv6:      "IPV6",
}

// CompileFilter compiles expr for captures of the given link type, with
// snaplen as the bytes an accepted packet keeps.
func CompileFilter(ctx context.Context, expr string, link layers.LinkType, snaplen int) (*Filter, error) {
	name, ok := tcpdumpLinkNames[link]
	if !ok {
		return nil, &FilterError{expr, "no filter compiler for link type " + link.String()}
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, errors.New("a filter expression is compiled by tcpdump, which is not installed (apt-get install tcpdump)")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tcpdump, "-y", name, "-s", strconv.Itoa(snaplen), "-ddd", "--", expr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var msg []string
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if l != "" && !strings.HasPrefix(l, "Warning:") {
				msg = append(msg, strings.TrimPrefix(l, "tcpdump: "))
			}
		}
		if len(msg) == 0 {
			msg = []string{err.Error()}
		}
		return nil, &FilterError{expr, strings.Join(msg, "; ")}
	}
	prog, err := parseDDD(stdout.String())
	if err != nil {
		return nil, &FilterError{expr, "reading tcpdump -ddd: " + err.Error()}
	}
	return &Filter{Expr: expr, Link: link, Program: prog}, nil
}

// parseDDD reads tcpdump -ddd output: a count, then "code jt jf k" lines.
func parseDDD(out string) ([]bpf.RawInstruction, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || n != len(lines)-1 || n == 0 {
		return nil, fmt.Errorf("unexpected output %q", out)
	}
	prog := make([]bpf.RawInstruction, n)
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: %q", i+2, l)
		}
		var v [4]uint64
		for j := range f {
			if v[j], err = strconv.ParseUint(f[j], 10, 32); err != nil {
				return nil, fmt.Errorf("line %d: %q", i+2, l)
			}
		}
		prog[i] = bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
	}
	return prog, nil
}

// Apply makes src deliver only the packets f accepts, cut to the length
// the program returns, as the kernel does for a live socket. The count of
// packets it rejected is in Rejected.
func (f *Filter) Apply(src *Source) (*Source, error) {
	insns, ok := bpf.Disassemble(f.Program)
	if !ok {
		return nil, &FilterError{f.Expr, "the compiled program has instructions the userspace BPF machine cannot run"}
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, &FilterError{f.Expr, err.Error()}
	}
	out := *src
	fs := &filteredSource{src: src.PacketDataSource, vm: vm}
	out.PacketDataSource = fs
	out.rejected = &fs.rejected
	return &out, nil
}

type filteredSource struct {
	src      gopacket.PacketDataSource
	vm       *bpf.VM
	rejected atomic.Uint64
}

func (s *filteredSource) read(zeroCopy bool) ([]byte, gopacket.CaptureInfo, error) {
	for {
		var data []byte
		var ci gopacket.CaptureInfo
		var err error
		if zc, ok := s.src.(gopacket.ZeroCopyPacketDataSource); ok && zeroCopy {
			data, ci, err = zc.ZeroCopyReadPacketData()
		} else {
			data, ci, err = s.src.ReadPacketData()
		}
		if err != nil {
			return data, ci, err
		}
		keep, err := s.vm.Run(data)
		if err != nil || keep <= 0 {
			s.rejected.Add(1)
			continue
		}
		if keep < len(data) {
			data = data[:keep]
			ci.CaptureLength = keep
		}
		return data, ci, nil
	}
}

func (s *filteredSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return s.read(false)
}

func (s *filteredSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return s.read(true)
}

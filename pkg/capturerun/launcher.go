package capturerun

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"time"

	"scanwatch/pkg/netns"
)

// Side is where a command runs.
type Side int

// The two sides of a capture network.
const (
	Scanner Side = iota // where traffic comes from
	Target              // where the capture runs and traffic goes to
)

// Launcher runs things on either side of a capture network.
type Launcher interface {
	// Network describes the network for manifests.
	Network() string
	// Iface is the capture interface, on the target side.
	Iface() string
	// Target is the address traffic and markers go to.
	Target() netip.Addr
	// MarkerSource is the scanner-side address marker connections come from.
	MarkerSource() netip.Addr
	// Command returns a command that runs on side.
	Command(ctx context.Context, side Side, name string, args ...string) *exec.Cmd
	// Describe turns a command into the line a manifest records.
	Describe(side Side, name string, args ...string) string
	// Sources returns n new scanner-side addresses, for traffic that is
	// told apart by its source.
	Sources(ctx context.Context, n int) ([]netip.Addr, error)
	// Hosts returns n new target-side hosts that answer as the target does.
	Hosts(ctx context.Context, n int) ([]netip.Addr, error)
	// Silent returns target-side addresses that never answer (nil where
	// there are none: on lo every address answers).
	Silent() []netip.Addr
	// dial makes one connection from MarkerSource to the target.
	dial(ctx context.Context, dst netip.AddrPort) (net.Conn, error)
}

// Loopback captures on lo: both sides are this host, and traffic keeps
// apart by source address (all of 127.0.0.0/8 is local on Linux).
type Loopback struct {
	Addr           netip.Addr // the target, e.g. 127.0.0.1
	sources, hosts *int
}

// NewLoopback returns a loopback launcher aimed at addr. Its Sources are
// 127.0.70.11 on, its Hosts 127.0.71.1 on.
func NewLoopback(addr netip.Addr) Loopback {
	return Loopback{Addr: addr, sources: new(int), hosts: new(int)}
}

func (l Loopback) Sources(_ context.Context, n int) ([]netip.Addr, error) {
	return nextAddrs(l.sources, [3]byte{127, 0, 70}, 11, n)
}

func (l Loopback) Hosts(_ context.Context, n int) ([]netip.Addr, error) {
	return nextAddrs(l.hosts, [3]byte{127, 0, 71}, 1, n)
}

func (l Loopback) Silent() []netip.Addr { return nil }

func nextAddrs(next *int, net [3]byte, base, n int) ([]netip.Addr, error) {
	if next == nil {
		return nil, fmt.Errorf("capturerun: use NewLoopback")
	}
	if base+*next+n > 250 {
		return nil, fmt.Errorf("capturerun: no room for %d more addresses in %d.%d.%d.0/24", n, net[0], net[1], net[2])
	}
	var out []netip.Addr
	for range n {
		out = append(out, netip.AddrFrom4([4]byte{net[0], net[1], net[2], byte(base + *next)}))
		*next++
	}
	return out, nil
}

// LoopbackMarkerSource is the loopback address marker connections come from.
var LoopbackMarkerSource = netip.MustParseAddr("127.0.66.250")

func (l Loopback) Network() string          { return "loopback (lo), target " + l.Addr.String() }
func (l Loopback) Iface() string            { return "lo" }
func (l Loopback) Target() netip.Addr       { return l.Addr }
func (l Loopback) MarkerSource() netip.Addr { return LoopbackMarkerSource }

func (l Loopback) Command(ctx context.Context, _ Side, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

func (l Loopback) Describe(_ Side, name string, args ...string) string {
	return commandLine(name, args)
}

func (l Loopback) dial(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: LoopbackMarkerSource.AsSlice()}, Timeout: time.Second}
	return d.DialContext(ctx, "tcp", dst.String())
}

// Namespace captures inside the target namespace of a netns.Pair (a veth
// pair or the delay line); traffic runs in its scanner namespace.
type Namespace struct {
	Pair *netns.Pair
	// Link describes the link for manifests ("veth pair, MTU 1500").
	Link string
}

func (n Namespace) Network() string {
	p := n.Pair
	return n.Link + ": " + p.ScannerIf + " (" + p.ScannerV4 + ", namespace " + p.Scanner + ") -> " +
		p.TargetIf + " (" + p.TargetV4 + ", namespace " + p.Target + "), capture on " + p.TargetIf
}
func (n Namespace) Iface() string            { return n.Pair.TargetIf }
func (n Namespace) Target() netip.Addr       { return netip.MustParseAddr(n.Pair.TargetV4) }
func (n Namespace) MarkerSource() netip.Addr { return netip.MustParseAddr(n.Pair.ScannerV4) }

func (n Namespace) ns(side Side) string {
	if side == Target {
		return n.Pair.Target
	}
	return n.Pair.Scanner
}

func (n Namespace) Sources(ctx context.Context, k int) ([]netip.Addr, error) {
	return n.Pair.AddScannerAddrs(ctx, k)
}

func (n Namespace) Hosts(ctx context.Context, k int) ([]netip.Addr, error) {
	return n.Pair.AddTargetAddrs(ctx, k)
}

func (n Namespace) Silent() []netip.Addr { return n.Pair.SilentHosts() }

func (n Namespace) Command(ctx context.Context, side Side, name string, args ...string) *exec.Cmd {
	return netns.Command(ctx, n.ns(side), name, args...)
}

func (n Namespace) Describe(side Side, name string, args ...string) string {
	return "ip netns exec " + n.ns(side) + " " + commandLine(name, args)
}

func (n Namespace) dial(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := netns.Do(n.Pair.Scanner, func() error {
		var err error
		d := net.Dialer{Timeout: time.Second}
		conn, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	})
	return conn, err
}

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Pair is two namespaces, Scanner and Target, joined by a veth pair (New)
// or by two TAP devices and a delay line in this process (NewDelayed).
type Pair struct {
	Scanner, Target     string // namespace names
	ScannerIf, TargetIf string // veth ends, or the TAP devices of NewDelayed
	ScannerV4, TargetV4 string
	ScannerV6, TargetV6 string

	line *delayLine // nil for New

	id                      int
	nextScanner, nextTarget int // addresses AddScannerAddrs and AddTargetAddrs gave so far
}

// Available reports why a Pair cannot be made here, or "" if it can.
func Available() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "network namespaces need iproute2 (apt-get install iproute2)"
	}
	return ""
}

// New creates the pair. id keeps concurrent pairs apart (0–255).
func New(ctx context.Context, id int) (*Pair, error) {
	p := newPair(id)
	steps := [][]string{
		{"netns", "add", p.Scanner},
		{"netns", "add", p.Target},
		{"link", "add", p.ScannerIf, "netns", p.Scanner, "type", "veth", "peer", "name", p.TargetIf, "netns", p.Target},
	}
	if err := p.run(ctx, append(steps, p.addrSteps()...)); err != nil {
		p.Close()
		return nil, err
	}
	// The only routes are the connected /24 and /64 and the silent hosts'
	// /29 through the target: nothing leaves the pair.
	return p, nil
}

// newPair names the namespaces, interfaces and addresses of pair id.
func newPair(id int) *Pair {
	tag := fmt.Sprintf("sw%d_%d", os.Getpid()%10000, id)
	return &Pair{
		id:      id,
		Scanner: tag + "s", Target: tag + "t",
		ScannerIf: "v" + tag + "s", TargetIf: "v" + tag + "t",
		ScannerV4: fmt.Sprintf("198.18.%d.1", id), TargetV4: fmt.Sprintf("198.18.%d.2", id),
		ScannerV6: fmt.Sprintf("fd00:5c:%x::1", id), TargetV6: fmt.Sprintf("fd00:5c:%x::2", id),
	}
}

// addrSteps gives both interfaces their addresses and brings them and
// loopback up. The only routes this makes are the connected /24 and /64,
// and the scanner's route to the silent hosts through the target.
func (p *Pair) addrSteps() [][]string {
	return [][]string{
		{"-n", p.Scanner, "addr", "add", p.ScannerV4 + "/24", "dev", p.ScannerIf},
		{"-n", p.Target, "addr", "add", p.TargetV4 + "/24", "dev", p.TargetIf},
		{"-n", p.Scanner, "-6", "addr", "add", p.ScannerV6 + "/64", "dev", p.ScannerIf, "nodad"},
		{"-n", p.Target, "-6", "addr", "add", p.TargetV6 + "/64", "dev", p.TargetIf, "nodad"},
		{"-n", p.Scanner, "link", "set", p.ScannerIf, "up"},
		{"-n", p.Target, "link", "set", p.TargetIf, "up"},
		{"-n", p.Scanner, "link", "set", "lo", "up"},
		{"-n", p.Target, "link", "set", "lo", "up"},
		{"-n", p.Scanner, "route", "add", fmt.Sprintf("198.18.%d.%d/29", p.id, silentBase), "via", p.TargetV4},
	}
}

// Address plan of the pair's /24, beside .1 (scanner) and .2 (target).
const (
	scannerBase = 10  // AddScannerAddrs: .10 to .99
	targetBase  = 100 // AddTargetAddrs: .100 to .199
	silentBase  = 240 // SilentHosts: .240 to .247
)

// AddScannerAddrs gives the scanner namespace n more addresses of the
// pair's /24 (198.18.N.10, .11, ...; new ones on every call): sources that
// run at the same time and are told apart by address.
func (p *Pair) AddScannerAddrs(ctx context.Context, n int) ([]netip.Addr, error) {
	return p.addAddrs(ctx, p.Scanner, p.ScannerIf, scannerBase, &p.nextScanner, targetBase-scannerBase, n)
}

// AddTargetAddrs gives the target namespace n more addresses (198.18.N.100,
// .101, ...): more hosts to sweep, each answering as the target does.
func (p *Pair) AddTargetAddrs(ctx context.Context, n int) ([]netip.Addr, error) {
	return p.addAddrs(ctx, p.Target, p.TargetIf, targetBase, &p.nextTarget, silentBase-targetBase, n)
}

func (p *Pair) addAddrs(ctx context.Context, ns, dev string, base int, next *int, room, n int) ([]netip.Addr, error) {
	if n < 0 || *next+n > room {
		return nil, fmt.Errorf("netns: no room for %d more addresses in %s", n, ns)
	}
	var out []netip.Addr
	var steps [][]string
	for range n {
		a := netip.AddrFrom4([4]byte{198, 18, byte(p.id), byte(base + *next)})
		*next++
		out = append(out, a)
		steps = append(steps, []string{"-n", ns, "addr", "add", a.String() + "/24", "dev", dev})
	}
	return out, p.run(ctx, steps)
}

// SilentHosts are eight addresses (198.18.N.240–247) that the scanner
// routes through the target, which drops them (it does not forward): a
// capture in the target namespace sees every packet sent to them and none
// ever comes back, as from hosts behind a dropping firewall.
func (p *Pair) SilentHosts() []netip.Addr {
	out := make([]netip.Addr, 8)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{198, 18, byte(p.id), byte(silentBase + i)})
	}
	return out
}

// run runs `ip` once per step and stops at the first failure.
func (p *Pair) run(ctx context.Context, steps [][]string) error { return run(ctx, steps) }

// run runs `ip` once per step and stops at the first failure.
func run(ctx context.Context, steps [][]string) error {
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, "ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Command returns a command that runs inside namespace ns.
func Command(ctx context.Context, ns string, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Close deletes both namespaces (and with them the veth pair). For a pair
// from NewDelayed it first stops the delay line (its goroutines have
// returned when Close does) and closes the TAP devices; frames still in
// the line are discarded.
func (p *Pair) Close() error {
	var first error
	if p.line != nil {
		first = p.line.close()
	}
	if err := deleteNamespaces(p.Scanner, p.Target); first == nil {
		first = err
	}
	return first
}

// deleteNamespaces deletes each namespace (one already gone is no error)
// and returns the first failure.
func deleteNamespaces(names ...string) error {
	var first error
	for _, ns := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, "ip", "netns", "del", ns).CombinedOutput()
		cancel()
		if err != nil && first == nil && !strings.Contains(string(out), "No such file") {
			first = fmt.Errorf("ip netns del %s: %v: %s", ns, err, strings.TrimSpace(string(out)))
		}
	}
	return first
}
